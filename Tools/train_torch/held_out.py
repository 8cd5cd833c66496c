#!/usr/bin/env python3
"""The images `train.py` holds out of training, listed or linked into a folder for `vqcodec rd`.

    python3 Tools/train_torch/held_out.py ../shared/data/train ../shared/data/train-extra [--link DIR]

The split is the trainer's (`--hold-out-every`, default 10: in each folder, sorted by name, the
10th, 20th, … image): no model trained with the same `--data` saw these images, so they measure
how a model does on photos it was not trained on. Without `--link` the paths are printed, one per
line; with it, DIR (created if missing, and left alone if it holds anything but such links) gets
one symbolic link per image, named FOLDER-IMAGE so that names from different folders cannot clash.
Exit status: 0 done; 64 usage (a missing source, a DIR that holds other files).
"""
from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from train_torch import data as datasets  # noqa: E402


def held_out_paths(sources: list[str], hold_out_every: int = 10) -> list[str]:
    return datasets.split_held_out(datasets.list_sources(sources), hold_out_every)[1]


def link_name(path: str) -> str:
    return f"{os.path.basename(os.path.dirname(path))}-{os.path.basename(path)}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="+", help="the --data sources the model was trained with (folders or list files)")
    parser.add_argument("--hold-out-every", type=int, default=10, help="as train.py's (default 10)")
    parser.add_argument("--link", metavar="DIR", help="make DIR a folder of links to the held-out images")
    args = parser.parse_args(argv)
    try:
        paths = held_out_paths(args.data, args.hold_out_every)
    except (OSError, ValueError) as error:
        print(f"held_out: {error}", file=sys.stderr)
        return 64
    if not args.link:
        print("\n".join(paths))
        return 0
    os.makedirs(args.link, exist_ok=True)
    strangers = [n for n in os.listdir(args.link) if not os.path.islink(os.path.join(args.link, n))]
    if strangers:
        print(f"held_out: {args.link} holds files that are not links ({strangers[0]} …); give an empty or new folder",
              file=sys.stderr)
        return 64
    for path in paths:
        link = os.path.join(args.link, link_name(path))
        if os.path.islink(link):
            os.unlink(link)
        os.symlink(os.path.realpath(path), link)
    print(f"{args.link}: {len(paths)} links to the held-out images")
    return 0


if __name__ == "__main__":
    sys.exit(main())
