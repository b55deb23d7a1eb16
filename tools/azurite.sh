#!/usr/bin/env bash
# A throwaway Azure Blob Storage server for the object storage tests, on a loopback port.
#
#   tools/azurite.sh start   # install the server if need be, start it, print its endpoint
#   tools/azurite.sh env     # print the exports the tests read (VERDICT_TEST_AZURE_*)
#   tools/azurite.sh stop    # stop the server
#
# The server is Azurite, Microsoft's Azure Storage emulator, pinned in tools/azurite/ (its
# package.json and package-lock.json) and installed with the machine's npm into
# target/azurite; Node.js and npm come from Debian's packages when the machine has neither.
# It keeps blobs in memory and checks every request's Shared Key signature against the
# emulator's well-known account (devstoreaccount1), so a wrong key is refused as by Azure.
# `verdict` reaches it as any Azure client reaches the emulator: AZURE_STORAGE_USE_EMULATOR=true,
# with AZURITE_BLOB_STORAGE_URL naming the port.
#
# `start` exits 1 when Node.js or npm is missing and cannot be installed, the install fails
# (npm's registry unreachable) or the server does not come up, saying why; tools/test-all.sh
# then skips the Azure tests loudly, or fails under CI.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
install_dir="$root/target/azurite"
state_dir="$install_dir/run"
state="$state_dir/state"
# shellcheck source=tools/lib/loopback-server.sh
source tools/lib/loopback-server.sh
# shellcheck source=tools/lib/debian.sh
source tools/lib/debian.sh

install() {
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        install_debian_packages tools/azurite.sh "Azurite needs Node.js and npm" nodejs npm
    fi
    mkdir -p "$install_dir"
    if ! cmp -s tools/azurite/package-lock.json "$install_dir/package-lock.json" \
        || [[ ! -x "$install_dir/node_modules/.bin/azurite-blob" ]]; then
        cp tools/azurite/package.json tools/azurite/package-lock.json "$install_dir/"
        if ! (cd "$install_dir" && npm ci --silent --no-audit --no-fund >&2); then
            rm -f "$install_dir/package-lock.json"
            echo "tools/azurite.sh: cannot install tools/azurite/ into $install_dir (is the npm registry reachable?)" >&2
            exit 1
        fi
    fi
}

start() {
    already_running && return
    install
    mkdir -p "$state_dir"
    port="$(free_port)"
    endpoint="http://127.0.0.1:$port"
    nohup "$install_dir/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort "$port" \
        --inMemoryPersistence --disableTelemetry --skipApiVersionCheck \
        >"$state_dir/server.log" 2>&1 </dev/null &
    pid=$!
    if ! wait_for_port "$port"; then
        echo "tools/azurite.sh: the server did not start on $endpoint:" >&2
        cat "$state_dir/server.log" >&2
        kill "$pid" 2>/dev/null || true
        exit 1
    fi
    printf 'pid=%q\nendpoint=%q\n' "$pid" "$endpoint" >"$state"
    echo "$endpoint"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env)
        [[ -f "$state" ]] || { echo "tools/azurite.sh: not started (tools/azurite.sh start)" >&2; exit 1; }
        # shellcheck disable=SC1090
        source "$state"
        printf 'export VERDICT_TEST_AZURE_ENDPOINT=%q\n' "$endpoint"
        ;;
    *)
        echo "usage: tools/azurite.sh start|env|stop" >&2
        exit 2
        ;;
esac
