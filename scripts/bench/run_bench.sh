#!/usr/bin/env bash
# Benchmark driver: runs scenarios against a target (sse-bridge; a second
# target plugs in with its own functions, see "Targets" below) on this machine,
# over loopback, and writes results.md + results.json.
#
# usage: scripts/bench/run_bench.sh [--build DIR] [--target NAME] [--out DIR] [--keep] [SCENARIO...]
#   fanout:C:R:S:T   C subscribers of one channel, R msg/s, S-byte payloads, T seconds
#   idle:N:T         N idle streams held T seconds: target RSS growth / N
# Default: fanout:1000:100:200:10 idle:10000:5. Each scenario gets a fresh
# redis-server and target and is bounded to about 60 s (T <= 40).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$ROOT/build
TARGET=bridge
OUT=$HERE/results
KEEP=0
SCENARIOS=()
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$(cd "$2" && pwd) || exit 2; shift 2 ;;
    --target) TARGET=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    fanout:*|idle:*) SCENARIOS+=("$1"); shift ;;
    *) echo "run_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(fanout:1000:100:200:10 idle:10000:5)

LOADGEN=$BUILD/scripts/bench/sse-loadgen
PUBLISHER=$BUILD/scripts/bench/sse-publisher
BRIDGE=$BUILD/bridge/sse-bridge
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
PYTHON=/usr/bin/python3
PER_LOADGEN=15000 # streams per load generator process (20,000 descriptors each)
SCENARIO_LIMIT=60 # seconds
CHANNEL=bench
for bin in "$LOADGEN" "$PUBLISHER"; do
  [ -x "$bin" ] || { echo "run_bench: $bin not built (cmake --build $BUILD)" >&2; exit 2; }
done

ulimit -n "$(ulimit -Hn)" 2>/dev/null
WORK=$(mktemp -d /tmp/sse-bench.XXXXXX)
PIDS=() # every process this script started and has not stopped yet

