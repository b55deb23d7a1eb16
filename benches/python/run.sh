#!/usr/bin/env bash
# The `verdict` Python package against the libraries' own in-process predictors, on the same
# pandas DataFrame and threads, and against `verdict bench` on the same rows (what the binding
# costs). See bench.py --help; results are in docs/benchmarks.md.
#
#   benches/python/run.sh                  # 1,000,000 x 50, 300 trees of depth 8
#   benches/python/run.sh --rows 100000    # smaller, for a quick look
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${VERDICT_PYBENCH_VENV:-$root/target/pybench-venv}"
work="${VERDICT_PYBENCH_DIR:-$root/target/pybench}"

if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements.txt"
if ! cmp -s "$here/requirements.txt" "$stamp"; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$stamp"
fi
# The package as a user installs it (maturin builds it in release), and the CLI for
# `verdict bench`.
PATH="$venv/bin:$PATH" "$venv/bin/pip" install --quiet --disable-pip-version-check \
  --no-build-isolation --no-deps --force-reinstall "$root/crates/python"
cargo build --release --quiet -p verdict-cli --manifest-path "$root/Cargo.toml"
mkdir -p "$work"
# Current numpy runs slower with these set (see the workplace notes); unset for fairness.
unset OPENBLAS_CORETYPE OPENBLAS_L2_SIZE
exec "$venv/bin/python" "$here/bench.py" --verdict "$root/target/release/verdict" --work "$work" "$@"
