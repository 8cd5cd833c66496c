#!/usr/bin/env python3
"""Learning curves of vqcodec training runs, from the CSV logs `vqcodec train` writes (OUT.log.csv
for phase I, OUT.prior.log.csv for phase II).

    python3 Tools/plot_training.py Tools/results/training/*.csv --out Tools/results/training/curves.png

Phase-I logs give PSNR on the training crops (a running mean over --log-every steps) against
steps; phase-II logs give the prior's bits per symbol on training crops and, where evaluated, on
the held-out images. Prints the last values of each curve.
"""
import argparse
import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def label(path):
    name = os.path.basename(path)
    for suffix in (".prior.log.csv", ".log.csv", ".csv"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    figure, (vq, prior) = plt.subplots(1, 2, figsize=(12, 4.5))
    for path in args.logs:
        rows = read(path)
        if not rows:
            continue
        steps = [int(r["step"]) for r in rows]
        if "psnr_db" in rows[0]:
            psnr = [float(r["psnr_db"]) for r in rows]
            vq.plot(steps, psnr, label=label(path), linewidth=1)
            print(f"{label(path)}: phase I, {steps[-1]} steps, {float(rows[-1]['elapsed_s']):.0f} s, "
                  f"last PSNR {psnr[-1]:.2f} dB (training crops)")
        elif "bits_per_symbol" in rows[0]:
            bits = [float(r["bits_per_symbol"]) for r in rows]
            line, = prior.plot(steps, bits, label=label(path) + " (training)", linewidth=1)
            held = [(int(r["step"]), float(r["held_out_bits_per_symbol"])) for r in rows if r.get("held_out_bits_per_symbol")]
            if held:
                prior.plot(*zip(*held), "o--", color=line.get_color(), label=label(path) + " (held out)")
            last_held = f", held out {held[-1][1]:.3f}" if held else ""
            print(f"{label(path)}: phase II, {steps[-1]} steps, {float(rows[-1]['elapsed_s']):.0f} s, "
                  f"last {bits[-1]:.3f} bits/symbol{last_held}")
    vq.set_xlabel("step")
    vq.set_ylabel("PSNR on training crops (dB)")
    vq.set_title("phase I: VQ-VAE")
    vq.grid(alpha=0.3)
    vq.legend(fontsize=7)
    prior.set_xlabel("step")
    prior.set_ylabel("bits per symbol")
    prior.set_title("phase II: PixelCNN prior")
    prior.grid(alpha=0.3)
    prior.legend(fontsize=7)
    figure.tight_layout()
    figure.savefig(args.out, dpi=110)


if __name__ == "__main__":
    main()
