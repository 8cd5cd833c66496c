#!/usr/bin/env python3
"""Writes the PyTorch ↔ Swift parity fixture of the stage-conditional prior (read by
Tests/ParityTests/StagePriorParityTests.swift and the integer stage prior's tests).

    python3 Tools/train_torch/make_stage_parity_fixture.py     # rewrites Fixtures/parity/progressive*.safetensors

Run only on purpose (the architecture or the file format changed deliberately), then review and
commit both files together. Nothing regenerates them implicitly: the Swift tests fail without them.

- `progressive.safetensors`: a tiny progressive model as `train.py rvq` + `rvq-prior` write it
  (modelfile.py): stride 8, width 8, latent D = 8, stages 1x16, 2x16, 4x8; codebooks
  `quantizer.stage{k}.codebook` seeded random with shrinking magnitudes (about 1, 0.3, 0.1, as
  residual stages have); stage priors E 4, C 8, 2 blocks, kernel 3, head 8, conditionChannels 0, 8, 8.
  Seeded random weights, moved off their initial values where the Swift side has rules to get
  right: masked-out weights NOT zeroed (a mask that lets too much through changes the logits),
  head logits ×8 and condition convolutions ×4 (the condition visibly moves the logits).
- `progressive-io.safetensors`: `stage{k}_symbols` I32 [2, G_k, 5, 6] (seeded random) and
  PyTorch's `StageConditionalPrior` logits `stage{k}_logits` F32 [2, G_k·K_k, 5, 6], stage k
  conditioned on Σ_{j<k} lookup_j(stage{j}_symbols), computed in float64 from the float32 weights.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from train_torch import modelfile  # noqa: E402
from train_torch.model import ProgressivePrior, ProgressiveVQVAE, RVQConfig, StagePriorConfig  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RVQ = RVQConfig(stride=8, width=8, latentChannels=8, stages=((1, 16), (2, 16), (4, 8)))
MAGNITUDES = (1.0, 0.3, 0.1)
HEIGHT, WIDTH = 5, 6


def stage_configs() -> list[StagePriorConfig]:
    return [StagePriorConfig(groups=g, codebookSize=k, embeddingDimension=4, channels=8, blocks=2, kernelSize=3,
                             headChannels=8, conditionChannels=0 if i == 0 else RVQ.latentChannels)
            for i, (g, k) in enumerate(RVQ.stages)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "Fixtures", "parity"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    torch.manual_seed(20261206)
    generator = torch.Generator().manual_seed(11)

    model = ProgressiveVQVAE(RVQ)
    prior = ProgressivePrior(stage_configs())
    with torch.no_grad():
        for q, magnitude in zip(model.quantizer.stages(), MAGNITUDES):
            q.codebook.copy_(magnitude * torch.randn(q.codebook.shape, generator=generator))
            q.initialised.fill_(True)
        for stage in prior.stages():
            stage.head.logits.weight.mul_(8)
            for b in range(stage.config.blocks):
                if stage.stage_config.conditionChannels:
                    condition = getattr(stage, f"condition{b}")
                    condition.vertical.weight.mul_(4)
                    condition.horizontal.weight.mul_(4)

    symbols = [torch.randint(k, (2, g, HEIGHT, WIDTH), generator=generator) for g, k in RVQ.stages]
    io = {}
    with torch.no_grad():
        model64 = model.double()
        prior64 = prior.double()
        drift = 0.0
        for k, stage in enumerate(prior64.stages()):
            condition = model64.quantizer.lookup(symbols[:k]) if k else None
            logits = stage(symbols[k], condition)
            io[f"stage{k + 1}_symbols"] = symbols[k].to(torch.int32).contiguous()
            io[f"stage{k + 1}_logits"] = logits.float().contiguous()
            stage32 = stage.float()
            condition32 = condition.float() if condition is not None else None
            drift = max(drift, (stage32(symbols[k], condition32).double() - logits).abs().max().item())
            stage.double()
        model.float()
        prior.float()

    tensors = modelfile.rvq_tensors(model)
    for k, stage in enumerate(prior.stages()):
        for key, value in stage.export_state(zero_masked=False).items():
            tensors[f"prior.stage{k + 1}.{key}"] = value.float()
    metadata = {modelfile.RVQ_CONFIG: RVQ.json(), modelfile.RVQ_PRIOR_CONFIG: prior.json(),
                modelfile.NAME: "stage-parity-fixture"}
    model_path = os.path.join(args.out, "progressive.safetensors")
    modelfile.write_atomically(tensors, metadata, model_path)
    io_path = os.path.join(args.out, "progressive-io.safetensors")
    save_file(io, io_path, metadata={
        "generator": "Tools/train_torch/make_stage_parity_fixture.py",
        "torch": torch.__version__,
        "float32_drift": modelfile.compact_json({"stage_logits": drift}),
    })
    print(f"wrote {model_path} ({os.path.getsize(model_path)} bytes) and {io_path} ({os.path.getsize(io_path)} bytes)")
    for k in range(len(RVQ.stages)):
        print(f"stage {k + 1}: |logits| ≤ {io[f'stage{k + 1}_logits'].abs().max().item():.3f}")
    print(f"float32 PyTorch vs the float64 reference, max abs: {drift:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
