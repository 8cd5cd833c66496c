#!/usr/bin/env python3
"""Encode/decode speed of the vqcodec command on a 768x512 image and a 4-megapixel image.

Times whole commands as a user runs them (model load, PNG I/O and coding), the median of
--repetitions runs per case, for every shipped quality level (or the -q levels given), and in the
same run the time Pillow takes to encode and decode a JPEG (quality 75) of the same image, as a
reference that puts the machine's speed at the moment into the figures (ratio column).

    swift build -c release
    python3 Tools/bench_speed.py                      # all levels, 5 repetitions
    python3 Tools/bench_speed.py -q 2 --repetitions 3 --threads 2

The 768x512 image is Kodak's kodim05 (any other with --image); the 4-megapixel one is made from it
with a Lanczos resize to 2448x1632 in a temporary folder.
"""
import argparse
import io
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def median_seconds(action, repetitions):
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(arguments):
    completed = subprocess.run(arguments, capture_output=True, text=True)
    if completed.returncode != 0:
        sys.exit(f"{' '.join(arguments)} failed ({completed.returncode}): {completed.stderr.strip()}")
    return completed.stdout


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "vqcodec"))
    parser.add_argument("--image", default=os.path.join(ROOT, "..", "shared", "data", "kodak", "kodim05.png"))
    parser.add_argument("-q", "--quality", type=int, action="append", help="quality level (repeat; default: all)")
    parser.add_argument("--repetitions", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} not found: build it with swift build -c release")

    levels = args.quality
    if not levels:
        listing = run([args.binary, "models"])
        levels = [int(m.group(1)) for m in re.finditer(r"^\s*(\d+)\*?\s", listing, re.MULTILINE)]

    with tempfile.TemporaryDirectory() as folder:
        small = Image.open(args.image).convert("RGB")
        if small.size != (768, 512):
            small = small.resize((768, 512), Image.LANCZOS)
        large = small.resize((2448, 1632), Image.LANCZOS)
        cases = []
        for label, image in (("768x512", small), ("4 MP (2448x1632)", large)):
            path = os.path.join(folder, label.split()[0] + ".png")
            image.save(path)
            cases.append((label, image, path))

        print(f"vqcodec {args.binary}, threads {args.threads}, median of {args.repetitions}; "
              f"cpu count {os.cpu_count()}, load average {os.getloadavg()[0]:.2f}")
        print(f"{'image':18} {'level':>5} {'bpp':>7} {'encode s':>9} {'decode s':>9} "
              f"{'JPEG enc s':>10} {'JPEG dec s':>10} {'enc/JPEG':>9} {'dec/JPEG':>9}")
        for label, image, path in cases:
            jpeg = io.BytesIO()
            image.save(jpeg, format="JPEG", quality=75)
            data = jpeg.getvalue()

            def jpeg_encode():
                image.save(io.BytesIO(), format="JPEG", quality=75)

            def jpeg_decode():
                Image.open(io.BytesIO(data)).load()

            jpeg_encode_s = median_seconds(jpeg_encode, args.repetitions)
            jpeg_decode_s = median_seconds(jpeg_decode, args.repetitions)
            for level in levels:
                coded = os.path.join(folder, f"q{level}.vqc")
                back = os.path.join(folder, f"q{level}.png")
                threads = ["--threads", str(args.threads)]
                encode_s = median_seconds(lambda: run([args.binary, "encode", "-q", str(level), path, coded] + threads),
                                          args.repetitions)
                decode_s = median_seconds(lambda: run([args.binary, "decode", coded, back] + threads), args.repetitions)
                bpp = os.path.getsize(coded) * 8 / (image.size[0] * image.size[1])
                print(f"{label:18} {level:>5} {bpp:7.4f} {encode_s:9.3f} {decode_s:9.3f} {jpeg_encode_s:10.4f} "
                      f"{jpeg_decode_s:10.4f} {encode_s / jpeg_encode_s:9.1f} {decode_s / jpeg_decode_s:9.1f}")
                sys.stdout.flush()


if __name__ == "__main__":
    main()
