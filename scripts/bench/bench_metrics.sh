#!/usr/bin/env bash
# The health monitor's cost: fan-out throughput and CPU per delivery of the
# bridge without it (the commit before it) and with it, measured in
# alternating rounds with run_bench.sh on this machine.
#
# usage: scripts/bench/bench_metrics.sh [--base REV] [--with REV] [--rounds K]
#                                       [--max-other C] [SCENARIO...]
#   --base REV      the bridge without metrics (default: the parent of the
#                   commit that added bridge/health.c)
#   --with REV      the bridge with metrics (default: that commit, so the
#                   two differ by the monitor alone; HEAD measures today's)
#   --rounds K      rounds; each runs both, in alternating order (default 3)
#   --max-other C   passed to run_bench.sh: rerun a run that other work on
#                   the machine disturbed by more than C cores (default 0.5)
#   SCENARIO        run_bench.sh fan-out scenarios (default
#                   fanout:1000:1000:200:10, one million deliveries/s offered)
# Both revisions are built (RelWithDebInfo) from `git archive` into a temp
# directory. Writes results/metrics_cost.md and results/metrics_cost.json.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
ADDED=$(git -C "$ROOT" log --diff-filter=A --format=%H -- bridge/health.c | tail -1)
WITH=${ADDED:-HEAD}
BASE=""
ROUNDS=3
MAX_OTHER=0.5
SCENARIOS=()
while [ $# -gt 0 ]; do
  case $1 in
    --base) BASE=$2; shift 2 ;;
    --with) WITH=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --max-other) MAX_OTHER=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    fanout:*) SCENARIOS+=("$1"); shift ;;
    *) echo "bench_metrics: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$BASE" ] || BASE="$WITH^"
[[ "$ROUNDS" =~ ^[1-9]$ ]] || { echo "bench_metrics: --rounds must be 1..9" >&2; exit 2; }
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(fanout:1000:1000:200:10)
BASE_SHA=$(git -C "$ROOT" rev-parse --short "$BASE") || exit 2
WITH_SHA=$(git -C "$ROOT" rev-parse --short "$WITH") || exit 2

WORK=$(mktemp -d /tmp/sse-bench-metrics.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

build() { # rev dir
  mkdir -p "$2/src"
  git -C "$ROOT" archive "$1" | tar -x -C "$2/src" || return 1
  cmake -S "$2/src" -B "$2/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_TESTING=OFF >/dev/null &&
    cmake --build "$2/build" -j"$(nproc)" --target sse-bridge sse-loadgen sse-publisher -- --no-print-directory >/dev/null
}
echo "bench_metrics: building without metrics ($BASE_SHA) and with ($WITH_SHA)"
build "$BASE" "$WORK/without" || { echo "bench_metrics: build of $BASE_SHA failed" >&2; exit 1; }
build "$WITH" "$WORK/with" || { echo "bench_metrics: build of $WITH_SHA failed" >&2; exit 1; }

for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) -eq 1 ]; then order="without with"; else order="with without"; fi
  for v in $order; do
    echo "== round $r: $v"
    "$HERE/run_bench.sh" --build "$WORK/$v/build" --out "$WORK/out-$v-$r" --label "$v metrics" \
      --max-other "$MAX_OTHER" "${SCENARIOS[@]}" | tail -n 3
  done
done

/usr/bin/python3 - "$WORK" "$ROUNDS" "$BASE_SHA" "$WITH_SHA" "$HERE/results" <<'EOF'
import json, statistics, sys, time, os
work, rounds, base, with_, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
runs = {"without": [], "with": []}
for v in runs:
    for r in range(1, rounds + 1):
        p = os.path.join(work, "out-%s-%d" % (v, r), "results.json")
        try:
            d = json.load(open(p))
        except (OSError, ValueError):
            continue
        for s in d.get("scenarios", []):
            if s.get("scenario") == "fanout":
                f = s["figures"]
                runs[v].append({"round": r, "name": s["name"], "disturbed": bool(s.get("disturbed")),
                                "deliveries_per_s": f.get("deliveries_per_s"),
                                "offered_per_s": f.get("deliveries_per_s_offered"),
                                "cpu_us_per_delivery": f.get("target_cpu_us_per_delivery"),
                                "missing": f.get("missing"), "p99_us": f.get("latency_us", {}).get("p99"),
                                "other_cpu_cores": f.get("other_cpu_cores")})
def med(v, k):
    xs = [x[k] for x in runs[v] if x.get(k) is not None]
    return statistics.median(xs) if xs else None
summary = {}
for k in ("deliveries_per_s", "cpu_us_per_delivery", "p99_us"):
    a, b = med("without", k), med("with", k)
    a = None if a is None else round(a, 3)
    b = None if b is None else round(b, 3)
    summary[k] = {"without": a, "with": b,
                  "change_percent": None if not a or b is None else round(100.0 * (b - a) / a, 2)}
res = {"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "without_rev": base, "with_rev": with_,
       "rounds": rounds, "runs": runs, "median": summary}
os.makedirs(out, exist_ok=True)
json.dump(res, open(os.path.join(out, "metrics_cost.json"), "w"), indent=1)
L = ["# The health monitor's cost", "",
     "Fan-out with and without the metrics (health monitor, latency histograms, dashboard ticks), "
     "same machine, alternating rounds; `scripts/bench/bench_metrics.sh`, %s." % res["date"], "",
     "Without: `%s`; with: `%s`." % (base, with_), "",
     "| round | variant | deliveries/s (offered) | CPU µs/delivery | p99 ms | missing | other work (cores) |",
     "|---|---|---|---|---|---|---|"]
for v in ("without", "with"):
    for x in runs[v]:
        L.append("| %d | %s | %s (%s) | %s | %s | %s | %s%s |" % (
            x["round"], v, x["deliveries_per_s"], x["offered_per_s"], x["cpu_us_per_delivery"],
            None if x["p99_us"] is None else round(x["p99_us"] / 1000, 1), x["missing"], x["other_cpu_cores"],
            " (disturbed)" if x["disturbed"] else ""))
L += ["", "| median | without | with | change |", "|---|---|---|---|"]
for k, label in (("deliveries_per_s", "deliveries/s"), ("cpu_us_per_delivery", "CPU µs per delivery"),
                 ("p99_us", "p99 latency µs")):
    m = summary[k]
    L.append("| %s | %s | %s | %s %% |" % (label, m["without"], m["with"], m["change_percent"]))
open(os.path.join(out, "metrics_cost.md"), "w").write("\n".join(L) + "\n")
print("\n".join(L))
EOF