stop_pids() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  PIDS=()
}
cleanup() {
  stop_pids
  if [ "$KEEP" = 1 ]; then echo "run_bench: work files kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { echo "run_bench: $*" >&2; }

# A loopback port nobody listens on, below the ephemeral range.
free_port() {
  local p _
  for _ in $(seq 1 50); do
    p=$((20000 + RANDOM % 12000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  return 1
}

# wait_for TRIES COMMAND...: polls COMMAND every 0.1 s, at most TRIES times.
wait_for() {
  local tries=$1 _
  shift
  for _ in $(seq 1 "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Runs a command in the background, logging its exact form; sets LAST_PID.
# spawn OUTFILE ERRFILE COMMAND...
spawn() {
  local out=$1 err=$2
  shift 2
  printf '%q ' "$@" >>"$SDIR/commands.txt"
  echo >>"$SDIR/commands.txt"
  "$@" >"$out" 2>"$err" &
  LAST_PID=$!
  PIDS+=("$LAST_PID")
}

cpu_ticks() { # utime + stime of a process, in clock ticks
  local stat rest
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  rest=${stat##*) }
  set -- $rest # split on purpose: the fields after the command name
  echo $((${12} + ${13}))
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
slab_kb() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
now_ns() { date +%s%N; }
fact() { echo "$1=$2" >>"$SDIR/facts.txt"; }

start_redis() {
  REDIS_PORT=$(free_port) || return 1
  spawn "$SDIR/redis.log" "$SDIR/redis.err" "$REDIS_SERVER" --port "$REDIS_PORT" \
    --bind 127.0.0.1 --save "" --appendonly no
  wait_for 50 "$REDIS_CLI" -p "$REDIS_PORT" ping
}

subscribed() { [ "$("$REDIS_CLI" -p "$REDIS_PORT" pubsub numsub "$CHANNEL" | tail -n 1)" -ge 1 ]; }

# ---- Targets ----
# A target NAME is three functions:
#   target_NAME_version        prints one line naming it and its version
#   target_NAME_start STREAMS  starts it against redis on $REDIS_PORT, sized for
#                              STREAMS connections, with spawn (so the command
#                              is recorded and the process stopped at the end);
#                              sets TARGET_PID (the process whose CPU and RSS are
#                              measured) and TARGET_URL (the SSE URL of $CHANNEL,
#                              whose events are named $CHANNEL and carry the
#                              publisher's payload verbatim)
#   target_NAME_stop           optional: anything spawn does not cover
# Nchan would write an nginx.conf (one worker, nchan_redis_url to
# $REDIS_PORT, an eventsource subscriber location that names events after the
# channel) and spawn nginx in the foreground; TARGET_PID is its worker.

target_bridge_version() { "$BRIDGE" --version 2>&1 | head -n 1; }

target_bridge_start() {
  local port limit=$(($1 + 1000))
  [ -x "$BRIDGE" ] || { log "$BRIDGE not built"; return 1; }
  port=$(free_port) || return 1
  spawn "$SDIR/target.log" "$SDIR/target.err" "$BRIDGE" --listen "127.0.0.1:$port" \
    --redis-url "redis://127.0.0.1:$REDIS_PORT" --channels "$CHANNEL" --log-level warn \
    --heartbeat-interval 30 --max-connections "$limit" --max-connections-per-ip "$limit"
  TARGET_PID=$LAST_PID
  TARGET_URL="http://127.0.0.1:$port/events?channels=$CHANNEL"
  wait_for 50 port_open "$port"
}

if ! declare -F "target_${TARGET}_start" >/dev/null; then
  echo "run_bench: unknown target '$TARGET' (known: bridge)" >&2
  exit 2
fi

# Starts ceil(N / PER_LOADGEN) load generators sharing N streams; extra
# arguments go to each. Sets LG_PIDS.
start_loadgens() {
  local n=$1 procs i share left
  shift
  procs=$(((n + PER_LOADGEN - 1) / PER_LOADGEN))
  LG_PIDS=()
  left=$n
  for i in $(seq 1 "$procs"); do
    share=$((left / (procs - i + 1)))
    left=$((left - share))
    spawn "$SDIR/loadgen-$i.json" "$SDIR/loadgen-$i.log" "$LOADGEN" --url "$TARGET_URL" \
      --event "$CHANNEL" --connections "$share" --sources 4 --ramp-rate 5000 --max-pending 512 \
      --progress 0 --ready-file "$SDIR/ready-$i" "$@"
    LG_PIDS+=("$LAST_PID")
  done
}

all_ready() {
  local i
  for i in $(seq 1 ${#LG_PIDS[@]}); do [ -f "$SDIR/ready-$i" ] || return 1; done
}

wait_loadgens() {
  local pid
  for pid in "${LG_PIDS[@]}"; do wait "$pid"; done
}

begin_scenario() { # begin_scenario NAME
  SDIR=$WORK/$1
  mkdir -p "$SDIR"
  : >"$SDIR/commands.txt"
  : >"$SDIR/facts.txt"
  fact name "$1"
  fact target "$TARGET"
  fact target_version "$("target_${TARGET}_version")"
  fact clk_tck "$(getconf CLK_TCK)"
}

end_scenario() {
  declare -F "target_${TARGET}_stop" >/dev/null && "target_${TARGET}_stop"
  stop_pids
  "$PYTHON" "$HERE/report.py" scenario "$SDIR" >"$SDIR/scenario.json" \
    || { log "cannot summarize $SDIR"; return 1; }
  RESULTS+=("$SDIR/scenario.json")
}

fail_scenario() {
  log "scenario failed: $*"
  local f
  for f in "$SDIR"/*.log "$SDIR"/*.err; do
    [ -s "$f" ] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }
  done
  stop_pids
  return 1
}

scenario_fanout() { # C R S T
  local c=$1 r=$2 s=$3 t=$4 m
  if [ "$t" -gt 40 ] || [ "$t" -lt 1 ]; then log "fanout: T must be 1..40 s"; return 1; fi
  if [ "$c" -gt 19000 ]; then log "fanout: one target process holds at most ~19,000 streams"; return 1; fi
  m=$((r * t))
  [ "$m" -ge 1 ] || { log "fanout: R * T must be at least 1"; return 1; }
  begin_scenario "fanout-$c-$r-$s-$t"
  fact scenario fanout
  fact subscribers "$c"; fact rate "$r"; fact size "$s"; fact seconds "$t"; fact messages "$m"
  log "fanout: $c subscribers x $r msg/s x $s B for $t s ($TARGET)"

  start_redis || { fail_scenario "redis-server did not start"; return 1; }
  "target_${TARGET}_start" "$c" || { fail_scenario "$TARGET did not start"; return 1; }
  start_loadgens "$c" --expect "$m" --duration $((t + 15)) --timeout $((SCENARIO_LIMIT - 5))
  wait_for 200 all_ready || { fail_scenario "load generators did not finish their ramp"; return 1; }
  wait_for 50 subscribed || { fail_scenario "$TARGET never subscribed to $CHANNEL"; return 1; }

  fact cpu_ticks_before "$(cpu_ticks "$TARGET_PID")"
  fact rss_kb_before "$(rss_kb "$TARGET_PID")"
  fact t_start_ns "$(now_ns)"
  local pub_timeout=$((2 * t + 5))
  [ $pub_timeout -le 45 ] || pub_timeout=45
  spawn "$SDIR/publisher.json" "$SDIR/publisher.log" "$PUBLISHER" \
    --redis-url "redis://127.0.0.1:$REDIS_PORT" --channel "$CHANNEL" --count "$m" --rate "$r" \
    --size "$s" --timeout "$pub_timeout"
  wait "$LAST_PID" || log "the publisher reported a problem: $(cat "$SDIR/publisher.log")"
  wait_loadgens
  fact t_end_ns "$(now_ns)"
  fact cpu_ticks_after "$(cpu_ticks "$TARGET_PID")"
  fact rss_kb_after "$(rss_kb "$TARGET_PID")"
  end_scenario
}

scenario_idle() { # N T
  local n=$1 t=$2
  if [ "$t" -gt 40 ] || [ "$t" -lt 2 ]; then log "idle: T must be 2..40 s"; return 1; fi
  if [ "$n" -gt 19000 ]; then log "idle: one target process holds at most ~19,000 streams"; return 1; fi
  begin_scenario "idle-$n-$t"
  fact scenario idle
  fact connections "$n"; fact seconds "$t"
  log "idle: $n streams held $t s ($TARGET)"

  start_redis || { fail_scenario "redis-server did not start"; return 1; }
  "target_${TARGET}_start" "$n" || { fail_scenario "$TARGET did not start"; return 1; }
  sleep 0.5
  fact cpu_ticks_before "$(cpu_ticks "$TARGET_PID")"
  fact rss_kb_before "$(rss_kb "$TARGET_PID")"
  fact slab_kb_before "$(slab_kb)"
  fact t_start_ns "$(now_ns)"
  start_loadgens "$n" --idle --duration "$t" --timeout $((SCENARIO_LIMIT - 5))
  wait_for 200 all_ready || { fail_scenario "load generators did not finish their ramp"; return 1; }
  sleep 1 # let the last streams' first writes settle
  fact rss_kb_after "$(rss_kb "$TARGET_PID")"
  fact slab_kb_after "$(slab_kb)"
  wait_loadgens
  fact t_end_ns "$(now_ns)"
  fact cpu_ticks_after "$(cpu_ticks "$TARGET_PID")"
  end_scenario
}

# ---- machine ----
MACHINE=$WORK/machine.txt
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "kernel=$(uname -srm)"
  echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "cores=$(nproc)"
  echo "memory=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "open_files_limit=$(ulimit -n)"
  echo "load_average_at_start=$(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
  echo "target=$("target_${TARGET}_version")"
  echo "redis=$("$REDIS_SERVER" --version | head -n 1)"
  echo "compiler=$(cc --version 2>/dev/null | head -n 1)"
  echo "libs=libuv $(pkg-config --modversion libuv 2>/dev/null), hiredis $(pkg-config --modversion hiredis 2>/dev/null)"
  echo "build=$BUILD ($(awk -F= '/^CMAKE_BUILD_TYPE:/ {print $2}' "$BUILD/CMakeCache.txt" 2>/dev/null))"
  echo "source=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$( [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1)" ] && echo ' + uncommitted changes')"
} >"$MACHINE"

RESULTS=()
status=0
for sc in "${SCENARIOS[@]}"; do
  IFS=: read -r kind a b c d <<<"$sc"
  case $kind in
    fanout) if [[ "$sc" =~ ^fanout:[0-9]+:[0-9]+:[0-9]+:[0-9]+$ ]]; then
              scenario_fanout "$a" "$b" "$c" "$d" || status=1
            else log "bad scenario '$sc' (fanout:C:R:S:T)"; status=1; fi ;;
    idle) if [[ "$sc" =~ ^idle:[0-9]+:[0-9]+$ ]]; then
            scenario_idle "$a" "$b" || status=1
          else log "bad scenario '$sc' (idle:N:T)"; status=1; fi ;;
  esac
done
[ ${#RESULTS[@]} -gt 0 ] || { log "no scenario completed"; exit 1; }
"$PYTHON" "$HERE/report.py" write "$OUT" "$MACHINE" "${RESULTS[@]}" || exit 1
log "wrote $OUT/results.md and $OUT/results.json"
sed -n '/^## Fan-out/,/^## Exact/p' "$OUT/results.md" | grep '^|' >&2
exit $status
