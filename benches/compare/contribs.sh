#!/usr/bin/env bash
# Verdict's contributions (TreeSHAP) against XGBoost's pred_contribs and LightGBM's
# pred_contrib on the same models and rows; see contribs.py and docs/benchmarks.md.
#
#   benches/compare/contribs.sh                            # 100,000 rows, depths 6 and 8, 1 and 2 threads
#   benches/compare/contribs.sh --rows 20000 --repeat 1    # shorter
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${VERDICT_COMPARE_VENV:-$root/target/compare-venv}"
work="${VERDICT_COMPARE_DIR:-$root/target/compare}"
target="${CARGO_TARGET_DIR:-$root/target}"

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
exec "$venv/bin/python" "$here/contribs.py" --verdict "$target/release/verdict" --work "$work" "$@"
