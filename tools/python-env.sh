#!/usr/bin/env bash
# Makes (or brings up to date) the virtual environment the Python tests run in: target/venv,
# with the pinned packages of tools/requirements-test.txt and the `verdict` package built
# from crates/python (release, by maturin, into the workspace's target directory, so a
# rebuild after a change is incremental).
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
# `pip install ./crates/python`, as a user installs it; maturin comes from the pins above
# rather than a fresh download per build.
PATH="$PWD/$venv/bin:$PATH" "$venv/bin/pip" install --quiet --disable-pip-version-check \
  --no-build-isolation --no-deps --force-reinstall ./crates/python
