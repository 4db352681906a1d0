#!/usr/bin/python3
"""Benchmark figures for run_bench.sh: merges what one scenario's processes
reported into figures, and writes results.json + results.md. Standard library only.

  report.py scenario DIR          prints the scenario's JSON (DIR holds facts.txt,
                                  commands.txt, loadgen-*.json, publisher.json)
  report.py write OUTDIR MACHINE SCENARIO_JSON...
                                  writes OUTDIR/results.json and OUTDIR/results.md
"""
import glob
import json
import math
import os
import sys


def read_facts(path):
    """key=value lines written by the driver."""
    facts = {}
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if "=" in line:
                k, v = line.split("=", 1)
                facts[k] = v
    return facts


def num(facts, key, default=0.0):
    try:
        return float(facts.get(key, default))
    except ValueError:
        return default


def merge_hist(loadgens, key):
    """Sums [value, count] buckets; values are bucket midpoints shared by every loadgen."""
    merged = {}
    for lg in loadgens:
        for value, count in lg.get(key, []):
            merged[value] = merged.get(value, 0) + count
    return merged


def quantiles(hist, lo, hi):
    """The same rule as bc_hist_quantile(): bucket of the ceil(q*n)-th value, kept in [lo, hi]."""
    total = sum(hist.values())
    out = {"count": total}
    if total == 0:
        for name in ("p50", "p90", "p99", "p999", "max"):
            out[name] = None
        return out
    values = sorted(hist)
    for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("p999", 0.999)):
        rank = max(1, math.ceil(q * total))
        seen = 0
        for v in values:
            seen += hist[v]
            if seen >= rank:
                out[name] = min(max(v, lo), hi)
                break
    out["max"] = hi
    return out


def load_loadgens(d):
    out = []
    for path in sorted(glob.glob(os.path.join(d, "loadgen-*.json"))):
        with open(path) as f:
            text = f.read().strip()
        if text:
            out.append(json.loads(text.splitlines()[-1]))
    return out


def strip_hists(lg):
    return {k: v for k, v in lg.items() if not k.endswith("_hist")}


def scenario(d):
    facts = read_facts(os.path.join(d, "facts.txt"))
    with open(os.path.join(d, "commands.txt")) as f:
        commands = [line.rstrip() for line in f if line.strip()]
    loadgens = load_loadgens(d)
    publisher = None
    pub_path = os.path.join(d, "publisher.json")
    if os.path.exists(pub_path) and os.path.getsize(pub_path) > 0:
        with open(pub_path) as f:
            publisher = json.loads(f.read().strip().splitlines()[-1])

    def total(key):
        return sum(lg.get(key, 0) for lg in loadgens)

    clk = num(facts, "clk_tck", 100)
    cpu_s = (num(facts, "cpu_ticks_after") - num(facts, "cpu_ticks_before")) / clk
    window = (num(facts, "t_end_ns") - num(facts, "t_start_ns")) / 1e9
    rss_before = num(facts, "rss_kb_before")
    rss_after = num(facts, "rss_kb_after")
    established = total("connections_established")
    fig = {
        "connections_requested": total("connections_requested"),
        "connections_established": established,
        "connections_failed": total("connections_failed"),
        "connections_dropped": total("connections_dropped"),
        "target_cpu_s": round(cpu_s, 3),
        "target_rss_kb_before": rss_before,
        "target_rss_kb_after": rss_after,
        "window_s": round(window, 3),
        "loadgen_processes": len(loadgens),
        "loadgen_cpu_s": round(total("cpu_user_s") + total("cpu_sys_s"), 3),
    }
    kind = facts.get("scenario")
    if kind == "fanout":
        events = total("events")
        lat_lo = min((lg["latency_us"]["min"] for lg in loadgens if lg["latency_us"]["count"]),
                     default=0)
        lat_hi = max((lg["latency_us"]["max"] for lg in loadgens), default=0)
        con_lo = min((lg["connect_us"]["min"] for lg in loadgens if lg["connect_us"]["count"]),
                     default=0)
        con_hi = max((lg["connect_us"]["max"] for lg in loadgens), default=0)
        subs = num(facts, "subscribers")
        rate = num(facts, "rate")
        fig.update({
            "deliveries": events,
            "deliveries_expected": int(established * num(facts, "messages")),
            "deliveries_per_s": round(events / window, 1) if window > 0 else None,
            "deliveries_per_s_offered": subs * rate,
            "target_cpu_us_per_delivery": round(cpu_s * 1e6 / events, 3) if events else None,
            "target_cpu_percent": round(100 * cpu_s / window, 1) if window > 0 else None,
            "loadgen_cpu_percent": round(100 * fig["loadgen_cpu_s"] / window, 1)
            if window > 0 else None,
            "missing": total("missing"),
            "duplicates": total("duplicates"),
            "reordered": total("reordered"),
            "malformed": total("malformed"),
            "latency_us": quantiles(merge_hist(loadgens, "latency_hist"), lat_lo, lat_hi),
            "connect_us": quantiles(merge_hist(loadgens, "connect_hist"), con_lo, con_hi),
            "publisher_rate_achieved": publisher.get("rate_achieved") if publisher else None,
            "publisher_sent": publisher.get("sent") if publisher else None,
        })
    elif kind == "idle":
        fig["bytes_per_connection"] = (round((rss_after - rss_before) * 1024 / established, 1)
                                       if established else None)
        slab = num(facts, "slab_kb_after") - num(facts, "slab_kb_before")
        fig["kernel_slab_bytes_per_connection"] = (round(slab * 1024 / established, 1)
                                                   if established else None)
    params = {k: facts[k] for k in ("subscribers", "rate", "size", "seconds", "messages",
                                    "connections") if k in facts}
    return {
        "scenario": kind,
        "name": facts.get("name"),
        "target": facts.get("target"),
        "target_version": facts.get("target_version"),
        "params": params,
        "figures": fig,
        "commands": commands,
        "publisher": publisher,
        "loadgens": [strip_hists(lg) for lg in loadgens],
    }


