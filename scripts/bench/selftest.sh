#!/usr/bin/env bash
# Self-test of the benchmark tools against a real bridge: 50 streams, 1,000
# messages with seq 500 left out; passes only when the load generator reports
# exactly one missing event per stream (50) and no duplicates.
#
# usage: scripts/bench/selftest.sh BUILD_DIR/bridge/sse-bridge
# The tools are taken from BUILD_DIR/scripts/bench (override with LOADGEN=,
# PUBLISHER=); REDIS_SERVER= and REDIS_CLI= override the Redis binaries.
set -uo pipefail

if [ $# -ne 1 ] || [ ! -x "$1" ]; then
  echo "usage: $0 PATH/TO/sse-bridge (in a build dir that also has scripts/bench/)" >&2
  exit 2
fi
BRIDGE=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
BUILD=$(cd "$(dirname "$BRIDGE")/.." && pwd)
LOADGEN=${LOADGEN:-$BUILD/scripts/bench/sse-loadgen}
PUBLISHER=${PUBLISHER:-$BUILD/scripts/bench/sse-publisher}
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
CONNECTIONS=50
MESSAGES=1000
DROP=500

for bin in "$LOADGEN" "$PUBLISHER"; do
  [ -x "$bin" ] || { echo "selftest: $bin not built" >&2; exit 2; }
done

TMP=$(mktemp -d /tmp/sse-bench-selftest.XXXXXX)
PIDS=()
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null
  done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  echo "selftest: FAIL: $*" >&2
  for log in "$TMP"/*.log; do
    [ -s "$log" ] && { echo "--- $log" >&2; tail -n 20 "$log" >&2; }
  done
  exit 1
}

# A loopback port nobody listens on, below the ephemeral range so outgoing
# connections cannot hold it.
free_port() {
  local p _
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

# Polls a command until it succeeds: wait_for TRIES COMMAND... (0.1 s apart).
wait_for() {
  local tries=$1 _
  shift
  for _ in $(seq 1 "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

REDIS_PORT=$(free_port) || fail "no free port"
"$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
wait_for 50 "$REDIS_CLI" -p "$REDIS_PORT" ping || fail "redis-server did not start"

BRIDGE_PORT=$(free_port) || fail "no free port"
"$BRIDGE" --listen "127.0.0.1:$BRIDGE_PORT" --redis-url "redis://127.0.0.1:$REDIS_PORT" \
  --channels bench --log-level warn --max-connections 1000 --max-connections-per-ip 1000 \
  >"$TMP/bridge.log" 2>&1 &
PIDS+=($!)
bridge_up() { (exec 3<>"/dev/tcp/127.0.0.1/$BRIDGE_PORT") 2>/dev/null; }
wait_for 50 bridge_up || fail "the bridge did not start"

"$LOADGEN" --url "http://127.0.0.1:$BRIDGE_PORT/events?channels=bench" --event bench \
  --connections "$CONNECTIONS" --expect "$MESSAGES" --duration 30 --timeout 60 --progress 0 \
  --ready-file "$TMP/ready" >"$TMP/loadgen.json" 2>"$TMP/loadgen.log" &
LOADGEN_PID=$!
PIDS+=("$LOADGEN_PID")
wait_for 150 test -f "$TMP/ready" || fail "the load generator did not finish its ramp"
# The first stream makes the bridge SUBSCRIBE; publish only once Redis has it.
subscribed() { [ "$("$REDIS_CLI" -p "$REDIS_PORT" pubsub numsub bench | tail -n 1)" -ge 1 ]; }
wait_for 50 subscribed || fail "the bridge never subscribed to 'bench'"

"$PUBLISHER" --redis-url "redis://127.0.0.1:$REDIS_PORT" --channel bench \
  --count "$MESSAGES" --rate 2000 --size 200 --drop "$DROP" >"$TMP/publisher.json" \
  2>"$TMP/publisher.log" || fail "the publisher failed"
wait "$LOADGEN_PID"
rc=$?
echo "publisher: $(cat "$TMP/publisher.json")"
echo "loadgen:   $(cat "$TMP/loadgen.json")"
[ $rc -eq 0 ] || fail "the load generator exited with $rc"

field() { grep -o "\"$1\":[0-9]*" "$TMP/loadgen.json" | head -n 1 | cut -d: -f2; }
established=$(field connections_established)
missing=$(field missing)
duplicates=$(field duplicates)
events=$(field events)
[ "$established" = "$CONNECTIONS" ] || fail "$established of $CONNECTIONS streams established"
[ "$missing" = "$CONNECTIONS" ] || fail "missing=$missing, want $CONNECTIONS (one per stream)"
[ "$duplicates" = "0" ] || fail "duplicates=$duplicates, want 0"
want_events=$((CONNECTIONS * (MESSAGES - 1)))
[ "$events" = "$want_events" ] || fail "events=$events, want $want_events"
echo "selftest: PASS: $CONNECTIONS streams, $events events, missing=$missing, duplicates=0"
