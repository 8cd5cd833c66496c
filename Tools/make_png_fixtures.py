#!/usr/bin/env python3
"""Regenerates the PNG fixtures in Fixtures/images/ (see Fixtures/images/README.md).

    pip install -r Tools/requirements.txt
    python3 Tools/make_png_fixtures.py            # writes Fixtures/images/
    python3 Tools/make_png_fixtures.py --check    # fails if a committed fixture differs
    python3 Tools/make_png_fixtures.py --photo PATH   # another source photo (default below)

Most fixtures are written chunk by chunk (numpy + zlib) so that every PNG feature is exactly
the one named: bit depth, colour type, tRNS, Adam7 interlacing, and the damaged ones (truncated,
bad CRC, impossible dimensions). Their pixels follow formulas that Tests/ImagesTests recomputes,
so the tests check every decoded sample without storing expected pixels. Keep the two in sync:

    sample8(x, y, c)  = (x*A8[c] + y*B8[c] + C8[c]) % 256
    sample16(x, y, c) = (x*A16[c] + y*B16[c] + C16[c]) % 65536

Gray images use channel c = 0. The photo crops are made with Pillow from --photo, by default
../shared/data/train/001.png relative to the repository root (the first training photo); their
expected pixels are recorded as checksums of Pillow's decode in photo-checksums.txt.
"""
import argparse
import os
import struct
import sys
import zlib

import numpy as np

A8, B8, C8 = (37, 13, 89), (71, 101, 29), (11, 50, 200)
A16, B16, C16 = (40503, 9973, 30011), (11807, 52237, 7919), (129, 32768, 65535)
PALETTE_SIZE = 20
WIDTH, HEIGHT = 13, 7              # most fixtures: odd, non-square, smaller than one zlib window
IWIDTH, IHEIGHT = 11, 9            # interlaced fixture: large enough for all seven Adam7 passes
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PHOTO_SOURCE = os.path.join(ROOT, "..", "shared", "data", "train", "001.png")


def sample8(w, h, c):
    y, x = np.mgrid[0:h, 0:w]
    return ((x * A8[c] + y * B8[c] + C8[c]) % 256).astype(np.uint8)


def sample16(w, h, c):
    y, x = np.mgrid[0:h, 0:w]
    return ((x * A16[c] + y * B16[c] + C16[c]) % 65536).astype(np.uint16)


def palette_entry(i):
    return ((i * 53) % 256, (i * 97 + 31) % 256, (i * 151 + 7) % 256)


def palette_index(w, h, count):
    y, x = np.mgrid[0:h, 0:w]
    return ((x + y * 3) % count).astype(np.uint8)


# --- raw PNG writing ---------------------------------------------------------------------------

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunk(kind, data, crc=None):
    if crc is None:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def ihdr(w, h, depth, color_type, interlace=0):
    return chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, color_type, 0, 0, interlace))


def pack_rows(samples, depth):
    """samples: (h, w*channels) array of sample values -> list of row bytes (no filter byte)."""
    rows = []
    for row in samples:
        if depth == 16:
            rows.append(row.astype(">u2").tobytes())
        elif depth == 8:
            rows.append(row.astype(np.uint8).tobytes())
        else:
            rows.append(np.packbits(np.unpackbits(row.astype(np.uint8)[:, None], axis=1)[:, 8 - depth:].ravel()).tobytes())
    return rows


ADAM7 = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]


def scanlines(pixels, depth, interlace):
    """pixels: (h, w, channels). Returns the filtered (filter type 0) image data before zlib."""
    h, w, ch = pixels.shape
    passes = ADAM7 if interlace else [(0, 0, 1, 1)]
    out = b""
    for x0, y0, dx, dy in passes:
        sub = pixels[y0::dy, x0::dx, :]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        for row in pack_rows(sub.reshape(sub.shape[0], -1), depth):
            out += b"\x00" + row
    return out


def png(pixels, depth, color_type, interlace=0, extra=b""):
    h, w, _ = pixels.shape
    data = zlib.compress(scanlines(pixels, depth, interlace), 9)
    return SIGNATURE + ihdr(w, h, depth, color_type, interlace) + extra + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def stack(*planes):
    return np.stack(planes, axis=-1)


