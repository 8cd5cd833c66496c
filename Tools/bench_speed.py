#!/usr/bin/env python3
"""Encode/decode speed of the vqcodec command on a 768x512 image and a 4-megapixel image.

Times whole commands as a user runs them (model load, PNG I/O and coding), the median of
--repetitions runs per case, for every shipped quality level (or the -q levels given), and in the
same run, on the same image and threads, the references that put the machine's speed at the moment
into the figures (ratio columns):
- Pillow's JPEG (quality 75) and WebP (quality 75) encode and decode, in-process;
- CompressAI's `bmshj2018_factorized` (quality 3), a learned codec of similar size: compress and
  decompress in-process with the model built once, torch limited to --threads. Pretrained weights
  cannot be downloaded here, so the architecture runs with its random initialisation (after
  `update(force=True)` builds its CDF tables): its compute, which is what is timed, is the same.
  Skipped, saying so, when compressai is not installed (`pip install compressai`).

    swift build -c release
    python3 Tools/bench_speed.py                      # all levels, 5 repetitions
    python3 Tools/bench_speed.py -q 2 --repetitions 3 --threads 2
    python3 Tools/bench_speed.py --model vq8-rvq4 -q 1 -q 2 -q 3 -q 4   # a progressive model's levels
    python3 Tools/bench_speed.py --model vq8-rvq4 -q 4 --reference-quality 4 --no-large   # against level 4

With --reference-quality K, every encode and decode alternates with the same command at the shipped
quality level K (default models) on the same image, run for run, and the ratio columns divide by
that reference's medians: load on a shared machine then slows both sides alike.

The 768x512 image is Kodak's kodim05 (any other with --image); the 4-megapixel one is made from it
with a Lanczos resize to 2448x1632 in a temporary folder.
"""
import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median_seconds(action, repetitions):
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def alternating_medians(action, reference, repetitions):
    """Medians of action's and reference's times, the two run in turn (action first)."""
    times, reference_times = [], []
    for _ in range(repetitions):
        for act, into in ((action, times), (reference, reference_times)):
            start = time.perf_counter()
            act()
            into.append(time.perf_counter() - start)
    return statistics.median(times), statistics.median(reference_times)


def run(arguments):
    completed = subprocess.run(arguments, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"{' '.join(arguments)} failed ({completed.returncode}): {completed.stderr.strip()}")
    return completed.stdout


def compressai_model(threads):
    """CompressAI's bmshj2018_factorized at quality 3 (N=128, M=192), random weights, CDFs built;
    None (said on stdout) when compressai is absent."""
    try:
        import torch
        from compressai.zoo import bmshj2018_factorized
    except ImportError:
        print("CompressAI reference skipped: compressai is not installed (pip install compressai)")
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    network = bmshj2018_factorized(quality=3, pretrained=False).eval()
    network.update(force=True)
    return network


