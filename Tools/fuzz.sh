#!/usr/bin/env bash
# Fuzzing the .vqc, PNG and model-file readers with libFuzzer (Fixtures/fuzz/README.md).
#
#   Tools/fuzz.sh build                 build .build-fuzz/release/vqcodec-fuzz (ASan + libFuzzer)
#   Tools/fuzz.sh run TARGET SECONDS    fuzz TARGET (vqc, png, safetensors), corpus seeded from Fixtures/fuzz/TARGET
#   Tools/fuzz.sh merge TARGET          minimise the run's corpus into Fixtures/fuzz/TARGET
#   Tools/fuzz.sh all SECONDS           run and merge each target in turn, SECONDS each
#
# Work files (the growing corpus, crash reproducers, logs) go to $FUZZ_WORK (default
# .build-fuzz/work); only `merge` writes into the repository. The normal `swift build` and
# `swift test` never build this executable with the fuzzer: the libFuzzer entry point exists only
# under -DVQC_FUZZ, which this script alone passes.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
scratch=.build-fuzz
work=${FUZZ_WORK:-$root/$scratch/work}
binary=$root/$scratch/release/vqcodec-fuzz

# Largest input per target: golden .vqc files are under 1 KB, fixture PNGs under 10 KB, the
# tiny model 90 KB (a model file needs room for its tensors).
max_len() {
    case $1 in
        vqc) echo 4096 ;;
        png) echo 16384 ;;
        safetensors) echo 131072 ;;
        *) echo "unknown target $1 (vqc, png, safetensors)" >&2; exit 64 ;;
    esac
}

build() {
    # libFuzzer's runtime comes with the toolchain's clang; lld links the instrumented objects.
    swift build -c release --scratch-path "$scratch" --product vqcodec-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -DVQC_FUZZ -Xswiftc -parse-as-library \
        -Xswiftc -use-ld=lld
}

run() {
    local target=$1 seconds=$2
    max_len "$target" >/dev/null
    [ -x "$binary" ] || build
    mkdir -p "$work/$target/corpus" "$work/$target/artifacts"
    # A copy, so that `build` can replace the binary while a run is going.
    local fuzzer=$work/$target/vqcodec-fuzz
    cp "$binary" "$fuzzer"
    # -rss_limit_mb and -malloc_limit_mb make a large allocation a finding; -timeout a slow input.
    VQC_FUZZ_TARGET=$target "$fuzzer" "$work/$target/corpus" "Fixtures/fuzz/$target" \
        -max_len="$(max_len "$target")" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
        -max_total_time="$seconds" -print_final_stats=1 \
        -artifact_prefix="$work/$target/artifacts/" 2>&1 | tee "$work/$target/run-$(date -u +%Y%m%dT%H%M%S).log"
}

merge() {
    local target=$1
    max_len "$target" >/dev/null
    [ -x "$binary" ] || build
    local fresh
    fresh=$(mktemp -d)
    # -merge=1 keeps the smallest set of inputs that covers everything either folder covers.
    VQC_FUZZ_TARGET=$target "$binary" -merge=1 -max_len="$(max_len "$target")" -rss_limit_mb=2048 \
        -malloc_limit_mb=2048 -timeout=10 "$fresh" "Fixtures/fuzz/$target" "$work/$target/corpus"
    rm -rf "Fixtures/fuzz/$target"
    mv "$fresh" "Fixtures/fuzz/$target"
    chmod 755 "Fixtures/fuzz/$target"
    echo "Fixtures/fuzz/$target: $(ls "Fixtures/fuzz/$target" | wc -l) files, $(du -sh "Fixtures/fuzz/$target" | cut -f1)"
}

case ${1:-} in
    build) build ;;
    run) [ $# -eq 3 ] || { echo "usage: $0 run TARGET SECONDS" >&2; exit 64; }; run "$2" "$3" ;;
    merge) [ $# -eq 2 ] || { echo "usage: $0 merge TARGET" >&2; exit 64; }; merge "$2" ;;
    all)
        [ $# -eq 2 ] || { echo "usage: $0 all SECONDS" >&2; exit 64; }
        for target in vqc png safetensors; do run "$target" "$2"; merge "$target"; done ;;
    *) sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
esac
