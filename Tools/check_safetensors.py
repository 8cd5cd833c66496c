#!/usr/bin/env python3
"""Cross-checks vqcodec's safetensors files against Hugging Face's reference implementation.

    pip install safetensors numpy

    python3 Tools/check_safetensors.py show FILE
        Reads FILE with the `safetensors` package and prints its metadata and every tensor
        (dtype, shape, values). Use it on a model or optimiser state written by vqcodec.

    python3 Tools/check_safetensors.py write-fixture [OUT]
        Writes the fixture Fixtures/models/python-written.safetensors (or OUT) with the reference
        writer. The Swift tests (SafeTensorsFixtureTests) read it, recompute the values defined in
        fixture_tensors() below, and check that vqcodec writes the same contents byte for byte.
        Rerun only when fixture_tensors() changes, and commit the file.

    python3 Tools/check_safetensors.py verify FILE
        Checks that FILE (for instance written by vqcodec) holds exactly the fixture's tensors and
        metadata, read with the reference reader. Exit status 0 when it does.
"""
import math
import os
import sys

import numpy as np
from safetensors import TensorSpec, deserialize, safe_open, serialize

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Fixtures", "models", "python-written.safetensors")

METADATA = {
    "producer": "Tools/check_safetensors.py",
    "format": "vqcodec-fixture",
    "unicode": "\u00fcn\u00efc\u00f6d\u00e9 \u2713",
    "escapes": "quote\" backslash\\ newline\n tab\t control\x01",
    "empty": "",
}


