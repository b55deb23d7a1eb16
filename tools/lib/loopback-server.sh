# A test server run in the background on a loopback port, remembered in a state file: what
# tools/s3.sh and tools/azurite.sh share. Sourced, with `state` set to the state file's path;
# the state file holds at least `pid` and `endpoint`.

# A free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Whether the server of the state file runs.
running() {
    [[ -n "${pid:-}" ]] && kill -0 "$pid" 2>/dev/null
}

# Prints the endpoint of the server already running, if there is one; forgets a dead one.
# Fails when none runs.
already_running() {
    [[ -f "$state" ]] || return 1
    # shellcheck disable=SC1090
    source "$state"
    if running; then
        echo "$endpoint"
        return 0
    fi
    stop
    return 1
}

# Waits up to a minute for port $1 to take connections. Opens no HTTP request: moto counts
# requests (tools/s3.sh).
wait_for_port() {
    python3 - "$1" <<'PY'
import socket, sys, time
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
PY
}

# Stops the server of the state file, if any, and forgets it.
stop() {
    [[ -f "$state" ]] || return 0
    # shellcheck disable=SC1090
    source "$state"
    if running; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do
            running || break
            sleep 0.1
        done
    fi
    rm -f "$state"
}
