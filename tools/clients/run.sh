#!/usr/bin/env bash
# Checks `verdict serve` with the real clients, unchanged, on loopback ports: tritonclient.http
# (binary and JSON tensors), requests (MLflow and simple protocols, /openapi.json validated)
# tritonclient.grpc (the Open Inference Protocol over gRPC, on --grpc-port) and KServe's
# InferenceRESTClient (its v1 and v2 protocols).
#
#   tools/clients/run.sh            # builds the CLI (debug) unless VERDICT_BIN is set
#
# The clients live in pinned venvs of their own (target/clients-venv, and target/kserve-venv
# for kserve, whose dependencies pin another numpy): not the one of the other Python tests. When PyPI cannot be reached to build it, the script says
# SKIPPED and exits 0, except under CI (CI set), where that is a failure.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE="$ROOT/tools/clients"
VENV="${VENV:-$ROOT/target/clients-venv}"
PYTHON="${PYTHON:-python3}"
PINS=("tritonclient[http,grpc]==2.73.0" "grpcio==1.85.3" "protobuf==6.33.6" "numpy==2.2.6"
  "requests==2.32.3" "openapi-spec-validator==0.9.0")

if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c "import tritonclient.http, tritonclient.grpc, numpy, requests, openapi_spec_validator" 2>/dev/null; then
  if ! "$VENV/bin/pip" install --quiet --disable-pip-version-check "${PINS[@]}"; then
    if [ -n "${CI:-}" ]; then
      echo "FAILED: cannot install ${PINS[*]} from PyPI"; exit 1
    fi
    echo "SKIPPED: cannot install ${PINS[*]} from PyPI; the client checks did not run"
    exit 0
  fi
fi

KSERVE_VENV="${KSERVE_VENV:-$ROOT/target/kserve-venv}"
KSERVE_PINS=("kserve==0.21.0" "numpy==2.4.6")
if [ ! -x "$KSERVE_VENV/bin/python" ]; then
  "$PYTHON" -m venv "$KSERVE_VENV"
fi
if ! "$KSERVE_VENV/bin/python" -c "import kserve, numpy" 2>/dev/null; then
  if ! "$KSERVE_VENV/bin/pip" install --quiet --disable-pip-version-check "${KSERVE_PINS[@]}"; then
    if [ -n "${CI:-}" ]; then
      echo "FAILED: cannot install ${KSERVE_PINS[*]} from PyPI"; exit 1
    fi
    echo "SKIPPED: cannot install ${KSERVE_PINS[*]} from PyPI; the client checks did not run"
    exit 0
  fi
fi

if [ -z "${VERDICT_BIN:-}" ]; then
  cargo build --quiet -p verdict-cli --manifest-path "$ROOT/Cargo.toml"
  VERDICT_BIN="${CARGO_TARGET_DIR:-$ROOT/target}/debug/verdict"
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

"$VENV/bin/python" "$HERE/test_tritonclient.py" write "$WORK/models"
# Port 0: the server picks a free port and prints it.
RUST_LOG=warn "$VERDICT_BIN" serve --model-dir "$WORK/models" --port 0 --grpc-port 0 --default-model iris \
  >"$WORK/stdout" 2>"$WORK/stderr" &
SERVER_PID=$!
ADDR=""
GRPC_ADDR=""
for _ in $(seq 1 100); do
  ADDR=$(sed -n 's|^verdict serving on http://\(.*\)/$|\1|p' "$WORK/stdout" | head -n1)
  GRPC_ADDR=$(sed -n 's|^verdict serving gRPC .* on \(.*\)$|\1|p' "$WORK/stdout" | head -n1)
  [ -n "$ADDR" ] && [ -n "$GRPC_ADDR" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$ADDR" ] || [ -z "$GRPC_ADDR" ]; then
  echo "the server did not start:"; cat "$WORK/stdout" "$WORK/stderr"; exit 1
fi
cat "$WORK/stdout"

"$VENV/bin/python" "$HERE/test_tritonclient.py" check "$ADDR"
"$VENV/bin/python" "$HERE/test_tritonclient_grpc.py" "$GRPC_ADDR"
"$KSERVE_VENV/bin/python" "$HERE/test_kserve.py" "$ADDR"

# SIGTERM drains and exits cleanly.
kill -TERM "$SERVER_PID"
if wait "$SERVER_PID"; then
  echo "ok: the server stopped cleanly on SIGTERM"
else
  echo "FAILED: the server exited with status $? on SIGTERM"; cat "$WORK/stderr"; exit 1
fi
SERVER_PID=""
