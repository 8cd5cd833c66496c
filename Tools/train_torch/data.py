"""Training data: random crops of a folder of images (phase I) and of symbol maps (phase II).

Crops follow Sources/Training/ImageDataset.swift and SymbolDataset.swift: an image chosen
uniformly, a crop position uniform among those inside it, a horizontal flip with probability 1/2
(images only: a mirrored symbol map is not a map any image produces); an image smaller than the
crop is extended by repeating its edge pixels. The batch of step t on process r is a function of
(seed, r, t), so a resumed run draws the batches the uninterrupted run would have.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")


def list_images(folder: str) -> list[str]:
    """Every PNG or JPEG directly inside `folder` (not hidden), in byte order of the names."""
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{folder}: no such folder; --data must name a folder of PNG or JPEG images")
    names = sorted((n for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES) and not n.startswith(".")),
                   key=lambda n: n.encode("utf-8"))
    if not names:
        raise ValueError(f"{folder}: the folder has no .png or .jpg files to train on")
    return [os.path.join(folder, n) for n in names]


def list_sources(sources: list[str]) -> list[list[str]]:
    """The images of several `--data` sources, one list per folder, each sorted by byte order of
    the names. A source is a folder (every PNG or JPEG directly inside it) or a list file: one
    image or folder per line, relative to the list file's folder, blank lines and lines starting
    with `#` ignored; a list file's images are grouped by the folder that holds them. An image
    named twice is kept once (where it first appears)."""
    groups: dict[str, list[str]] = {}
    seen: set[str] = set()

    def add(path: str):
        real = os.path.realpath(path)
        if real in seen:
            return
        seen.add(real)
        groups.setdefault(os.path.dirname(real), []).append(real)

    for source in sources:
        if os.path.isdir(source):
            for path in list_images(source):
                add(path)
        elif os.path.isfile(source):
            base = os.path.dirname(os.path.abspath(source))
            with open(source, encoding="utf-8") as f:
                lines = [line.strip() for line in f]
            entries = [line for line in lines if line and not line.startswith("#")]
            if not entries:
                raise ValueError(f"{source}: the list file names no images or folders")
            for entry in entries:
                path = entry if os.path.isabs(entry) else os.path.join(base, entry)
                if os.path.isdir(path):
                    for image in list_images(path):
                        add(image)
                elif os.path.isfile(path) and path.lower().endswith(IMAGE_SUFFIXES):
                    add(path)
                else:
                    raise FileNotFoundError(f"{source}: \"{entry}\" is neither a PNG/JPEG image nor a folder")
        else:
            raise FileNotFoundError(f"{source}: no such folder or list file; --data names a folder of PNG or JPEG "
                                    "images or a file listing images and folders")
    return [sorted(paths, key=lambda p: os.path.basename(p).encode("utf-8")) for paths in groups.values()]


def split_held_out(groups: list[list[str]], hold_out_every: int) -> tuple[list[str], list[str]]:
    """(training, held out): in each folder's sorted list, image i (0-based) is held out when
    (i + 1) % hold_out_every == 0 (`held_out`), so every 10th image of each folder with the default."""
    training, held = [], []
    for paths in groups:
        for i, path in enumerate(paths):
            (held if held_out(i, hold_out_every, len(paths)) else training).append(path)
    if not training:
        raise ValueError("no training images are left after holding out every "
                         f"{hold_out_every}-th image; give more images or a larger --hold-out-every")
    return training, held


def centre_crop(image: np.ndarray, side: int, stride: int) -> torch.Tensor:
    """[1, 3, h, w] floats (pixel / 255): the centred crop of at most side × side pixels, each
    side rounded down to a multiple of `stride` (an image smaller than the stride is padded)."""
    h, w, _ = image.shape
    ch = max(stride, min(side, h) // stride * stride) if side > 0 else -(-h // stride) * stride
    cw = max(stride, min(side, w) // stride * stride) if side > 0 else -(-w // stride) * stride
    top, left = max(0, (h - ch) // 2), max(0, (w - cw) // 2)
    ys = np.minimum(np.arange(top, top + ch), h - 1)
    xs = np.minimum(np.arange(left, left + cw), w - 1)
    crop = image[ys[:, None], xs[None, :]].transpose(2, 0, 1).astype(np.float32) / 255
    return torch.from_numpy(np.ascontiguousarray(crop)).unsqueeze(0)


def load_rgb(path: str) -> np.ndarray:
    """[H, W, 3] uint8; gray is replicated, alpha dropped, 16-bit scaled to 8 bits."""
    with Image.open(path) as image:
        if image.mode in ("I;16", "I;16B", "I;16L", "I"):
            gray = np.asarray(image, dtype=np.float64)
            gray = np.clip(np.rint(gray / 257.0), 0, 255).astype(np.uint8)
            return np.repeat(gray[:, :, None], 3, axis=2)
        return np.asarray(image.convert("RGB"), dtype=np.uint8).copy()


def step_generator(seed: int, rank: int, step: int, stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64([seed, rank, step, stream]))


def crop_offset(extent: int, crop: int, rng: np.random.Generator) -> int:
    """In 0 … extent − crop, or a negative offset placing a small image inside the crop."""
    r = int(rng.integers(abs(extent - crop) + 1))
    return r if extent >= crop else -r


def crop_image(image: np.ndarray, top: int, left: int, crop: int, flip: bool) -> np.ndarray:
    """[3, crop, crop] uint8: coordinates outside the image clamped to its edge, mirrored with flip."""
    h, w, _ = image.shape
    ys = np.clip(np.arange(top, top + crop), 0, h - 1)
    xs = np.arange(crop)
    if flip:
        xs = crop - 1 - xs
    xs = np.clip(left + xs, 0, w - 1)
    return np.ascontiguousarray(image[ys[:, None], xs[None, :]].transpose(2, 0, 1))


class ImageCropBatches(torch.utils.data.Dataset):
    """Item t is the batch of step t on this process: uint8 [batch, 3, crop, crop].

    Images are decoded on demand and kept in a per-worker cache of at most `cache_mb` megabytes,
    so a folder larger than memory still trains (decoding then costs time, not memory).
    """

    def __init__(self, paths: list[str], crop: int, batch: int, seed: int, rank: int, cache_mb: int = 2048):
        self.paths, self.crop, self.batch, self.seed, self.rank = paths, crop, batch, seed, rank
        self.cache_bytes = cache_mb << 20
        self.cache: dict[int, np.ndarray] = {}
        self.cached = 0

    def __len__(self):
        return 1 << 62

    def image(self, index: int) -> np.ndarray:
        if index in self.cache:
            return self.cache[index]
        image = load_rgb(self.paths[index])
        while self.cache and self.cached + image.nbytes > self.cache_bytes:
            evicted = self.cache.pop(next(iter(self.cache)))
            self.cached -= evicted.nbytes
        if image.nbytes <= self.cache_bytes:
            self.cache[index] = image
            self.cached += image.nbytes
        return image

    def __getitem__(self, step: int) -> torch.Tensor:
        rng = step_generator(self.seed, self.rank, step, 1)
        out = np.empty((self.batch, 3, self.crop, self.crop), dtype=np.uint8)
        for item in range(self.batch):
            image = self.image(int(rng.integers(len(self.paths))))
            top = crop_offset(image.shape[0], self.crop, rng)
            left = crop_offset(image.shape[1], self.crop, rng)
            flip = bool(rng.integers(2))
            out[item] = crop_image(image, top, left, self.crop, flip)
        return torch.from_numpy(out)


def padded_image(image: np.ndarray, stride: int) -> torch.Tensor:
    """[1, 3, H', W'] floats (pixel / 255), H' and W' rounded up to multiples of `stride` by
    repeating the last row and column (SymbolDataset.paddedTensor)."""
    h, w, _ = image.shape
    hh, ww = -(-h // stride) * stride, -(-w // stride) * stride
    ys = np.minimum(np.arange(hh), h - 1)
    xs = np.minimum(np.arange(ww), w - 1)
    padded = image[ys[:, None], xs[None, :]].transpose(2, 0, 1).astype(np.float32) / 255
    return torch.from_numpy(np.ascontiguousarray(padded)).unsqueeze(0)


@dataclass
class SymbolMap:
    path: str
    pixels: int              # of the image before padding, for bits per pixel
    symbols: torch.Tensor    # int64 [G, h, w]


def held_out(index: int, hold_out_every: int, count: int) -> bool:
    """Image i (0-based) is held out when (i + 1) % n == 0, unless it is the only image."""
    return hold_out_every > 0 and (index + 1) % hold_out_every == 0 and count > 1


def symbol_crops(maps: list[SymbolMap], batch: int, crop: int, seed: int, rank: int, step: int) -> torch.Tensor:
    """int64 [batch, G, crop, crop]: per item a map chosen uniformly, a position uniform among those
    where the crop fits."""
    rng = step_generator(seed, rank, step, 3)
    items = []
    for _ in range(batch):
        m = maps[int(rng.integers(len(maps)))].symbols
        top = int(rng.integers(m.shape[1] - crop + 1))
        left = int(rng.integers(m.shape[2] - crop + 1))
        items.append(m[:, top:top + crop, left:left + crop])
    return torch.stack(items)


@dataclass
class StageSymbolMap:
    path: str
    pixels: int                   # of the image before padding, for bits per pixel
    symbols: list[torch.Tensor]   # per stage, int64 [G_k, h, w]


def stage_symbol_crops(maps: list[StageSymbolMap], batch: int, crop: int, seed: int, rank: int,
                       step: int) -> list[torch.Tensor]:
    """Per stage int64 [batch, G_k, crop, crop], every stage cropped at the same place: per item a
    map chosen uniformly and a position uniform among those where the crop fits."""
    rng = step_generator(seed, rank, step, 5)
    items = []
    for _ in range(batch):
        m = maps[int(rng.integers(len(maps)))].symbols
        top = int(rng.integers(m[0].shape[1] - crop + 1))
        left = int(rng.integers(m[0].shape[2] - crop + 1))
        items.append([s[:, top:top + crop, left:left + crop] for s in m])
    return [torch.stack([item[k] for item in items]) for k in range(len(maps[0].symbols))]
