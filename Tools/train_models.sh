#!/usr/bin/env bash
# Retrains the models shipped in Models/ from ../shared/data/train (never Kodak), with the exact
# settings recorded in each model's metadata (vqvae.recipe, prior.recipe) and in Models/README.md,
# then stores the float weights in F16 (Tools/compact_model.py; measured to cost nothing on Kodak).
# Long: about an hour per model on 2 cores. Checkpoints let an interrupted run continue:
# run the same script again and it resumes each phase (--resume) where it stopped.
# OpenBLAS's kernel decides the speed: `vqcodec bench engine` prints the one in use. The 2-core
# machine these models were trained on sets OPENBLAS_CORETYPE=Haswell in its environment although
# its CPU has AVX-512; the r3 runs were trained with OPENBLAS_CORETYPE=SKYLAKEX, 1.3 times as fast
# (only float rounding differs). Set it the same way where the CPU has AVX-512.
set -euo pipefail
cd "$(dirname "$0")/.."
data=${DATA:-../shared/data/train}
runs=${RUNS:-runs}
bin=.build/release/vqcodec
swift build -c release
mkdir -p "$runs" Models

train() {  # name, prior steps, extra prior options (one word, comma-separated), then the VQ-VAE options
  local name=$1 prior_steps=$2 prior_options=(); IFS=, read -r -a prior_options <<< "$3"; shift 3
  local out="$runs/$name.safetensors"
  local resume=(); [ -d "$out.ckpt" ] && resume=(--resume)
  if [ ! -f "$runs/$name.vqvae.done" ]; then
    "$bin" train vqvae --data "$data" --out "$out" --name "$name" --checkpoint-every 300 --log-every 25 "$@" "${resume[@]}"
    touch "$runs/$name.vqvae.done"
  fi
  local prior_resume=(); [ -d "$runs/$name-prior.safetensors.prior.ckpt" ] && prior_resume=(--resume)
  "$bin" train prior --model "$out" --data "$data" --out "$runs/$name-prior.safetensors" \
    --steps "$prior_steps" --batch 16 --crop 16 --seed 1 --hold-out-every 10 --checkpoint-every 500 --log-every 50 "${prior_options[@]}" "${prior_resume[@]}"
  python3 Tools/compact_model.py "$runs/$name-prior.safetensors" "Models/$name.safetensors"
}

train vq-s8-w64-g4k512 6000 "" --stride 8 --width 64 --latent-channels 64 --groups 4 --codebook-size 512 \
  --steps 5000 --batch 8 --crop 128 --lr 2e-4 --seed 1
train vq-s16-w64-g4k512 3000 "" --stride 16 --width 64 --latent-channels 64 --groups 4 --codebook-size 512 \
  --steps 6000 --batch 8 --crop 128 --lr 2e-4 --seed 1
# ... and continued (r2) for 8,000 steps.
train vq-s16-w64-g4k512-r2 3000 "" --stride 16 --width 64 --latent-channels 64 --groups 4 --codebook-size 512 \
  --steps 8000 --batch 8 --crop 128 --lr 2e-4 --warmup 300 --seed 3 --init-from Models/vq-s16-w64-g4k512.safetensors

# The stride-8 model continued (r2, the default of stop 10, now retired): transforms and codebooks
# (same groups and size, so --init-from keeps the codebooks), 3,500 more steps, then a new prior.
train vq-s8-w64-g4k512-r2 2500 "" --stride 8 --width 64 --latent-channels 64 --groups 4 --codebook-size 512 \
  --steps 3500 --batch 8 --crop 128 --lr 1e-4 --warmup 100 --seed 2 --init-from Models/vq-s8-w64-g4k512.safetensors

# The default level since stop 11 continues it again (r3; interrupted at step 2,796 and resumed), from r2's phase-I output (F32), with a
# higher peak rate and 30,000 steps, then a fresh prior (after 30,000 steps only 1 % of the codes
# keep their index, so r2's prior is no head start: tried, 10.4 bits/symbol at step 50).
train vq-s8-w64-g4k512-r3 4000 "" \
  --stride 8 --width 64 --latent-channels 64 --groups 4 --codebook-size 512 \
  --steps 30000 --batch 8 --crop 128 --lr 2e-4 --warmup 300 --seed 3 --init-from "$runs/vq-s8-w64-g4k512-r2.safetensors"

