#!/usr/bin/env bash
# `verdict serve` against the classic Python servers on the same model, machine and load:
# single-row POST /predict {"input": [30 values]} with wrk at 1, 8 and 64 connections.
#
#   benches/compare/http_python.sh            # DURATION=10 seconds per point
#
# The model is examples/models/breast_cancer_xgb.json: Verdict serves the file; the Python
# servers load the same booster as a pickled XGBClassifier (joblib), as a Flask app would.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${VERDICT_COMPARE_VENV:-$root/target/compare-venv}"
DURATION="${DURATION:-10}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
if ! "$venv/bin/pip" install --quiet -r "$here/requirements.txt" -r "$here/requirements-http.txt"; then
  echo "SKIPPED: cannot install the pinned Python packages (is PyPI reachable?)" >&2
  exit 0
fi
cargo build --release --quiet -p verdict-cli --manifest-path "$root/Cargo.toml"
verdict="${CARGO_TARGET_DIR:-$root/target}/release/verdict"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

model="$root/examples/models/breast_cancer_xgb.json"
"$venv/bin/python" - "$model" "$work/model.pkl" <<'PY'
import sys, joblib, xgboost as xgb
clf = xgb.XGBClassifier()
clf.load_model(sys.argv[1])
joblib.dump(clf, sys.argv[2])
PY
row=$(head -2 "$root/examples/data/breast_cancer.csv" | tail -1 | cut -d, -f2-31)
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"input": [$row]}'
LUA

wait_for() { # port
  for _ in $(seq 1 200); do
    curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "{\"input\": [$row]}" "http://127.0.0.1:$1/predict" && return 0
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2; return 1
}

RUST_LOG=warn "$verdict" serve --model "$model" --port 18081 >/dev/null 2>&1 & pids+=($!)
(cd "$here" && VERDICT_MODEL_PKL="$work/model.pkl" "$venv/bin/python" python_servers.py 18082 >/dev/null 2>&1) & pids+=($!)
(cd "$here" && VERDICT_MODEL_PKL="$work/model.pkl" "$venv/bin/uvicorn" python_servers:app --port 18083 --workers 2 --log-level warning >/dev/null 2>&1) & pids+=($!)
for port in 18081 18082 18083; do wait_for "$port"; done

printf '%-22s %5s %10s %10s %10s\n' server conns req/s p50 p99
for conns in 1 8 64; do
  for entry in "verdict serve:18081" "flask (threaded):18082" "fastapi+uvicorn x2:18083"; do
    name="${entry%%:*}"; port="${entry##*:}"
    out=$(wrk -t1 -c"$conns" -d"${DURATION}s" --latency -s "$work/post.lua" "http://127.0.0.1:$port/predict" 2>&1)
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    p50=$(echo "$out" | awk '$1=="50%" {print $2}')
    p99=$(echo "$out" | awk '$1=="99%" {print $2}')
    errors=$(echo "$out" | awk '/Non-2xx/ {print $4}')
    printf '%-22s %5s %10s %10s %10s %s\n' "$name" "$conns" "$rps" "$p50" "$p99" "${errors:+non-2xx: $errors}"
  done
done
