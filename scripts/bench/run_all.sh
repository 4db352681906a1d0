#!/usr/bin/env bash
# The whole sse-bridge vs Nchan comparison in one command, bounded to 25
# minutes: installs the benchmark packages (deps.sh), builds, checks both
# targets deliver every message, then runs every scenario through
# run_bench.sh and writes scripts/bench/results/results.md and results.json
# (machine, versions, exact commands, tables, and the issue's targets).
#
# usage: scripts/bench/run_all.sh [--build DIR] [--no-build] [--out DIR] [--budget SECONDS]
#   --build DIR       build directory (default /tmp/build-nchan)
#   --no-build        use the binaries already in DIR
#   --out DIR         where results.md/json go (default scripts/bench/results)
#   --budget S        wall-time bound for everything (default 1500 = 25 min); a
#                     step that would not fit in what is left is skipped and
#                     listed under Notes, a step that overruns is stopped
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=/tmp/build-nchan
DO_BUILD=1
OUT=$HERE/results
BUDGET=1500
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --no-build) DO_BUILD=0; shift ;;
    --out) OUT=$2; shift 2 ;;
    --budget) BUDGET=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run_all: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$BUDGET" =~ ^[0-9]+$ ]] || { echo "run_all: --budget takes seconds" >&2; exit 2; }

T0=$(date +%s)
WORK=$(mktemp -d /tmp/sse-bench-all.XXXXXX)
STEPS=$WORK/steps.jsonl
LOG=$WORK/run_all.log
PARTS=()
NPART=0
CUR_PID=""
: >"$STEPS"

log() { echo "run_all: [$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG" >&2; }

