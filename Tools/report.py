#!/usr/bin/env python3
"""One self-contained HTML page (every image inlined as base64) about vqcodec on a dataset.

    python3 Tools/report.py --results Tools/results/kodak --images ../shared/data/kodak \\
        --pick kodim23 kodim05 kodim19 --out Tools/results/kodak/report.html

The page holds:
  * the rate-distortion plots (PSNR and MSE against bpp) of RESULTS/vqcodec.json beside
    RESULTS/jpeg.json and RESULTS/webp.json (CompressAI results format, as `vqcodec rd` and
    Tools/baselines.py write them), drawn by Tools/plot_rd.py;
  * the per-level table (bpp, PSNR, MSE, the prior's ideal bpp, codebook use) with JPEG's and
    WebP's PSNR at each level's rate (linear in log bpp between their points);
  * for each picked image, zoomed crops side by side: the original, vqcodec at --level, and JPEG
    and WebP (Pillow, the settings of Tools/baselines.py) at the quality whose file is nearest
    to vqcodec's in bytes, each labelled with the real bpp and PSNR of the whole image and the
    PSNR of the crop; and the bit heatmap of `vqcodec inspect` with its colour bar, the crop
    marked. The crop is the window (--crop pixels square) where vqcodec spends the most bits,
    unless given with --at NAME:X,Y.

Crops are PNG (lossless, so the codecs' artefacts are shown as decoded) and shown enlarged
--zoom times with nearest-neighbour scaling; the plots and heatmaps are JPEG to keep the page
small (--save-crops also writes the crops as PNG files). The page marks itself once every image has loaded (<body data-images="loaded N of N">),
which Tools/test_report.py checks in headless Chromium.

vqcodec is the binary given with --vqcodec (default .build/release/vqcodec, then .build/debug).
"""
from __future__ import annotations

import argparse
import base64
import dataclasses
import html
import io
import json
import math
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baselines  # noqa: E402
import plot_rd  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def find_vqcodec(given: Optional[str]) -> Optional[Path]:
    """The vqcodec binary: --vqcodec, $VQCODEC, or the release then debug build of this checkout."""
    for candidate in ([given] if given else []) + [os.environ.get("VQCODEC")] + [
            str(ROOT / ".build/release/vqcodec"), str(ROOT / ".build/debug/vqcodec")]:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return Path(candidate)
    return None


