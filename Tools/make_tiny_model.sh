#!/usr/bin/env bash
# Regenerates the tiny test model Fixtures/models/tiny.safetensors by training it with the CLI on
# Fixtures/images/photo-64x48.png (seconds, not minutes). Run only on purpose: the golden
# .vqc files made with this model must then be regenerated too:
#   VQCODEC_REGENERATE_GOLDEN=1 swift test --filter VQCodecTests.GoldenTests
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${VQCODEC:-.build/release/vqcodec}
[ -x "$bin" ] || swift build -c release
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir "$work/data"
cp Fixtures/images/photo-64x48.png "$work/data/"
"$bin" train vqvae --data "$work/data" --out "$work/tiny.safetensors" --stride 8 --width 8 \
  --latent-channels 8 --groups 2 --codebook-size 16 --steps 600 --batch 4 --crop 32 --lr 3e-3 --seed 1 \
  --checkpoint-every 1000 --log-every 100 --name tiny-test
"$bin" train prior --model "$work/tiny.safetensors" --data "$work/data" --steps 300 --batch 4 --crop 4 \
  --channels 8 --blocks 2 --embedding 4 --head 8 --hold-out-every 0 --seed 1 --checkpoint-every 1000 --log-every 100
mkdir -p Fixtures/models
cp "$work/tiny.safetensors" Fixtures/models/tiny.safetensors
ls -l Fixtures/models/tiny.safetensors
