#!/usr/bin/env bash
# The run command: installs what is missing, builds, starts a local
# redis-server (unless one already answers on the port) and one sse-bridge in
# the foreground, and prints the URLs. Ctrl-C stops both.
#
#   scripts/run.sh [--redis-port N] [--port N] [-- extra sse-bridge flags]
set -euo pipefail
cd "$(dirname "$0")/.."

REDIS_PORT=${REDIS_PORT:-6379}
PORT=${PORT:-8080}
while [ $# -gt 0 ]; do
  case "$1" in
    --redis-port) REDIS_PORT=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    --) shift; break ;;
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done

scripts/deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" -- --no-print-directory >/dev/null

RUN_DIR=$(mktemp -d /tmp/sse-bridge-run.XXXXXX)
REDIS_PID=""
BRIDGE_PID=""
cleanup() {
  # Ctrl-C reaches the children too: whichever exits first, stop the rest
  # without letting a child's exit status end the cleanup (set -e).
  set +e
  trap - INT TERM EXIT
  for pid in $BRIDGE_PID $REDIS_PID; do
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  rm -rf "$RUN_DIR"
  echo "run.sh: stopped"
}
trap cleanup INT TERM EXIT

if redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  echo "run.sh: using the redis-server already on 127.0.0.1:$REDIS_PORT"
else
  redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
    --dir "$RUN_DIR" --logfile "$RUN_DIR/redis.log" &
  REDIS_PID=$!
  for _ in $(seq 50); do
    redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
    sleep 0.1
  done
fi

build/bridge/sse-bridge --listen "127.0.0.1:$PORT" --redis-url "redis://127.0.0.1:$REDIS_PORT" "$@" &
BRIDGE_PID=$!
sleep 0.3
kill -0 "$BRIDGE_PID" 2>/dev/null || { BRIDGE_PID=""; echo "run.sh: sse-bridge did not start" >&2; exit 1; }
cat <<MSG

sse-bridge is up.
  stream:   curl -N 'http://127.0.0.1:$PORT/events?channels=summary_progress'
  health:   curl http://127.0.0.1:$PORT/healthz
  publish:  redis-cli -p $REDIS_PORT publish summary_progress 'hello'
Ctrl-C stops everything.

MSG
wait "$BRIDGE_PID" || true
BRIDGE_PID=""
