#!/usr/bin/env python3
"""Writes the PyTorch ↔ Swift parity fixture of the progressive model's transforms and residual
quantiser, Fixtures/parity/rvq-{model,io}.safetensors (read by Tests/ParityTests/ProgressiveParityTests).

    python3 Tools/train_torch/make_rvq_fixture.py            # rewrites both files

Run only on purpose (the architecture or the file format changed deliberately), then review and
commit both files together; nothing regenerates them implicitly.

- `rvq-model.safetensors`: a small progressive model (stride 8, width 8, latent 8; stages 1×16,
  2×16, 4×8) with seeded random weights, written by the trainer's own export (`modelfile.rvq_tensors`).
  GDN betas and gammas perturbed as in `make_parity_fixture.py`; each stage's codebook made of the
  residuals that stage sees on the photo, plus noise, so that the indices of every stage vary.
- `rvq-io.safetensors`: `images` U8 [2, 3, 32, 32] (two crops of Fixtures/images/photo-64x48.png,
  one mirrored) and PyTorch's results in float64 from the float32 weights: `latent` F32 [2, 8, 4, 4],
  `symbols{k}` I32 [2, G_k, 4, 4] for k = 1…3 (nearest codes of each stage's residual), and
  `reconstruction{n}` F32 [2, 3, 32, 32], the synthesis of the first n stages' decoded latent.
  Metadata `near_ties`: positions of any stage whose two nearest codes are within the tie tolerance.
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
from train_torch.make_parity_fixture import TIE_TOLERANCE, perturb_gdn  # noqa: E402
from train_torch.model import ProgressiveVQVAE, RVQConfig  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = RVQConfig(stride=8, width=8, latentChannels=8, stages=((1, 16), (2, 16), (4, 8)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "Fixtures", "parity"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(20261206)
    generator = torch.Generator().manual_seed(12)  # a seed whose fixture has no near-ties

    model = ProgressiveVQVAE(CONFIG)
    perturb_gdn(model, generator)
    with torch.no_grad():
        model.synthesis[-2].weight.mul_(4)

    photo = np.asarray(Image.open(os.path.join(ROOT, "Fixtures", "images", "photo-64x48.png")).convert("RGB"))
    whole = torch.from_numpy(photo.transpose(2, 0, 1).copy()).unsqueeze(0).double() / 255
    crops = np.stack([photo[5:37, 11:43].transpose(2, 0, 1), photo[16:48, 30:62, :][:, ::-1].transpose(2, 0, 1)])
    images_u8 = torch.from_numpy(np.ascontiguousarray(crops))
    images = images_u8.double() / 255

    analysis64 = model.analysis.double()
    stages = model.quantizer.stages()
    with torch.no_grad():
        # Codebooks stage by stage: residuals of the whole photo picked at random, plus noise.
        residual = analysis64(whole)
        for q in stages:
            vectors = q.vectors(residual)                                          # [G, M, d]
            pick = torch.randint(vectors.shape[1], (q.groups, q.codebook_size), generator=generator)
            books = torch.stack([vectors[g, pick[g]] for g in range(q.groups)])
            books = books + 0.3 * books.std() * torch.randn(books.shape, generator=generator, dtype=torch.float64)
            q.codebook.copy_(books.float())
            q.initialised.fill_(True)
            residual = residual - q.lookup(q.symbols(residual.float())).double()

        latent = analysis64(images)
        residual, symbols, running, reconstructions, near_ties = latent, [], None, [], 0
        for q in stages:
            codebook = q.codebook.double()
            x = q.vectors(residual)
            distances = ((x.unsqueeze(2) - codebook.unsqueeze(1)) ** 2).sum(-1)
            two = distances.topk(2, largest=False).values
            near_ties += int(((two[..., 1] - two[..., 0]) <= TIE_TOLERANCE * (1 + (x ** 2).sum(-1))).sum())
            n, _, h, w = residual.shape
            s = distances.argmin(-1).reshape(q.groups, n, h, w).permute(1, 0, 2, 3)
            chosen = torch.stack([codebook[g][s[:, g]] for g in range(q.groups)], 1)
            part = chosen.permute(0, 1, 4, 2, 3).reshape(n, q.groups * q.dimension, h, w)
            symbols.append(s)
            running = part if running is None else running + part
            reconstructions.append(model.synthesis.double()(running))
            residual = residual - part
        model.float()

    model_path = os.path.join(args.out, "rvq-model.safetensors")
    modelfile.write_atomically(modelfile.rvq_tensors(model),
                               {modelfile.RVQ_CONFIG: CONFIG.json(), modelfile.NAME: "rvq-parity-fixture"}, model_path)
    io = {"images": images_u8.contiguous(), "latent": latent.float().contiguous()}
    for k, (s, r) in enumerate(zip(symbols, reconstructions)):
        io[f"symbols{k + 1}"] = s.to(torch.int32).contiguous()
        io[f"reconstruction{k + 1}"] = r.float().contiguous()
    io_path = os.path.join(args.out, "rvq-io.safetensors")
    save_file(io, io_path, metadata={"generator": "Tools/train_torch/make_rvq_fixture.py", "torch": torch.__version__,
                                     "near_ties": str(near_ties), "tie_tolerance": str(TIE_TOLERANCE)})
    used = [[len(set(s[:, g].flatten().tolist())) for g in range(s.shape[1])] for s in symbols]
    print(f"wrote {model_path} ({os.path.getsize(model_path)} bytes) and {io_path} ({os.path.getsize(io_path)} bytes)")
    print(f"codes used per stage and group {used}; near-ties {near_ties}; "
          f"|reconstruction| ≤ {max(r.abs().max().item() for r in reconstructions):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
