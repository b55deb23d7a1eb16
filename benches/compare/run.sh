#!/usr/bin/env bash
# Trains the same models with XGBoost and LightGBM, scores the same rows with each library's
# own predictor and with Verdict, checks that every engine agrees, and prints a table of
# rows/s. See docs/benchmarks.md for results and `compare.py --help` for the options.
#
#   benches/compare/run.sh                 # 200k rows, every configuration
#   benches/compare/run.sh --rows 1000000  # the full size
#   benches/compare/run.sh --quick         # 50k rows, depth 8 only: a smoke test
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${VERDICT_COMPARE_VENV:-$root/target/compare-venv}"
work="${VERDICT_COMPARE_DIR:-$root/target/compare}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  if ! "$venv/bin/pip" install --quiet -r "$here/requirements.txt"; then
    echo "SKIPPED: cannot install the pinned Python packages (is PyPI reachable?)" >&2
    exit 0
  fi
fi
cargo build --release --quiet -p verdict-cli --manifest-path "$root/Cargo.toml"
mkdir -p "$work"
# Current numpy runs slower with these set (see the workplace notes); unset for fairness.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
exec "$venv/bin/python" "$here/compare.py" --verdict "$root/target/release/verdict" --work "$work" "$@"
