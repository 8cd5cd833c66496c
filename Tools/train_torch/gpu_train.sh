#!/usr/bin/env bash
# Trains the progressive (residual VQ) model on one CUDA GPU in about ten minutes of GPU time:
# phase I (`train.py rvq`: transforms and stage codebooks, quantiser dropout), then phase II
# (`train.py rvq-prior`: one stage-conditional PixelCNN per stage), and copies the model file and
# the logs to the output folder.
#
#   Tools/train_torch/gpu_train.sh [--tiny] [--out DIR] DATA [DATA ...]
#
#   DATA     folders of PNG/JPEG images (or list files), e.g. shared/data/train shared/data/train-extra;
#            every 10th image of each folder is held out and evaluated per stage count
#   --out    where the model file and logs go (default: $OUT when set, else runs/gpu-train)
#   --tiny   a tiny model for seconds on the CPU: checks that the script and both phases run
#
# Environment: PHASE1_SECONDS (default 420) and PHASE2_SECONDS (default 150) bound each phase's
# training wall time (a phase that reaches its bound saves its model and stops early); NAME
# (default rvq-s8-w128); WORK (checkpoints, default runs/gpu-train-work); THREADS for the CPU;
# VQCODEC, a vqcodec binary that freezes the result (default: vqcodec on PATH); INIT_FROM, a model
# file whose transforms phase I starts from (same stride and latent channels, the same or a smaller
# width; e.g. Models/shipped/vq8-rvq4.safetensors, width 128), and with INIT_CODEBOOKS=1
# its stage codebooks too (a progressive model of the same stages). Phase II: CHANNELS (default 48)
# and HEAD (default 128,128,64,64, one width per stage), the shipped progressive model's prior
# sizes; PRIOR_INIT_FROM, a model file whose stage priors phase II starts from (float ones, or a
# shipped file's integer ones, thawed; e.g. Models/shipped/vq8-rvq4.safetensors), and PRIOR_LR
# (default 1e-3; 3e-4 suits priors that start trained). With a vqcodec binary the model is frozen
# with WEIGHT_BITS-bit prior weights (default 8, as shipped: a width-128 model so fits in 8 MB) and
# compacted (F16 transforms and codebooks, no float priors: NAME-ship.safetensors), the form a
# shipped model takes; its size is printed. PACK_BITS (e.g. 10; default none) packs the transforms'
# kernels at that many bits after phase I (`compact_model.py --pack-transforms`), so that phase II
# trains the priors on the symbols of the packed analysis the shipped file will hold: a model wider
# than 128 channels needs it to fit 8 MB.
# Resume after an interruption by running the same command again: each phase continues from its
# checkpoint in WORK.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tiny=0
out="${OUT:-}"
data=()
while [ $# -gt 0 ]; do
    case "$1" in
        --tiny) tiny=1; shift ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set /{/^#/p}' "$0"; exit 0 ;;
        *) data+=("$1"); shift ;;
    esac
