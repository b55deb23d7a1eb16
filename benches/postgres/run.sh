#!/usr/bin/env bash
# PostgreSQL in, PostgreSQL out: ROWS x FEATURES rows (default 1,000,000 x 50) read from a
# table, scored by a 300-tree XGBoost classifier and written to a new table, by
# `verdict predict` and by pandas (`read_sql` + `predict_proba` + `to_sql`, SQLAlchemy and
# psycopg 3) on the same server, each under `/usr/bin/time -v` for its peak RSS.
#
#   benches/postgres/run.sh [ROWS] [FEATURES] [TREES]
#
# The server is VERDICT_BENCH_POSTGRES_URL, or a throwaway one from tools/postgres.sh. The
# pandas side runs in a venv of the pinned benches/postgres/requirements.txt
# ($BENCH_VENV, default /work/venvs/pg-bench). The model goes to target/bench-data.
# Results and the exact command go in docs/benchmarks.md, section "Batch: PostgreSQL".
set -euo pipefail
cd "$(dirname "$0")/../.."

ROWS=${1:-1000000}
FEATURES=${2:-50}
TREES=${3:-300}
DATA=${BENCH_DATA:-target/bench-data}
TARGET=${CARGO_TARGET_DIR:-target}
VENV=${BENCH_VENV:-/work/venvs/pg-bench}
mkdir -p "$DATA"

if [[ -n "${VERDICT_BENCH_POSTGRES_URL:-}" ]]; then
  URL=$VERDICT_BENCH_POSTGRES_URL
else
  URL=$(tools/postgres.sh start)
  trap 'tools/postgres.sh stop' EXIT
fi

if [[ ! -x "$VENV/bin/python" ]]; then
  (cd /tmp && "${PYTHON:-python3}" -m venv "$VENV")
fi
"$VENV/bin/python" -m pip install -q -r benches/postgres/requirements.txt

cargo build --quiet --release -p verdict-cli
VERDICT="$TARGET/release/verdict"
MODEL="$DATA/pg_bench_xgb.json"

"$VENV/bin/python" benches/postgres/prepare.py "$URL" "$MODEL" "$ROWS" "$FEATURES" "$TREES"
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB"

peak() {
  awk -F': ' '/Maximum resident set size/ {printf "%.0f MiB", $2 / 1024}' "$1"
}

run_verdict() {
  local log
  log=$(mktemp)
  /usr/bin/time -v "$VERDICT" predict --model "$MODEL" --input "$URL" --input-table bench_rows \
    --passthrough id --output "$URL" --table verdict_scores --if-exists replace "$@" \
    >"$log.out" 2>"$log"
  printf 'verdict %-20s %s | peak RSS %s\n' "$*" "$(cat "$log.out")" "$(peak "$log")"
  rm -f "$log" "$log.out"
}

run_pandas() {
  local log
  log=$(mktemp)
  /usr/bin/time -v "$VENV/bin/python" benches/postgres/pandas_job.py "$URL" "$MODEL" >"$log.out" 2>"$log"
  printf '%s | peak RSS %s\n' "$(cat "$log.out")" "$(peak "$log")"
  rm -f "$log" "$log.out"
}

# Both sides twice, interleaved, so that a noisy neighbour hits both.
for _ in 1 2; do
  run_verdict
  run_pandas
done
run_verdict --chunk-rows 16384
