#!/bin/bash
# Runs the demo: the backend (demo/backend.pl serving demo/site/) and the
# stock nginx with the built module and conf/demo.conf, both detached, all
# state under demo/run/ (gitignored). No prompts; works without a terminal.
# The first start generates the REST API client's secret and the webhook
# signing secret (demo/run/secrets/); the output shows a ready curl for an
# API token and the URL of the backend's webhook inbox.
#
#   scripts/demo.sh start    start both, print the URL to open
#   scripts/demo.sh stop     stop both
#   scripts/demo.sh status   say whether it runs
#
# Environment: DEMO_PORT (nginx, default 8080), DEMO_BACKEND_PORT (default
# 8081), CHATVISOR_MODULE (default build/ngx_chatvisor_module.so), NGINX
# (default /usr/sbin/nginx), DEMO_RUN (the state directory, default
# demo/run; the tests use their own).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=${DEMO_RUN:-$ROOT/demo/run}
PORT=${DEMO_PORT:-8080}
BACKEND_PORT=${DEMO_BACKEND_PORT:-8081}
MODULE=${CHATVISOR_MODULE:-$ROOT/build/ngx_chatvisor_module.so}
NGINX=${NGINX:-/usr/sbin/nginx}

NGINX_PID=$RUN/logs/nginx.pid
BACKEND_PID=$RUN/backend.pid
URL_FILE=$RUN/url

say() { echo "demo: $*"; }
die() { echo "demo: $*" >&2; exit 1; }

