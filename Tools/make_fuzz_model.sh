#!/usr/bin/env bash
# Writes Fixtures/fuzz/safetensors/seed-micro.safetensors: the smallest complete codec model
# (stride 2, width 2, 1 group of 4 codes, a 1-block prior; about 10 KB), the seed from which the
# model-file fuzzer mutates whole models. Small on purpose: every corpus file derived from it stays
# small. Trained for 20 steps (its quality does not matter), training metadata dropped, and the
# integer prior's tanh and sigmoid tables cut from 4097 to 257 entries (still a valid model).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${VQCODEC:-.build/debug/vqcodec}
[ -x "$bin" ] || swift build
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/data"
cp Fixtures/images/photo-64x48.png "$work/data/"
"$bin" train vqvae --data "$work/data" --out "$work/micro.safetensors" --stride 2 --width 2 --latent-channels 2 \
  --groups 1 --codebook-size 4 --steps 20 --batch 2 --crop 8 --lr 3e-3 --seed 1 --checkpoint-every 1000 \
  --log-every 100 --name micro-fuzz
"$bin" train prior --model "$work/micro.safetensors" --data "$work/data" --steps 20 --batch 2 --crop 4 --channels 2 \
  --blocks 1 --embedding 1 --head 2 --hold-out-every 0 --seed 1 --checkpoint-every 1000 --log-every 100
python3 - "$work/micro.safetensors" Fixtures/fuzz/safetensors/seed-micro.safetensors <<'PY'
import json, struct, sys
source, target = sys.argv[1:]
b = open(source, "rb").read()
n = struct.unpack("<Q", b[:8])[0]
header, data = json.loads(b[8:8 + n]), b[8 + n:]
metadata = header.pop("__metadata__")
for key in ["prior.recipe", "vqvae.recipe", "vqvae.metrics"]:
    metadata.pop(key, None)
entries, blobs, offset = {}, [], 0
for key in sorted(header):
    entry = header[key]
    raw, shape = data[entry["data_offsets"][0]:entry["data_offsets"][1]], entry["shape"]
    if key in ("prior_int.tanh", "prior_int.sigmoid"):
        values = struct.unpack("<%dh" % (len(raw) // 2), raw)[::16]
        raw, shape = struct.pack("<%dh" % len(values), *values), [len(values)]
    entries[key] = {"dtype": entry["dtype"], "shape": shape, "data_offsets": [offset, offset + len(raw)]}
    blobs.append(raw)
    offset += len(raw)
text = json.dumps({"__metadata__": metadata, **entries}, separators=(",", ":")).encode()
text += b" " * (-len(text) % 8)
open(target, "wb").write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
PY
ls -l Fixtures/fuzz/safetensors/seed-micro.safetensors
