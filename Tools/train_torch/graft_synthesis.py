#!/usr/bin/env python3
"""Gives a progressive model with stage priors the synthesis of a `train.py rvq --train synthesis` run.

    python3 Tools/train_torch/graft_synthesis.py PRIORS.safetensors SYNTHESIS.safetensors OUT.safetensors

PRIORS is a `train.py rvq-prior` output (transforms, stage codebooks and float stage priors);
SYNTHESIS a progressive model trained from the same file's transforms with `--train synthesis`.
The two must hold the same analysis and the same stage codebooks, bit for bit (so every image has
the same symbols under both, and the priors trained on PRIORS' symbols fit SYNTHESIS' exactly);
anything else is refused, nothing written. OUT is PRIORS with SYNTHESIS' synthesis, its name, and
its recipe and metrics (the priors' own recipe and metrics are kept), written atomically; it is
what `vqcodec freeze` takes.

Exit status: 0 written; 64 usage (a file missing or not a progressive model); 65 the two files do
not share analysis and codebooks, or OUT names an input.
"""
from __future__ import annotations

import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from train_torch import modelfile  # noqa: E402

KEPT = ("analysis.", "quantizer.")       # what must be equal: the symbols depend on these alone


def graft(priors: str, synthesis: str, out: str) -> None:
    """Raises FileNotFoundError, LookupError (not the kind of file asked for) or ValueError (not the
    same analysis and codebooks, or OUT names an input)."""
    for path in (priors, synthesis):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file")
    a, a_meta = modelfile.read(priors)
    b, b_meta = modelfile.read(synthesis)
    if modelfile.RVQ_PRIOR_CONFIG not in a_meta:
        raise LookupError(f"{priors}: no stage priors (give the output of train.py rvq-prior)")
    if modelfile.RVQ_CONFIG not in b_meta:
        raise LookupError(f"{synthesis}: not a progressive model (give the output of train.py rvq --train synthesis)")
    if a_meta[modelfile.RVQ_CONFIG] != b_meta[modelfile.RVQ_CONFIG]:
        raise ValueError(f"the models differ in shape: {a_meta[modelfile.RVQ_CONFIG]} against "
                         f"{b_meta[modelfile.RVQ_CONFIG]}")
    kept_a = sorted(k for k in a if k.startswith(KEPT))
    kept_b = sorted(k for k in b if k.startswith(KEPT))
    if kept_a != kept_b:
        raise ValueError("the models' analysis or codebooks hold different tensors")
    for key in kept_a:
        if a[key].dtype != b[key].dtype or not torch.equal(a[key], b[key]):
            raise ValueError(f"{key} differs: the symbols would not be the ones the priors were trained on "
                             "(train the synthesis with --train synthesis from the priors' own transforms)")
    tensors = {k: v for k, v in a.items() if not k.startswith("synthesis.")}
    tensors.update({k: v for k, v in b.items() if k.startswith("synthesis.")})
    metadata = dict(a_meta)
    for key in (modelfile.NAME, "rvq.recipe", "rvq.metrics"):
        if key in b_meta:
            metadata[key] = b_meta[key]
    modelfile.write_atomically(tensors, metadata, out, protect=(priors, synthesis))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("priors", help="train.py rvq-prior output: transforms, codebooks, float stage priors")
    parser.add_argument("synthesis", help="train.py rvq --train synthesis output from the same transforms")
    parser.add_argument("out", help="the model file to write")
    args = parser.parse_args(argv)
    try:
        graft(args.priors, args.synthesis, args.out)
    except (FileNotFoundError, LookupError) as error:
        print(f"graft_synthesis: {error}", file=sys.stderr)
        return 64
    except ValueError as error:
        print(f"graft_synthesis: {error}; nothing written", file=sys.stderr)
        return 65
    print(f"wrote {args.out}: the stage priors of {args.priors} with the synthesis of {args.synthesis}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
