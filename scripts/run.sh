#!/usr/bin/env bash
# The run command: the whole stack on 127.0.0.1. Installs what is missing,
# builds, then starts redis-server (unless one already answers on its port),
# N sse-bridge replicas, the Flask demo app and haproxy in front of them all
# (one origin: the demo page, /events, /sse-client.js, /sse/*, /metrics,
# /healthz, /readyz), waits until everything answers and prints the URLs.
# Ctrl-C (SIGINT) or SIGTERM stops everything it started, by pid.
#
#   scripts/run.sh [options] [-- extra sse-bridge flags]
#     --port N           haproxy, the one URL to open (8080)
#     --bridges N        number of bridge replicas (2)
#     --bridge-port N    first bridge port; replica i listens on N+i-1 (port+1)
#     --bridge-ports L   comma list of bridge ports (sets the number too)
#     --demo-port N      the Flask demo app (5000)
#     --redis-port N     redis-server (6379)
#     --auth             generate an HS256 secret: bridges require tokens, the demo issues them
#                        (or set SSE_AUTH_SECRET / SSE_AUTH_SECRET_FILE yourself)
#     --run-dir DIR      logs, pids and the rendered haproxy.cfg (a new temp dir, removed at exit)
#     --no-deps          skip scripts/deps.sh
#     --no-build         skip the build (use $SSE_BRIDGE_BIN or $BUILD_DIR/bridge/sse-bridge)
#   environment: BUILD_DIR (build), SSE_BRIDGE_BIN (a prebuilt binary: no build),
#   any SSE_* variable (read by every bridge), DEMO_* (read by the demo app)
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-8080}
REDIS_PORT=${REDIS_PORT:-6379}
DEMO_PORT=${DEMO_PORT:-5000}
NBRIDGES=2
BRIDGE_PORT=""
BRIDGE_PORTS=""
AUTH=0
RUN_DIR=""
DEPS=1
BUILD=1
BUILD_DIR=${BUILD_DIR:-build}
PY=/usr/bin/python3 # Debian's python3-flask and python3-redis live there

usage() { sed -n '2,/^set -e/p' "$0" | sed '$d'; }
need_num() {
  if ! [[ "$2" =~ ^[0-9]+$ ]] || [ "$2" -lt "${3:-1}" ] || [ "$2" -gt "${4:-65535}" ]; then
    echo "run.sh: $1 '$2' is not a number in ${3:-1}..${4:-65535}" >&2
    exit 2
  fi
}
need_arg() { [ $# -ge 2 ] || { echo "run.sh: $1 needs a value (see --help)" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
  case "$1" in
    --port|--bridges|--bridge-port|--bridge-ports|--demo-port|--redis-port|--run-dir) need_arg "$@" ;;
  esac
  case "$1" in
    --port) PORT=$2; shift 2 ;;
    --bridges) NBRIDGES=$2; shift 2 ;;
    --bridge-port) BRIDGE_PORT=$2; shift 2 ;;
    --bridge-ports) BRIDGE_PORTS=$2; shift 2 ;;
    --demo-port) DEMO_PORT=$2; shift 2 ;;
    --redis-port) REDIS_PORT=$2; shift 2 ;;
    --auth) AUTH=1; shift ;;
    --run-dir) RUN_DIR=$2; shift 2 ;;
    --no-deps) DEPS=0; shift ;;
    --no-build) BUILD=0; shift ;;
    --) shift; break ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
