#!/usr/bin/env bash
# Benchmark driver: runs scenarios against a target (sse-bridge, or Nchan in
# nginx with its memory or Redis store) on this machine, over loopback, and
# writes results.md + results.json. run_all.sh runs the whole comparison.
#
# usage: scripts/bench/run_bench.sh [options] [SCENARIO...]
#   --target NAME     bridge (default), nchan (memory store), nchan-redis
#   --workers N       bridge: N processes sharing the port with --reuseport;
#                     nchan: worker_processes N (default 1)
#   --target-args A   extra arguments for the bridge, e.g. "--coalesce-ms 5"
#   --label TEXT      name of this configuration in the tables
#   --group NAME      tag the scenarios carry into results.json (run_all.sh)
#   --repeat K        run every scenario K times (default 1)
#   --max-other C     rerun a fan-out or ramp (once, or --retries K times) when
#                     other work on the machine took more than C cores during
#                     its window; the disturbed run is kept, flagged "disturbed"
#   --deadline EPOCH  start no rerun that would end after this time (run_all.sh)
#   --build DIR  --out DIR  --keep (keep the work files)
# Scenarios:
#   fanout:C:R:S:T    C subscribers of one channel, R msg/s, S-byte payloads, T seconds
#   idle:N:T          N idle streams held T seconds: target RSS growth / N
#   ramp:N            N streams opened as fast as the load generator can: connections/s
#   sat:C:S:T:R1,R2.. fanout:C:R:S:T for each rate in turn until one fails
#                     (p99 >= 100 ms, anything missing, or a stream lost)
# Environment: BENCH_DROP=SEQ makes the publisher leave SEQ out (every
# stream must then miss exactly one); PERF_SECONDS=S profiles the target
# during fan-outs (perf record -g).
# Default: fanout:1000:100:200:10 idle:10000:5. Each scenario gets a fresh
# redis-server and target and is bounded to about 60 s (T <= 40).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BUILD=$ROOT/build
TARGET=bridge
WORKERS=1
TARGET_ARGS=""
LABEL=""
GROUP=""
REPEAT=1
OUT=$HERE/results
KEEP=0
MAX_OTHER=""
RETRIES=1
DEADLINE=0
SCENARIOS=()
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$(cd "$2" && pwd) || exit 2; shift 2 ;;
    --target) TARGET=$2; shift 2 ;;
    --workers) WORKERS=$2; shift 2 ;;
    --target-args) TARGET_ARGS=$2; shift 2 ;;
    --label) LABEL=$2; shift 2 ;;
    --group) GROUP=$2; shift 2 ;;
    --repeat) REPEAT=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --max-other) MAX_OTHER=$2; shift 2 ;;
    --retries) RETRIES=$2; shift 2 ;;
    --deadline) DEADLINE=$2; shift 2 ;;
    -h|--help) sed -n '2,29p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    fanout:*|idle:*|ramp:*|sat:*) SCENARIOS+=("$1"); shift ;;
    *) echo "run_bench: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(fanout:1000:100:200:10 idle:10000:5)
[[ "$WORKERS" =~ ^[1-8]$ ]] || { echo "run_bench: --workers must be 1..8" >&2; exit 2; }
[[ "$REPEAT" =~ ^[1-9]$ ]] || { echo "run_bench: --repeat must be 1..9" >&2; exit 2; }

LOADGEN=$BUILD/scripts/bench/sse-loadgen
PUBLISHER=$BUILD/scripts/bench/sse-publisher
BRIDGE=$BUILD/bridge/sse-bridge
REDIS_SERVER=${REDIS_SERVER:-redis-server}
REDIS_CLI=${REDIS_CLI:-redis-cli}
NGINX=${NGINX:-/usr/sbin/nginx}
PYTHON=/usr/bin/python3
PER_LOADGEN=15000 # streams per load generator process (20,000 descriptors each)
PER_TARGET=19000  # streams one target process can hold (20,000 descriptors)
SCENARIO_LIMIT=60 # seconds
CHANNEL=bench
SAT_P99_US=100000 # saturation: p99 must stay below this
for bin in "$LOADGEN" "$PUBLISHER"; do
  [ -x "$bin" ] || { echo "run_bench: $bin not built (cmake --build $BUILD)" >&2; exit 2; }
