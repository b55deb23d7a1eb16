#!/usr/bin/env bash
# Makes (or brings up to date) the virtual environment the Python tests run in: target/venv,
# with the pinned packages of tools/requirements-test.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
stamp="$venv/.requirements-test.txt"
if ! cmp -s tools/requirements-test.txt "$stamp"; then
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tools/requirements-test.txt
  cp tools/requirements-test.txt "$stamp"
fi