# The other levels re-quantise these transforms at other rates: a warm start (--init-from) with new
# codebooks (2 or 8 groups instead of 4), fine-tuned at a lower learning rate, then a prior of
# their own (64 channels, head 128). About 10 to 20 minutes each on 2 cores.
warm=(--width 64 --latent-channels 64 --codebook-size 512 --batch 8 --crop 128 --lr 1e-4 --warmup 100 --seed 1)
train vq-s16-w64-g2k512 1500 "--channels,64,--head,128" --stride 16 --groups 2 --steps 1000 "${warm[@]}" \
  --init-from Models/vq-s16-w64-g4k512.safetensors
train vq-s8-w64-g8k512-r2 1200 "--channels,64,--head,128" --stride 8 --groups 8 --steps 1200 "${warm[@]}" \
  --init-from Models/vq-s8-w64-g4k512-r2.safetensors
train vq-s16-w64-g2k512-r2 1500 "--channels,64,--head,128" --stride 16 --groups 2 --steps 1000 "${warm[@]}" \
  --init-from "$runs/vq-s16-w64-g4k512-r2.safetensors"
train vq-s8-w64-g2k512-r3 1500 "--channels,64,--head,128" --stride 8 --groups 2 --steps 1000 "${warm[@]}" \
  --init-from "$runs/vq-s8-w64-g4k512-r3.safetensors"
train vq-s8-w64-g8k512-r3 2500 "--channels,64,--head,128" --stride 8 --groups 8 --steps 2000 "${warm[@]}" \
  --init-from "$runs/vq-s8-w64-g4k512-r3.safetensors"

# Stop 12: every level trained further, three ways (Models/README.md):
# - priors continued (`train prior --init-from` a model, lr 5e-4 or 3e-4) under a new name (a shipped
#   model is never changed in place), the later ones with --augment (each training image also
#   mirrored and shifted by half the stride);
# - decoder-only fine-tunes (`train vqvae --decoder-only`: analysis and codebooks untouched, so the
#   symbols, and the prior being continued, stay valid) for levels 3 and 5;
# - the stride-16 transforms continued jointly (r3), with fresh augmented priors, for levels 1 and 2.
# The stop-11 models in Models/ are retired and stored decode-only (no float prior) since stop 12;
# this script rewrites them whole above before the priors below continue from them.
continue_prior() {  # new name, model file with the VQ-VAE, model whose prior to continue, steps, lr, seed, then options
  local name=$1 base=$2 source=$3 steps=$4 lr=$5 seed=$6 resume=(); shift 6
  [ -d "$runs/$name-prior.safetensors.prior.ckpt" ] && resume=(--resume)
  "$bin" train prior --model "$base" --init-from "$source" --name "$name" --data "$data" --out "$runs/$name-prior.safetensors" \
    --steps "$steps" --lr "$lr" --warmup 100 --batch 16 --crop 16 --seed "$seed" --hold-out-every 10 --checkpoint-every 500 \
    --log-every 50 "$@" "${resume[@]}"
}
decoder_only() {  # new name, source model, then the VQ-VAE shape options
  local name=$1 source=$2; shift 2
  local out="$runs/$name.safetensors" resume=()
  [ -d "$out.ckpt" ] && resume=(--resume)
  if [ ! -f "$runs/$name.vqvae.done" ]; then
    "$bin" train vqvae --data "$data" --out "$out" --name "$name" --decoder-only --init-from "$source" --width 64 \
      --latent-channels 64 --codebook-size 512 --batch 8 --crop 128 --lr 2e-4 --warmup 100 --seed 4 \
      --checkpoint-every 500 --log-every 50 "$@" "${resume[@]}"
    touch "$runs/$name.vqvae.done"
  fi
}
ship() { python3 Tools/compact_model.py "$runs/$1-prior.safetensors" "Models/$1.safetensors"; }

