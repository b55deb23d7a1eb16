#!/usr/bin/env bash
# Batch throughput and peak memory: a CSV of 1,000,000 rows x 50 features scored by a
# 300-tree ensemble (depth 6, binary classifier) into Parquet with `verdict predict`.
#
#   benches/batch_csv.sh [ROWS] [FEATURES] [TREES]
#
# The data and the model are generated (deterministically) under $BENCH_DATA
# (default target/bench-data), never committed. Each configuration runs once under
# `/usr/bin/time -v`; the script prints the summary line, rows/s and the peak RSS.
# Results and the exact command go in docs/benchmarks.md, section "Batch".
set -euo pipefail
cd "$(dirname "$0")/.."

ROWS=${1:-1000000}
FEATURES=${2:-50}
TREES=${3:-300}
DATA=${BENCH_DATA:-target/bench-data}
TARGET=${CARGO_TARGET_DIR:-target}

cargo build --quiet --release -p verdict-cli
# The generator needs only verdict-model, so build the facade without batch and serve.
cargo build --quiet --release --no-default-features --example synthetic_ensemble
VERDICT="$TARGET/release/verdict"

MODEL="$DATA/ensemble.vdm"
CSV="$DATA/rows_${ROWS}x${FEATURES}.csv"
if [[ ! -f "$CSV" || ! -f "$MODEL" ]]; then
  echo "generating $CSV and $MODEL ($TREES trees) ..."
  "$TARGET/release/examples/synthetic_ensemble" "$DATA" "$ROWS" "$FEATURES" "$TREES" >/dev/null
fi
echo "input: $(du -h "$CSV" | cut -f1) CSV, $ROWS rows x $FEATURES features; model: $TREES trees of depth 6"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"

run() {
  local label=$1; shift
  local log
  log=$(mktemp)
  /usr/bin/time -v "$VERDICT" predict --model "$MODEL" --input "$CSV" \
    --output "$DATA/scored.parquet" --if-exists replace --passthrough id "$@" \
    >"$log.out" 2>"$log"
  local summary rss
  summary=$(cat "$log.out")
  rss=$(awk -F': ' '/Maximum resident set size/ {printf "%.0f MiB", $2 / 1024}' "$log")
  printf '%-28s %s | peak RSS %s\n' "$label" "$summary" "$rss"
  rm -f "$log" "$log.out"
}

run "default (65536-row chunks)"
run "16384-row chunks" --chunk-rows 16384
run "1 thread" --threads 1
