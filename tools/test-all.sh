#!/usr/bin/env bash
# Every test of the project, Rust and Python: the README's test command, and what .ci/run
# runs before its formatting, lint and docs checks.
#
#   tools/test-all.sh
#
# Needs the Rust toolchain and python3 (3.9 or later). It makes its own virtual environment in
# target/venv from the pinned tools/requirements-test.txt and installs the `verdict` package
# (crates/python) into it with pip; the services the tests need are started by the scripts it calls, and stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

# == PostgreSQL for the batch tests (tools/postgres.sh): a throwaway server on loopback,
# stopped on exit; the tests find it through VERDICT_TEST_POSTGRES_URL.
echo "== PostgreSQL test server"
tools/postgres.sh start >/dev/null
trap 'tools/postgres.sh stop' EXIT
eval "$(tools/postgres.sh env)"
# == end of PostgreSQL

echo "== cargo test --workspace"
cargo test --workspace

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
