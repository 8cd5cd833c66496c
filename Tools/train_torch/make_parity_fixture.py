#!/usr/bin/env python3
"""Writes the PyTorch ↔ Swift parity fixture, Fixtures/parity/ (read by Tests/ParityTests).

    python3 Tools/train_torch/make_parity_fixture.py            # rewrites Fixtures/parity/*.safetensors

Run only on purpose (the architecture or the file format changed deliberately), then review and
commit both files together. Nothing regenerates them implicitly: the Swift test fails without them.

- `model.safetensors`: a small model of this trainer's family with seeded random weights
  (stride 8, width 16, latent 16 = 4 groups × 4 dims, 4 × 32 codes; prior E 4, C 16, 2 blocks,
  kernel 3, head 16), F32, written by the trainer's own export (modelfile.py). The weights are moved
  off their initial values where the Swift side has rules to get right: GDN betas and gammas
  random, some below their bounds (beta < 1e-6, gamma < 0) so the clamps matter; the prior's
  masked-out weights NOT zeroed, so a mask that lets too much through changes the logits; the
  codebook made of encoder outputs of the photo plus noise, so the indices vary.
- `io.safetensors`: `images` U8 [2, 3, 32, 32] (two crops of Fixtures/images/photo-64x48.png, one
  mirrored; the network input is pixel / 255), and PyTorch's results, computed in float64 from the
  float32 weights (the exact answer, so the Swift test's tolerance measures Swift's rounding only):
  `latent` F32 [2, 16, 4, 4] (analysis), `symbols` I32 [2, 4, 4, 4] (nearest codes),
  `reconstruction` F32 [2, 3, 32, 32] (synthesis of the codebook vectors of `symbols`),
  `prior_symbols` I32 [2, 4, 5, 6] (seeded random) and `prior_logits` F32 [2, 128, 5, 6].
  Metadata `near_ties`: positions whose two nearest codes are within the tie tolerance in float64.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from train_torch import modelfile  # noqa: E402
from train_torch.model import GDN, PixelCNNPrior, PriorConfig, VQVAE, VQVAEConfig  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VQVAE_CONFIG = VQVAEConfig(stride=8, width=16, latentChannels=16, groups=4, codebookSize=32)
PRIOR_CONFIG = PriorConfig(groups=4, codebookSize=32, embeddingDimension=4, channels=16, blocks=2, kernelSize=3,
                           headChannels=16)
# Two nearest codes closer than this (relative to 1 + ‖x‖²) may legitimately swap between float
# implementations; the Swift test uses the same rule.
TIE_TOLERANCE = 1e-4


def perturb_gdn(module: torch.nn.Module, generator: torch.Generator):
    for layer in module.modules():
        if isinstance(layer, GDN):
            c = layer.beta.shape[0]
            with torch.no_grad():
                layer.beta.copy_(0.5 + torch.rand(c, generator=generator))
                layer.beta[1] = -0.25                      # below 1e-6: the forward uses 1e-6
                layer.gamma.copy_(0.1 * torch.eye(c) + 0.06 * torch.rand(c, c, generator=generator) - 0.02)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "Fixtures", "parity"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(20261123)
    generator = torch.Generator().manual_seed(7)

    vqvae = VQVAE(VQVAE_CONFIG)
    perturb_gdn(vqvae, generator)
    prior = PixelCNNPrior(PRIOR_CONFIG)
    with torch.no_grad():  # outputs of a useful size: pixels around ±1, logits of a few nats
        vqvae.synthesis[-2].weight.mul_(4)
        prior.head.logits.weight.mul_(8)

    photo = np.asarray(Image.open(os.path.join(ROOT, "Fixtures", "images", "photo-64x48.png")).convert("RGB"))
    whole = torch.from_numpy(photo.transpose(2, 0, 1).copy()).unsqueeze(0).double() / 255   # [1, 3, 48, 64]
    crops = np.stack([photo[5:37, 11:43].transpose(2, 0, 1), photo[16:48, 30:62, :][:, ::-1].transpose(2, 0, 1)])
    images_u8 = torch.from_numpy(np.ascontiguousarray(crops))                                   # [2, 3, 32, 32]
    images = images_u8.double() / 255

    analysis64 = vqvae.analysis.double()
    with torch.no_grad():
        # Codebook: encoder outputs of the whole photo (48 vectors per group) picked at random, plus noise.
        q = vqvae.quantizer
        vectors = q.vectors(analysis64(whole[:, :, :48, :64]))                                  # [G, 48, d]
        pick = torch.randint(vectors.shape[1], (q.groups, q.codebook_size), generator=generator)
        books = torch.stack([vectors[g, pick[g]] for g in range(q.groups)])
        books = books + 0.5 * books.std() * torch.randn(books.shape, generator=generator, dtype=torch.float64)
        q.codebook.copy_(books.float())
        q.initialised.fill_(True)

        # Everything below in float64 from the float32 weights.
        latent = analysis64(images)
        codebook = q.codebook.double()
        x = q.vectors(latent)                                                                  # [G, M, d]
        distances = ((x.unsqueeze(2) - codebook.unsqueeze(1)) ** 2).sum(-1)                    # [G, M, K]
        flat = distances.argmin(-1)
        two = distances.topk(2, largest=False).values
        scale = 1 + (x ** 2).sum(-1)
        near_ties = int(((two[..., 1] - two[..., 0]) <= TIE_TOLERANCE * scale).sum())
        n, _, h, w = latent.shape
        symbols = flat.reshape(q.groups, n, h, w).permute(1, 0, 2, 3)
        chosen = torch.stack([codebook[g][symbols[:, g]] for g in range(q.groups)], 1)          # [N, G, h, w, d]
        quantized = chosen.permute(0, 1, 4, 2, 3).reshape(n, q.groups * q.dimension, h, w)
        reconstruction = vqvae.synthesis.double()(quantized)

        prior_symbols = torch.randint(PRIOR_CONFIG.codebookSize, (2, PRIOR_CONFIG.groups, 5, 6), generator=generator)
        logits = prior.double()(prior_symbols)

        # How far float32 PyTorch is from the float64 reference (for the record).
        vqvae.float()
        prior.float()
        drift = {
            "latent": (vqvae.analysis(images.float()).double() - latent).abs().max().item(),
            "reconstruction": (vqvae.synthesis(quantized.float()).double() - reconstruction).abs().max().item(),
            "prior_logits": (prior(prior_symbols).double() - logits).abs().max().item(),
        }

    tensors = modelfile.vqvae_tensors(vqvae)
    tensors.update(modelfile.prior_tensors(prior, zero_masked=False))
    metadata = {modelfile.VQVAE_CONFIG: VQVAE_CONFIG.json(), modelfile.PRIOR_CONFIG: PRIOR_CONFIG.json(),
                modelfile.NAME: "parity-fixture"}
    model_path = os.path.join(args.out, "model.safetensors")
    modelfile.write_atomically(tensors, metadata, model_path)

    io = {
        "images": images_u8.contiguous(),
        "latent": latent.float().contiguous(),
        "symbols": symbols.to(torch.int32).contiguous(),
        "reconstruction": reconstruction.float().contiguous(),
        "prior_symbols": prior_symbols.to(torch.int32).contiguous(),
        "prior_logits": logits.float().contiguous(),
    }
    io_path = os.path.join(args.out, "io.safetensors")
    save_file(io, io_path, metadata={
        "generator": "Tools/train_torch/make_parity_fixture.py",
        "torch": torch.__version__,
        "near_ties": str(near_ties),
        "tie_tolerance": str(TIE_TOLERANCE),
        "float32_drift": modelfile.compact_json(drift),
    })
    used = [len(set(symbols[:, g].flatten().tolist())) for g in range(q.groups)]
    print(f"wrote {model_path} ({os.path.getsize(model_path)} bytes) and {io_path} ({os.path.getsize(io_path)} bytes)")
    print(f"codes used per group {used} of {q.codebook_size}; near-ties {near_ties}; "
          f"|latent| ≤ {latent.abs().max().item():.3f}, |reconstruction| ≤ {reconstruction.abs().max().item():.3f}, "
          f"|logits| ≤ {logits.abs().max().item():.3f}")
    print("float32 PyTorch vs the float64 reference, max abs: "
          + ", ".join(f"{k} {v:.2e}" for k, v in drift.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
