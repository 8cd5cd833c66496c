#!/usr/bin/env python3
"""PyTorch CPU baseline for `EngineBenchmark` (Sources/Engine/EngineBenchmark.swift).

Builds the same reference VQ-VAE transforms (Sources/Engine/TransformNetworks.swift) in PyTorch,
with a GDN computed the way CompressAI does (a 1×1 convolution of x² by gamma, plus beta), and
prints SGEMM GFLOPS (torch.mm) and forward + backward images/second on CPU with the same batch,
crop and thread count as the Swift benchmark. Timings are the best of several passes after a
warm-up, like the Swift side.

    pip install -r Tools/requirements.txt
    python3 Tools/bench_torch.py --threads 2 --batch 8 --crop 128
"""
import argparse
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class GDN(nn.Module):
    """y = x / sqrt(beta + gamma · x²) (or x · sqrt(...) when inverse), beta ≥ 1e-6, gamma ≥ 0."""

    def __init__(self, channels, inverse=False):
        super().__init__()
        self.inverse = inverse
        self.beta = nn.Parameter(torch.ones(channels))
        self.gamma = nn.Parameter(0.1 * torch.eye(channels))

    def forward(self, x):
        c = x.shape[1]
        beta = self.beta.clamp(min=1e-6)
        gamma = self.gamma.clamp(min=0).reshape(c, c, 1, 1)
        norm = F.conv2d(x * x, gamma, beta)
        return x * torch.sqrt(norm) if self.inverse else x * torch.rsqrt(norm)


def analysis(stride=8, width=128, latent=64, channels=3):
    layers, c = [], channels
    for _ in range(stride.bit_length() - 1):
        layers += [nn.Conv2d(c, width, 5, stride=2, padding=2), GDN(width)]
        c = width
    layers.append(nn.Conv2d(width, latent, 3, padding=1))
    return nn.Sequential(*layers)


def synthesis(stride=8, width=128, latent=64, channels=3):
    layers = [nn.Conv2d(latent, width, 3, padding=1), GDN(width, inverse=True)]
    for _ in range(stride.bit_length() - 2):
        layers += [nn.Conv2d(width, 4 * width, 3, padding=1), nn.PixelShuffle(2), GDN(width, inverse=True)]
    layers += [nn.Conv2d(width, 4 * channels, 3, padding=1), nn.PixelShuffle(2)]
    return nn.Sequential(*layers)


def best_seconds(fn, repetitions):
    fn()
    best = float("inf")
    for _ in range(repetitions):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--latent", type=int, default=64)
    parser.add_argument("--stride", type=int, default=8)
    parser.add_argument("--repetitions", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")

    print("SGEMM (torch.mm), GFLOPS:")
    for label, m, n, k in [("256³", 256, 256, 256), ("512³", 512, 512, 512), ("1024³", 1024, 1024, 1024),
                           ("im2col 128×3200·3200×1024", 128, 1024, 3200)]:
        a, b = torch.rand(m, k), torch.rand(k, n)
        seconds = best_seconds(lambda: torch.mm(a, b), max(3, int(2e9 / (2 * m * n * k))))
        print(f"  {label:<28} {2 * m * n * k / seconds / 1e9:.1f}")

    enc = analysis(args.stride, args.width, args.latent)
    dec = synthesis(args.stride, args.width, args.latent)
    images = torch.rand(args.batch, 3, args.crop, args.crop)
    with torch.no_grad():
        latent = enc(images)
    both = nn.Sequential(enc, dec)
    print(f"forward + backward, batch {args.batch}, {args.crop}×{args.crop} crops, N={args.width}, "
          f"D={args.latent}, stride {args.stride}, images/s:")
    for label, net, x in [("analysis", enc, images), ("synthesis", dec, latent),
                          ("analysis + synthesis", both, images)]:
        def step():
            out = net(x)
            out.backward(out.detach())
        seconds = best_seconds(step, args.repetitions)
        print(f"  {label:<22} {args.batch / seconds:.1f}")


if __name__ == "__main__":
    main()