done
if [ ${#data[@]} -eq 0 ]; then
    echo "gpu_train.sh: give the training data, e.g. shared/data/train shared/data/train-extra" >&2
    exit 64
fi
out="${out:-$root/runs/gpu-train}"
work="${WORK:-$root/runs/gpu-train-work}"
name="${NAME:-rvq-s8-w128}"
mkdir -p "$out" "$work"
data_args=()
for d in "${data[@]}"; do
    if [ ! -e "$d" ]; then echo "gpu_train.sh: $d: no such folder or list file" >&2; exit 66; fi
    data_args+=(--data "$d")
done

if [ "$tiny" = 1 ]; then
    device=(--device cpu --threads "${THREADS:-2}")
    phase1=(--stride 8 --width 8 --latent-channels 8 --stages 1x16,2x16 --commitment total --steps 6 --batch 2 --crop 32
            --warmup 1 --log-every 2 --evaluate-every 3 --checkpoint-every 3 --eval-crop 32 --workers 0)
    phase2=(--steps 6 --batch 2 --crop 4 --lr "${PRIOR_LR:-1e-3}" --channels 4 --blocks 1 --embedding 2 --head 4 --log-every 2
            --evaluate-every 3 --checkpoint-every 3)
    name="${NAME:-rvq-tiny}"
    seconds1="${PHASE1_SECONDS:-60}"
    seconds2="${PHASE2_SECONDS:-60}"
else
    if ! python3 -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
        echo "gpu_train.sh: no CUDA GPU is visible to PyTorch (use --tiny for the CPU check)" >&2
        exit 69
    fi
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader || true
    device=(--device cuda)
    # Stride 8, width 128, a 64-channel latent; stage bounds 0.14, 0.42, 0.98, 2.11 bpp (README.md).
    # Steps are a planned schedule; PHASE1_SECONDS ends the phase earlier if the GPU is slower.
    phase1=(--stride 8 --width "${WIDTH:-128}" --latent-channels 64 --stages 1x512,2x512,4x512,8x512 --commitment total --steps 8000
            --batch 16 --crop 256 --lr 2e-4 --warmup 300 --log-every 100 --evaluate-every 1000
            --checkpoint-every 1000 --eval-crop 256 --workers 8 --cache-mb 4096)
    phase2=(--steps 6000 --batch 32 --crop 16 --lr "${PRIOR_LR:-1e-3}" --warmup 200 --log-every 200 --evaluate-every 1000
            --checkpoint-every 1000 --channels "${CHANNELS:-48}" --head "${HEAD:-128,128,64,64}")
    seconds1="${PHASE1_SECONDS:-420}"
    seconds2="${PHASE2_SECONDS:-150}"
fi

phase1_file="$work/$name.phase1.safetensors"
model_file="$work/$name.safetensors"
resume1=(); [ -f "$phase1_file.ckpt.pt" ] && resume1=(--resume)
init=(); [ -n "${INIT_FROM:-}" ] && [ ${#resume1[@]} -eq 0 ] && init=(--init-from "$INIT_FROM")
[ ${#init[@]} -gt 0 ] && [ "${INIT_CODEBOOKS:-0}" = 1 ] && init+=(--init-codebooks)
resume2=(); [ -f "$model_file.prior.ckpt.pt" ] && resume2=(--resume)
init2=(); [ -n "${PRIOR_INIT_FROM:-}" ] && [ ${#resume2[@]} -eq 0 ] && init2=(--init-from "$PRIOR_INIT_FROM")

started=$(date +%s)
echo "== phase I: $name (data: ${data[*]}) =="
set +e
python3 "$here/train.py" rvq "${data_args[@]}" --out "$phase1_file" --name "$name" --seed 1 \
    --max-seconds "$seconds1" "${device[@]}" "${phase1[@]}" "${init[@]}" "${resume1[@]}" 2>&1 | tee -a "$out/$name.phase1.out"
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { echo "gpu_train.sh: phase I stopped with status $status" >&2; exit "$status"; }

prior_model="$phase1_file"
if [ -n "${PACK_BITS:-}" ]; then
    prior_model="$work/$name.phase1-packed${PACK_BITS}.safetensors"
    python3 "$root/Tools/compact_model.py" --pack-transforms "$PACK_BITS" "$phase1_file" "$prior_model"
    echo "transforms packed at $PACK_BITS bits: $prior_model"
fi

echo "== phase II: stage-conditional priors =="
set +e
python3 "$here/train.py" rvq-prior "${data_args[@]}" --model "$prior_model" --out "$model_file" --seed 1 \
    --max-seconds "$seconds2" "${device[@]}" "${phase2[@]}" "${init2[@]}" "${resume2[@]}" 2>&1 | tee -a "$out/$name.phase2.out"
status=${PIPESTATUS[0]}
set -e
[ "$status" = 0 ] || { echo "gpu_train.sh: phase II stopped with status $status" >&2; exit "$status"; }

cp "$model_file" "$out/$name.safetensors"
cp "$phase1_file.log.csv" "$out/$name.log.csv"
cp "$model_file.prior.log.csv" "$out/$name.prior.log.csv"
# Freeze: the integer stage priors the codec codes with. Needs a vqcodec binary (VQCODEC, else
# vqcodec on PATH; a `swift build -c release --static-swift-stdlib` binary carried to a GPU machine
# works); without one, the command to run later is printed.
vqcodec_bin="${VQCODEC:-vqcodec}"
weight_bits="${WEIGHT_BITS:-8}"
if command -v "$vqcodec_bin" > /dev/null 2>&1; then
    "$vqcodec_bin" freeze "$out/$name.safetensors" "$out/$name-codec.safetensors" --weight-bits "$weight_bits"
    python3 "$root/Tools/compact_model.py" --decode-only --half-codebooks "$out/$name-codec.safetensors" \
        "$out/$name-ship.safetensors"
    echo "== done in $(( $(date +%s) - started )) s: $out/$name-codec.safetensors (float: $out/$name.safetensors;" \
        "compacted: $out/$name-ship.safetensors, $(wc -c < "$out/$name-ship.safetensors") bytes; logs $out/$name.*) =="
else
    echo "== done in $(( $(date +%s) - started )) s: $out/$name.safetensors (logs $out/$name.*) =="
    echo "no vqcodec binary here (set VQCODEC); freeze later with: vqcodec freeze $out/$name.safetensors $out/$name-codec.safetensors --weight-bits $weight_bits"
fi
