"""Packed float tensors of a vqcodec model file (Formats/model.md §1.1).

A float tensor X `[d0, ...]` may be stored as `X.scale` (F32 `[d0]`) and `X.packed<b>` (U8
`[ceil(n*b/8)]`, 2 <= b <= 16): n b-bit two's complement codes q in -(2^(b-1)-1) ... 2^(b-1)-1,
least significant bit first, padding bits zero; element i is the float32 product
q_i * scale[i // (n // d0)]. vqcodec (Sources/SafeTensors/SafeTensorsPacked.swift) reads it.
"""
import re

import numpy as np

BITS = range(2, 17)
PACKED = re.compile(r"^(.*)\.packed(\d+)$")


def pack(value: np.ndarray, bits: int) -> tuple[np.ndarray, np.ndarray]:
    """(scale F32 [d0], codes U8): each row's largest magnitude maps to 2^(b-1)-1, round to nearest
    (ties to even)."""
    if bits not in BITS:
        raise ValueError(f"bits must be 2 to 16, found {bits}")
    w = np.asarray(value, dtype=np.float32)
    if w.ndim < 1 or w.shape[0] < 1 or not np.all(np.isfinite(w)):
        raise ValueError("a packed tensor needs finite values and a first dimension of at least 1")
    limit = 2 ** (bits - 1) - 1
    rows = w.reshape(w.shape[0], -1)
    scale = (np.abs(rows).max(axis=1) / np.float32(limit)).astype(np.float32)
    safe = np.where(scale > 0, scale, np.float32(1))
    q = np.clip(np.rint(rows / safe[:, None]), -limit, limit).astype(np.int64).reshape(-1)
    unsigned = (q & ((1 << bits) - 1)).astype(np.uint64)
    bit_array = ((unsigned[:, None] >> np.arange(bits, dtype=np.uint64)) & 1).astype(np.uint8).reshape(-1)
    return scale, np.packbits(bit_array, bitorder="little")


def unpack(scale: np.ndarray, codes: np.ndarray, bits: int, shape: tuple[int, ...]) -> np.ndarray:
    """The float32 values of a packed tensor of `shape` (the file does not store it: its reader
    knows it)."""
    scale = np.asarray(scale, dtype=np.float32)
    d0 = scale.shape[0]
    count = int(np.prod(shape))
    bit_array = np.unpackbits(np.asarray(codes, dtype=np.uint8), bitorder="little")[: count * bits]
    unsigned = (bit_array.reshape(count, bits).astype(np.int64) << np.arange(bits)).sum(axis=1)
    q = np.where(unsigned >= 2 ** (bits - 1), unsigned - 2 ** bits, unsigned)
    values = q.astype(np.float32).reshape(d0, -1) * scale[:, None]
    return values.astype(np.float32).reshape(shape)


def unpack_all(tensors: dict, shapes: dict) -> dict:
    """`tensors` (numpy arrays) with every packed pair replaced by its float32 tensor; `shapes` maps
    each packed tensor's name to its shape."""
    out = dict(tensors)
    for key in list(tensors):
        m = PACKED.match(key)
        if not m or m.group(1) + ".scale" not in tensors:
            continue
        name, bits = m.group(1), int(m.group(2))
        if name not in shapes:
            raise ValueError(f"{name} is packed, and its shape is not one this reader knows")
        out[name] = unpack(tensors[name + ".scale"], tensors[key], bits, shapes[name])
        del out[key], out[name + ".scale"]
    return out
