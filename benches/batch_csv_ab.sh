#!/usr/bin/env bash
# A/B of two `verdict` binaries on the CSV parse: the same input scored by each, alternating,
# on one thread, so that a change to the parse shows without a second machine.
#
#   benches/batch_csv_ab.sh OLD_VERDICT NEW_VERDICT [ROWS] [REPS]
#
# The input is generated (deterministically) under $BENCH_DATA (default target/bench-data-ab):
# ROWS rows x 50 features with 1% missing, scored by a 10-tree ensemble so that the parse is
# most of the time, and a copy whose fields all start with a blank, so that every feature
# field takes the parse's general path rather than its fast path for plain numbers. Prints
# the fastest and the median wall time of each binary on each file, and checks that both
# wrote the same bytes. Results and the exact command go in docs/benchmarks.md, "Batch".
set -euo pipefail
cd "$(dirname "$0")/.."

OLD=${1:?the old verdict binary}
NEW=${2:?the new verdict binary}
ROWS=${3:-300000}
REPS=${4:-9}
DATA=${BENCH_DATA:-target/bench-data-ab}
TARGET=${CARGO_TARGET_DIR:-target}

cargo build --quiet --release --no-default-features --example synthetic_ensemble
mkdir -p "$DATA"
PLAIN="$DATA/rows_${ROWS}x50.csv"
PADDED="$DATA/padded_${ROWS}x50.csv"
if [[ ! -f "$PLAIN" || ! -f "$DATA/ensemble.vdm" ]]; then
  "$TARGET/release/examples/synthetic_ensemble" "$DATA" "$ROWS" 50 10 >/dev/null
fi
[[ -f "$PADDED" ]] || sed '2,$ s/,/, /g' "$PLAIN" >"$PADDED"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"

for csv in "$PLAIN" "$PADDED"; do
  times_old=() times_new=()
  for _ in $(seq "$REPS"); do
    for side in old new; do
      if [[ $side == old ]]; then exe=$OLD; else exe=$NEW; fi
      t=$( { /usr/bin/time -f %e "$exe" predict --model "$DATA/ensemble.vdm" --input "$csv" \
        --output "$DATA/out_$side.parquet" --if-exists replace --passthrough id --threads 1 \
        >/dev/null; } 2>&1 | tail -1)
      if [[ $side == old ]]; then times_old+=("$t"); else times_new+=("$t"); fi
    done
  done
  cmp -s "$DATA/out_old.parquet" "$DATA/out_new.parquet" || echo "warning: the outputs differ"
  for side in old new; do
    if [[ $side == old ]]; then list=("${times_old[@]}"); else list=("${times_new[@]}"); fi
    printf '%s\n' "${list[@]}" | sort -n | awk -v f="$(basename "$csv")" -v s="$side" \
      '{t[NR]=$1} END {printf "%-28s %-3s fastest %.2f s, median %.2f s (%d runs)\n", f, s, t[1], t[int((NR+1)/2)], NR}'
  done
done
