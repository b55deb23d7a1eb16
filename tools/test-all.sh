#!/usr/bin/env bash
# Every test of the project, Rust and Python: the README's test command, and what .ci/run
# runs before its formatting, lint and docs checks.
#
#   tools/test-all.sh
#
# Needs the Rust toolchain and python3 (3.9 or later). It makes its own virtual environment in
# target/venv from the pinned tools/requirements-test.txt and installs the `verdict` package
# (crates/python) into it with pip; the services the tests need (PostgreSQL, an S3 server) are
# started by the scripts it calls, and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

# == PostgreSQL for the batch tests (tools/postgres.sh): a throwaway server on loopback,
# stopped on exit; the tests find it through VERDICT_TEST_POSTGRES_URL.
echo "== PostgreSQL test server"
tools/postgres.sh start >/dev/null
trap 'tools/azurite.sh stop; tools/s3.sh stop; tools/postgres.sh stop' EXIT
eval "$(tools/postgres.sh env)"
# == end of PostgreSQL

# == S3 for the object storage tests (tools/s3.sh): moto's server on loopback, from its own
# pinned venv (target/s3-venv), stopped on exit; the tests find it through VERDICT_TEST_S3_*.
# Without PyPI the venv cannot be made: that skips the tests loudly, and fails under CI.
echo "== S3 test server (moto)"
s3_up=0
if tools/s3.sh start >/dev/null; then
    s3_up=1
    eval "$(tools/s3.sh env)"
elif [ -n "${CI:-}" ]; then
    echo "FAILED: the S3 test server did not start (tools/s3.sh start, above); CI runs the object storage tests" >&2
    exit 1
else
    echo "!!!!!!!! SKIPPED: no S3 test server (tools/s3.sh start failed, above): the object storage tests will not run !!!!!!!!" >&2
fi
# == end of S3

# == Azure Blob Storage for the same tests (tools/azurite.sh): Azurite on loopback, installed
# with npm into target/azurite, stopped on exit; the tests find it through
# VERDICT_TEST_AZURE_ENDPOINT. Without Node.js or the npm registry it cannot start: that skips
# the Azure tests loudly, and fails under CI.
echo "== Azure Blob Storage test server (Azurite)"
if tools/azurite.sh start >/dev/null; then
    eval "$(tools/azurite.sh env)"
elif [ -n "${CI:-}" ]; then
    echo "FAILED: the Azure test server did not start (tools/azurite.sh start, above); CI runs the Azure tests" >&2
    exit 1
else
    echo "!!!!!!!! SKIPPED: no Azure test server (tools/azurite.sh start failed, above): the Azure tests will not run !!!!!!!!" >&2
fi
# == end of Azure

echo "== cargo test --workspace"
cargo test --workspace

# On a CPU with AVX-512 the tree engine walks blocks binned; the scalar walk that other CPUs
# take must stay exact as well.
echo "== the tree engine's scalar walk (VERDICT_NO_AVX512=1)"
VERDICT_NO_AVX512=1 cargo test -p verdict-model --test engine --test xgboost_parity \
    --test lightgbm_parity --test sklearn_parity

# == object storage end to end: the `verdict` binary that cargo test built, against the S3
# server, Azurite and a web server the tests run themselves.
if [ "$s3_up" = 1 ]; then
    echo "== object storage (pytest crates/cli/tests/object_storage, in target/s3-venv)"
    VERDICT_BIN="${CARGO_TARGET_DIR:-$PWD/target}/debug/verdict" \
        "$VERDICT_TEST_S3_PYTHON" -m pytest crates/cli/tests/object_storage -q -p no:cacheprovider
fi
# == end of object storage

# --- Spark (verdict.spark): pyspark 4 needs Java 17+; say so plainly rather than fail in a JVM.
tools/check-java.sh
# --- end Spark

# ---- serving clients (tools/clients, grpc branch): the real tritonclient.http and
# tritonclient.grpc, MLflow-style requests, against `verdict serve --grpc-port` on loopback.
echo "== serving clients (tools/clients/run.sh)"
tools/clients/run.sh
# ---- end of serving clients

echo "== Python tests (pytest, in target/venv, with the verdict package installed by pip)"
tools/python-env.sh
status=0
target/venv/bin/python -m pytest crates/python/tests -q -p no:cacheprovider || status=$?
# pytest exits 5 when it collected no test: that is a failure here, never a pass.
exit "$status"