# The running step (a session of its own) is stopped with everything it started.
stop_current() {
  [ -n "$CUR_PID" ] || return 0
  kill -TERM "$CUR_PID" 2>/dev/null
  local _
  for _ in $(seq 1 75); do kill -0 "$CUR_PID" 2>/dev/null || break; sleep 0.2; done
  kill -KILL -- "-$CUR_PID" 2>/dev/null
  wait "$CUR_PID" 2>/dev/null
  CUR_PID=""
}
cleanup() {
  stop_current
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM

# jrec KEY VALUE ...: appends one JSON object (string values; rc/seconds as numbers) to STEPS.
jrec() {
  /usr/bin/python3 - "$@" >>"$STEPS" <<'EOF'
import json, sys
a = sys.argv[1:]
d = {}
for k, v in zip(a[0::2], a[1::2]):
    d[k] = int(v) if k in ("rc", "seconds") else v
print(json.dumps(d))
EOF
}

left() { echo $((T0 + BUDGET - $(date +%s))); }

# The machine is shared: before a step, wait (bounded) until other work takes
# less than QUIET_CORES of the cores, sampled over 1 s. Every step's figures
# also carry the other load measured during their own windows.
QUIET_CORES=${BENCH_QUIET_CORES:-0.3}
MAX_OTHER=${BENCH_MAX_OTHER:-0.3} # a fan-out or ramp disturbed by more is run again (once)
QUIET_STEP=30   # at most this many seconds of waiting before one step
QUIET_TOTAL=180 # and this many over the whole run
QUIET_USED=0
CLK=$(getconf CLK_TCK)
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
wait_quiet() { # sets QUIET_WAITED (s) and QUIET_BUSY (cores in the last sample)
  local b1 b2
  QUIET_WAITED=0
  while :; do
    b1=$(busy_ticks); sleep 1; b2=$(busy_ticks)
    QUIET_BUSY=$(awk -v d=$((b2 - b1)) -v c="$CLK" 'BEGIN {printf "%.2f", d / c}')
    awk -v b="$QUIET_BUSY" -v q="$QUIET_CORES" 'BEGIN {exit !(b < q)}' && return 0
    QUIET_WAITED=$((QUIET_WAITED + 1)); QUIET_USED=$((QUIET_USED + 1))
    if [ $QUIET_WAITED -ge $QUIET_STEP ] || [ $QUIET_USED -ge $QUIET_TOTAL ]; then return 0; fi
  done
}

# step GROUP ESTIMATE_S [ENV=VALUE...] -- RUN_BENCH_ARGS...: one run_bench.sh
# invocation, skipped when ESTIMATE_S no longer fits in the budget, stopped if
# it overruns what is left.
step() {
  local group=$1 est=$2 envs=() t1 rc part
  shift 2
  while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local what="$group: $*"
  if [ "$(left)" -ge "$est" ]; then
    wait_quiet
    [ "$QUIET_WAITED" -gt 0 ] && log "waited ${QUIET_WAITED}s for other work to calm down (now ${QUIET_BUSY} cores busy)"
  else
    QUIET_WAITED=0; QUIET_BUSY=-
  fi
  if [ "$(left)" -lt "$est" ]; then
    log "skip ($(left)s left, needs ~${est}s): $what"
    jrec skipped 1 what "$what" why "not enough of the ${BUDGET}s budget left ($(left)s, needs ~${est}s)"
    return 0
  fi
  NPART=$((NPART + 1))
  part=$WORK/parts/$NPART
  mkdir -p "$part"
  local max_other=$MAX_OTHER
  [[ "$group" == verify* ]] && max_other="" # correctness runs are not timed: no reruns
  local cmd=("$HERE/run_bench.sh" --build "$BUILD" --out "$part" --group "$group"
    --max-other "$max_other" --deadline $((T0 + BUDGET - 60)) "$@")
  local shown
  shown="$( [ ${#envs[@]} -gt 0 ] && printf '%s ' "${envs[@]}")$(printf '%q ' scripts/bench/run_bench.sh --build "$BUILD" --group "$group" --max-other "$max_other" "$@")"
  log "run: $shown"
  t1=$(date +%s)
  env "${envs[@]}" setsid "${cmd[@]}" >>"$LOG" 2>&1 &
  CUR_PID=$!
  local deadline=$((T0 + BUDGET - 5))
  while kill -0 "$CUR_PID" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      log "budget exhausted: stopping $what"
      jrec note "stopped at the end of the budget: $what"
      stop_current
      break
    fi
    sleep 0.2
  done
  if [ -n "$CUR_PID" ]; then
    wait "$CUR_PID"
    rc=$?
    kill -KILL -- "-$CUR_PID" 2>/dev/null # nothing should be left; make sure
    CUR_PID=""
  else
    rc=124
  fi
  jrec cmd "$shown" rc "$rc" seconds $(($(date +%s) - t1)) group "$group" \
    quiet_wait_s "$QUIET_WAITED" busy_cores_before "$QUIET_BUSY"
  [ -s "$part/results.json" ] && PARTS+=("$part/results.json")
  LAST_PART=$part
  return 0
}

# ---- set-up ----
log "work files in $WORK (removed at the end); log: $LOG"
"$HERE/deps.sh" 2>&1 | tee -a "$LOG" >&2 || { log "deps.sh failed"; exit 1; }
if [ "$DO_BUILD" = 1 ]; then
  log "building $BUILD"
  { cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
    cmake --build "$BUILD" -j2; } >>"$LOG" 2>&1 || { log "build failed (see $LOG)"; tail -n 20 "$LOG" >&2; exit 1; }
fi
BUILD=$(cd "$BUILD" && pwd)
BRIDGE=$BUILD/bridge/sse-bridge
[ -x "$BRIDGE" ] || { log "$BRIDGE missing"; exit 1; }
HAS_REUSEPORT=0; HAS_COALESCE=0
HELP=$("$BRIDGE" --help 2>/dev/null) # (no pipe into grep -q: pipefail + SIGPIPE)
[[ "$HELP" == *--reuseport* ]] && HAS_REUSEPORT=1
[[ "$HELP" == *--coalesce-ms* ]] && HAS_COALESCE=1

MACHINE=$WORK/machine.txt
{
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "kernel=$(uname -srm)"
  echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "cores=$(nproc)"
  echo "memory=$(awk '/^MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "open_files_limit=$(ulimit -Hn) per process (hard)"
  echo "load_average_at_start=$(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
  echo "sse_bridge=$("$BRIDGE" --version 2>&1 | head -n 1) (--reuseport: $([ $HAS_REUSEPORT = 1 ] && echo yes || echo no), --coalesce-ms: $([ $HAS_COALESCE = 1 ] && echo yes || echo no))"
  echo "nginx=$(/usr/sbin/nginx -v 2>&1 | sed 's/^.*: //')"
  echo "nchan=libnginx-mod-nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null) (Debian package of Nchan)"
  echo "redis=$(redis-server --version | head -n 1)"
  echo "compiler=$(cc --version 2>/dev/null | head -n 1)"
  echo "libs=libuv $(pkg-config --modversion libuv 2>/dev/null), hiredis $(pkg-config --modversion hiredis 2>/dev/null), liburing $(pkg-config --modversion liburing 2>/dev/null)"
  echo "build=$BUILD ($(awk -F= '/^CMAKE_BUILD_TYPE:/ {print $2}' "$BUILD/CMakeCache.txt" 2>/dev/null))"
  echo "source=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$( [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1)" ] && echo ' + uncommitted changes')"
  echo "budget=${BUDGET} s"
} >"$MACHINE"

