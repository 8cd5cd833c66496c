#!/usr/bin/env python3
"""Rate-distortion curves from CompressAI-format results JSON files: plot, BD-rate, PSNR at fixed rates.

    python3 Tools/plot_rd.py Tools/results/kodak/jpeg.json Tools/results/kodak/webp.json --out rd.png

Each file is {"name": ..., "results": {"bpp": [...], "psnr-rgb": [...] (or "psnr"), "mse": [...]}}
(the "mse" list is optional; CompressAI's own files lack it). The plot has two panels: PSNR against
bpp, and MSE against bpp on a log scale; one curve per file, labelled with its "name" (or with
--labels, one per file, in the same order).

Printed (as a Markdown table): for every curve, its BD-rate (%) and BD-PSNR (dB) against the FIRST
file, by the classic Bjøntegaard cubic method (see Tools/bdrate.py), and its PSNR at 0.125, 0.25,
0.5 and 0.75 bpp (change with --rates) by linear interpolation of PSNR against log(bpp); "-" where
the rate lies outside the curve's measured range or the curves do not overlap.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bdrate import bd_psnr, bd_rate, psnr_at_rate  # noqa: E402

DEFAULT_RATES = [0.125, 0.25, 0.5, 0.75]


@dataclass(frozen=True)
class Curve:
    """One rate-distortion curve: points sorted by increasing bpp."""
    name: str
    bpp: list[float]
    psnr: list[float]
    mse: Optional[list[float]]


def _numbers(path: Path, key: str, value: object, n: Optional[int]) -> list[float]:
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{path}: results.{key} must be a list of numbers")
    if n is not None and len(value) != n:
        raise ValueError(f"{path}: results.{key} has {len(value)} entries but results.bpp has {n}")
    out = [float(v) for v in value]
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{path}: results.{key} holds a non-finite number")
    return out


def load_curve(path: Path) -> Curve:
    """Reads a CompressAI-format results file. Raises ValueError (with the file and field) when malformed."""
    try:
        doc = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    results = doc.get("results") if isinstance(doc, dict) else None
    if not isinstance(results, dict):
        raise ValueError(f"{path}: expected an object with a \"results\" object (CompressAI format)")
    if "bpp" not in results:
        raise ValueError(f"{path}: results has no \"bpp\" list")
    bpp = _numbers(path, "bpp", results["bpp"], None)
    if len(bpp) < 1:
        raise ValueError(f"{path}: results.bpp is empty")
    if any(b <= 0 for b in bpp):
        raise ValueError(f"{path}: every results.bpp entry must be > 0")
    key = "psnr-rgb" if "psnr-rgb" in results else "psnr" if "psnr" in results else None
    if key is None:
        raise ValueError(f"{path}: results has neither \"psnr-rgb\" nor \"psnr\"")
    psnr = _numbers(path, key, results[key], len(bpp))
    mse = _numbers(path, "mse", results["mse"], len(bpp)) if "mse" in results else None
    name = doc.get("name") if isinstance(doc.get("name"), str) and doc.get("name") else path.stem
    order = sorted(range(len(bpp)), key=lambda i: bpp[i])
    return Curve(name, [bpp[i] for i in order], [psnr[i] for i in order],
                 [mse[i] for i in order] if mse is not None else None)


def _fmt(v: Optional[float], spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _try(f, *args) -> Optional[float]:
    try:
        return f(*args)
    except ValueError:
        return None


def report(curves: Sequence[Curve], rates: Sequence[float], method: str = "cubic") -> str:
    """Markdown table: BD-rate and BD-PSNR against curves[0] (by `method`), PSNR at each rate."""
    anchor = curves[0]
    head = ["curve", f"BD-rate vs {anchor.name}", "BD-PSNR (dB)"] + [f"PSNR @ {r:g} bpp" for r in rates]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for i, c in enumerate(curves):
        if i == 0:
            bdr, bdp = "anchor", "anchor"
        else:
            bdr = _fmt(_try(bd_rate, anchor.bpp, anchor.psnr, c.bpp, c.psnr, method), "+.2f")
            bdr = bdr if bdr == "-" else bdr + " %"
            bdp = _fmt(_try(bd_psnr, anchor.bpp, anchor.psnr, c.bpp, c.psnr, method), "+.3f")
        cells = [c.name, bdr, bdp] + [_fmt(_try(psnr_at_rate, c.bpp, c.psnr, r), ".2f") for r in rates]
        lines.append("| " + " | ".join(cells) + " |")
    # A single operating point has no curve to integrate: compare it with the anchor at its rate.
    for c in curves[1:]:
        if len(c.bpp) == 1:
            at = _try(psnr_at_rate, anchor.bpp, anchor.psnr, c.bpp[0])
            delta = "-" if at is None else f"{c.psnr[0] - at:+.2f} dB"
            lines.append(f"\n{c.name}: one point, {c.bpp[0]:.4f} bpp at {c.psnr[0]:.2f} dB; "
                         f"{anchor.name} at that rate: {_fmt(at, '.2f')} dB ({delta})")
    return "\n".join(lines)


def plot(curves: Sequence[Curve], out: Path, title: Optional[str], max_bpp: Optional[float]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_psnr, ax_mse) = plt.subplots(1, 2, figsize=(13, 5.2))
    markers = "os^Dv<>ph*"
    for i, c in enumerate(curves):
        style = dict(marker=markers[i % len(markers)], markersize=4, linewidth=1.4, label=c.name)
        ax_psnr.plot(c.bpp, c.psnr, **style)
        if c.mse is not None:
            ax_mse.plot(c.bpp, c.mse, **style)
        else:
            ax_mse.plot([], [], **{**style, "label": c.name + " (no MSE in file)"})
    ax_psnr.set(xlabel="rate (bpp)", ylabel="PSNR (dB)", title="PSNR (mean of per-image PSNR)")
    ax_mse.set(xlabel="rate (bpp)", ylabel="MSE (0..255 scale)", title="MSE (mean of per-image MSE)", yscale="log")
    for ax in (ax_psnr, ax_mse):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
        if max_bpp is not None:
            ax.set_xlim(0, max_bpp)
    if max_bpp is not None:
        # fit the y ranges to the points that are shown
        ps = [p for c in curves for b, p in zip(c.bpp, c.psnr) if b <= max_bpp]
        ms = [m for c in curves if c.mse for b, m in zip(c.bpp, c.mse) if b <= max_bpp and m > 0]
        if ps:
            ax_psnr.set_ylim(min(ps) - 0.5, max(ps) + 0.5)
        if ms:
            ax_mse.set_ylim(min(ms) / 1.2, max(ms) * 1.2)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", type=Path, nargs="+", help="results JSON files; the first is the BD anchor")
    ap.add_argument("--out", type=Path, help="PNG to draw the two panels into (no plot without it)")
    ap.add_argument("--title", help="title above the panels")
    ap.add_argument("--rates", type=float, nargs="+", default=DEFAULT_RATES, metavar="BPP",
                    help="rates at which to report PSNR (default: %(default)s)")
    ap.add_argument("--max-bpp", type=float, help="limit the plots' rate axis to 0..MAX_BPP")
    ap.add_argument("--labels", nargs="+", metavar="LABEL",
                    help="one name per file for the table and the legend (default: each file's \"name\")")
    ap.add_argument("--method", choices=["cubic", "pchip"], default="cubic",
                    help="BD interpolation: the classic least-squares cubic (default) or piecewise-cubic Hermite")
    args = ap.parse_args(argv)
    if args.labels is not None and len(args.labels) != len(args.files):
        print(f"error: --labels gives {len(args.labels)} names for {len(args.files)} files", file=sys.stderr)
        return 2
    if any(not r > 0 for r in args.rates):
        print("error: every --rates value must be > 0 bpp", file=sys.stderr)
        return 2
    try:
        curves = [load_curve(p) for p in args.files]
        if args.labels:
            curves = [dataclasses.replace(c, name=label) for c, label in zip(curves, args.labels)]
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(report(curves, args.rates, args.method))
    fit = ("classic Bjøntegaard (cubic fit" if args.method == "cubic"
           else "piecewise-cubic Hermite (pchip interpolation")
    print(f"\nBD: {fit} of log-rate vs PSNR; PSNR vs log-rate for BD-PSNR) "
          "over the overlapping range; PSNR @ rate: linear in log(bpp), '-' outside the curve.")
    if args.out:
        plot(curves, args.out, args.title, args.max_bpp)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
