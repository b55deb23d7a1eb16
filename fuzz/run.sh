#!/usr/bin/env bash
# Runs one fuzz target, or all of them one after another, for a bounded time each.
#
#   fuzz/run.sh TARGET|all SECONDS [libFuzzer options...]
#   fuzz/run.sh build                 only build the targets (CI does this first)
#   fuzz/run.sh list                  name the targets
#
# Installs the pinned cargo-fuzz when it is missing, lays out the seed corpora (seed.sh)
# and builds the targets. The toolchain is stable: RUSTC_BOOTSTRAP=1 lets it take the
# nightly flags cargo-fuzz passes (-Z sanitizer=address and friends); see README.md.
# A run that finds a crash exits non-zero and leaves the input in fuzz/artifacts/TARGET/.
set -euo pipefail
cd "$(dirname "$0")"

CARGO_FUZZ_VERSION=0.13.2
export RUSTC_BOOTSTRAP=1
# One thread for polars and rayon: libFuzzer runs inputs one at a time, the machine is
# shared, and a finding must not depend on how work was split among threads.
export POLARS_MAX_THREADS=1 RAYON_NUM_THREADS=1
# 16 codegen units rather than cargo-fuzz's 1 in release: the build (polars, actix, tonic,
# all instrumented) takes about half as long, for slightly slower executions.
# FUZZ_WITHOUT_CSV=1 builds every target but csv_block, without polars (CI does: that
# target's instrumented polars build is most of the time, and its findings are open).
BUILD_FLAGS=(--codegen-units 16 ${FUZZ_WITHOUT_CSV:+--no-default-features})

ensure_cargo_fuzz() {
    if [[ "$(cargo fuzz --version 2>/dev/null)" != "cargo-fuzz $CARGO_FUZZ_VERSION" ]]; then
        echo "== installing cargo-fuzz $CARGO_FUZZ_VERSION"
        cargo install cargo-fuzz --locked --version "$CARGO_FUZZ_VERSION"
    fi
}

targets() {
    cargo fuzz list
}

build() {
    ensure_cargo_fuzz
    cargo fuzz build "${BUILD_FLAGS[@]}"
}

case "${1:-}" in
    build)
        build
        ;;
    list)
        ensure_cargo_fuzz
        targets
        ;;
    "" | -h | --help)
        sed -n '2,11p' "$0"
        exit 2
        ;;
    *)
        which=$1
        seconds=${2:?give the seconds to run each target}
        shift 2
        build
        ./seed.sh > /dev/null
        if [[ "$which" == all ]]; then
            # FUZZ_EXCLUDE: targets (space-separated) that `all` leaves out.
            mapfile -t chosen < <(targets | grep -vxF -f <(tr ' ' '\n' <<< "${FUZZ_EXCLUDE:-}" | grep . || true))
        else
            chosen=("$which")
        fi
        for target in "${chosen[@]}"; do
            echo "== $target for ${seconds}s"
            mkdir -p "artifacts/$target"
            # -rss_limit_mb: a loader that allocates gigabytes from a length field fails here
            # (libFuzzer also fails any single allocation over this, -malloc_limit_mb).
            cargo fuzz run "${BUILD_FLAGS[@]}" "$target" -- \
                -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
                -print_final_stats=1 "$@"
        done
        ;;
esac
