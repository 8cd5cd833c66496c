"""Tests for Tools/report.py: a small report built with the real vqcodec binary, checked for
self-containment and, in headless Chromium, for every image loading.

    python3 -m pytest Tools/test_report.py -q -rs

Needs the vqcodec binary (swift build -c release, or $VQCODEC); the browser check needs Debian's
`chromium` (apt-get install chromium). Each is skipped, saying which is missing, when absent.
"""
import base64
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PHOTO = ROOT / "Fixtures/images/photo-192x128.png"
RESULTS = ROOT / "Tools/results/kodak"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    binary = report.find_vqcodec(None)
    if binary is None:
        pytest.skip("no vqcodec binary: build it with `swift build -c release` (or set $VQCODEC)")
    # An older binary answers `inspect --help` with its top-level help (exit 0), so look for the option.
    if "--bits" not in subprocess.run([str(binary), "inspect", "--help"], capture_output=True, text=True).stdout:
        pytest.skip(f"{binary} has no `inspect` subcommand: rebuild it (swift build -c release)")
    folder = tmp_path_factory.mktemp("report")
    images = folder / "images"
    images.mkdir()
    shutil.copy(PHOTO, images / "photo.png")
    out = folder / "report.html"
    assert report.main(["--results", str(RESULTS), "--images", str(images), "--pick", "photo", "--out", str(out),
                        "--crop", "64", "--zoom", "2", "--title", "small report", "--vqcodec", str(binary)]) == 0
    return out


def test_page_is_self_contained_and_every_image_decodes(page):
    text = page.read_text()
    sources = re.findall(r'<img [^>]*src="([^"]+)"', text)
    # the RD plot, four crops (original, vqcodec, JPEG, WebP) and the heatmap
    assert len(sources) == 6
    for src in sources:
        assert src.startswith("data:image/"), "every image is inlined"
        Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).load()
    assert not re.search(r'(src|href)="(?!data:)', text), "nothing is fetched from elsewhere"
    for label in ("original", "vqcodec level 4 (vq8-q4)", "JPEG q", "WebP q", "bits per pixel"):
        assert label in text
    assert re.search(r"\d\.\d{3} bpp \([\d,]+ bytes\), \d+\.\d{2} dB; crop \d+\.\d{2} dB", text)


def test_page_loads_in_headless_chromium_with_every_image(page):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no Chromium: `apt-get install chromium` to check the page in a real browser")
    dom = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert 'data-images="loaded 6 of 6"' in dom
    shot = page.with_suffix(".png")
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={shot}", "--window-size=1200,1600", page.as_uri()],
                   capture_output=True, timeout=120)
    with Image.open(shot) as im:
        assert im.size == (1200, 1600)
        assert len(np.unique(np.asarray(im.convert("L").resize((60, 80))))) > 20, "the screenshot shows a rendered page"
