#!/usr/bin/env python3
"""Store a vqcodec model's float weights in half precision.

    python3 Tools/compact_model.py [--decode-only] [--half-codebooks] [--pack-transforms B] IN.safetensors OUT.safetensors

Converts the F32 tensors of the analysis and synthesis transforms and of the float prior
(`analysis.*`, `synthesis.*`, `prior.*`) to F16 (round to nearest even). The codebook stays F32
and the integer prior (`prior_int.*`) is untouched, so the coding tables do not change; the
synthesis weights do, which changes the model's identity (its checksum covers them) and can move
the decoded pixels slightly: compare `vqcodec eval` of both files before shipping the smaller one.
Training-only tensors (`quantizer.cluster_*`, `quantizer.steps_unused`) are dropped.

--decode-only also drops the float prior (`prior.*` and its `prior.config`; for a progressive model
the float stage priors `prior.stage<k>.*` and `rvq.prior.config`), which coding never
reads (only `eval`'s float-prior rate and `train prior --init-from` do): for retired models, kept
so that old files decode, and for a progressive model that must fit its size limit (its priors can
still be trained on: `Tools/train_torch/train.py rvq-prior --init-from` thaws the integer ones).
The model's identity does not change (the checksum covers `prior_int.*`, the codebook and the
synthesis, Formats/model.md), so its .vqc files decode as before.

OUT is written atomically (a temporary file and a rename) and never over IN.

--half-codebooks stores the codebooks (`quantizer.codebook`, `quantizer.stage<k>.codebook`) in F16
too. The integer prior keeps its own copy of what it reads (`prior_int.*`), so the coding tables
do not change; the encoder's nearest-code search and the decoded latent use the rounded vectors,
which changes the model's identity. Measured on a width-96 progressive model, Kodak: the same
PSNR to 0.01 dB and rate to 0.0001 bpp at every stage, 262 KB smaller.

--pack-transforms B (2 to 16) stores the transforms' convolution kernels (the four-dimensional
`analysis.*.weight` and `synthesis.*.weight`) packed, B bits per weight with one F32 scale per
output channel (`X.scale`, `X.packed<B>`: Formats/model.md §1.1); their biases and GDN
parameters stay F16. The synthesis changes, and with it the model's identity and the decoded
pixels; the analysis changes the encoder's symbols: train the priors on a file whose analysis was
packed first (`--pack-transforms B` on the transforms' file, then train on it), and compare
`vqcodec rd` of both files before shipping the smaller one. Kernels a file holds packed already
stay as they are: a file whose analysis was packed, and whose synthesis was trained on since and
grafted in, gets its synthesis packed and keeps the analysis its priors were trained for.
"""
import sys

import numpy as np
from atomic_output import replace_atomically
from packed_weights import BITS, pack
from safetensors import safe_open
from safetensors.numpy import save_file

HALF = ("analysis.", "synthesis.", "prior.")
TRAINING_ONLY = ("quantizer.cluster_", "quantizer.steps_unused")
FLOAT_PRIOR = "prior."


def compact(source: str, target: str, decode_only: bool = False, half_codebooks: bool = False,
            pack_bits: int | None = None) -> None:
    if pack_bits is not None and pack_bits not in BITS:
        raise ValueError(f"--pack-transforms takes 2 to 16 bits, found {pack_bits}")
    tensors = {}
    with safe_open(source, framework="numpy") as f:
        metadata = f.metadata() or {}
        for key in f.keys():
            if key.startswith(TRAINING_ONLY) or (decode_only and key.startswith(FLOAT_PRIOR)):
                continue
            tensors[key] = f.get_tensor(key)
    for key in list(tensors):
        value = tensors[key]
        kernel = key.startswith(("analysis.", "synthesis.")) and key.endswith(".weight") and value.ndim == 4
        if pack_bits is not None and kernel:
            tensors[key + ".scale"], tensors[key + f".packed{pack_bits}"] = pack(value.astype(np.float32), pack_bits)
            del tensors[key]
            continue
        codebook = half_codebooks and key.startswith("quantizer.") and key.endswith(".codebook")
        packed_scale = key.endswith(".scale") and any(k.startswith(key[: -len("scale")] + "packed") for k in tensors)
        if (key.startswith(HALF) or codebook) and value.dtype == np.float32 and not packed_scale:
            tensors[key] = value.astype(np.float16)
    command = " ".join(["Tools/compact_model.py"] + (["--decode-only"] if decode_only else [])
                       + (["--half-codebooks"] if half_codebooks else [])
                       + ([f"--pack-transforms {pack_bits}"] if pack_bits is not None else []))
    halved = (["transforms' biases and GDN"] if pack_bits is not None else ["analysis", "synthesis"]) \
        + (["codebooks"] if half_codebooks else [])
    if decode_only:
        if "prior_int.config" not in metadata and "rvq.prior_int.config" not in metadata:
            raise ValueError(f"{source} has no integer prior: without its float prior it could not code at all")
        metadata.pop("prior.config", None)
        metadata.pop("rvq.prior.config", None)   # a progressive model's float stage priors (prior.stage<k>.*)
        metadata["weights"] = f"{packed_text(pack_bits)}{listed(halved)} in F16, float prior dropped (decode-only, {command})"
    else:
        metadata["weights"] = f"{packed_text(pack_bits)}{listed(halved + ['float prior'])} in F16 ({command})"
    replace_atomically(target, lambda temporary: save_file(tensors, temporary, metadata=metadata), protect=(source,))


def listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def packed_text(bits: int | None) -> str:
    return "" if bits is None else f"convolution kernels packed at {bits} bits with a scale per output channel; "


def main(argv: list[str]) -> int:
    decode_only, half_codebooks = "--decode-only" in argv, "--half-codebooks" in argv
    argv = list(argv)
    pack_bits = None
    if "--pack-transforms" in argv:
        at = argv.index("--pack-transforms")
        if at + 1 >= len(argv) or not argv[at + 1].isdigit():
            print("compact_model: --pack-transforms needs a number of bits, 2 to 16", file=sys.stderr)
            return 64
        pack_bits = int(argv[at + 1])
        del argv[at:at + 2]
    paths = [a for a in argv if a not in ("--decode-only", "--half-codebooks")]
    if len(paths) != 2 or any(a.startswith("-") for a in paths):
        print(__doc__.strip(), file=sys.stderr)
        return 64
    try:
        compact(paths[0], paths[1], decode_only, half_codebooks, pack_bits)
    except ValueError as error:
        print(f"compact_model: {error}", file=sys.stderr)
        return 65
    except OSError as error:
        where = f"{error.filename}: " if error.filename else ""
        print(f"compact_model: {where}{error.strerror or error}", file=sys.stderr)
        return 66
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
