#!/usr/bin/env python3
"""How many codes of one model keep their index in another (a continued run of it).

    python3 Tools/codebook_match.py BEFORE.safetensors AFTER.safetensors

For every group, the share of BEFORE's codes whose nearest code vector in AFTER (squared
Euclidean distance) has the same index. A prior trained on BEFORE's symbols is a useful start
for AFTER's (`vqcodec train prior --init-from`) only when most codes keep their index. Both
models need the same groups, codebook size and code dimension.
"""
import sys

import numpy as np
from safetensors import safe_open

KEY = "quantizer.codebook"


def codebook(path):
    with safe_open(path, framework="numpy") as f:
        return f.get_tensor(KEY).astype(np.float64)


def kept_share(before, after):
    """Per group: the share of codes of `before` whose nearest code in `after` has their index."""
    if before.shape != after.shape:
        raise ValueError(f"codebooks differ in shape: {before.shape} and {after.shape}")
    shares = []
    for b, a in zip(before, after):
        distances = (b * b).sum(1)[:, None] - 2 * b @ a.T + (a * a).sum(1)[None, :]
        shares.append(float((distances.argmin(1) == np.arange(len(b))).mean()))
    return shares


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__.strip(), file=sys.stderr)
        return 64
    shares = kept_share(codebook(args[0]), codebook(args[1]))
    for group, share in enumerate(shares):
        print(f"group {group}: {100 * share:.1f} % of codes keep their index")
    print(f"mean: {100 * sum(shares) / len(shares):.1f} %")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
