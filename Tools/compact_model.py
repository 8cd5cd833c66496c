#!/usr/bin/env python3
"""Store a vqcodec model's float weights in half precision.

    python3 Tools/compact_model.py [--decode-only] IN.safetensors OUT.safetensors

Converts the F32 tensors of the analysis and synthesis transforms and of the float prior
(`analysis.*`, `synthesis.*`, `prior.*`) to F16 (round to nearest even). The codebook stays F32
and the integer prior (`prior_int.*`) is untouched, so the coding tables do not change; the
synthesis weights do, which changes the model's identity (its checksum covers them) and can move
the decoded pixels slightly: compare `vqcodec eval` of both files before shipping the smaller one.
Training-only tensors (`quantizer.cluster_*`, `quantizer.steps_unused`) are dropped.

--decode-only also drops the float prior (`prior.*` and its `prior.config`; for a progressive model
the float stage priors `prior.stage<k>.*` and `rvq.prior.config`), which coding never
reads (only `eval`'s float-prior rate and `train prior --init-from` do): for retired models, kept
so that old files decode. The model's identity does not change (the checksum covers `prior_int.*`,
the codebook and the synthesis, Formats/model.md), so its .vqc files decode as before.
"""
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

HALF = ("analysis.", "synthesis.", "prior.")
TRAINING_ONLY = ("quantizer.cluster_", "quantizer.steps_unused")
FLOAT_PRIOR = "prior."


def compact(source: str, target: str, decode_only: bool = False) -> None:
    tensors = {}
    with safe_open(source, framework="numpy") as f:
        metadata = f.metadata() or {}
        for key in f.keys():
            if key.startswith(TRAINING_ONLY) or (decode_only and key.startswith(FLOAT_PRIOR)):
                continue
            value = f.get_tensor(key)
            if key.startswith(HALF) and value.dtype == np.float32:
                value = value.astype(np.float16)
            tensors[key] = value
    if decode_only:
        if "prior_int.config" not in metadata and "rvq.prior_int.config" not in metadata:
            raise ValueError(f"{source} has no integer prior: without its float prior it could not code at all")
        metadata.pop("prior.config", None)
        metadata.pop("rvq.prior.config", None)   # a progressive model's float stage priors (prior.stage<k>.*)
        metadata["weights"] = ("analysis and synthesis in F16, float prior dropped (decode-only, "
                               "Tools/compact_model.py --decode-only)")
    else:
        metadata["weights"] = "analysis, synthesis and float prior in F16 (Tools/compact_model.py)"
    save_file(tensors, target, metadata=metadata)


def main(argv: list[str]) -> int:
    decode_only = "--decode-only" in argv
    paths = [a for a in argv if a != "--decode-only"]
    if len(paths) != 2 or any(a.startswith("-") for a in paths):
        print(__doc__.strip(), file=sys.stderr)
        return 64
    try:
        compact(paths[0], paths[1], decode_only)
    except ValueError as error:
        print(f"compact_model: {error}", file=sys.stderr)
        return 65
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