def fmt(v, digits=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:,.{digits}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def ms(us):
    return "-" if us is None else f"{us / 1000:.2f}"


def write(outdir, machine_path, scenario_paths):
    machine = read_facts(machine_path)
    scenarios = []
    for p in scenario_paths:
        with open(p) as f:
            scenarios.append(json.load(f))
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"machine": machine, "scenarios": scenarios}, f, indent=2)
        f.write("\n")

    md = ["# sse-bridge benchmark results", "",
          f"Generated {machine.get('date', '?')} by `scripts/bench/run_bench.sh`. "
          "Everything runs on this one machine over loopback: the target, redis-server, "
          "the publisher and the load generators share its cores.", "",
          "## Machine and versions", ""]
    for k in sorted(machine):
        md.append(f"- **{k}**: {machine[k]}")
    md.append("")

    fan = [s for s in scenarios if s["scenario"] == "fanout"]
    if fan:
        md += ["## Fan-out", "",
               "One channel, every subscriber gets every message. Deliveries/s counts events "
               "received by all streams over the window from the first publish to the last "
               "receipt; CPU is the target process's utime+stime over that window.", "",
               "| target | subscribers | msg/s | bytes | s | deliveries/s (offered) "
               "| CPU µs/delivery | target CPU | p50 ms | p99 ms | p99.9 ms | max ms "
               "| missing | dup | loadgen CPU |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for s in fan:
            p, f = s["params"], s["figures"]
            lat = f["latency_us"]
            md.append(
                f"| {s['target']} | {fmt(int(p['subscribers']))} | {p['rate']} | {p['size']} "
                f"| {p['seconds']} | {fmt(f['deliveries_per_s'], 0)} "
                f"({fmt(f['deliveries_per_s_offered'], 0)}) "
                f"| {fmt(f['target_cpu_us_per_delivery'], 2)} | {fmt(f['target_cpu_percent'])}% "
                f"| {ms(lat['p50'])} | {ms(lat['p99'])} | {ms(lat['p999'])} | {ms(lat['max'])} "
                f"| {fmt(f['missing'])} | {fmt(f['duplicates'])} "
                f"| {fmt(f['loadgen_cpu_percent'])}% |")
        md.append("")
    idle = [s for s in scenarios if s["scenario"] == "idle"]
    if idle:
        md += ["## Idle connections", "",
               "N streams held open with no traffic: the target's RSS growth divided by N "
               "(user memory). The kernel's slab growth (/proc/meminfo; both ends of each "
               "loopback connection, machine-wide, so approximate) is listed apart.", "",
               "| target | connections | established | RSS before kB | RSS after kB "
               "| bytes/connection | kernel slab bytes/connection (both ends) |",
               "|---|---|---|---|---|---|---|"]
        for s in idle:
            p, f = s["params"], s["figures"]
            md.append(
                f"| {s['target']} | {fmt(int(p['connections']))} "
                f"| {fmt(f['connections_established'])} | {fmt(int(f['target_rss_kb_before']))} "
                f"| {fmt(int(f['target_rss_kb_after']))} | {fmt(f['bytes_per_connection'], 0)} "
                f"| {fmt(f['kernel_slab_bytes_per_connection'], 0)} |")
        md.append("")
    md += ["## Exact commands", ""]
    for s in scenarios:
        md.append(f"### {s['name']} ({s['target']})")
        md.append("")
        md.append("```sh")
        md += s["commands"]
        md.append("```")
        md.append("")
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write("\n".join(md))


def main(argv):
    if len(argv) >= 3 and argv[1] == "scenario":
        json.dump(scenario(argv[2]), sys.stdout)
        sys.stdout.write("\n")
        return 0
    if len(argv) >= 4 and argv[1] == "write":
        write(argv[2], argv[3], argv[4:])
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
