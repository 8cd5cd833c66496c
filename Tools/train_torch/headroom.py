#!/usr/bin/env python3
"""How far a progressive model's quantiser is from what its transforms allow, on a folder of images.

    python3 Tools/train_torch/headroom.py runs/rvq.safetensors ../shared/data/kodak [--crop 0]

Prints, as mean PSNR over the folder's images (whole images by default, padded to the stride;
`--crop N`: centred N-pixel crops, as the trainer's held-out evaluation), the reconstruction from
the first n stages for n = 1 … S and the synthesis of the *unquantised* analysis output. When the
last stage comes within a few tenths of a dB of the unquantised figure, the transforms, not the
quantiser or its rate, cap the top of the model's rate–distortion curve: more stages or finer codes
cannot help there, wider or better-trained transforms can. PSNR is computed on the float output
clamped to [0, 1] (not rounded to 8 bits), as `train.py rvq` logs it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from train_torch import data as datasets  # noqa: E402
from train_torch import modelfile  # noqa: E402
from train_torch.train import evaluate_stages, held_out_images  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a progressive model file (train.py rvq or rvq-prior output)")
    parser.add_argument("folder", help="folder of PNG/JPEG images")
    parser.add_argument("--crop", type=int, default=0, help="centred crops of at most this side (default 0: whole images)")
    parser.add_argument("--threads", type=int, help="CPU threads for PyTorch")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        model, _, _ = modelfile.load_rvq(args.model)
        paths = datasets.list_images(args.folder)
    except (OSError, ValueError) as error:
        print(f"headroom: {error}", file=sys.stderr)
        return 64
    model.eval()
    result = evaluate_stages(model, held_out_images(paths, args.crop, model.config.stride), "cpu")
    figures = {"images": len(paths), "psnrByStages": result["heldOutPsnrByStages"],
               "psnrUnquantised": result["heldOutPsnrUnquantised"]}
    if args.json:
        print(json.dumps(figures))
    else:
        stages = " / ".join(f"{v:.2f}" for v in figures["psnrByStages"])
        print(f"{args.folder}: {len(paths)} images; mean PSNR at 1…{len(figures['psnrByStages'])} stages "
              f"{stages} dB; unquantised {figures['psnrUnquantised']:.2f} dB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
