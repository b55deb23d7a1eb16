#!/usr/bin/env bash
# A/B of two `verdict` binaries on the model engine: `verdict bench` on each model with each
# binary, alternating, one thread, so that a change to the engine shows on a shared machine
# without a second one. Prints, per model and binary, the best rows/s over the rounds and the
# median single-row latency of that round.
#
#   benches/engine_ab.sh OLD_VERDICT NEW_VERDICT MODEL... [-- ROWS ROUNDS]
#
# Models are any file `verdict bench` loads (an XGBoost JSON, a LightGBM text model, ...);
# benches/compare/run.sh leaves its trained models in target/compare. Rows are random
# (`verdict bench --rows`), 100,000 and 5 rounds by default. Results and the exact command go
# in docs/benchmarks.md.
set -euo pipefail

OLD=${1:?the old verdict binary}
NEW=${2:?the new verdict binary}
shift 2
MODELS=()
while [[ $# -gt 0 && $1 != "--" ]]; do
  MODELS+=("$1")
  shift
done
[[ ${#MODELS[@]} -gt 0 ]] || { echo "name at least one model" >&2; exit 2; }
[[ ${1:-} == "--" ]] && shift
ROWS=${1:-100000}
ROUNDS=${2:-5}

# One `verdict bench` run: "ROWS_PER_SECOND SINGLE_ROW_US".
bench() {
  "$1" bench --model "$2" --rows "$ROWS" --threads 1 --repeat 2 --json |
    sed -E 's/.*"rows_per_second":([0-9.]+).*"single_row_median_us":([0-9.]+).*/\1 \2/'
}

for model in "${MODELS[@]}"; do
  declare -A best=() latency=()
  for _ in $(seq "$ROUNDS"); do
    for binary in "$OLD" "$NEW"; do
      read -r rate us < <(bench "$binary" "$model")
      if [[ -z ${best[$binary]:-} ]] || awk -v a="$rate" -v b="${best[$binary]}" 'BEGIN { exit !(a > b) }'; then
        best[$binary]=$rate
        latency[$binary]=$us
      fi
    done
  done
  for binary in "$OLD" "$NEW"; do
    printf '%-28s %-24s %10.0f rows/s %7.2f us/row alone\n' "$(basename "$model")" "$binary" \
      "${best[$binary]}" "${latency[$binary]}"
  done
  unset best latency
done
