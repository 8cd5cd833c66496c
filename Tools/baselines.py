#!/usr/bin/env python3
"""Rate-distortion of JPEG or WebP (through Pillow) on a folder of PNGs, in CompressAI's results format.

    python3 Tools/baselines.py --codec jpeg --dataset Kodak --out Tools/results/kodak/jpeg.json
    python3 Tools/baselines.py --codec webp --dataset Kodak --out Tools/results/kodak/webp.json

DIR, the folder of PNG images, defaults to ../shared/data/kodak relative to the repository root
(the 24 Kodak images); --dataset names the images in the JSON description (default: DIR's name).

For every quality level, every PNG of DIR (not recursive) is encoded and decoded in memory:
  JPEG: quality q, optimize=True (optimised Huffman tables), 4:2:0 chroma subsampling, baseline;
  WebP: lossy, quality q, method=6 (slowest, best compression).
Measured per image: bytes of the encoded stream, bpp = 8 * bytes / (width * height), MSE over all
samples (every channel) in 0..255, PSNR = 10 * log10(255^2 / MSE), and the wall time of the encode
call and of the decode (open + load). The JSON holds, per quality level, the MEAN over images of each
of these (mean of per-image PSNR, as CompressAI does, not the PSNR of the mean MSE):

    {"name": ..., "description": ...,
     "results": {"psnr-rgb": [...], "mse": [...], "bpp": [...],
                 "encoding_time": [...], "decoding_time": [...], "quality": [...]}}

and FILE.csv beside it one row per (quality, image).

Image modes: RGB and L (gray) images are coded and compared in their own mode. Alpha is dropped
(RGBA/P -> RGB, LA -> L), 1-bit images become L, and 16-bit gray images are rounded to 8 bits
(v / 257); the 8-bit image that was encoded is the reference. WebP has no gray mode, so a gray image
goes through libwebp as RGB and its decode is converted back to L (ITU-R 601 luma) before comparing.
An exact reconstruction (MSE 0) is given PSNR 100 dB so that means stay finite.
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
from atomic_output import replace_atomically
from PIL import Image, features

DEFAULT_QUALITIES = {
    # 1 and 3 extend JPEG below 0.14 bpp on Kodak so that 0.125 bpp lies inside its curve
    # (2 is left out: with baseline tables capped at 255 it codes almost exactly as 1 does).
    "jpeg": [1, 3, 5, 10, 15, 20, 30, 40, 50, 60, 70, 80, 90, 95],
    # about 0.13 to 2.4 bpp on Kodak with method=6.
    "webp": [0, 2, 5, 10, 20, 30, 40, 50, 60, 70, 80, 85, 90],
}
QUALITY_RANGE = {"jpeg": (1, 100), "webp": (0, 100)}
PSNR_CAP_DB = 100.0
CSV_FIELDS = ["codec", "quality", "image", "width", "height", "bytes", "bpp", "mse", "psnr", "enc_s", "dec_s"]


@dataclass(frozen=True)
class Row:
    codec: str
    quality: int
    image: str
    width: int
    height: int
    bytes: int
    bpp: float
    mse: float
    psnr: float
    enc_s: float
    dec_s: float


def library_versions() -> dict[str, Optional[str]]:
    """Versions of Pillow and of the codec libraries it was built with."""
    return {
        "pillow": Image.__version__,
        "libjpeg_api": features.version("jpg"),              # the libjpeg API level, e.g. "6.2"
        "libjpeg_turbo": features.version("libjpeg_turbo"),  # None when built on IJG libjpeg
        "libwebp": features.version("webp"),
    }


# The data sets live beside the repository: <repo>/../shared/data/<name>.
DEFAULT_DIR = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "kodak"


def default_name(codec: str) -> str:
    return {"jpeg": "JPEG", "webp": "WebP"}[codec] + f" (Pillow {Image.__version__})"


def description(codec: str, n_images: int, dataset: str) -> str:
    v = library_versions()
    if codec == "jpeg":
        lib = f"libjpeg-turbo {v['libjpeg_turbo']}" if v["libjpeg_turbo"] else f"libjpeg API {v['libjpeg_api']}"
        settings = "optimize=True, subsampling 4:2:0"
    else:
        lib = f"libwebp {v['libwebp']}"
        settings = "lossy, method=6"
    return (f"{codec.upper() if codec == 'jpeg' else 'WebP'} through Pillow {v['pillow']} ({lib}); {settings}; "
            f"encoded and decoded in memory; the {n_images} {dataset} PNG images; "
            f"bpp = 8*bytes/(w*h); PSNR over all channels in 0..255; "
            f"each entry is the mean over images of the per-image value at one quality level; "
            f"times in seconds (wall clock, one call per image).")


def load_reference(path: Path) -> Image.Image:
    """The 8-bit L or RGB image that is encoded and used as reference (see module doc)."""
    with Image.open(path) as im:
        im.load()
        mode = im.mode
        if mode in ("L", "RGB"):
            return im.copy()
        if mode in ("I;16", "I;16B", "I;16L", "I"):
            a = np.asarray(im, dtype=np.int64)
            if a.max(initial=0) > 65535 or a.min(initial=0) < 0:
                raise ValueError(f"{path}: 32-bit integer image with values outside 0..65535 is not supported")
            return Image.fromarray(((a + 128) // 257).astype(np.uint8), mode="L")
        if mode in ("LA", "1"):
            return im.convert("L")
        return im.convert("RGB")


def encode(im: Image.Image, codec: str, quality: int) -> bytes:
    buf = io.BytesIO()
    if codec == "jpeg":
        im.save(buf, format="JPEG", quality=quality, optimize=True, subsampling="4:2:0")
    else:
        src = im.convert("RGB") if im.mode == "L" else im
        src.save(buf, format="WEBP", quality=quality, method=6, lossless=False)
    return buf.getvalue()


def decode(data: bytes, mode: str) -> Image.Image:
    with Image.open(io.BytesIO(data)) as im:
        im.load()
        return im if im.mode == mode else im.convert(mode)


def mse_psnr(ref: np.ndarray, dec: np.ndarray) -> tuple[float, float]:
    if ref.shape != dec.shape:
        raise ValueError(f"decoded shape {dec.shape} differs from reference shape {ref.shape}")
    mse = float(np.mean((ref.astype(np.float64) - dec.astype(np.float64)) ** 2))
    psnr = PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10.0 * math.log10(255.0 ** 2 / mse))
    return mse, psnr


def measure(ref: Image.Image, name: str, codec: str, quality: int) -> Row:
    t0 = time.perf_counter()
    data = encode(ref, codec, quality)
    t1 = time.perf_counter()
    dec = decode(data, ref.mode)
    t2 = time.perf_counter()
    mse, psnr = mse_psnr(np.asarray(ref), np.asarray(dec))
    w, h = ref.size
    return Row(codec, quality, name, w, h, len(data), 8.0 * len(data) / (w * h), mse, psnr, t1 - t0, t2 - t1)


def png_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ValueError(f"{folder} is not a folder; give the folder that holds the PNG images")
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png")
    if not files:
        raise ValueError(f"{folder} holds no .png files")
    return files


def run(folder: Path, codec: str, qualities: Sequence[int]) -> list[Row]:
    rows: list[Row] = []
    for path in png_files(folder):
        ref = load_reference(path)
        for q in qualities:
            rows.append(measure(ref, path.name, codec, q))
    return rows


def summarise(rows: Sequence[Row], qualities: Sequence[int]) -> dict[str, list]:
    """CompressAI-style results: one entry per quality, each the mean over images."""
    keys = {"psnr-rgb": "psnr", "mse": "mse", "bpp": "bpp", "encoding_time": "enc_s", "decoding_time": "dec_s"}
    results: dict[str, list] = {k: [] for k in keys}
    for q in qualities:
        at_q = [r for r in rows if r.quality == q]
        for key, field in keys.items():
            results[key].append(float(np.mean([getattr(r, field) for r in at_q])))
    results["quality"] = list(qualities)
    return results


def write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(str(path), lambda temporary: Path(temporary).write_text(text, newline=""))


def csv_text(rows: Sequence[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for r in rows:
        w.writerow([r.codec, r.quality, r.image, r.width, r.height, r.bytes, f"{r.bpp:.6f}",
                    f"{r.mse:.6f}", f"{r.psnr:.6f}", f"{r.enc_s:.6f}", f"{r.dec_s:.6f}"])
    return buf.getvalue()


def table(results: dict[str, list]) -> str:
    lines = [f"{'quality':>7} {'bpp':>8} {'PSNR dB':>8} {'MSE':>9} {'enc ms':>8} {'dec ms':>8}"]
    for i, q in enumerate(results["quality"]):
        lines.append(f"{q:>7} {results['bpp'][i]:>8.4f} {results['psnr-rgb'][i]:>8.3f} {results['mse'][i]:>9.3f} "
                     f"{1000 * results['encoding_time'][i]:>8.2f} {1000 * results['decoding_time'][i]:>8.2f}")
    return "\n".join(lines)


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir", type=Path, nargs="?", default=DEFAULT_DIR,
                    help="folder of PNG images, not searched recursively (default: ../shared/data/kodak "
                         "relative to the repository root)")
    ap.add_argument("--dataset", help="what the images are, for the JSON description (default: the folder's name)")
    ap.add_argument("--codec", required=True, choices=["jpeg", "webp"])
    ap.add_argument("--qualities", type=int, nargs="+", metavar="Q",
                    help="quality levels (default: jpeg %s; webp %s)" % (
                        " ".join(map(str, DEFAULT_QUALITIES["jpeg"])), " ".join(map(str, DEFAULT_QUALITIES["webp"]))))
    ap.add_argument("--out", type=Path, help="results JSON to write; per-image rows go to the same path with .csv")
    ap.add_argument("--name", help="the curve's name in the JSON (default: 'JPEG (Pillow x.y.z)' / 'WebP (Pillow x.y.z)')")
    return ap.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = parse_args(argv)
    lo, hi = QUALITY_RANGE[args.codec]
    qualities = sorted(set(args.qualities or DEFAULT_QUALITIES[args.codec]))
    bad = [q for q in qualities if not lo <= q <= hi]
    if bad:
        print(f"error: {args.codec} quality must be in {lo}..{hi}, got {bad}", file=sys.stderr)
        return 2
    if args.out and args.out.suffix.lower() == ".csv":
        print(f"error: --out names the results JSON (its rows go to the same path with .csv), got {args.out}",
              file=sys.stderr)
        return 2
    if not features.check("webp" if args.codec == "webp" else "jpg"):
        print(f"error: this Pillow was built without {args.codec} support", file=sys.stderr)
        return 2
    try:
        rows = run(args.dir, args.codec, qualities)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n_images = len({r.image for r in rows})
    results = summarise(rows, qualities)
    doc = {"name": args.name or default_name(args.codec),
           "description": description(args.codec, n_images, args.dataset or args.dir.resolve().name),
           "results": results}
    if args.out:  # files first, so that a closed stdout (| head) cannot lose them
        write_atomically(args.out, json.dumps(doc, indent=2, allow_nan=False) + "\n")
        csv_path = args.out.with_suffix(".csv")
        write_atomically(csv_path, csv_text(rows))
    print(f"{doc['name']}: {n_images} images of {args.dir}")
    print(table(results))
    if any(r.psnr >= PSNR_CAP_DB for r in rows):
        print(f"note: some images were reproduced exactly; their PSNR counts as {PSNR_CAP_DB:g} dB")
    if args.out:
        print(f"wrote {args.out} and {args.out.with_suffix('.csv')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