B=(--target bridge --label sse-bridge)
N=(--target nchan --label "nchan (memory)")
R=(--target nchan-redis --label "nchan (redis)")

# ---- correctness first: 0 missing, and exactly one per stream when one is left out ----
for t in B N R; do
  declare -n tgt=$t
  step verify 20 -- "${tgt[@]}" fanout:100:500:200:2
  step verify-drop 20 BENCH_DROP=500 -- "${tgt[@]}" fanout:100:500:200:2
  unset -n tgt
done

# ---- idle memory (2 runs each, interleaved) ----
for rep in 1 2; do
  step idle 40 -- "${B[@]}" idle:10000:3 idle:19000:3
  step idle 40 -- "${N[@]}" idle:10000:3 idle:19000:3
done

# ---- fan-out 1,000 subscribers x 100, 300, 1,000 msg/s (2 runs each) ----
for rep in 1 2; do
  step fanout 80 -- "${B[@]}" fanout:1000:100:200:10 fanout:1000:300:200:10 fanout:1000:1000:200:10
  step fanout 110 -- "${N[@]}" fanout:1000:100:200:10 fanout:1000:300:200:10 fanout:1000:1000:200:10
done

# ---- 10,000 subscribers ----
for rep in 1 2; do
  step fanout10k 30 -- "${B[@]}" fanout:10000:10:200:10
  step fanout10k 40 -- "${N[@]}" fanout:10000:10:200:10
  step fanout10k 45 -- "${R[@]}" fanout:10000:10:200:10
done
step fanout10k 40 -- "${B[@]}" fanout:10000:100:200:10
step fanout10k 50 -- "${N[@]}" fanout:10000:100:200:10

# ---- 8 KB payloads ----
for rep in 1 2; do
  step 8k 25 -- "${B[@]}" fanout:1000:100:8192:10
  step 8k 40 -- "${N[@]}" fanout:1000:100:8192:10
  step 8k 40 -- "${R[@]}" fanout:1000:100:8192:10
done

# ---- saturation search ----
SAT=sat:1000:200:5:50,70,100,140,200,280,400,560,800,1120,1600,2240,3200,4480,6400
step sat 150 -- "${B[@]}" "$SAT"
step sat 60 -- "${N[@]}" "$SAT"
step sat 60 -- "${R[@]}" "$SAT"

# ---- connection ramp ----
for rep in 1 2; do
  step ramp 12 -- "${B[@]}" ramp:10000
  step ramp 12 -- "${N[@]}" ramp:10000
done

# ---- two processes ----
if [ $HAS_REUSEPORT = 1 ]; then
  step reuseport 45 -- --target bridge --workers 2 --label "sse-bridge x2 (--reuseport)" \
    fanout:10000:10:200:10 idle:30000:3
  step reuseport 55 -- --target nchan --workers 2 --label "nchan (memory) x2 workers" \
    fanout:10000:10:200:10 idle:30000:3