need_num --port "$PORT"; need_num --redis-port "$REDIS_PORT"; need_num --demo-port "$DEMO_PORT"
need_num --bridges "$NBRIDGES" 1 64
ports=()
if [ -n "$BRIDGE_PORTS" ]; then
  IFS=, read -r -a ports <<< "$BRIDGE_PORTS"
  for p in "${ports[@]}"; do need_num --bridge-ports "$p"; done
  NBRIDGES=${#ports[@]}
else
  BRIDGE_PORT=${BRIDGE_PORT:-$((PORT + 1))}
  need_num --bridge-port "$BRIDGE_PORT" 1 $((65536 - NBRIDGES))
  for i in $(seq 0 $((NBRIDGES - 1))); do ports+=($((BRIDGE_PORT + i))); done
fi

if [ "$DEPS" = 1 ]; then
  scripts/deps.sh
fi
if [ -n "${SSE_BRIDGE_BIN:-}" ]; then
  BIN=$SSE_BRIDGE_BIN
else
  BIN=$BUILD_DIR/bridge/sse-bridge
  if [ "$BUILD" = 1 ]; then
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
    cmake --build "$BUILD_DIR" -j"$(nproc)" -- --no-print-directory >/dev/null
  fi
fi
[ -x "$BIN" ] || { echo "run.sh: no sse-bridge binary at $BIN (build it, or set SSE_BRIDGE_BIN)" >&2; exit 1; }
for tool in redis-server redis-cli haproxy curl; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (scripts/deps.sh installs it)" >&2; exit 1; }
done

KEEP_RUN_DIR=1
if [ -z "$RUN_DIR" ]; then
  RUN_DIR=$(mktemp -d /tmp/sse-bridge-run.XXXXXX)
  KEEP_RUN_DIR=0
fi
mkdir -p "$RUN_DIR"
: > "$RUN_DIR/pids"

# name pid, in start order; stopped in reverse order (the load balancer
# first, so no browser is sent to a replica that is going away).
NAMES=()
PIDS=()
started() {
  NAMES+=("$1")
  PIDS+=("$2")
  echo "$1 $2 ${3:-}" >> "$RUN_DIR/pids"
}
STOPPING=0
cleanup() {
  # Ctrl-C in a terminal reaches the children too: whichever exits first,
  # stop the rest without letting an exit status end the cleanup (set -e).
  set +e
  trap - INT TERM EXIT
  [ "$STOPPING" = 1 ] && return
  STOPPING=1
  local i pid
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill -TERM "${PIDS[i]}" 2>/dev/null
  done
  # Bridges drain their streams (up to --drain-timeout); anything still
  # there after that is killed.
  local deadline=$((SECONDS + 15))
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[i]}
    while kill -0 "$pid" 2>/dev/null && [ $SECONDS -lt $deadline ]; do sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "run.sh: ${NAMES[i]} (pid $pid) did not stop, killing it" >&2
      kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
  done
  [ "$KEEP_RUN_DIR" = 1 ] || rm -rf "$RUN_DIR"
  echo "run.sh: stopped"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits (bounded) until "$@" succeeds; the name is for the error message.
wait_for() {
  local what=$1 secs=$2 pid=$3
  shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      echo "run.sh: $what exited; its log:" >&2
      tail -n 20 "$RUN_DIR/$what.log" >&2 2>/dev/null
      exit 1
    fi
    if [ $SECONDS -ge $deadline ]; then
      echo "run.sh: $what did not answer within ${secs}s; its log:" >&2
      tail -n 20 "$RUN_DIR/$what.log" >&2 2>/dev/null
      exit 1
    fi
    sleep 0.1
  done
}
http_ok() { curl -fsS -o /dev/null --max-time 2 "$1"; }

# Redis
if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  echo "run.sh: using the redis-server already on 127.0.0.1:$REDIS_PORT"
else
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly yes \
    --dir "$RUN_DIR" --logfile "$RUN_DIR/redis.log" &
  started redis $! "$REDIS_PORT"
  wait_for redis 10 "${PIDS[-1]}" redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping
fi

# The secret the bridges verify tokens with and the demo signs them with.
if [ "$AUTH" = 1 ] && [ -z "${SSE_AUTH_SECRET:-}${SSE_AUTH_SECRET_FILE:-}" ]; then
  (umask 077; head -c 48 /dev/urandom | base64 -w0 > "$RUN_DIR/auth.secret")
  export SSE_AUTH_SECRET_FILE=$RUN_DIR/auth.secret
fi

# Bridges: each trusts X-Forwarded-For from haproxy (127.0.0.1) only.
bridge_addrs=()
for i in $(seq 1 "$NBRIDGES"); do
  p=${ports[$((i - 1))]}
  "$BIN" --listen "127.0.0.1:$p" --redis-url "redis://127.0.0.1:$REDIS_PORT" --bridge-id "bridge$i" \
    --trusted-proxies 127.0.0.1 "$@" 2> "$RUN_DIR/bridge$i.log" &
  started "bridge$i" $! "$p"
  bridge_addrs+=("127.0.0.1:$p")
done
for i in $(seq 1 "$NBRIDGES"); do
  wait_for "bridge$i" 15 "${PIDS[$((${#PIDS[@]} - NBRIDGES + i - 1))]}" \
    http_ok "http://127.0.0.1:${ports[$((i - 1))]}/readyz"
done

# The demo app (only PUBLISHes; its page streams from the bridges).
DEMO_LISTEN="127.0.0.1:$DEMO_PORT" REDIS_URL="redis://127.0.0.1:$REDIS_PORT" \
  "$PY" scripts/demo/app.py > "$RUN_DIR/demo.log" 2>&1 &
started demo $! "$DEMO_PORT"
wait_for demo 15 "${PIDS[-1]}" http_ok "http://127.0.0.1:$DEMO_PORT/app/healthz"

# haproxy, in the foreground of its own process (-db), with our config.
scripts/haproxy/render.sh "127.0.0.1:$PORT" "127.0.0.1:$DEMO_PORT" "${bridge_addrs[@]}" > "$RUN_DIR/haproxy.cfg"
haproxy -db -f "$RUN_DIR/haproxy.cfg" > "$RUN_DIR/haproxy.log" 2>&1 &
started haproxy $! "$PORT"
URL="http://127.0.0.1:$PORT"
# Up means: haproxy's health checks see a replica and the demo.
wait_for haproxy 15 "${PIDS[-1]}" http_ok "$URL/readyz"
wait_for haproxy 15 "${PIDS[-1]}" http_ok "$URL/app/healthz"

tokens="off (anyone may claim a client_id; run with --auth for tokens)"
[ -n "${SSE_AUTH_SECRET:-}${SSE_AUTH_SECRET_FILE:-}" ] && tokens="on (the demo issues each browser's token)"
cat <<MSG

sse-bridge stack is up: redis-server, $NBRIDGES bridges (${bridge_addrs[*]}), the demo app, haproxy.
  demo:       $URL/
  dashboard:  $URL/sse/dashboard
  metrics:    $URL/metrics
  health:     $URL/sse/health
  haproxy:    $URL/lb/stats
  stream:     curl -N '$URL/events?channels=summary_progress'
  publish:    redis-cli -p $REDIS_PORT publish summary_progress 'hello'
  tokens:     $tokens
  logs:       $RUN_DIR
Ctrl-C stops everything.

MSG
# Until a signal: a replica that dies (try kill -9 on one) leaves the rest
# running, and haproxy sends its browsers to the others.
while :; do
  wait || true
  alive=0
  for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
  [ "$alive" = 1 ] || break
  sleep 1
done
