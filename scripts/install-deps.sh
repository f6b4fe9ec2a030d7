#!/bin/sh
# Installs what building, testing and the demo need, and nothing when all is
# there already (so `make` stays fast). Non-interactive: CI has no stdin.
# Usage: scripts/install-deps.sh [build|test|bench|deb]
set -eu
cd "$(dirname "$0")/.."

# libnats-dev: the NATS client of cluster mode (chatvisor_cluster)
want="nginx nginx-dev liblmdb-dev libcjson-dev libssl-dev zlib1g-dev libnats-dev gcc make pkg-config perl"
case "${1:-build}" in
    # clang-14 and its libFuzzer runtime: make test replays the fuzz
    # corpus (fuzz/); llvm-14: make fuzz-coverage
    # dpkg-dev and lintian: t/112-deb.t builds the package and checks it
    # nats-server: the JetStream cluster of the cluster tests (t/119-...)
    # openssl (the command; libssl-dev does not bring it): test
    # certificates (t/94, t/124) and the NKeys and JWTs of t/131
    test)  want="$want chromium lmdb-utils faketime clang-14 libclang-rt-14-dev llvm-14 dpkg-dev lintian nats-server openssl" ;;
    deb)   want="$want dpkg-dev lintian" ;;     # make deb
    # chromium: bench/cobrowse; nghttp2-client: h2load, bench/inject over
    # HTTP/2; nats-server: bench/cluster
    bench) want="$want libnginx-mod-nchan wrk nghttp2-client chromium nats-server" ;;
esac
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
    || want="$want nodejs npm"

missing=
for p in $want; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' \
        || missing="$missing $p"
done

if [ -n "$missing" ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "missing Debian packages:$missing (run as root to install them)" >&2
        exit 1
    fi
    echo "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    # a fresh machine often runs unattended-upgrades at boot: wait for
    # dpkg's lock (and try again a few times) rather than fail at once
    lock="-o DPkg::Lock::Timeout=600"
    tries=0
    until apt-get $lock update -qq; do
        tries=$((tries + 1))
        [ "$tries" -lt 20 ] || exit 1
        echo "apt-get update failed (another apt running?), trying again" >&2
        sleep 15
    done
    # the nginx package starts a daemon on :80 via its postinst where
    # policy-rc.d allows it; we only need the binary
    apt-get $lock install -y -qq --no-install-recommends $missing >/dev/null
fi

# npm packages: reinstall when the lock file is newer than the install.
# A node_modules that is a link (shared with another checkout) is left
# alone: npm ci would empty the directory it points to.
if [ -L node_modules ]; then
    :
elif [ ! -f node_modules/.package-lock.json ] \
   || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error
fi
