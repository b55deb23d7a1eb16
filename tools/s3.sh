#!/usr/bin/env bash
# A throwaway S3 server for the object storage tests, on a loopback port.
#
#   tools/s3.sh start   # make the venv if need be, start the server, print its endpoint
#   tools/s3.sh env     # print the exports the tests read (VERDICT_TEST_S3_ENDPOINT, keys, python)
#   tools/s3.sh stop    # stop the server
#
# The server is moto's (pinned in tools/requirements-s3.txt, in target/s3-venv, made with pip
# from PyPI), started as `moto_server` on 127.0.0.1. It checks signatures, as S3 does: it starts
# with INITIAL_NO_AUTH_ACTION_COUNT=3, so that only the three requests of the setup below go
# unchecked (an IAM user, its policy allowing s3:*, its access key); every later request must
# be signed with that key, and a wrong key or secret is refused (InvalidAccessKeyId,
# SignatureDoesNotMatch). The tests get the endpoint and the key from `tools/s3.sh env`, and
# hand them to `verdict` as AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.
#
# `start` exits 1 when the venv cannot be made (PyPI unreachable) or the server does not come
# up, saying why; tools/test-all.sh then skips the object storage tests loudly, or fails under
# CI.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
venv="$root/target/s3-venv"
state_dir="$root/target/s3"
state="$state_dir/state"
python="${PYTHON:-python3}"
# shellcheck source=tools/lib/loopback-server.sh
source tools/lib/loopback-server.sh

make_venv() {
    if [[ ! -x "$venv/bin/python" ]]; then
        "$python" -m venv "$venv" >&2
    fi
    local stamp="$venv/.requirements-s3.txt"
    if ! cmp -s tools/requirements-s3.txt "$stamp"; then
        if ! "$venv/bin/pip" install --quiet --disable-pip-version-check -r tools/requirements-s3.txt >&2; then
            echo "tools/s3.sh: cannot install tools/requirements-s3.txt into $venv (is PyPI reachable?)" >&2
            exit 1
        fi
        cp tools/requirements-s3.txt "$stamp"
    fi
}

start() {
    already_running && return
    make_venv
    mkdir -p "$state_dir"
    port="$(free_port)"
    endpoint="http://127.0.0.1:$port"
    INITIAL_NO_AUTH_ACTION_COUNT=3 nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" \
        >"$state_dir/server.log" 2>&1 </dev/null &
    pid=$!
    if ! wait_for_port "$port"; then
        echo "tools/s3.sh: the server did not start on $endpoint:" >&2
        cat "$state_dir/server.log" >&2
        kill "$pid" 2>/dev/null || true
        exit 1
    fi
    # The three unchecked requests: the user, its policy, its key.
    local keys
    if ! keys="$("$venv/bin/python" - "$endpoint" <<'EOF'
import json, sys
import boto3
iam = boto3.client("iam", endpoint_url=sys.argv[1], region_name="us-east-1",
                   aws_access_key_id="setup", aws_secret_access_key="setup")
iam.create_user(UserName="verdict-tests")
iam.put_user_policy(UserName="verdict-tests", PolicyName="s3", PolicyDocument=json.dumps(
    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}))
key = iam.create_access_key(UserName="verdict-tests")["AccessKey"]
print(key["AccessKeyId"], key["SecretAccessKey"])
EOF
    )"; then
        echo "tools/s3.sh: cannot set up the server's user and key:" >&2
        cat "$state_dir/server.log" >&2
        kill "$pid" 2>/dev/null || true
        exit 1
    fi
    read -r key_id secret <<<"$keys"
    printf 'pid=%q\nendpoint=%q\nkey_id=%q\nsecret=%q\n' "$pid" "$endpoint" "$key_id" "$secret" >"$state"
    echo "$endpoint"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    env)
        [[ -f "$state" ]] || { echo "tools/s3.sh: not started (tools/s3.sh start)" >&2; exit 1; }
        # shellcheck disable=SC1090
        source "$state"
        printf 'export VERDICT_TEST_S3_ENDPOINT=%q\n' "$endpoint"
        printf 'export VERDICT_TEST_S3_ACCESS_KEY_ID=%q\n' "$key_id"
        printf 'export VERDICT_TEST_S3_SECRET_ACCESS_KEY=%q\n' "$secret"
        printf 'export VERDICT_TEST_S3_PYTHON=%q\n' "$venv/bin/python"
        ;;
    *)
        echo "usage: tools/s3.sh start|env|stop" >&2
        exit 2
        ;;
esac