# --- the fixtures --------------------------------------------------------------------------------

def fixtures():
    w, h = WIDTH, HEIGHT
    g8 = sample8(w, h, 0)
    rgb8 = stack(*(sample8(w, h, c) for c in range(3)))
    rgb16 = stack(*(sample16(w, h, c) for c in range(3)))
    opaque8 = np.full((h, w), 255, np.uint8)
    opaque16 = np.full((h, w), 65535, np.uint16)
    y, x = np.mgrid[0:h, 0:w]
    plte = chunk(b"PLTE", b"".join(bytes(palette_entry(i)) for i in range(PALETTE_SIZE)))
    plte16 = chunk(b"PLTE", b"".join(bytes(palette_entry(i)) for i in range(16)))

    # One pixel short of opaque is the hardest case to notice: the last pixel for gray+alpha,
    # a pixel in the middle for RGBA.
    alpha_last = opaque8.copy(); alpha_last[h - 1, w - 1] = 0
    alpha_mid = opaque8.copy(); alpha_mid[3, 5] = 254

    f = {}
    f["gray1.png"] = png(stack(((x + 2 * y) % 3 == 0).astype(np.uint8)), 1, 0)
    f["gray2.png"] = png(stack(((x + y) % 4).astype(np.uint8)), 2, 0)
    f["gray4.png"] = png(stack(((x * 3 + y * 5) % 16).astype(np.uint8)), 4, 0)
    f["gray8.png"] = png(stack(g8), 8, 0)
    f["gray16.png"] = png(stack(sample16(w, h, 0)), 16, 0)
    f["gray8-trns.png"] = png(stack(g8), 8, 0, extra=chunk(b"tRNS", struct.pack(">H", int(g8[2, 4]))))
    f["graya8-opaque.png"] = png(stack(g8, opaque8), 8, 4)
    f["graya8-transparent.png"] = png(stack(g8, alpha_last), 8, 4)
    f["graya16-opaque.png"] = png(stack(sample16(w, h, 0), opaque16), 16, 4)
    f["rgb8.png"] = png(rgb8, 8, 2)
    f["rgb16.png"] = png(rgb16, 16, 2)
    # tRNS naming a colour that never occurs: the file "has alpha" but every pixel is opaque.
    f["rgb8-trns-unused.png"] = png(rgb8, 8, 2, extra=chunk(b"tRNS", struct.pack(">HHH", 1, 2, 3)))
    f["rgba8-opaque.png"] = png(stack(*(sample8(w, h, c) for c in range(3)), opaque8), 8, 6)
    f["rgba8-transparent.png"] = png(stack(*(sample8(w, h, c) for c in range(3)), alpha_mid), 8, 6)
    f["rgba16-opaque.png"] = png(stack(*(sample16(w, h, c) for c in range(3)), opaque16), 16, 6)
    f["palette8.png"] = png(stack(palette_index(w, h, PALETTE_SIZE)), 8, 3, extra=plte)
    f["palette4.png"] = png(stack(palette_index(w, h, 16)), 4, 3, extra=plte16)
    # tRNS entries for palette indices 0..4; index 19 is absent so it stays opaque in both.
    f["palette8-trns-opaque.png"] = png(stack(palette_index(w, h, PALETTE_SIZE)), 8, 3,
                                        extra=plte + chunk(b"tRNS", b"\xff" * 5))
    f["palette8-trns-transparent.png"] = png(stack(palette_index(w, h, PALETTE_SIZE)), 8, 3,
                                             extra=plte + chunk(b"tRNS", b"\xff\xff\x80"))
    # Colour-management chunks, which the reader ignores: samples are taken as stored.
    gamma_linear = chunk(b"gAMA", struct.pack(">I", 100000))
    srgb_tags = (chunk(b"sRGB", b"\x00") + chunk(b"gAMA", struct.pack(">I", 45455))
                 + chunk(b"cHRM", struct.pack(">8I", 31270, 32900, 64000, 33000, 30000, 60000, 15000, 6000)))
    f["gray8-gamma1.png"] = png(stack(g8), 8, 0, extra=gamma_linear)
    f["rgb16-srgb-chunks.png"] = png(rgb16, 16, 2, extra=srgb_tags)
    f["rgb8-interlaced.png"] = png(stack(*(sample8(IWIDTH, IHEIGHT, c) for c in range(3))), 8, 2, interlace=1)
    f["gray16-interlaced.png"] = png(stack(sample16(IWIDTH, IHEIGHT, 0)), 16, 0, interlace=1)

    # Damaged files.
    good = f["rgb8.png"]
    idat_at = good.index(b"IDAT") - 4
    idat_len = struct.unpack(">I", good[idat_at:idat_at + 4])[0]
    f["truncated.png"] = good[:idat_at + 8 + idat_len // 2]             # file ends inside IDAT
    crc_at = idat_at + 8 + idat_len
    f["bad-crc.png"] = good[:crc_at] + bytes([good[crc_at] ^ 0x5A]) + good[crc_at + 1:]
    f["not-png.png"] = b"This is a text file, not a PNG image.\n"
    # IHDR claims 100000 x 100000 RGB (30 GB decoded); the IDAT holds a few bytes. A reader must
    # refuse from the header alone.
    f["huge-dimensions.png"] = (SIGNATURE + ihdr(100000, 100000, 8, 2)
                                + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b""))
    f["zero-width.png"] = (SIGNATURE + ihdr(0, 7, 8, 0)
                           + chunk(b"IDAT", zlib.compress(b"\x00" * 7)) + chunk(b"IEND", b""))
    return f


