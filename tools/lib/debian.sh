# Installing what a test server needs from Debian's packages: what tools/postgres.sh and
# tools/azurite.sh share. Sourced.

# Installs Debian packages "$3"... with apt-get when running as root; otherwise says what to
# run and exits 1. "$1" names the script, "$2" says what is missing.
install_debian_packages() {
    local script=$1 missing=$2
    shift 2
    if [[ "$(id -u)" != 0 ]]; then
        echo "$script: $missing; install Debian's $* (sudo apt-get install $*)" >&2
        exit 1
    fi
    echo "$script: $missing; installing Debian's $*" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}