# Level 3: decoder-only 4,000 steps, then its prior continued 5,000 steps (r4), then twice 3,000 steps
# with augmentation (p2, p3). Each round continues the F16 file the round before shipped.
decoder_only vq-s8-w64-g2k512-r4 Models/vq-s8-w64-g2k512-r3.safetensors --stride 8 --groups 2 --steps 4000
continue_prior vq-s8-w64-g2k512-r4 "$runs/vq-s8-w64-g2k512-r4.safetensors" Models/vq-s8-w64-g2k512-r3.safetensors 5000 5e-4 4
ship vq-s8-w64-g2k512-r4
continue_prior vq-s8-w64-g2k512-r4-p2 Models/vq-s8-w64-g2k512-r4.safetensors Models/vq-s8-w64-g2k512-r4.safetensors 3000 3e-4 6 --augment
ship vq-s8-w64-g2k512-r4-p2
continue_prior vq-s8-w64-g2k512-r4-p3 Models/vq-s8-w64-g2k512-r4-p2.safetensors Models/vq-s8-w64-g2k512-r4-p2.safetensors 3000 3e-4 7 --augment
ship vq-s8-w64-g2k512-r4-p3
rm -f Models/vq-s8-w64-g2k512-r4.safetensors Models/vq-s8-w64-g2k512-r4-p2.safetensors  # intermediate, not levels
# Level 4: the prior continued 3,000 steps (p2, not shipped), then 3,000 more with augmentation (p3).
continue_prior vq-s8-w64-g4k512-r3-p2 Models/vq-s8-w64-g4k512-r3.safetensors Models/vq-s8-w64-g4k512-r3.safetensors 3000 5e-4 4
continue_prior vq-s8-w64-g4k512-r3-p3 "$runs/vq-s8-w64-g4k512-r3-p2-prior.safetensors" "$runs/vq-s8-w64-g4k512-r3-p2-prior.safetensors" \
  3000 3e-4 6 --augment
ship vq-s8-w64-g4k512-r3-p3
# Level 5: decoder-only 2,000 steps, then its prior continued 2,500 steps.
decoder_only vq-s8-w64-g8k512-r4 Models/vq-s8-w64-g8k512-r3.safetensors --stride 8 --groups 8 --steps 2000
continue_prior vq-s8-w64-g8k512-r4 "$runs/vq-s8-w64-g8k512-r4.safetensors" Models/vq-s8-w64-g8k512-r3.safetensors 2500 5e-4 4
ship vq-s8-w64-g8k512-r4
# Levels 2 and 1: r2's stride-16 transforms continued 10,000 steps (r3), a fresh augmented prior,
# continued once (level 2: r3-p2); level 1 re-quantises them with 2 codebooks, then a fresh
# augmented prior, continued once.
train vq-s16-w64-g4k512-r3 4000 "--augment" --stride 16 --width 64 --latent-channels 64 --groups 4 --codebook-size 512 \
  --steps 10000 --batch 8 --crop 128 --lr 2e-4 --warmup 300 --seed 5 --init-from "$runs/vq-s16-w64-g4k512-r2.safetensors"
continue_prior vq-s16-w64-g4k512-r3-p2 Models/vq-s16-w64-g4k512-r3.safetensors Models/vq-s16-w64-g4k512-r3.safetensors 3000 5e-4 7 --augment
ship vq-s16-w64-g4k512-r3-p2
train vq-s16-w64-g2k512-r3 4000 "--channels,64,--head,128,--augment" --stride 16 --groups 2 --steps 1000 "${warm[@]}" \
  --init-from "$runs/vq-s16-w64-g4k512-r3.safetensors"
rm -f Models/vq-s16-w64-g4k512-r3.safetensors  # intermediate, not a level
"$bin" train prior --model "$runs/vq-s16-w64-g2k512-r3-prior.safetensors" --init-from "$runs/vq-s16-w64-g2k512-r3-prior.safetensors" \
  --name vq-s16-w64-g2k512-r3 --data "$data" --out "$runs/vq-s16-w64-g2k512-r3-prior2.safetensors" --steps 3000 --lr 5e-4 --warmup 100 \
  --batch 16 --crop 16 --seed 4 --hold-out-every 10 --checkpoint-every 500 --log-every 50 --augment
python3 Tools/compact_model.py "$runs/vq-s16-w64-g2k512-r3-prior2.safetensors" Models/vq-s16-w64-g2k512-r3.safetensors
