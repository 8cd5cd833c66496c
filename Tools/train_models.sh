#!/usr/bin/env bash
# Retrains the five shipped models (Models/shipped/vq16-q1 … vq8-q5) from ../shared/data/train
# (never Kodak), with the settings recorded in Models/README.md and in each model's metadata
# (vqvae.recipe, prior.recipe). Every run's output goes to $RUNS (default runs/); the finished
# models to $RUNS/shipped/, never over Models/shipped/ (a shipped model is never replaced in place).
#
# Long: the runs took about 7 hours of wall time on 2 CPU cores in all. Checkpoints let an interrupted run continue: run the
# script again and each phase resumes (--resume) where it stopped; finished phases are skipped.
# OpenBLAS's kernel decides the speed (`vqcodec bench engine` prints the one in use); on a CPU
# with AVX-512, OPENBLAS_CORETYPE=SKYLAKEX is about 1.3 times as fast as Haswell. Only float
# rounding differs between kernels, so a retrained model is close to, not identical with, the
# shipped one; its name and checksum differ from it unless every byte matches.
#
# Working names (t* transforms and codebooks, p* priors) are free: --name only sets the name a
# file carries, and the last step gives each model its shipped name.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-../shared/data/train}
runs=${RUNS:-runs}
bin=.build/release/vqcodec
swift build -c release
mkdir -p "$runs/shipped"

vqvae() {  # OUT name, then train vqvae options; writes $runs/OUT.safetensors (float, with EMA state)
  local name=$1; shift
  local out="$runs/$name.safetensors" resume=()
  [ -f "$runs/$name.done" ] && return
  [ -d "$out.ckpt" ] && resume=(--resume)
  "$bin" train vqvae --data "$data" --out "$out" --name "$name" --log-every 50 --checkpoint-every 500 "$@" "${resume[@]}"
  touch "$runs/$name.done"
}
prior() {  # OUT name, the model whose VQ-VAE it codes, then train prior options
  local name=$1 model=$2; shift 2
  local out="$runs/$name.safetensors" resume=()
  [ -f "$runs/$name.done" ] && return
  [ -d "$out.prior.ckpt" ] && resume=(--resume)
  "$bin" train prior --model "$model" --name "$name" --data "$data" --out "$out" --batch 16 --crop 16 \
    --hold-out-every 10 --log-every 50 --checkpoint-every 500 "$@" "${resume[@]}"
  touch "$runs/$name.done"
}
f16() {  # IN name: $runs/IN.f16.safetensors, its float weights in F16 and without EMA state
  python3 Tools/compact_model.py "$runs/$1.safetensors" "$runs/$1.f16.safetensors"
}
ship() {  # IN name (already F16), shipped name: only the name a file carries changes
  python3 - "$runs/$1.f16.safetensors" "$runs/shipped/$2.safetensors" "$2" <<'EOF'
import sys
from safetensors import safe_open
from safetensors.numpy import save_file
source, target, name = sys.argv[1:]
with safe_open(source, framework="numpy") as f:
    metadata = dict(f.metadata() or {})
    tensors = {key: f.get_tensor(key) for key in f.keys()}
metadata["name"] = name
save_file(tensors, target, metadata=metadata)
EOF
}

s8=(--stride 8 --width 64 --latent-channels 64 --codebook-size 512 --batch 8 --crop 128)
s16=(--stride 16 --width 64 --latent-channels 64 --codebook-size 512 --batch 8 --crop 128)

# Stride 8, 4 × 512 codes: transforms and codebooks in three runs, each continuing the one before
# (--init-from with the same groups and codebook size keeps the codebooks).
vqvae s8-t1 "${s8[@]}" --groups 4 --steps 5000 --lr 2e-4 --seed 1
f16 s8-t1
vqvae s8-t2 "${s8[@]}" --groups 4 --steps 3500 --lr 1e-4 --warmup 100 --seed 2 --init-from "$runs/s8-t1.f16.safetensors"
vqvae s8-t3 "${s8[@]}" --groups 4 --steps 30000 --lr 2e-4 --warmup 300 --seed 3 --init-from "$runs/s8-t2.safetensors"

# vq8-q4: s8-t3 with a prior trained in three runs (the last two continue the one before).
prior q4-p1 "$runs/s8-t3.safetensors" --steps 4000 --seed 1
f16 q4-p1
prior q4-p2 "$runs/q4-p1.f16.safetensors" --init-from "$runs/q4-p1.f16.safetensors" --steps 3000 --lr 5e-4 --warmup 100 --seed 4
f16 q4-p2
prior q4-p3 "$runs/q4-p2.f16.safetensors" --init-from "$runs/q4-p2.f16.safetensors" --steps 3000 --lr 3e-4 --warmup 100 --seed 6 --augment
f16 q4-p3
ship q4-p3 vq8-q4

