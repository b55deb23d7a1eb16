#!/usr/bin/env bash
# A throwaway PostgreSQL server for the tests, on a loopback port.
#
#   tools/postgres.sh start   # install the server if need be, start a cluster, print its URL
#   tools/postgres.sh env     # print `export VERDICT_TEST_POSTGRES_URL=...` (and TLS settings)
#   tools/postgres.sh stop    # stop the cluster and delete it
#
# The server comes from Debian's `postgresql` package, installed with apt-get when no server
# binary is found. PostgreSQL refuses to run as root, so as root the cluster belongs to the
# `postgres` user the package creates. The cluster lives in target/postgres (or, when that
# user cannot reach it, in a private directory under /tmp named in target/postgres/state),
# listens on 127.0.0.1 only, asks for a password (SCRAM) over TCP, and offers TLS with a
# certificate signed by a throwaway CA (target/postgres/ca.crt) when openssl is there.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
state_dir="$root/target/postgres"
state="$state_dir/state"
# shellcheck source=tools/lib/debian.sh
source tools/lib/debian.sh

find_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir)"
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            echo "$dir"
            return
        fi
    fi
    # Debian puts the server's programs in a versioned directory off the PATH.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            echo "$dir"
            return
        fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
    fi
}


# Runs a command as the cluster's owner.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
    if [[ -f "$state" ]]; then
        # shellcheck disable=SC1090
        source "$state"
        if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
            echo "$url"
            return
        fi
        stop
    fi
    bindir="$(find_bindir)"
    if [[ -z "$bindir" ]]; then
        install_debian_packages tools/postgres.sh "no PostgreSQL server found" postgresql
        bindir="$(find_bindir)"
        [[ -n "$bindir" ]] || { echo "tools/postgres.sh: the server is still not found after the install" >&2; exit 1; }
    fi
    if [[ "$(id -u)" == 0 ]] && ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /usr/sbin/nologin postgres
    fi
    mkdir -p "$state_dir"
    base="$state_dir/cluster"
    if [[ "$(id -u)" == 0 ]] && ! runuser -u postgres -- test -x "$state_dir"; then
        # The owner cannot reach the work tree (a home directory of mode 0700, say).
        base="$(mktemp -d /tmp/verdict-postgres.XXXXXX)"
    fi
    rm -rf "$base"
    mkdir -p "$base"
    data="$base/data"
    password="verdict-$(date +%s%N | sha256sum | head -c 16)"
    printf '%s\n' "$password" >"$base/pwfile"
    if [[ "$(id -u)" == 0 ]]; then
        chown -R postgres: "$base"
    fi
    chmod 700 "$base"
    as_owner "$bindir/initdb" -D "$data" -U verdict --pwfile="$base/pwfile" \
        --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$base/initdb.log" 2>&1 \
        || { cat "$base/initdb.log" >&2; exit 1; }
    rm -f "$base/pwfile"
    tls=""
    if command -v openssl >/dev/null 2>&1; then
        # A CA, and a server certificate it signs for 127.0.0.1 and localhost.
        openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=verdict test CA" \
            -keyout "$state_dir/ca.key" -out "$state_dir/ca.crt" >/dev/null 2>&1
        openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
            -keyout "$data/server.key" -out "$base/server.csr" >/dev/null 2>&1
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$base/san.ext"
        openssl x509 -req -in "$base/server.csr" -CA "$state_dir/ca.crt" -CAkey "$state_dir/ca.key" \
            -CAcreateserial -days 2 -extfile "$base/san.ext" -out "$data/server.crt" >/dev/null 2>&1
        if [[ "$(id -u)" == 0 ]]; then
            chown postgres: "$data/server.key" "$data/server.crt"
        fi
        chmod 600 "$data/server.key"
        tls="-c ssl=on"
    fi
    port="$(free_port)"
    as_owner "$bindir/pg_ctl" -D "$data" -l "$base/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories= $tls" start >/dev/null \
        || { cat "$base/server.log" >&2; exit 1; }
    url="postgresql://verdict:$password@127.0.0.1:$port/postgres"
    {
        printf 'bindir=%q\ndata=%q\nbase=%q\nurl=%q\n' "$bindir" "$data" "$base" "$url"
        if [[ -n "$tls" ]]; then printf 'ca=%q\n' "$state_dir/ca.crt"; fi
    } >"$state"
    echo "$url"
}

stop() {
    [[ -f "$state" ]] || return 0
    # shellcheck disable=SC1090
    source "$state"
    as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
    rm -rf "$base" "$state" "$state_dir/ca.crt" "$state_dir/ca.key" "$state_dir/ca.srl"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env)
        [[ -f "$state" ]] || { echo "tools/postgres.sh: not started (tools/postgres.sh start)" >&2; exit 1; }
        # shellcheck disable=SC1090
        source "$state"
        printf 'export VERDICT_TEST_POSTGRES_URL=%q\n' "$url"
        if [[ -n "${ca:-}" ]]; then printf 'export VERDICT_TEST_POSTGRES_CA=%q\n' "$ca"; fi
        ;;
    *)
        echo "usage: tools/postgres.sh start|env|stop" >&2
        exit 2
        ;;
esac
