#!/usr/bin/env bash
# The issue's budget runs (loadtest/README.md, "Budget runs"), each against a fresh
# release server with the 50 organisations of loadtest/orgs-50.toml, the server and the
# load tester as separate processes on this machine. The tables are printed and kept
# with the JSON reports in $OUT (default /tmp/warroom-budget) as <run>.txt and <run>.json.
#
#   loadtest/budget.sh                 # every run (idle fanout frames rest storm)
#   loadtest/budget.sh idle rest       # only some
#
# Environment: BIN (directory of the release binaries, default target/release),
# PORT (default 18181), OUT.
set -euo pipefail

cd "$(dirname "$0")/.."
BIN=${BIN:-target/release}
PORT=${PORT:-18181}
OUT=${OUT:-/tmp/warroom-budget}
TARGET=http://127.0.0.1:$PORT
ORGS=org-00..org-49
mkdir -p "$OUT"
# One signing secret per invocation, shared by every server started here and by the load
# tester (which mints its own tokens with it); exported, so it never appears on a
# command line.
WARROOM__AUTH__JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -d '\n')
export WARROOM__AUTH__JWT_SECRET

# 10,000 sockets need 10,000 descriptors on each side: raise the soft limit to the hard
# one for the server (the load tester raises its own).
ulimit -n "$(ulimit -Hn)"

# Kernel counters that show a connection herd overflowing the server's accept queue
# (dropped SYNs are retransmitted by the client after 1 s, then 3 s): machine-wide, so
# read them around each run.
tcp_counters() {
    awk '/^TcpExt:/ { if (!seen) { split($0, k); seen = 1 } else { split($0, v);
        for (i = 2; i <= NF; i++) if (k[i] == "ListenOverflows" || k[i] == "TCPSynRetrans")
            printf "%s=%s ", k[i], v[i] } }' /proc/net/netstat
    echo "loadavg=$(cut -d' ' -f1-3 /proc/loadavg)"
}

SERVER_PID=
DATA_DIR=
stop_server() {
    if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID"
        # Graceful shutdown takes at most server.shutdown_grace (5 s); then insist.
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
    if [[ -n $DATA_DIR ]]; then
        rm -rf "$DATA_DIR"
        DATA_DIR=
    fi
}
trap stop_server EXIT

start_server() {
    # Every run gets a new database (and live archive beside it): a run must not pay for
    # recovering, or archiving, what the runs before it stored.
    DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/warroom-budget-data.XXXXXX")
    WARROOM__DATABASE__URL=sqlite://$DATA_DIR/warroom.db \
    WARROOM__SERVER__BIND=127.0.0.1:$PORT WARROOM__LOG__FILTER=warn \
        "$BIN/warroom" serve --config "${CONFIG:-loadtest/orgs-50.toml}" \
        >"$OUT/server-$1.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 100); do
        curl -sf "$TARGET/api/v1/health" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "server did not come up; see $OUT/server-$1.log" >&2
    return 1
}

run() {
    local name=$1
    shift
    start_server "$name"
    # A second of quiet so the start-up work does not count.
    sleep 1
    echo "before: $(tcp_counters)" | tee "$OUT/$name.counters"
    "$BIN/warroom-loadtest" "$@" --target "$TARGET" --server-pid "$SERVER_PID" -q \
        --json-file "$OUT/$name.json" | tee "$OUT/$name.txt"
    echo "after:  $(tcp_counters)" | tee -a "$OUT/$name.counters"
    stop_server
    echo "== $name: $OUT/$name.txt, $OUT/$name.json"
}

SELECTED="$*"
want() { [[ " $SELECTED " == *" $1 "* ]]; }

# Memory per idle socket at 10,000 sockets (server RSS before connecting vs settled).
if [[ -z $SELECTED ]] || want idle; then
    run idle idle --clients 10000 --orgs "$ORGS" --duration 10s --connect-timeout 60s
fi
# 5,000 sockets over 50 organisations at 20,000 mentions/s.
if [[ -z $SELECTED ]] || want fanout; then
    run fanout fanout --clients 5000 --orgs "$ORGS" --rate 20000 --batch 50 --duration 10s \
        --connect-timeout 30s
fi
# Frame rate: the same sockets, no ingest requests; every organisation's mock feed emits
# small batches on a 10 ms tick (loadtest/orgs-50-frames.toml).
if [[ -z $SELECTED ]] || want frames; then
    CONFIG=loadtest/orgs-50-frames.toml run frames fanout --clients 5000 --orgs "$ORGS" \
        --rate 0 --duration 10s --connect-timeout 30s
fi
# Dashboard at 64 connections. The server first gets 200,000 mentions (what the fanout
# run leaves behind) and 3 s to digest them, so the answers are those of organisations
# with data rather than empty ones.
if [[ -z $SELECTED ]] || want rest; then
    start_server rest
    "$BIN/warroom-loadtest" ingest --target "$TARGET" --orgs "$ORGS" --max-mentions 200000 \
        --duration 30s -q >"$OUT/rest-seed.txt"
    sleep 3
    echo "before: $(tcp_counters)" | tee "$OUT/rest.counters"
    "$BIN/warroom-loadtest" rest --target "$TARGET" --orgs "$ORGS" --connections 64 \
        --endpoints dashboard --duration 10s --server-pid "$SERVER_PID" -q \
        --json-file "$OUT/rest.json" | tee "$OUT/rest.txt"
    echo "after:  $(tcp_counters)" | tee -a "$OUT/rest.counters"
    stop_server
    echo "== rest: $OUT/rest.txt, $OUT/rest.json"
fi
# Reconnect storm of 5,000 clients with a crisis raised during the storm.
if [[ -z $SELECTED ]] || want storm; then
    run storm reconnect-storm --clients 5000 --orgs "$ORGS" --rate 1000 --duration 10s \
        --storm-at 3s --storm-window 1s --crisis-burst 40 --connect-timeout 30s
fi