def photos(source_path=PHOTO_SOURCE):
    from PIL import Image
    source = Image.open(source_path).convert("RGB")
    sw, sh = source.size
    def crop(aspect_w, aspect_h):
        # The largest centred crop with the given aspect ratio.
        cw = min(sw, sh * aspect_w // aspect_h)
        ch = cw * aspect_h // aspect_w
        left, top = (sw - cw) // 2, (sh - ch) // 2
        return source.crop((left, top, left + cw, top + ch))
    out = {
        "photo-64x48.png": crop(4, 3).resize((64, 48), Image.LANCZOS),
        "photo-gray-40x24.png": crop(5, 3).resize((40, 24), Image.LANCZOS).convert("L"),
        # Large enough for a stride-16 model's prior to have context (12 x 8 positions).
        "photo-192x128.png": crop(3, 2).resize((192, 128), Image.LANCZOS),
    }
    import io
    files, checks = {}, []
    for name, im in out.items():
        buffer = io.BytesIO()
        im.save(buffer, format="PNG", optimize=False, compress_level=9)
        files[name] = buffer.getvalue()
        decoded = np.asarray(Image.open(io.BytesIO(files[name])))
        raw = decoded.astype(np.uint8).tobytes()
        checks.append(f"{name} {im.width} {im.height} {1 if im.mode == 'L' else 3} "
                      f"{sum(raw)} {fnv1a64(raw):016x}")
    files["photo-checksums.txt"] = ("# name width height channels sum-of-samples fnv1a64-of-samples"
                                    " (Pillow's decode, interleaved row-major)\n"
                                    + "\n".join(checks) + "\n").encode()
    return files


def fnv1a64(data):
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(ROOT, "Fixtures", "images"),
                        help="folder to write (default: Fixtures/images)")
    parser.add_argument("--photo", default=PHOTO_SOURCE,
                        help="source of the photo crops (default: ../shared/data/train/001.png relative to the "
                             "repository root)")
    parser.add_argument("--check", action="store_true", help="compare with the files in --out, write nothing")
    args = parser.parse_args()
    files = {**fixtures(), **photos(args.photo)}
    if args.check:
        bad = [n for n, b in files.items()
               if not os.path.exists(os.path.join(args.out, n)) or open(os.path.join(args.out, n), "rb").read() != b]
        for n in bad:
            print(f"differs: {n}", file=sys.stderr)
        sys.exit(1 if bad else 0)
    os.makedirs(args.out, exist_ok=True)
    for name, data in sorted(files.items()):
        with open(os.path.join(args.out, name), "wb") as fh:
            fh.write(data)
    print(f"wrote {len(files)} files, {sum(len(b) for b in files.values())} bytes, to {args.out}")


if __name__ == "__main__":
    main()