# pid from a pid file when that process is alive and is what we expect
live_pid() {    # file, pattern in its command line
    local pid
    [ -f "$1" ] || return 1
    pid=$(tr -dc 0-9 < "$1")
    [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "$2" || return 1
    echo "$pid"
}

nginx_pid() { live_pid "$NGINX_PID" nginx; }
backend_pid() { live_pid "$BACKEND_PID" backend.pl; }

port_open() {
    perl -MIO::Socket::INET -e \
        'exit(IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0], Timeout => 1) ? 0 : 1)' \
        "$1"
}

# waits until GET url answers (any status); 10 s at most
wait_http() {
    perl -MHTTP::Tiny -MTime::HiRes=sleep -e '
        my $h = HTTP::Tiny->new(timeout => 2, max_redirect => 0);
        for (1 .. 100) { exit 0 if $h->get($ARGV[0])->{status} < 599; sleep 0.1 }
        exit 1' "$1"
}

stop_pid() {    # pid, name, first signal
    local pid=$1 name=$2 sig=$3 i
    kill "-$sig" "$pid" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { say "$name stopped"; return 0; }
        sleep 0.1
    done
    say "$name did not stop after SIG$sig, sending TERM"
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || { say "$name stopped"; return 0; }
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    say "$name killed"
}

# the secrets of conf/demo.conf, made once: the REST API client "demo"
# (printable, 44 characters) and the webhook inbox's signing secret
SECRETS=$RUN/secrets
API_SECRET=$SECRETS/api-demo.secret
WEBHOOK_SECRET=$SECRETS/inbox.whsec

make_secrets() {
    mkdir -p "$SECRETS"
    chmod 700 "$SECRETS"
    if [ ! -s "$API_SECRET" ]; then
        (umask 077; head -c 33 /dev/urandom | base64 > "$API_SECRET")
        say "generated the REST API client's secret, $API_SECRET"
    fi
    if [ ! -s "$WEBHOOK_SECRET" ]; then
        (umask 077; echo "whsec_$(head -c 32 /dev/urandom | base64)" > "$WEBHOOK_SECRET")
    fi
}

start_backend() {
    backend_pid > /dev/null && return 0
    port_open "$BACKEND_PORT" && die "port $BACKEND_PORT is in use (set DEMO_BACKEND_PORT)"
    mkdir -p "$RUN/logs"
    setsid perl "$ROOT/demo/backend.pl" --port "$BACKEND_PORT" \
        --root "$ROOT/demo/site" --pid-file "$BACKEND_PID" \
        --webhook-secret "$WEBHOOK_SECRET" --inbox "$RUN/webhooks.jsonl" \
        < /dev/null >> "$RUN/logs/backend.log" 2>&1 &
    wait_http "http://127.0.0.1:$BACKEND_PORT/" \
        || die "backend did not start, see $RUN/logs/backend.log"
}

start_nginx() {
    "$NGINX" -p "$RUN/" -c nginx.conf -e "$RUN/logs/error.log" < /dev/null
}

# what an integrator starts with: a token, the conversations, the inbox
print_integration() {    # the demo's URL
    echo "  REST API (docs/api.md): client demo, its secret in $API_SECRET. A token:"
    echo "    curl -s ${1}chatvisor/api/v1/auth/token -d grant_type=client_credentials -d client_id=demo --data-urlencode client_secret@$API_SECRET"
    echo "  With it, the conversations:"
    echo "    TOKEN=\$(curl -s ${1}chatvisor/api/v1/auth/token -d grant_type=client_credentials -d client_id=demo --data-urlencode client_secret@$API_SECRET | sed 's/.*\"access_token\":\"\([^\"]*\)\".*/\1/')"
    echo "    curl -s ${1}chatvisor/api/v1/conversations -H \"Authorization: Bearer \$TOKEN\""
    echo "  Webhook inbox (what nginx posts to the backend on every conversation and message, live):"
    echo "    ${1}webhooks"
}

start() {
    if pid=$(nginx_pid); then
        start_backend    # in case only the backend had died
        echo "demo already running at $(cat "$URL_FILE" 2>/dev/null || echo "http://127.0.0.1:$PORT/") (make demo-stop to stop it)"
        print_integration "$(cat "$URL_FILE" 2>/dev/null || echo "http://127.0.0.1:$PORT/")"
        exit 0
    fi
    [ -f "$MODULE" ] || die "$MODULE is missing; run make first"
    [ -x "$NGINX" ] || die "$NGINX not found (apt-get install nginx)"

    mkdir -p "$RUN/logs" "$RUN/tmp" "$RUN/modules"
    # a copy, not a link: `make` rewrites the .so in place, which would
    # crash the running demo's workers
    rm -f "$RUN/modules/ngx_chatvisor_module.so"
    cp "$MODULE" "$RUN/modules/ngx_chatvisor_module.so"
    sed -e "s/127\.0\.0\.1:8080;/127.0.0.1:$PORT;/" \
        -e "s/127\.0\.0\.1:8081\([;/]\)/127.0.0.1:$BACKEND_PORT\1/" \
        "$ROOT/conf/demo.conf" > "$RUN/nginx.conf"
    # nginx workers run as nobody when started as root: let them in
    chmod 755 "$RUN" "$RUN/logs" "$RUN/tmp"
    make_secrets

    start_backend

    port_open "$PORT" && { stop; die "port $PORT is in use (set DEMO_PORT)"; }
    if ! "$NGINX" -t -q -p "$RUN/" -c nginx.conf -e "$RUN/logs/error.log"; then
        stop
        die "nginx rejected $RUN/nginx.conf"
    fi
    # nginx daemonizes itself (daemon on is the default); a demo store of a
    # development version of the store format (refused at start, not by
    # nginx -t) is put aside, and nginx creates a new one
    if ! start_nginx 2>"$RUN/logs/start.log"; then
        grep -q "from a development version" "$RUN/logs/start.log" \
            || { cat "$RUN/logs/start.log" >&2; stop; die "nginx did not start, see $RUN/logs/error.log"; }
        mv "$RUN/store" "$RUN/store.old.$(date +%s)"
        say "put the demo store of an older format aside"
        start_nginx || { stop; die "nginx did not start, see $RUN/logs/error.log"; }
    fi

    local url="http://127.0.0.1:$PORT/"
    wait_http "$url" || { stop; die "nginx does not answer on $url, see $RUN/logs/error.log"; }
    echo "$url" > "$URL_FILE"

    echo
    echo "Chatvisor demo is running."
    echo "  Open $url"
    # a demo agent and a one-time login URL for them (chatvisorctl works on
    # the store while nginx runs)
    local ctl="$ROOT/build/chatvisorctl" login
    "$ctl" agent-put --store "$RUN/store" --id demo-agent --name "Demo Agent" \
        --email agent@example.com > /dev/null \
        || { stop; die "could not create the demo agent"; }
    login=$("$ctl" login-url --store "$RUN/store" --agent demo-agent \
                --base-url "http://127.0.0.1:$PORT/chatvisor/" --ttl 3600) \
        || { stop; die "could not make a login URL"; }
    echo "  Agent console (one-time login URL, valid 1 hour):"
    echo "    $login"
    echo "  Another one: $ctl login-url --store $RUN/store --agent demo-agent --base-url http://127.0.0.1:$PORT/chatvisor/"
    print_integration "$url"
    echo "  Logs: $RUN/logs/"
    echo "  Stop: make demo-stop"
}

stop() {
    local any=
    if pid=$(nginx_pid); then
        stop_pid "$pid" nginx QUIT
        any=1
    fi
    if pid=$(backend_pid); then
        stop_pid "$pid" backend TERM
        any=1
    fi
    rm -f "$BACKEND_PID" "$URL_FILE"
    [ -n "$any" ] || say "not running"
}

status() {
    if pid=$(nginx_pid); then
        echo "demo running at $(cat "$URL_FILE" 2>/dev/null) (nginx $pid, backend $(backend_pid || echo 'not running'))"
    else
        echo "demo not running"
        return 1
    fi
}

case "${1:-}" in
    start)  start ;;
    stop)   stop ;;
    status) status ;;
    *)      echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