def time_compressai(network, image, repetitions):
    """(bpp, compress s, decompress s) of one image, in-process, the model already built."""
    import numpy
    import torch
    array = numpy.asarray(image, dtype=numpy.float32) / 255
    x = torch.from_numpy(array.transpose(2, 0, 1).copy()).unsqueeze(0)
    with torch.no_grad():
        packed = network.compress(x)
        compress_s = median_seconds(lambda: network.compress(x), repetitions)
        decompress_s = median_seconds(lambda: network.decompress(packed["strings"], packed["shape"]), repetitions)
    bits = sum(len(s[0]) for s in packed["strings"]) * 8
    return bits / (image.size[0] * image.size[1]), compress_s, decompress_s


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "vqcodec"))
    parser.add_argument("--image", default=os.path.join(ROOT, "..", "shared", "data", "kodak", "kodim05.png"))
    parser.add_argument("-q", "--quality", type=int, action="append", help="quality level (repeat; default: all)")
    parser.add_argument("--model", help="a model to time at its -q levels (a shipped name such as vq8-rvq4, or a "
                        "model file) instead of the shipped quality levels; needs -q")
    parser.add_argument("--reference-quality", type=int, metavar="K",
                        help="alternate every timed command with the same one at shipped quality level K and "
                        "report the ratios to it")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--no-large", action="store_true", help="time the 768x512 image only, not the 4-megapixel one")
    parser.add_argument("--no-compressai", action="store_true", help="skip the CompressAI reference")
    parser.add_argument("--nearest-codes", action="store_true",
                        help="encode with the plain quantiser (vqcodec encode --nearest-codes) instead of the default "
                             "choice of codes (effort 0), which takes about 3 to 4 times as long")
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: build it with swift build -c release")

    levels = args.quality
    if args.model and not levels:
        sys.exit("--model needs the levels to time: -q K (repeat)")
    model = ["--model", args.model] if args.model else []
    if not levels:
        listing = run([args.binary, "models"])
        # The quality levels' table: the lines up to the first blank one (a progressive model's
        # own levels follow it).
        levels = [int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\*?\s", listing.split("\n\n")[0], re.MULTILINE)]

    with tempfile.TemporaryDirectory() as folder:
        small = Image.open(args.image).convert("RGB")
        if small.size != (768, 512):
            small = small.resize((768, 512), Image.LANCZOS)
        sizes = [("768x512", small)]
        if not args.no_large:
            sizes.append(("4 MP (2448x1632)", small.resize((2448, 1632), Image.LANCZOS)))
        cases = []
        for label, image in sizes:
            path = os.path.join(folder, label.split()[0] + ".png")
            image.save(path)
            cases.append((label, image, path))

        print(f"vqcodec {args.binary}{', model ' + args.model if args.model else ''}, threads {args.threads}, median of {args.repetitions}"
              f"{', encoding with --nearest-codes' if args.nearest_codes else ''}; "
              f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
        network = None if args.no_compressai else compressai_model(args.threads)
        threads = ["--threads", str(args.threads)]
        quantiser = ["--nearest-codes"] if args.nearest_codes else []
        for label, image, path in cases:
            references = {}
            for name in ("JPEG", "WebP"):
                buffer = io.BytesIO()
                image.save(buffer, format=name, quality=75)
                data = buffer.getvalue()
                encode_s = median_seconds(lambda: image.save(io.BytesIO(), format=name, quality=75), args.repetitions)
                decode_s = median_seconds(lambda: Image.open(io.BytesIO(data)).load(), args.repetitions)
                references[name] = (len(data) * 8 / (image.size[0] * image.size[1]), encode_s, decode_s)
            if network is not None:
                references["CompressAI"] = time_compressai(network, image, args.repetitions)
            print(f"{label}: references (bpp, encode s, decode s): " + "; ".join(
                f"{name} {bpp:.3f} bpp {e:.4f} s / {d:.4f} s" for name, (bpp, e, d) in references.items()))
            jpeg_encode_s, jpeg_decode_s = references["JPEG"][1:]
            ai = references.get("CompressAI")
            reference = args.reference_quality
            if reference is not None:
                reference_coded = os.path.join(folder, f"reference-q{reference}.vqc")
                reference_back = os.path.join(folder, f"reference-q{reference}.png")
                encode_reference = lambda: run([args.binary, "encode", "-q", str(reference), path, reference_coded]
                                               + threads + quantiser)
                decode_reference = lambda: run([args.binary, "decode", reference_coded, reference_back] + threads)
                encode_reference()
            print(f"{'image':18} {'level':>5} {'bpp':>7} {'encode s':>9} {'decode s':>9} {'enc/JPEG':>9} {'dec/JPEG':>9}"
                  + (f" {'enc/CAI':>8} {'dec/CAI':>8}" if ai else "")
                  + (f" {'ref enc s':>9} {'ref dec s':>9} {f'enc/q{reference}':>8} {f'dec/q{reference}':>8}"
                     if reference is not None else ""))
            for level in levels:
                coded = os.path.join(folder, f"q{level}.vqc")
                back = os.path.join(folder, f"q{level}.png")
                encode = lambda: run([args.binary, "encode", "-q", str(level), path, coded] + model + threads + quantiser)
                decode = lambda: run([args.binary, "decode", coded, back] + model + threads)
                if reference is None:
                    encode_s = median_seconds(encode, args.repetitions)
                    decode_s = median_seconds(decode, args.repetitions)
                else:
                    encode_s, reference_encode_s = alternating_medians(encode, encode_reference, args.repetitions)
                    decode_s, reference_decode_s = alternating_medians(decode, decode_reference, args.repetitions)
                bpp = os.path.getsize(coded) * 8 / (image.size[0] * image.size[1])
                print(f"{label:18} {level:>5} {bpp:7.4f} {encode_s:9.3f} {decode_s:9.3f} "
                      f"{encode_s / jpeg_encode_s:9.1f} {decode_s / jpeg_decode_s:9.1f}"
                      + (f" {encode_s / ai[1]:8.2f} {decode_s / ai[2]:8.2f}" if ai else "")
                      + (f" {reference_encode_s:9.3f} {reference_decode_s:9.3f} {encode_s / reference_encode_s:8.2f}"
                         f" {decode_s / reference_decode_s:8.2f}" if reference is not None else ""))
                sys.stdout.flush()


if __name__ == "__main__":
    main()
