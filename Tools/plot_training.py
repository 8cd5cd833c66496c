#!/usr/bin/env python3
"""Learning curves of vqcodec training runs, from the CSV logs `vqcodec train` writes (OUT.log.csv
for phase I, OUT.prior.log.csv for phase II).

    python3 Tools/plot_training.py Tools/results/training/*.csv --out Tools/results/training/curves.png

Phase-I logs give PSNR on the training crops (a running mean over --log-every steps) against
steps; phase-II logs give the prior's bits per symbol on training crops and, where evaluated, on
the held-out images. Logs of the progressive model (`Tools/train_torch/train.py rvq` and
`rvq-prior`) add the held-out PSNR at every stage count and the bits per symbol of every stage.
Prints the last values of each curve.

A run that continued another (`train vqvae --init-from` with the same codebooks) can be drawn where
its source stopped, so that one curve shows the whole training of a model: `--after r2=r1` shifts
the log labelled r2 by the last step of the log labelled r1 (labels are file names without
.log.csv). `--smooth N` draws the running mean of N logged rows (the raw rows are noisy: each is a
mean over --log-every steps of random crops).
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
            name = name[: -len(suffix)]
            break
    return name[: -len(".safetensors")] if name.endswith(".safetensors") else name


def running_mean(values, n):
    """Mean of each value and the n - 1 before it (fewer at the start)."""
    out, total = [], 0.0
    for i, v in enumerate(values):
        total += v
        if i >= n:
            total -= values[i - n]
        out.append(total / min(i + 1, n))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+")
    parser.add_argument("--out", required=True)
    parser.add_argument("--after", action="append", default=[], metavar="LATER=EARLIER",
                        help="draw phase-I log LATER after the last step of phase-I log EARLIER (repeatable, in order)")
    parser.add_argument("--smooth", type=int, default=1, metavar="N", help="running mean over N logged rows")
    args = parser.parse_args(argv)
    offsets = {}
    last_step = {label(p): int(read(p)[-1]["step"]) for p in args.logs
                 if not p.endswith(".prior.log.csv") and read(p)}
    for pair in args.after:
        later, _, earlier = pair.partition("=")
        if earlier not in last_step or later not in last_step:
            parser.error(f"--after {pair}: both must be phase-I logs given on the command line")
        offsets[later] = offsets.get(earlier, 0) + last_step[earlier]

    figure, (vq, prior) = plt.subplots(1, 2, figsize=(14, 5))
    for path in args.logs:
        rows = read(path)
        if not rows:
            continue
        shift = offsets.get(label(path), 0) if "psnr_db" in rows[0] else 0  # --after moves phase-I logs only
        steps = [int(r["step"]) + shift for r in rows]
        seconds = float(rows[-1].get("elapsed_s") or rows[-1].get("seconds") or 0)
        if "psnr_db" in rows[0]:
            psnr = [float(r["psnr_db"]) for r in rows]
            progressive = "held_out_psnr_1" in rows[0]
            line, = vq.plot(steps, running_mean(psnr, args.smooth),
                            label=label(path) + (" (training, mixed stage counts)" if progressive else ""), linewidth=1)
            text = (f"{label(path)}: phase I, {steps[-1]} steps, {seconds:.0f} s, "
                    f"last PSNR {psnr[-1]:.2f} dB (training crops)")
            stages = sorted(int(k.rsplit("_", 1)[1]) for k in rows[0]
                            if k.startswith("held_out_psnr_") and k.rsplit("_", 1)[1].isdigit())
            for n in stages:
                held = [(int(r["step"]) + shift, float(r[f"held_out_psnr_{n}"])) for r in rows if r.get(f"held_out_psnr_{n}")]
                if held:
                    vq.plot(*zip(*held), "o--", markersize=3, linewidth=0.8, color=line.get_color(), alpha=0.4 + 0.6 * n / len(stages),
                            label=f"{label(path)} (held out, {n} stage{'s' if n > 1 else ''})")
                    text += f"; held out, {n} stage{'s' if n > 1 else ''}: {held[-1][1]:.2f} dB"
            print(text)
        elif "bits_per_symbol" in rows[0]:
            bits = [float(r["bits_per_symbol"]) for r in rows]
            line, = prior.plot(steps, running_mean(bits, args.smooth), label=label(path) + " (training)", linewidth=1)
            held = [(int(r["step"]), float(r["held_out_bits_per_symbol"])) for r in rows if r.get("held_out_bits_per_symbol")]
            if held:
                prior.plot(*zip(*held), "o--", color=line.get_color(), label=label(path) + " (held out)")
            last_held = f", held out {held[-1][1]:.3f}" if held else ""
            print(f"{label(path)}: phase II, {steps[-1]} steps, {seconds:.0f} s, "
                  f"last {bits[-1]:.3f} bits/symbol{last_held}")
        elif "bits_per_symbol_1" in rows[0]:
            stages = sorted(int(k.rsplit("_", 1)[1]) for k in rows[0] if k.startswith("bits_per_symbol_"))
            text = f"{label(path)}: phase II (stage priors), {steps[-1]} steps, {seconds:.0f} s, last bits/symbol"
            for n in stages:
                bits = [float(r[f"bits_per_symbol_{n}"]) for r in rows]
                line, = prior.plot(steps, running_mean(bits, args.smooth), label=f"{label(path)} stage {n} (training)", linewidth=1)
                held = [(int(r["step"]), float(r[f"held_out_bits_per_symbol_{n}"])) for r in rows
                        if r.get(f"held_out_bits_per_symbol_{n}")]
                if held:
                    prior.plot(*zip(*held), "o--", color=line.get_color(), label=f"{label(path)} stage {n} (held out)")
                text += f" stage {n} {bits[-1]:.3f}" + (f" (held out {held[-1][1]:.3f})" if held else "")
            print(text)
    vq.set_xlabel("step" + (" (continued runs drawn after their source)" if offsets else ""))
    vq.set_ylabel("PSNR on training crops (dB)")
    vq.set_title("phase I: VQ-VAE")
    vq.grid(alpha=0.3)
    vq_entries = len(vq.get_legend_handles_labels()[0])
    if vq_entries > 12:
        # Below the panel, where it hides no curve: five held-out curves per run fill a panel fast.
        vq.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), borderaxespad=0,
                  ncol=(vq_entries + 12) // 13)
        figure.set_size_inches(14, 8)
    elif vq_entries:
        vq.legend(fontsize=7)
    prior.set_xlabel("step")
    prior.set_ylabel("bits per symbol")
    prior.set_title("phase II: PixelCNN prior")
    prior.grid(alpha=0.3)
    if prior.get_legend_handles_labels()[0]:
        # Beside the panel, not over it: a model's prior may have several runs, each with two curves.
        # In columns of at most 26 entries, so that a long list is not cut off at the figure's foot.
        entries = len(prior.get_legend_handles_labels()[0])
        prior.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0,
                     ncol=(entries + 25) // 26)
    if vq_entries <= 12:
        figure.tight_layout()
    figure.savefig(args.out, dpi=110, bbox_inches="tight")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
