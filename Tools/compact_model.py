#!/usr/bin/env python3
"""Store a vqcodec model's float weights in half precision.

    python3 Tools/compact_model.py IN.safetensors OUT.safetensors

Converts the F32 tensors of the analysis and synthesis transforms and of the float prior
(`analysis.*`, `synthesis.*`, `prior.*`) to F16 (round to nearest even). The codebook stays F32
and the integer prior (`prior_int.*`) is untouched, so the coding tables do not change; the
synthesis weights do, which changes the model's identity (its checksum covers them) and can move
the decoded pixels slightly: compare `vqcodec eval` of both files before shipping the smaller one.
Training-only tensors (`quantizer.cluster_*`, `quantizer.steps_unused`) are dropped.
"""
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import save_file

HALF = ("analysis.", "synthesis.", "prior.")
TRAINING_ONLY = ("quantizer.cluster_", "quantizer.steps_unused")


def main() -> int:
    if len(sys.argv) != 3:
        print(__doc__.strip(), file=sys.stderr)
        return 64
    source, target = sys.argv[1], sys.argv[2]
    tensors = {}
    with safe_open(source, framework="numpy") as f:
        metadata = f.metadata() or {}
        for key in f.keys():
            if key.startswith(TRAINING_ONLY):
                continue
            value = f.get_tensor(key)
            if key.startswith(HALF) and value.dtype == np.float32:
                value = value.astype(np.float16)
            tensors[key] = value
    metadata["weights"] = "analysis, synthesis and float prior in F16 (Tools/compact_model.py)"
    save_file(tensors, target, metadata=metadata)
    return 0


if __name__ == "__main__":
    sys.exit(main())
