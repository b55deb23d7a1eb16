#!/usr/bin/env bash
# HTTP load benchmark of `verdict serve` on loopback with wrk: requests per second and
# p50/p99 latency for single-row `POST /predict` and v2 `POST .../infer` (JSON), at 1, 8 and
# 64 connections. Bounded: DURATION seconds per point (default 10), 6 points.
#
#   benches/http_load.sh                      # release build of the CLI, iris-like model
#   MODEL=path/to/model DURATION=5 benches/http_load.sh
#   SERVE_ARGS="--offload-rows 1" benches/http_load.sh   # extra `verdict serve` flags
#   ROUTES=predict CONNECTIONS=64 SERVE_ARGS="--batch" benches/http_load.sh
#                                             # /predict only, 64 connections, batching on
#
# Needs wrk (`apt-get install wrk`). The server runs with RUST_LOG=warn: the access log is
# off, as it would be behind a load balancer that logs. wrk and the server share the
# machine's cores, so figures are a floor, not a ceiling.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
DURATION="${DURATION:-10}"
THREADS="${THREADS:-1}"
ROUTES="${ROUTES:-predict infer}"
CONNECTIONS="${CONNECTIONS:-1 8 64}"
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)"; exit 1; }

if [ -z "${VERDICT_BIN:-}" ]; then
  cargo build --quiet --release -p verdict-cli --manifest-path "$ROOT/Cargo.toml"
  VERDICT_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/verdict"
fi

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${MODEL:-}" ]; then
  # A four-feature softmax classifier with text labels, written by the client checks.
  python3 "$ROOT/tools/clients/test_tritonclient.py" write "$WORK/models"
  MODEL="$WORK/models/iris.vdm"
fi
NAME=$(basename "$MODEL"); NAME="${NAME%%.*}"
FEATURES=$("$VERDICT_BIN" inspect --json "$MODEL" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["signature"]["features"]))')
ROW=$(python3 -c "import sys; n=int(sys.argv[1]); print(','.join(str(round(0.37 * (i % 7) + 0.5, 2)) for i in range(n)))" "$FEATURES")

RUST_LOG=warn "$VERDICT_BIN" serve --model "$MODEL" --port 0 ${SERVE_ARGS:-} >"$WORK/stdout" 2>"$WORK/stderr" &
SERVER_PID=$!
ADDR=""
for _ in $(seq 1 100); do
  ADDR=$(sed -n 's|^verdict serving on http://\(.*\)/$|\1|p' "$WORK/stdout" | head -n1)
  [ -n "$ADDR" ] && break
  sleep 0.1
done
[ -n "$ADDR" ] || { echo "the server did not start"; cat "$WORK/stderr"; exit 1; }

script() { # $1 = file, $2 = body
  cat >"$1" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$2'
LUA
}
script "$WORK/predict.lua" "{\"input\": [$ROW]}"
script "$WORK/infer.lua" "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, $FEATURES], \"datatype\": \"FP64\", \"data\": [$ROW]}], \"outputs\": [{\"name\": \"predict\"}]}"

# Each body must be answered 200 before it is measured.
for route in "predict:/predict" "infer:/v2/models/$NAME/infer"; do
  body=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$WORK/${route%%:*}.lua")
  code=$(curl -s -o "$WORK/answer" -w '%{http_code}' -X POST "http://$ADDR${route#*:}" -d "$body")
  [ "$code" = 200 ] || { echo "${route#*:} answered $code: $(cat "$WORK/answer")"; exit 1; }
done

echo "model: $MODEL ($FEATURES features); server: $("$VERDICT_BIN" --version); $(nproc) cores; wrk -t$THREADS -d${DURATION}s"
echo
echo "| route | connections | req/s | p50 | p99 | errors |"
echo "|---|---:|---:|---:|---:|---:|"
for route in "predict:/predict" "infer:/v2/models/$NAME/infer"; do
  case " $ROUTES " in *" ${route%%:*} "*) ;; *) continue ;; esac
  for connections in $CONNECTIONS; do
    wrk -t"$THREADS" -c"$connections" -d"${DURATION}s" --latency -s "$WORK/${route%%:*}.lua" \
      "http://$ADDR${route#*:}" >"$WORK/wrk.txt"
    rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$WORK/wrk.txt")
    p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")
    errors=$(awk '/Non-2xx or 3xx responses:/ {n += $NF} /Socket errors:/ {n += 1} END {print n + 0}' "$WORK/wrk.txt")
    echo "| POST ${route#*:} | $connections | $rps | $p50 | $p99 | $errors |"
  done
done

# Model time, from the server's own histogram: compute seconds per prediction.
curl -s "http://$ADDR/metrics" | awk '
  /^verdict_compute_duration_seconds_sum/ {sum += $2}
  /^verdict_compute_duration_seconds_count/ {count += $2}
  END {if (count) printf "\nmean model time per request: %.2f us over %d predictions\n", sum / count * 1e6, count}'
# With --batch: how many rows the batches held, and how many requests the queue refused.
curl -s "http://$ADDR/metrics" | awk '
  /^verdict_batch_rows_sum/ {sum += $2}
  /^verdict_batch_rows_count/ {count += $2}
  /^verdict_batch_rejections_total/ {rejected += $2}
  END {if (count) printf "mean rows per batch: %.2f over %d batches; %d requests refused\n", sum / count, count, rejected}'