else
  jrec skipped 1 what "2 bridge processes with --reuseport vs nginx with 2 workers" \
    why "this sse-bridge has no --reuseport"
fi

# ---- --coalesce-ms trade-off ----
if [ $HAS_COALESCE = 1 ]; then
  for c in 0 1 5 20; do
    step coalesce 25 -- --target bridge --target-args "--coalesce-ms $c" \
      --label "sse-bridge --coalesce-ms $c" fanout:1000:1000:200:10
  done
  # The same knob where the CPU target is set (1,000 x 100 msg/s).
  for c in 5 20; do
    step coalesce 25 -- --target bridge --target-args "--coalesce-ms $c" \
      --label "sse-bridge --coalesce-ms $c" fanout:1000:100:200:10
  done
else
  jrec skipped 1 what "--coalesce-ms trade-off" why "this sse-bridge has no --coalesce-ms"
fi

# ---- the write path: one io_uring submit per flush against one write() per connection ----
# Alternating runs of both, so the comparison does not hang on one quiet or busy moment.
for rep in 1 2; do
  step writepath 55 -- --target bridge --label "sse-bridge (io_uring, default)" \
    fanout:1000:100:200:10 fanout:10000:10:200:10
  step writepath 55 -- --target bridge --target-args "--io-uring off" \
    --label "sse-bridge --io-uring off" fanout:1000:100:200:10 fanout:10000:10:200:10
done

# ---- a profile of the bridge where the CPU target is tightest ----
if perf record -e cpu-clock -o /dev/null -- true >/dev/null 2>&1; then
  step perf 30 PERF_SECONDS=5 -- "${B[@]}" --keep fanout:1000:100:200:10
  kept=$(grep -o 'work files kept in [^ ]*' "$LOG" | tail -n 1 | sed 's/.* in //')
  sd=$(ls -d "$kept"/fanout-1000-100-200-10-r1-* 2>/dev/null | head -n 1)
  if [ -n "$kept" ] && [ -s "$sd/perf-flat.txt" ]; then
    mkdir -p "$OUT"
    cp "$sd/perf-flat.txt" "$OUT/perf-bridge-1000x100.txt"
    [ -s "$sd/perf-report.txt" ] && cp "$sd/perf-report.txt" "$OUT/perf-bridge-1000x100-callgraph.txt"
    /usr/bin/python3 - "$sd/perf-dso.txt" "$sd/perf-flat.txt" >>"$STEPS" <<'EOF'
import json, sys
def body(path, n):
    try:
        with open(path) as f:
            return [l.rstrip() for l in f if l.strip() and not l.startswith("#")][:n]
    except OSError:
        return []
print(json.dumps({"perf": ["by object:"] + body(sys.argv[1], 6) + ["", "top symbols (self):"]
                  + body(sys.argv[2], 25), "title":
    "`perf record -e cpu-clock -g` of the sse-bridge process for 5 s of a 1,000 × 100 msg/s "
    "fan-out (a separate run from the tables; call graphs in perf-bridge-1000x100-callgraph.txt):"}))
EOF
  fi
  [ -n "$kept" ] && [ -d "$kept" ] && rm -rf "$kept"
else
  jrec skipped 1 what "perf profile" why "perf record does not work here"
fi

# ---- report ----
wall=$(($(date +%s) - T0))
echo "wall_time=$((wall / 60)) min $((wall % 60)) s for the whole run" >>"$MACHINE"
[ ${#PARTS[@]} -gt 0 ] || { log "no results"; exit 1; }
mkdir -p "$OUT"
/usr/bin/python3 "$HERE/report.py" final "$OUT" "$MACHINE" "$STEPS" "${PARTS[@]}" 2>&1 | tee -a "$LOG" >&2 ||
  { log "report failed"; exit 1; }
log "wrote $OUT/results.md and $OUT/results.json in $((wall / 60)) min $((wall % 60)) s"