def run(args: Sequence[str]) -> str:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def data_uri(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def jpeg_bytes(im: Image.Image, quality: int = 88) -> bytes:
    buf = io.BytesIO()
    im.convert("RGB").save(buf, format="JPEG", quality=quality, optimize=True)
    return buf.getvalue()


@dataclass
class Coded:
    """One codec's version of an image: label, real rate and distortion, decoded pixels."""
    label: str
    bytes: int
    bpp: float
    psnr: float
    image: Image.Image


def nearest_quality(ref: Image.Image, codec: str, target_bytes: int) -> Coded:
    """The Pillow quality whose file is nearest to target_bytes (bisection; size grows with quality)."""
    lo, hi = baselines.QUALITY_RANGE[codec]
    tried: dict[int, bytes] = {}

    def size(q: int) -> int:
        if q not in tried:
            tried[q] = baselines.encode(ref, codec, q)
        return len(tried[q])

    while hi - lo > 1:
        mid = (lo + hi) // 2
        if size(mid) <= target_bytes:
            lo = mid
        else:
            hi = mid
    best = min((lo, hi), key=lambda q: (abs(size(q) - target_bytes), q))
    data = tried[best]
    dec = baselines.decode(data, ref.mode)
    _, psnr = baselines.mse_psnr(np.asarray(ref), np.asarray(dec))
    w, h = ref.size
    name = "JPEG" if codec == "jpeg" else "WebP"
    return Coded(f"{name} q{best}", len(data), 8 * len(data) / (w * h), psnr, dec.convert("RGB"))


def costliest_window(inspect: dict, side: int) -> tuple[int, int]:
    """Top-left pixel of the side × side window (on the latent grid) holding the most bits."""
    stride, w, h = inspect["stride"], inspect["latentWidth"], inspect["latentHeight"]
    n = max(1, min(side // stride, w, h))
    bits = np.asarray(inspect["bits"]["total"], dtype=np.float64).reshape(h, w)
    integral = np.pad(bits.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = integral[n:, n:] - integral[:-n, n:] - integral[n:, :-n] + integral[:-n, :-n]
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    left = min(int(x) * stride, inspect["width"] - side)
    top = min(int(y) * stride, inspect["height"] - side)
    return max(0, left), max(0, top)


def heatmap_figure(heatmap: Path, scale_max: float, box: tuple[int, int, int, int]) -> bytes:
    """The heatmap with the crop outlined and a viridis colour bar in bits per pixel, as JPEG."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import Normalize
    from matplotlib.cm import ScalarMappable

    im = Image.open(heatmap).convert("RGB")
    ImageDraw.Draw(im).rectangle(box, outline=(255, 255, 255), width=2)
    w, h = im.size
    fig, ax = plt.subplots(figsize=(6.4, 6.4 * h / w + 0.2), dpi=120)
    ax.imshow(im)
    ax.set_axis_off()
    bar = fig.colorbar(ScalarMappable(norm=Normalize(0, scale_max), cmap="viridis"), ax=ax, fraction=0.035, pad=0.02)
    bar.set_label("bits per pixel (latent position's cost / pixels it covers)")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return jpeg_bytes(Image.open(io.BytesIO(buf.getvalue())), 85)


def rd_figure(curves: Sequence[plot_rd.Curve], title: str, max_bpp: Optional[float]) -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rd.png"
        plot_rd.plot(curves, out, title, max_bpp)
        return png_bytes(Image.open(out).convert("P", palette=Image.ADAPTIVE, colors=64))


def psnr_at(curve: plot_rd.Curve, bpp: float) -> Optional[float]:
    """PSNR of `curve` at `bpp`, linear in log bpp between its points; None outside them."""
    xs = [math.log(b) for b in curve.bpp]
    x = math.log(bpp)
    if not xs or x < xs[0] or x > xs[-1]:
        return None
    return float(np.interp(x, xs, curve.psnr))


def level_table(vq: dict, others: Sequence[plot_rd.Curve]) -> str:
    r = vq["results"]
    models = vq.get("models") or [f"model {i + 1}" for i in range(len(r["bpp"]))]
    head = ["level", "model", "bpp", "PSNR (dB)", "MSE", "prior's ideal bpp", "codes used"] + \
        [f"{c.name.split(' ')[0]} PSNR at that bpp" for c in others]
    rows = []
    for i, model in enumerate(models):
        cells = [str(i + 1), html.escape(model), f"{r['bpp'][i]:.4f}", f"{r['psnr-rgb'][i]:.2f}", f"{r['mse'][i]:.1f}",
                 f"{r['integer_prior_bpp'][i]:.4f}" if "integer_prior_bpp" in r else "–",
                 f"{100 * r['codebook_use'][i]:.1f} %" if "codebook_use" in r else "–"]
        for c in others:
            p = psnr_at(c, r["bpp"][i])
            cells.append("–" if p is None else f"{p:.2f}")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    return ("<table><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"
            + "".join(rows) + "</tbody></table>")


def image_section(name: str, original_path: Path, vqcodec: Path, level: int, side: int, zoom: int,
                  at: Optional[tuple[int, int]], work: Path, save_crops: Optional[Path] = None) -> str:
    ref = baselines.load_reference(original_path)
    w, h = ref.size
    side = min(side, w, h)
    vqc, decoded, heat, info = (work / f"{name}.vqc", work / f"{name}.png", work / f"{name}-bits.png",
                                work / f"{name}.json")
    run([vqcodec, "encode", original_path, vqc, "-q", str(level)])
    run([vqcodec, "decode", vqc, decoded])
    run([vqcodec, "inspect", vqc, "--bits", heat, "--json", info])
    inspect = json.loads(info.read_text())
    vq_bytes = vqc.stat().st_size
    vq_image = baselines.load_reference(decoded)
    _, vq_psnr = baselines.mse_psnr(np.asarray(ref), np.asarray(vq_image))
    coded = [Coded(f"vqcodec level {level} ({inspect['model']})", vq_bytes, 8 * vq_bytes / (w * h), vq_psnr,
                   vq_image.convert("RGB")),
             nearest_quality(ref, "jpeg", vq_bytes), nearest_quality(ref, "webp", vq_bytes)]
    left, top = at if at else costliest_window(inspect, side)
    box = (left, top, left + side, top + side)
    original = ref.convert("RGB")
    panels = [(f"original", f"{w} × {h}", original.crop(box))]
    ref_crop = np.asarray(original.crop(box))
    for c in coded:
        crop = c.image.crop(box)
        _, crop_psnr = baselines.mse_psnr(ref_crop, np.asarray(crop))
        panels.append((c.label, f"{c.bpp:.3f} bpp ({c.bytes:,} bytes), {c.psnr:.2f} dB; crop {crop_psnr:.2f} dB", crop))
    print(f"{name}: crop {side} × {side} at ({left}, {top}); "
          + "; ".join(f"{label}: {caption}" for label, caption, _ in panels[1:]))
    if save_crops is not None:
        save_crops.mkdir(parents=True, exist_ok=True)
        for (label, _, crop), key in zip(panels, ("original", "vqcodec", "jpeg", "webp")):
            path = save_crops / f"{name}-{key}.png"
            tmp = path.with_name(path.name + ".tmp")
            crop.save(tmp, format="PNG", optimize=True)
            os.replace(tmp, path)
    figures = "".join(
        f'<figure style="width: {side * zoom}px"><img class="crop" alt="{html.escape(label)}" width="{side * zoom}" height="{side * zoom}" '
        f'src="{data_uri(png_bytes(crop), "image/png")}"><figcaption><b>{html.escape(label)}</b><br>'
        f"{html.escape(caption)}</figcaption></figure>" for label, caption, crop in panels)
    heat_img = heatmap_figure(heat, inspect["heatmapScaleMaxBitsPerPixel"], (left, top, left + side - 1, top + side - 1))
    total_bits = inspect["priorBits"]
    groups = inspect["bits"]["groups"]
    shares = ", ".join(f"{100 * sum(g) / total_bits:.0f} %" for g in groups)
    return (f'<section><h3>{html.escape(name)}</h3>'
            f"<p>Crop: {side} × {side} pixels at ({left}, {top}), shown {zoom}× (nearest neighbour); "
            f"JPEG and WebP at the quality whose file is nearest to vqcodec's in bytes. Whole-image figures first, "
            f"then the crop's PSNR.</p><div class=\"row\">{figures}</div>"
            f'<figure class="heat"><img alt="bit heatmap of {html.escape(name)}" '
            f'src="{data_uri(heat_img, "image/jpeg")}"><figcaption>Where vqcodec level {level} spends its bits: '
            f"each latent position's −log2 p under the integer prior (its {inspect['groups']} groups summed: "
            f"{shares} of the bits), over the {inspect['stride']} × {inspect['stride']} pixels it covers; "
            f"scale 0 to {inspect['heatmapScaleMaxBitsPerPixel']:.3f} bpp, the 99th percentile; the crop outlined. "
            f"Σ {total_bits:.0f} bits against a payload of {8 * inspect['payloadBytes']} bits.</figcaption></figure>"
            f"</section>")


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font: 15px/1.45 system-ui, sans-serif; margin: 24px auto; max-width: 1700px; color: #222; padding: 0 16px; }}
h1 {{ font-size: 24px; }} h2 {{ font-size: 19px; margin-top: 32px; }} h3 {{ font-size: 16px; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 3px 9px; text-align: right; }}
th {{ background: #f3f3f3; }}
img.rd {{ max-width: 100%; }}
.row {{ display: flex; flex-wrap: wrap; gap: 14px; }}
figure {{ margin: 0; }} figcaption {{ font-size: 13px; }}
img.crop {{ image-rendering: pixelated; display: block; }}
figure.heat img {{ max-width: 820px; width: 100%; }} figure.heat figcaption {{ max-width: 820px; }}
section {{ margin-bottom: 28px; }}
</style></head>
<body data-images="loading">
<h1>{title}</h1>
<p>{intro}</p>
<h2>Rate and distortion</h2>
<img class="rd" alt="rate-distortion plots" src="{rd}">
<h2>Quality levels</h2>
{table}
<h2>Side by side</h2>
{sections}
<script>
(function () {{
  const images = Array.from(document.images);
  const settle = () => Promise.all(images.map(i => i.complete ? Promise.resolve() :
      new Promise(r => {{ i.onload = r; i.onerror = r; }})));
  settle().then(() => {{
    const ok = images.filter(i => i.complete && i.naturalWidth > 0).length;
    document.body.dataset.images = "loaded " + ok + " of " + images.length;
  }});
}})();
</script>
</body></html>
"""


def build(results: Path, images: Path, picks: Sequence[str], out: Path, vqcodec: Path, level: int, side: int,
          zoom: int, at: dict[str, tuple[int, int]], title: str, max_bpp: Optional[float],
          save_crops: Optional[Path] = None) -> None:
    vq_doc = json.loads((results / "vqcodec.json").read_text())
    vq = plot_rd.load_curve(results / "vqcodec.json")
    others = [plot_rd.load_curve(results / f"{name}.json") for name in ("jpeg", "webp") if (results / f"{name}.json").exists()]
    vq = dataclasses.replace(vq, name="vqcodec")
    rd = rd_figure(others + [vq], title, max_bpp)
    with tempfile.TemporaryDirectory() as tmp:
        sections = []
        for name in picks:
            path = images / (name if name.endswith(".png") else name + ".png")
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such image")
            sections.append(image_section(Path(name).stem, path, vqcodec, level, side, zoom, at.get(Path(name).stem),
                                          Path(tmp), save_crops))
    intro = (f"Real file sizes: bits per pixel (bpp) are 8 × the bytes of the file over the pixels. "
             f"{html.escape(vq_doc.get('description', ''))}. "
             + " ".join(html.escape(c.name) + "." for c in others))
    page = PAGE.format(title=html.escape(title), intro=intro, rd=data_uri(rd, "image/png"),
                       table=level_table(vq_doc, others), sections="".join(sections))
    baselines.write_atomically(out, page)


def parse_at(values: Sequence[str]) -> dict[str, tuple[int, int]]:
    found = {}
    for v in values:
        try:
            name, xy = v.split(":")
            x, y = (int(t) for t in xy.split(","))
        except ValueError:
            raise SystemExit(f"report.py: --at takes NAME:X,Y (pixels), found {v!r}") from None
        found[Path(name).stem] = (x, y)
    return found


def main(argv: Optional[Sequence[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--results", type=Path, required=True, help="folder with vqcodec.json (and jpeg.json, webp.json)")
    ap.add_argument("--images", type=Path, required=True, help="folder of the original PNG images")
    ap.add_argument("--pick", nargs="+", required=True, help="images to show side by side (names, .png optional)")
    ap.add_argument("--out", type=Path, required=True, help="the HTML page to write")
    ap.add_argument("--level", type=int, default=4, help="vqcodec quality level of the crops (default 4)")
    ap.add_argument("--crop", type=int, default=128, help="crop side in pixels (default 128)")
    ap.add_argument("--zoom", type=int, default=3, help="crop enlargement (default 3)")
    ap.add_argument("--at", nargs="*", default=[], help="NAME:X,Y top-left of a crop instead of the costliest window")
    ap.add_argument("--title", default="vqcodec", help="page title")
    ap.add_argument("--max-bpp", type=float, default=1.0, help="rate axis of the plots: 0..MAX_BPP (default 1)")
    ap.add_argument("--save-crops", type=Path, help="also write each crop as NAME-{original,vqcodec,jpeg,webp}.png here")
    ap.add_argument("--vqcodec", help="the vqcodec binary (default: this checkout's release, then debug build)")
    args = ap.parse_args(argv)
    binary = find_vqcodec(args.vqcodec)
    if binary is None:
        print("report.py: no vqcodec binary: build it (swift build -c release) or give --vqcodec", file=sys.stderr)
        return 66
    try:
        build(args.results, args.images, args.pick, args.out, binary, args.level, args.crop, args.zoom,
              parse_at(args.at), args.title, args.max_bpp, args.save_crops)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        print(f"report.py: {e}", file=sys.stderr)
        return 65 if isinstance(e, ValueError) else 66 if isinstance(e, FileNotFoundError) else 1
    print(f"{args.out}: {args.out.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