done

ulimit -n "$(ulimit -Hn)" 2>/dev/null
WORK=$(mktemp -d /tmp/sse-bench.XXXXXX)
chmod 755 "$WORK" # nginx workers may run as another user
PIDS=()         # every process this script started and has not reaped yet
NGINX_WORKERS=() # worker pids of the nginx this script started

log() { echo "run_bench: $*" >&2; }

# Is PID one of our nginx workers (and not a recycled pid)?
is_nginx_worker() { grep -q '^nginx: worker' "/proc/$1/cmdline" 2>/dev/null; }

stop_pids() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null; done
  PIDS=()
  for pid in "${NGINX_WORKERS[@]}"; do
    is_nginx_worker "$pid" && kill -KILL "$pid" 2>/dev/null
  done
  NGINX_WORKERS=()
}
cleanup() {
  stop_pids
  if [ "$KEEP" = 1 ]; then echo "run_bench: work files kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

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

# Waits for one spawned process and forgets it (its pid may be reused after).
reap() {
  local pid=$1 p keep=()
  wait "$pid" 2>/dev/null
  local rc=$?
  for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
  PIDS=("${keep[@]}")
  return $rc
}

cpu_ticks() { # utime + stime of processes, in clock ticks
  local stat rest pid sum=0
  for pid in "$@"; do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    rest=${stat##*) }
    set -- $rest # split on purpose: the fields after the command name
    sum=$((sum + ${12} + ${13}))
  done
  echo "$sum"
}
rss_kb() { # summed VmRSS of processes
  local pid sum=0 v
  for pid in "$@"; do
    v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null)
    sum=$((sum + ${v:-0}))
  done
  echo "$sum"
}
slab_kb() { awk '/^Slab:/ {print $2}' /proc/meminfo; }
# Machine-wide busy and steal ticks (/proc/stat): what other work on the
# machine took during a window is this minus what our processes took.
machine_busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
machine_steal() { awk '/^cpu / {print $9}' /proc/stat; }
now_ns() { date +%s%N; }
fact() { echo "$1=$2" >>"$SDIR/facts.txt"; }

start_redis() {
  REDIS_PORT=$(free_port) || return 1
  spawn "$SDIR/redis.log" "$SDIR/redis.err" "$REDIS_SERVER" --port "$REDIS_PORT" \
    --bind 127.0.0.1 --save "" --appendonly no
  REDIS_PID=$LAST_PID
  wait_for 50 "$REDIS_CLI" -p "$REDIS_PORT" ping
}

# window_begin / window_end: the facts every measured window records.
window_begin() {
  fact cpu_ticks_before "$(cpu_ticks "${TARGET_CPU_PIDS[@]}")"
  fact redis_ticks_before "$(cpu_ticks "$REDIS_PID")"
  fact loadgen_ticks_before "$(cpu_ticks "${LG_PIDS[@]}")"
  fact machine_busy_before "$(machine_busy)"
  fact machine_steal_before "$(machine_steal)"
  fact t_start_ns "$(now_ns)"
}
window_end() {
  fact t_end_ns "$(now_ns)"
  fact cpu_ticks_after "$(cpu_ticks "${TARGET_CPU_PIDS[@]}")"
  fact redis_ticks_after "$(cpu_ticks "$REDIS_PID")"
  fact machine_busy_after "$(machine_busy)"
  fact machine_steal_after "$(machine_steal)"
}

numsub() { "$REDIS_CLI" -p "$REDIS_PORT" pubsub numsub "$1" | tail -n 1; }

# ---- Targets ----
# A target NAME (function names use _ for -) is these functions:
#   target_NAME_version        prints one line naming it and its version
#   target_NAME_start STREAMS  starts it against redis on $REDIS_PORT, sized for
#                              STREAMS connections, with spawn (so the command is
#                              recorded and the process stopped at the end); sets
#                              TARGET_URL (the SSE URL of $CHANNEL), TARGET_EVENT
#                              (the event type its stream gives the payloads),
#                              TARGET_CPU_PIDS (processes whose CPU is summed),
#                              TARGET_RSS_PIDS (processes whose RSS growth is the
#                              memory figure) and PUBLISH_ARGS (how sse-publisher
#                              reaches it)
#   target_NAME_ready N        true once N streams are subscribed end to end, so
#                              that a message published now reaches all of them
#   target_NAME_stop           optional: anything spawn does not cover

bridge_has() { # (no pipe into grep -q: with pipefail its early exit can fail the pipe)
  local help
  help=$("$BRIDGE" --help 2>/dev/null)
  [[ "$help" == *"$1"* ]]
}

target_bridge_version() { "$BRIDGE" --version 2>&1 | head -n 1; }

target_bridge_start() {
  local port limit=$(($1 + 1000)) i extra=()
  [ -x "$BRIDGE" ] || { log "$BRIDGE not built"; return 1; }
  if [ "$WORKERS" -gt 1 ]; then
    bridge_has --reuseport || { log "this sse-bridge has no --reuseport"; return 1; }
    extra+=(--reuseport)
  fi
  # shellcheck disable=SC2206 # split on purpose: several arguments in one string
  [ -n "$TARGET_ARGS" ] && extra+=($TARGET_ARGS)
  port=$(free_port) || return 1
  TARGET_CPU_PIDS=()
  for i in $(seq 1 "$WORKERS"); do
    spawn "$SDIR/target-$i.log" "$SDIR/target-$i.err" "$BRIDGE" --listen "127.0.0.1:$port" \
      --redis-url "redis://127.0.0.1:$REDIS_PORT" --channels "$CHANNEL" --log-level warn \
      --heartbeat-interval 30 --max-connections "$limit" --max-connections-per-ip "$limit" \
      "${extra[@]}"
    TARGET_CPU_PIDS+=("$LAST_PID")
    # With --reuseport a second process binding before the first listens is
    # fine, but one at a time keeps the start-up errors readable.
    wait_for 50 port_open "$port" || return 1
  done
  TARGET_RSS_PIDS=("${TARGET_CPU_PIDS[@]}")
  TARGET_URL="http://127.0.0.1:$port/events?channels=$CHANNEL"
  TARGET_EVENT=$CHANNEL
  PUBLISH_ARGS=(--redis-url "redis://127.0.0.1:$REDIS_PORT" --channel "$CHANNEL")
}

# Every bridge process holds streams, so each has subscribed to the channel.
target_bridge_ready() { [ "$(numsub "$CHANNEL")" -ge "$WORKERS" ]; }

# ---- Nchan (nginx module) ----
nchan_module() {
  dpkg -L libnginx-mod-nchan 2>/dev/null | grep '/ngx_nchan_module\.so$' | head -n 1
}

target_nchan_version() {
  echo "nginx $("$NGINX" -v 2>&1 | sed 's/^.*nginx\///'), nchan $(dpkg-query -W \
    -f='${Version}' libnginx-mod-nchan 2>/dev/null) (libnginx-mod-nchan)"
}
target_nchan_redis_version() { target_nchan_version; }

# nginx_conf PREFIX PORT STORE(memory|redis): writes PREFIX/nginx.conf.
nginx_conf() {
  local p=$1 port=$2 store=$3 module user="" listen_opts="backlog=1024" redis_pass=""
  module=$(nchan_module)
  [ -n "$module" ] || { log "libnginx-mod-nchan is not installed (scripts/bench/deps.sh)"; return 1; }
  [ "$(id -u)" = 0 ] && user="user root;"
  # Several workers: one listening socket each (as the bridge processes have).
  [ "$WORKERS" -gt 1 ] && listen_opts="$listen_opts reuseport"
  [ "$store" = redis ] && redis_pass="nchan_redis_pass bench_redis;"
  mkdir -p "$p/tmp"
  cat >"$p/nginx.conf" <<EOF
# Generated by scripts/bench/run_bench.sh ($store store, $WORKERS worker(s)).
load_module $module;
$user
worker_processes $WORKERS;
worker_rlimit_nofile 20000;
pid $p/nginx.pid;
error_log $p/error.log warn;
events {
  # nginx closes connections still waiting for their request once fewer than
  # 1/16 of worker_connections are free, so 19,000 streams need > 20,267
  # (it warns that this exceeds the descriptor limit; the streams fit).
  worker_connections 21000;
}
http {
  access_log off;
  client_body_temp_path $p/tmp/body;
  proxy_temp_path $p/tmp/proxy;
  fastcgi_temp_path $p/tmp/fastcgi;
  uwsgi_temp_path $p/tmp/uwsgi;
  scgi_temp_path $p/tmp/scgi;
  client_body_buffer_size 64k; # 8 KB payloads stay in memory
  client_max_body_size 1m;
  keepalive_requests 100000000; # the publisher's keep-alive connections stay open
  keepalive_timeout 300s;
$( [ "$store" = redis ] && echo "  upstream bench_redis { nchan_redis_server redis://127.0.0.1:$REDIS_PORT; }")
  server {
    listen 127.0.0.1:$port $listen_opts;
    location ~ ^/sub/([A-Za-z0-9_]+)\$ {
      nchan_subscriber eventsource;
      nchan_channel_id \$1;
      nchan_subscriber_first_message newest;
      $redis_pass
    }
    location ~ ^/pub/([A-Za-z0-9_]+)\$ {
      nchan_publisher;
      nchan_channel_id \$1;
      $redis_pass
    }
    location = /nchan_status {
      nchan_stub_status;
    }
  }
}
EOF
}

nginx_workers() { # prints the worker pids of master $1
  local pid
  for pid in $(pgrep -P "$1" 2>/dev/null); do is_nginx_worker "$pid" && echo "$pid"; done
}

nchan_start() { # STREAMS STORE
  local port p=$SDIR/nginx master
  [ -x "$NGINX" ] || { log "$NGINX missing (scripts/bench/deps.sh)"; return 1; }
  if [ "$1" -gt $((WORKERS * PER_TARGET)) ]; then log "nchan: too many streams per worker"; return 1; fi
  port=$(free_port) || return 1
  mkdir -p "$p"
  chmod 755 "$p"
  nginx_conf "$p" "$port" "$2" || return 1
  cp "$p/nginx.conf" "$SDIR/nginx.conf"
  spawn "$SDIR/target.log" "$SDIR/target.err" "$NGINX" -p "$p" -c "$p/nginx.conf" \
    -g 'daemon off; master_process on;'
  master=$LAST_PID
  wait_for 50 port_open "$port" || return 1
  nchan_count_workers() { [ "$(nginx_workers "$master" | wc -l)" -ge "$WORKERS" ]; }
  wait_for 50 nchan_count_workers || { log "nginx did not start $WORKERS worker(s)"; return 1; }
  mapfile -t NGINX_WORKERS < <(nginx_workers "$master")
  TARGET_CPU_PIDS=("$master" "${NGINX_WORKERS[@]}")
  TARGET_RSS_PIDS=("${NGINX_WORKERS[@]}")
  NCHAN_PORT=$port
  NCHAN_MASTER=$master
  TARGET_URL="http://127.0.0.1:$port/sub/$CHANNEL"
  TARGET_EVENT=message # Nchan's events carry id: and data: only
  PUBLISH_ARGS=(--http "127.0.0.1:$port/pub/$CHANNEL")
}

target_nchan_start() { nchan_start "$1" memory; }
target_nchan_redis_start() { nchan_start "$1" redis; }

nchan_subscribers() {
  curl -s --max-time 2 "http://127.0.0.1:$NCHAN_PORT/nchan_status" |
    awk -F': ' '/^subscribers:/ {print $2}'
}
target_nchan_ready() { [ "$(nchan_subscribers)" -ge "$1" ]; }
# The Redis store: the worker(s) must also have subscribed to the channel's
# Redis pub/sub channel.
target_nchan_redis_ready() {
  target_nchan_ready "$1" && [ "$(numsub "{channel:/$CHANNEL}:pubsub")" -ge 1 ]
}

nchan_stop() {
  local _
  [ -n "${NCHAN_MASTER:-}" ] || return 0
  kill -TERM "$NCHAN_MASTER" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$NCHAN_MASTER" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$NCHAN_MASTER" 2>/dev/null
  reap "$NCHAN_MASTER"
  NCHAN_MASTER=
}
target_nchan_stop() { nchan_stop; }
target_nchan_redis_stop() { nchan_stop; }

TFN=${TARGET//-/_}
if ! declare -F "target_${TFN}_start" >/dev/null; then
  echo "run_bench: unknown target '$TARGET' (known: bridge, nchan, nchan-redis)" >&2
  exit 2
fi
if [ "$TARGET" != bridge ]; then
  "$HERE/deps.sh" || { log "benchmark dependencies missing"; exit 2; }
fi
if [ -z "$LABEL" ]; then
  LABEL=$TARGET
  [ "$WORKERS" -gt 1 ] && LABEL="$TARGET x$WORKERS"
  [ -n "$TARGET_ARGS" ] && LABEL="$LABEL $TARGET_ARGS"
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
      --event "$TARGET_EVENT" --connections "$share" --sources 4 --progress 0 \
      --ready-file "$SDIR/ready-$i" "$@"
    LG_PIDS+=("$LAST_PID")
  done
}

all_ready() {
  local i
  for i in $(seq 1 ${#LG_PIDS[@]}); do [ -f "$SDIR/ready-$i" ] || return 1; done
}
established_now() { # streams the load generators report established at their ramp's end
  local i sum=0 e _
  for i in $(seq 1 ${#LG_PIDS[@]}); do
    read -r e _ <"$SDIR/ready-$i" || e=0
    sum=$((sum + e))
  done
  echo "$sum"
}

wait_loadgens() {
  local pid
  for pid in "${LG_PIDS[@]}"; do reap "$pid"; done
}

SCN=0 # scenarios begun, for unique work directories
begin_scenario() { # begin_scenario NAME
  SCN=$((SCN + 1))
  SDIR=$WORK/$1-r$REP-$SCN
  mkdir -p "$SDIR"
  : >"$SDIR/commands.txt"
  : >"$SDIR/facts.txt"
  fact name "$1"
  fact target "$TARGET"
  fact label "$LABEL"
  fact group "$GROUP"
  fact workers "$WORKERS"
  fact target_args "$TARGET_ARGS"
  fact repeat "$REP"
  fact target_version "$("target_${TFN}_version")"
  fact clk_tck "$(getconf CLK_TCK)"
  fact load_before "$(cut -d' ' -f1 /proc/loadavg)"
  NCHAN_MASTER=
}

end_scenario() {
  declare -F "target_${TFN}_stop" >/dev/null && "target_${TFN}_stop"
  stop_pids
  [ -f "$SDIR/nginx/error.log" ] && grep -E '\[(emerg|alert|crit|error)\]' "$SDIR/nginx/error.log" |
    head -n 20 >"$SDIR/target-errors.txt"
  "$PYTHON" "$HERE/report.py" scenario "$SDIR" >"$SDIR/scenario.json" \
    || { log "cannot summarize $SDIR"; return 1; }
  RESULTS+=("$SDIR/scenario.json")
}

fail_scenario() {
  log "scenario failed: $*"
  local f
  for f in "$SDIR"/*.log "$SDIR"/*.err "$SDIR"/nginx/error.log; do
    [ -s "$f" ] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }
  done
  declare -F "target_${TFN}_stop" >/dev/null && "target_${TFN}_stop"
  stop_pids
  return 1
}

check_streams() { # N: refuses scenarios one target process cannot hold
  if [ "$1" -gt $((WORKERS * PER_TARGET)) ]; then
    log "$1 streams: one target process holds at most ~$PER_TARGET (use --workers)"
    return 1
  fi
}

scenario_fanout() { # C R S T
  local c=$1 r=$2 s=$3 t=$4 m est
  if [ "$t" -gt 40 ] || [ "$t" -lt 1 ]; then log "fanout: T must be 1..40 s"; return 1; fi
  check_streams "$c" || return 1
  m=$((r * t))
  [ "$m" -ge 1 ] || { log "fanout: R * T must be at least 1"; return 1; }
  begin_scenario "fanout-$c-$r-$s-$t"
  fact scenario fanout
  fact subscribers "$c"; fact rate "$r"; fact size "$s"; fact seconds "$t"; fact messages "$m"
  log "fanout: $c subscribers x $r msg/s x $s B for $t s ($LABEL)"

  start_redis || { fail_scenario "redis-server did not start"; return 1; }
  "target_${TFN}_start" "$c" || { fail_scenario "$TARGET did not start"; return 1; }
  start_loadgens "$c" --ramp-rate 5000 --max-pending 512 --expect "$m" \
    --duration $((t + 15)) --timeout $((SCENARIO_LIMIT - 5)) --max-line $((s + 4096))
  wait_for 200 all_ready || { fail_scenario "load generators did not finish their ramp"; return 1; }
  est=$(established_now)
  wait_for 100 "target_${TFN}_ready" "$est" ||
    { fail_scenario "$TARGET never subscribed $est streams to $CHANNEL"; return 1; }

  fact rss_kb_before "$(rss_kb "${TARGET_RSS_PIDS[@]}")"
  window_begin
  local pub_timeout=$((2 * t + 5))
  [ $pub_timeout -le 45 ] || pub_timeout=45
  local perf_pid=""
  if [ -n "${PERF_SECONDS:-}" ]; then perf_profile & perf_pid=$!; fi
  local drop=()
  [ -n "${BENCH_DROP:-}" ] && { drop=(--drop "$BENCH_DROP"); fact dropped_seq "$BENCH_DROP"; }
  spawn "$SDIR/publisher.json" "$SDIR/publisher.log" "$PUBLISHER" "${PUBLISH_ARGS[@]}" \
    --count "$m" --rate "$r" --size "$s" --timeout "$pub_timeout" "${drop[@]}"
  reap "$LAST_PID" || log "the publisher reported a problem: $(tail -n 3 "$SDIR/publisher.log")"
  wait_loadgens
  window_end
  fact rss_kb_after "$(rss_kb "${TARGET_RSS_PIDS[@]}")"
  [ -n "$perf_pid" ] && wait "$perf_pid" # the profiler
  end_scenario
}

# PERF_SECONDS=S: records S seconds of call graphs of the target's processes
# (perf record -g, software cpu-clock) into the scenario directory.
perf_profile() {
  local pids
  pids=$(IFS=,; echo "${TARGET_CPU_PIDS[*]}")
  sleep 1
  perf record -e cpu-clock -F 999 -g -p "$pids" -o "$SDIR/perf.data" -- sleep "$PERF_SECONDS" \
    >/dev/null 2>"$SDIR/perf.err"
  perf report -i "$SDIR/perf.data" --no-children --stdio --percent-limit 1.5 \
    >"$SDIR/perf-report.txt" 2>/dev/null
  perf report -i "$SDIR/perf.data" --no-children --stdio -g none --percent-limit 0.5 \
    >"$SDIR/perf-flat.txt" 2>/dev/null
  perf report -i "$SDIR/perf.data" --no-children --stdio -g none --sort dso \
    >"$SDIR/perf-dso.txt" 2>/dev/null
  rm -f "$SDIR/perf.data"
}

scenario_idle() { # N T
  local n=$1 t=$2
  if [ "$t" -gt 40 ] || [ "$t" -lt 2 ]; then log "idle: T must be 2..40 s"; return 1; fi
  check_streams "$n" || return 1
  begin_scenario "idle-$n-$t"
  fact scenario idle
  fact connections "$n"; fact seconds "$t"
  log "idle: $n streams held $t s ($LABEL)"

  start_redis || { fail_scenario "redis-server did not start"; return 1; }
  "target_${TFN}_start" "$n" || { fail_scenario "$TARGET did not start"; return 1; }
  sleep 0.5
  fact rss_kb_before "$(rss_kb "${TARGET_RSS_PIDS[@]}")"
  fact rss_pids "${TARGET_RSS_PIDS[*]}"
  fact slab_kb_before "$(slab_kb)"
  LG_PIDS=()
  window_begin
  start_loadgens "$n" --idle --ramp-rate 5000 --max-pending 512 --duration "$t" \
    --timeout $((SCENARIO_LIMIT - 5))
  wait_for 250 all_ready || { fail_scenario "load generators did not finish their ramp"; return 1; }
  sleep 1 # let the last streams' first writes settle
  fact rss_kb_after "$(rss_kb "${TARGET_RSS_PIDS[@]}")"
  fact slab_kb_after "$(slab_kb)"
  wait_loadgens
  window_end
  end_scenario
}

scenario_ramp() { # N: connections opened as fast as the load generator can
  local n=$1
  check_streams "$n" || return 1
  begin_scenario "ramp-$n"
  fact scenario ramp
  fact connections "$n"
  log "ramp: $n streams as fast as possible ($LABEL)"
  start_redis || { fail_scenario "redis-server did not start"; return 1; }
  "target_${TFN}_start" "$n" || { fail_scenario "$TARGET did not start"; return 1; }
  sleep 0.5
  LG_PIDS=()
  window_begin
  # Unlimited rate; at most 1,000 connects in flight (the listen backlog of
  # both targets is 1,024, so none should be dropped and retried).
  start_loadgens "$n" --idle --ramp-rate 1000000 --max-pending 1000 --duration 1 \
    --timeout $((SCENARIO_LIMIT - 5))
  wait_loadgens
  window_end
  end_scenario
}

# disturbed SCENARIO_JSON: true (and the JSON flagged) when other work on the
# machine took more than MAX_OTHER cores during the scenario's window.
disturbed() {
  [ -n "$MAX_OTHER" ] || return 1
  "$PYTHON" - "$1" "$MAX_OTHER" <<'EOF'
import json, sys
path, limit = sys.argv[1], float(sys.argv[2])
s = json.load(open(path))
other = s["figures"].get("other_cpu_cores")
if other is None or other <= limit:
    sys.exit(1)
s["disturbed"] = True
with open(path, "w") as f:
    json.dump(s, f)
EOF
}

# measured KIND ARGS...: runs scenario_KIND, and again (at most RETRIES more
# times, and only while DEADLINE allows) when other work disturbed it.
measured() {
  local kind=$1 attempt t0 took
  shift
  for attempt in $(seq 0 "$RETRIES"); do
    t0=$(date +%s)
    "scenario_$kind" "$@" || return 1
    disturbed "${RESULTS[-1]}" || return 0
    took=$(($(date +%s) - t0))
    log "$kind $*: other work took more than $MAX_OTHER cores during the window (run flagged disturbed)"
    if [ "$attempt" -ge "$RETRIES" ]; then return 0; fi
    if [ "$DEADLINE" -gt 0 ] && [ $(($(date +%s) + took + 5)) -gt "$DEADLINE" ]; then return 0; fi
    log "rerunning it"
  done
}

# sat_passed SCENARIO_JSON: the saturation criterion.
sat_passed() {
  "$PYTHON" - "$1" "$SAT_P99_US" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
f = s["figures"]
p99 = f["latency_us"]["p99"]
ok = (f["missing"] == 0 and p99 is not None and p99 < float(sys.argv[2])
      and f["connections_established"] == f["connections_requested"]
      and f["connections_dropped"] == 0)
sys.exit(0 if ok else 1)
EOF
}

scenario_sat() { # C S T RATES(comma-separated)
  local c=$1 s=$2 t=$3 rates=$4 r
  IFS=, read -r -a rlist <<<"$rates"
  for r in "${rlist[@]}"; do
    measured fanout "$c" "$r" "$s" "$t" || return 1
    if ! sat_passed "${RESULTS[-1]}"; then
      log "saturation: $LABEL fails the criterion at $r msg/s; stopping here"
      break
    fi
  done
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
  echo "target=$("target_${TFN}_version")"
  echo "redis=$("$REDIS_SERVER" --version | head -n 1)"
  echo "compiler=$(cc --version 2>/dev/null | head -n 1)"
  echo "libs=libuv $(pkg-config --modversion libuv 2>/dev/null), hiredis $(pkg-config --modversion hiredis 2>/dev/null)"
  echo "build=$BUILD ($(awk -F= '/^CMAKE_BUILD_TYPE:/ {print $2}' "$BUILD/CMakeCache.txt" 2>/dev/null))"
  echo "source=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$( [ -n "$(git -C "$ROOT" status --porcelain 2>/dev/null | head -n 1)" ] && echo ' + uncommitted changes')"
} >"$MACHINE"

RESULTS=()
status=0
for REP in $(seq 1 "$REPEAT"); do
  for sc in "${SCENARIOS[@]}"; do
    IFS=: read -r kind a b c d <<<"$sc"
    case $kind in
      fanout) if [[ "$sc" =~ ^fanout:[0-9]+:[0-9]+:[0-9]+:[0-9]+$ ]]; then
                measured fanout "$a" "$b" "$c" "$d" || status=1
              else log "bad scenario '$sc' (fanout:C:R:S:T)"; status=1; fi ;;
      idle) if [[ "$sc" =~ ^idle:[0-9]+:[0-9]+$ ]]; then
              scenario_idle "$a" "$b" || status=1
            else log "bad scenario '$sc' (idle:N:T)"; status=1; fi ;;
      ramp) if [[ "$sc" =~ ^ramp:[0-9]+$ ]]; then
              measured ramp "$a" || status=1
            else log "bad scenario '$sc' (ramp:N)"; status=1; fi ;;
      sat) if [[ "$sc" =~ ^sat:[0-9]+:[0-9]+:[0-9]+:[0-9]+(,[0-9]+)*$ ]]; then
             scenario_sat "$a" "$b" "$c" "$d" || status=1
           else log "bad scenario '$sc' (sat:C:S:T:R1,R2,...)"; status=1; fi ;;
    esac
  done
done
[ ${#RESULTS[@]} -gt 0 ] || { log "no scenario completed"; exit 1; }
"$PYTHON" "$HERE/report.py" write "$OUT" "$MACHINE" "${RESULTS[@]}" || exit 1
log "wrote $OUT/results.md and $OUT/results.json"
sed -n '/^## Fan-out/,/^## Exact/p' "$OUT/results.md" | grep '^| ' >&2
exit $status