def bfloat16_bits(values):
    """float32 -> bfloat16 bit patterns, round to nearest, ties to even (no NaN among the inputs)."""
    bits = np.asarray(values, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def fixture_tensors():
    """name -> (safetensors dtype, numpy array of the stored bits/values). Every value is a formula
    the Swift test recomputes; keep the two in step."""
    i24 = np.arange(24, dtype=np.float32)
    return {
        "float32.ramp": ("F32", (i24 * np.float32(0.5) - np.float32(3)).reshape(2, 3, 4)),
        "float32.special": ("F32", np.array([0.0, -0.0, 2.0 ** -149, 3.4028234663852886e38, math.inf, -math.inf, math.nan], dtype=np.float32)),
        "float32.scalar": ("F32", np.array(2.5, dtype=np.float32)),
        "float32.empty": ("F32", np.zeros((0, 4), dtype=np.float32)),
        # float32 division, then float32 -> float16 rounding to nearest even (numpy's astype).
        "float16.thirds": ("F16", (np.arange(20, dtype=np.float32) / np.float32(3)).astype(np.float16).reshape(4, 5)),
        "float16.special": ("F16", np.array([0x0000, 0x8000, 0x0001, 0x03FF, 0x0400, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0x3C00, 0xC000, 0x3555],
                                            dtype=np.uint16).view(np.float16)),
        "bfloat16.sevenths": ("BF16", bfloat16_bits(np.arange(6, dtype=np.float32) / np.float32(7)).reshape(2, 3)),
        "int32.values": ("I32", (np.arange(9, dtype=np.int64) ** 2 * 7919 - 40000).astype(np.int32).reshape(3, 3)),
        "int32.extremes": ("I32", np.array([-2 ** 31, 2 ** 31 - 1, 0, -1], dtype=np.int32)),
        "int16.values": ("I16", (np.arange(8, dtype=np.int64) * 997 - 3000).astype(np.int16).reshape(2, 4)),
        "int16.extremes": ("I16", np.array([-32768, 32767, 0, -1], dtype=np.int16)),
        "int8.values": ("I8", np.array([-128, -1, 0, 1, 127, 42], dtype=np.int8).reshape(2, 3)),
        "uint8.values": ("U8", np.array([0, 1, 127, 128, 254, 255], dtype=np.uint8)),
    }


NUMPY_NAMES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16", "I32": "int32", "I16": "int16", "I8": "int8", "U8": "uint8"}


def write_fixture(path):
    tensors = fixture_tensors()
    keep_alive = []
    specs = {}
    for name, (dtype, array) in tensors.items():
        array = np.array(array, order="C", copy=True)  # ascontiguousarray would turn a 0-d array into 1-d
        assert sys.byteorder == "little"
        keep_alive.append(array)
        specs[name] = TensorSpec(dtype=NUMPY_NAMES[dtype], shape=array.shape, data_ptr=array.ctypes.data, data_len=array.nbytes)
    data = bytes(serialize(specs, metadata=METADATA))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    print(f"wrote {path} ({len(data)} bytes)")


def as_numpy(entry):
    """A deserialize() entry as a numpy array (BF16 widened to float32, exactly)."""
    dtype, shape, data = entry["dtype"], entry["shape"], bytes(entry["data"])
    if dtype == "BF16":
        return (np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16).view(np.float32).reshape(shape)
    little = {"F32": "<f4", "F16": "<f2", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "F64": "<f8", "I64": "<i8"}[dtype]
    return np.frombuffer(data, dtype=little).reshape(shape)


def read(path):
    """(metadata, {name: (dtype, array)}) read with the reference reader (safe_open and deserialize)."""
    with safe_open(path, framework="numpy") as f:
        metadata = f.metadata() or {}
    with open(path, "rb") as f:
        entries = dict(deserialize(f.read()))
    return metadata, {name: (entry["dtype"], as_numpy(entry)) for name, entry in entries.items()}


def show(path):
    metadata, tensors = read(path)
    print(f"{path}: {len(tensors)} tensors")
    for key in sorted(metadata):
        print(f"  metadata {key!r}: {metadata[key]!r}")
    with np.printoptions(threshold=32, edgeitems=4, linewidth=120):
        for name in sorted(tensors):
            dtype, array = tensors[name]
            summary = ""
            if array.size and dtype != "U8" and np.issubdtype(array.dtype, np.number):
                finite = array[np.isfinite(array)] if np.issubdtype(array.dtype, np.floating) else array
                if finite.size:
                    summary = f"  min {finite.min()} max {finite.max()} mean {finite.astype(np.float64).mean():.6g}"
            print(f"  {name}: {dtype} {list(array.shape)}{summary}")
            print("    " + np.array2string(array.reshape(-1) if array.ndim else array, separator=", ").replace("\n", "\n    "))


def verify(path):
    metadata, tensors = read(path)
    expected = fixture_tensors()
    problems = []
    if metadata != METADATA:
        problems.append(f"metadata {metadata!r} != {METADATA!r}")
    if sorted(tensors) != sorted(expected):
        problems.append(f"tensor names {sorted(tensors)} != {sorted(expected)}")
    for name, (dtype, array) in expected.items():
        if name not in tensors:
            continue
        found_dtype, found = tensors[name]
        want = as_numpy({"dtype": dtype, "shape": list(array.shape), "data": array.tobytes()})
        if found_dtype != dtype or found.shape != want.shape or found.tobytes() != want.tobytes():
            problems.append(f"{name}: found {found_dtype} {found.shape} {found!r}, expected {dtype} {want.shape} {want!r}")
    for problem in problems:
        print("MISMATCH " + problem)
    print(f"{path}: {'matches' if not problems else 'does not match'} the fixture ({len(tensors)} tensors, {len(metadata)} metadata entries)")
    return not problems


def main(argv):
    if len(argv) >= 2 and argv[1] == "show" and len(argv) == 3:
        show(argv[2])
    elif len(argv) >= 2 and argv[1] == "write-fixture" and len(argv) <= 3:
        path = argv[2] if len(argv) == 3 else FIXTURE
        write_fixture(path)
        if not verify(path):
            return 1
    elif len(argv) == 3 and argv[1] == "verify":
        return 0 if verify(argv[2]) else 1
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