# vq8-q3: s8-t3's transforms with 2 × 512 new codebooks, then its decoder fine-tuned alone
# (--decoder-only: same symbols, so the prior carries over), and a prior in four runs.
vqvae q3-t1 "${s8[@]}" --groups 2 --steps 1000 --lr 1e-4 --warmup 100 --seed 1 --init-from "$runs/s8-t3.safetensors"
prior q3-p1 "$runs/q3-t1.safetensors" --steps 1500 --seed 1 --channels 64 --head 128
f16 q3-p1
vqvae q3-t2 "${s8[@]}" --groups 2 --steps 4000 --lr 2e-4 --warmup 100 --seed 4 --decoder-only --init-from "$runs/q3-p1.f16.safetensors"
prior q3-p2 "$runs/q3-t2.safetensors" --init-from "$runs/q3-p1.f16.safetensors" --steps 5000 --lr 5e-4 --warmup 100 --seed 4
f16 q3-p2
prior q3-p3 "$runs/q3-p2.f16.safetensors" --init-from "$runs/q3-p2.f16.safetensors" --steps 3000 --lr 3e-4 --warmup 100 --seed 6 --augment
f16 q3-p3
prior q3-p4 "$runs/q3-p3.f16.safetensors" --init-from "$runs/q3-p3.f16.safetensors" --steps 3000 --lr 3e-4 --warmup 100 --seed 7 --augment
f16 q3-p4
ship q3-p4 vq8-q3

# vq8-q5: as vq8-q3 with 8 × 512 codes; a prior in two runs.
vqvae q5-t1 "${s8[@]}" --groups 8 --steps 2000 --lr 1e-4 --warmup 100 --seed 1 --init-from "$runs/s8-t3.safetensors"
prior q5-p1 "$runs/q5-t1.safetensors" --steps 2500 --seed 1 --channels 64 --head 128
f16 q5-p1
vqvae q5-t2 "${s8[@]}" --groups 8 --steps 2000 --lr 2e-4 --warmup 100 --seed 4 --decoder-only --init-from "$runs/q5-p1.f16.safetensors"
prior q5-p2 "$runs/q5-t2.safetensors" --init-from "$runs/q5-p1.f16.safetensors" --steps 2500 --lr 5e-4 --warmup 100 --seed 4
f16 q5-p2
ship q5-p2 vq8-q5

# Stride 16, 4 × 512 codes: transforms and codebooks in three runs.
vqvae s16-t1 "${s16[@]}" --groups 4 --steps 6000 --lr 2e-4 --seed 1
f16 s16-t1
vqvae s16-t2 "${s16[@]}" --groups 4 --steps 8000 --lr 2e-4 --warmup 300 --seed 3 --init-from "$runs/s16-t1.f16.safetensors"
vqvae s16-t3 "${s16[@]}" --groups 4 --steps 10000 --lr 2e-4 --warmup 300 --seed 5 --init-from "$runs/s16-t2.safetensors"

# vq16-q2: s16-t3 with a prior in two runs, both on augmented data (mirrored and shifted copies).
prior q2-p1 "$runs/s16-t3.safetensors" --steps 4000 --seed 1 --augment
f16 q2-p1
prior q2-p2 "$runs/q2-p1.f16.safetensors" --init-from "$runs/q2-p1.f16.safetensors" --steps 3000 --lr 5e-4 --warmup 100 --seed 7 --augment
f16 q2-p2
ship q2-p2 vq16-q2

# vq16-q1: s16-t3's transforms with 2 × 512 new codebooks; a prior in two runs, augmented.
vqvae q1-t1 "${s16[@]}" --groups 2 --steps 1000 --lr 1e-4 --warmup 100 --seed 1 --init-from "$runs/s16-t3.safetensors"
prior q1-p1 "$runs/q1-t1.safetensors" --steps 4000 --seed 1 --channels 64 --head 128 --augment
prior q1-p2 "$runs/q1-p1.safetensors" --init-from "$runs/q1-p1.safetensors" --steps 3000 --lr 5e-4 --warmup 100 --seed 4 --augment
f16 q1-p2
ship q1-p2 vq16-q1

"$bin" rd ../shared/data/kodak --model "$runs"/shipped/vq16-q1.safetensors --model "$runs"/shipped/vq16-q2.safetensors \
  --model "$runs"/shipped/vq8-q3.safetensors --model "$runs"/shipped/vq8-q4.safetensors --model "$runs"/shipped/vq8-q5.safetensors \
  --json "$runs/shipped/kodak.json" --csv "$runs/shipped/kodak.csv"
