#!/usr/bin/env bash
# Fuzzing the .vqc, PNG and model-file readers with libFuzzer (Fixtures/fuzz/README.md).
#
#   Tools/fuzz.sh libpng TARBALL        build an instrumented static libpng from its source tarball
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
# micro model that seeds the model files 10 KB (Tools/make_fuzz_model.sh).
max_len() {
    case $1 in
        vqc) echo 4096 ;;
        png) echo 16384 ;;
        safetensors) echo 16384 ;;
        *) echo "unknown target $1 (vqc, png, safetensors)" >&2; exit 64 ;;
    esac
}

build() {
    # libFuzzer's runtime comes with the toolchain's clang; lld links the instrumented objects.
    # With $FUZZ_LIBPNG set to the install prefix of a static-only libpng built with
    # -fsanitize=fuzzer-no-link,address (`Tools/fuzz.sh libpng`), pkg-config finds that libpng
    # instead of the system's, so coverage and ASan reach inside libpng too.
    if [ -n "${FUZZ_LIBPNG:-}" ]; then
        [ -f "$FUZZ_LIBPNG/lib/libpng16.a" ] || { echo "no lib/libpng16.a under $FUZZ_LIBPNG" >&2; exit 66; }
        export PKG_CONFIG_PATH=$FUZZ_LIBPNG/lib/pkgconfig
    fi
    # Relink even when no source changed (the libpng may have).
    rm -f "$binary"
    swift build -c release --scratch-path "$scratch" --product vqcodec-fuzz \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -DVQC_FUZZ -Xswiftc -parse-as-library \
        -Xswiftc -use-ld=lld
}

# A static libpng compiled with coverage and ASan, in .build-fuzz/libpng: without it the fuzzer
# sees only the Swift side of the PNG reader (libpng is a black box). TARBALL: libpng's upstream
# source of the installed version (`apt-get source --download-only libpng1.6` fetches it).
libpng() {
    local tarball=$1 prefix=$root/$scratch/libpng
    local source
    source=$(mktemp -d)
    tar xzf "$tarball" -C "$source" --strip-components=1
    (cd "$source" && CC=clang CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address" \
        ./configure --disable-shared --enable-static --prefix="$prefix" >/dev/null && make -j2 >/dev/null && make install >/dev/null)
    rm -rf "$source"
    echo "built $prefix; now: FUZZ_LIBPNG=$prefix $0 build"
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
    # -set_cover_merge=1 keeps a small set of inputs that covers every feature either folder
    # covers; -use_counters=0 makes the features the edges alone, not how often each ran, which
    # keeps about a third of the files. The reproducers of past findings stay whatever their
    # coverage: they are the regression tests.
    VQC_FUZZ_TARGET=$target "$binary" -set_cover_merge=1 -use_counters=0 -max_len="$(max_len "$target")" -rss_limit_mb=2048 \
        -malloc_limit_mb=2048 -timeout=10 "$fresh" "Fixtures/fuzz/$target" "$work/$target/corpus"
    find "Fixtures/fuzz/$target" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' \
        -o -name 'slow-unit-*' \) -exec cp {} "$fresh/" \;
    rm -rf "Fixtures/fuzz/$target"
    mv "$fresh" "Fixtures/fuzz/$target"
    chmod 755 "Fixtures/fuzz/$target"
    echo "Fixtures/fuzz/$target: $(ls "Fixtures/fuzz/$target" | wc -l) files, $(du -sh --apparent-size "Fixtures/fuzz/$target" | cut -f1)"
}

case ${1:-} in
    build) build ;;
    libpng) [ $# -eq 2 ] || { echo "usage: $0 libpng TARBALL" >&2; exit 64; }; libpng "$2" ;;
    run) [ $# -eq 3 ] || { echo "usage: $0 run TARGET SECONDS" >&2; exit 64; }; run "$2" "$3" ;;
    merge) [ $# -eq 2 ] || { echo "usage: $0 merge TARGET" >&2; exit 64; }; merge "$2" ;;
    all)
        [ $# -eq 2 ] || { echo "usage: $0 all SECONDS" >&2; exit 64; }
        for target in vqc png safetensors; do run "$target" "$2"; merge "$target"; done ;;
    *) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64 ;;
esac
