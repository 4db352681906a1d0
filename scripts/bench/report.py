#!/usr/bin/python3
"""Benchmark figures for run_bench.sh: merges what one scenario's processes
reported into figures, and writes results.json + results.md. Standard library only.

  report.py scenario DIR          prints the scenario's JSON (DIR holds facts.txt,
                                  commands.txt, loadgen-*.json, publisher.json)
  report.py write OUTDIR MACHINE SCENARIO_JSON...
                                  writes OUTDIR/results.json and OUTDIR/results.md
  report.py final OUTDIR MACHINE STEPS.jsonl RESULTS_JSON...
                                  run_all.sh: merges run_bench.sh's results.json files
                                  into OUTDIR/results.{md,json} with the targets table
  report.py rewrite OUTDIR        renders OUTDIR/results.md again from the figures in
                                  OUTDIR/results.json (written by final)
"""
import glob
import json
import math
import os
import sys
import time


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
    except (TypeError, ValueError):
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
    fig["load_average_before"] = num(facts, "load_before", None)
    # Other work on the machine during the window, in cores: machine-wide busy
    # time minus what the target, redis-server, the publisher and the load
    # generators took (the driver's own polling counts as "other" too).
    if "machine_busy_after" in facts and window > 0:
        busy = (num(facts, "machine_busy_after") - num(facts, "machine_busy_before")) / clk
        redis_s = (num(facts, "redis_ticks_after") - num(facts, "redis_ticks_before")) / clk
        lg_s = max(0.0, fig["loadgen_cpu_s"] - num(facts, "loadgen_ticks_before") / clk)
        pub_s = ((publisher.get("cpu_user_s", 0) + publisher.get("cpu_sys_s", 0))
                 if publisher else 0.0)
        ours = cpu_s + redis_s + lg_s + pub_s
        fig["machine_busy_cores"] = round(busy / window, 2)
        fig["other_cpu_cores"] = round(max(0.0, busy - ours) / window, 2)
        fig["steal_cores"] = round((num(facts, "machine_steal_after")
                                    - num(facts, "machine_steal_before")) / clk / window, 2)
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
            # Everything the machine did per delivery: the server, the load
            # generators, redis, the publisher and kernel work charged to no
            # process (softirq, ksoftirqd). Same load generator for every
            # target, so differences are the server's, wherever they ran.
            "machine_cpu_us_per_delivery": round(fig["machine_busy_cores"] * window * 1e6 / events, 3)
            if events and "machine_busy_cores" in fig else None,
            "loadgen_cpu_percent": round(100 * fig["loadgen_cpu_s"] / window, 1)
            if window > 0 else None,
            "missing": total("missing"),
            "duplicates": total("duplicates"),
            "reordered": total("reordered"),
            "malformed": total("malformed"),
            "other_events": total("other_events"),
            "latency_us": quantiles(merge_hist(loadgens, "latency_hist"), lat_lo, lat_hi),
            "connect_us": quantiles(merge_hist(loadgens, "connect_hist"), con_lo, con_hi),
            "publisher_rate_achieved": publisher.get("rate_achieved") if publisher else None,
            "publisher_sent": publisher.get("sent") if publisher else None,
            "publisher_errors": publisher.get("errors") if publisher else None,
            "publisher_late": publisher.get("late") if publisher else None,
            "publisher_mode": publisher.get("mode", "redis") if publisher else None,
        })
    elif kind == "idle":
        fig["bytes_per_connection"] = (round((rss_after - rss_before) * 1024 / established, 1)
                                       if established else None)
        slab = num(facts, "slab_kb_after") - num(facts, "slab_kb_before")
        fig["kernel_slab_bytes_per_connection"] = (round(slab * 1024 / established, 1)
                                                   if established else None)
    elif kind == "ramp":
        ramp = max((lg.get("ramp_s", 0) for lg in loadgens), default=0)
        con_lo = min((lg["connect_us"]["min"] for lg in loadgens if lg["connect_us"]["count"]),
                     default=0)
        con_hi = max((lg["connect_us"]["max"] for lg in loadgens), default=0)
        fig.update({
            "ramp_s": round(ramp, 3),
            "connections_per_s": round(established / ramp, 1) if ramp > 0 else None,
            "connect_us": quantiles(merge_hist(loadgens, "connect_hist"), con_lo, con_hi),
            "failures": {k: sum(lg.get("failures", {}).get(k, 0) for lg in loadgens)
                         for k in (loadgens[0].get("failures", {}) if loadgens else {})},
        })
    params = {k: facts[k] for k in ("subscribers", "rate", "size", "seconds", "messages",
                                    "connections", "dropped_seq") if k in facts}
    errors_path = os.path.join(d, "target-errors.txt")
    target_errors = []
    if os.path.exists(errors_path):
        with open(errors_path) as f:
            target_errors = [line.rstrip() for line in f if line.strip()]
    return {
        "scenario": kind,
        "name": facts.get("name"),
        "target": facts.get("target"),
        "label": facts.get("label") or facts.get("target"),
        "group": facts.get("group") or "",
        "workers": int(num(facts, "workers", 1)),
        "target_args": facts.get("target_args", ""),
        "repeat": int(num(facts, "repeat", 1)),
        "target_errors": target_errors,
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
                f"| {s['label']} | {fmt(int(p['subscribers']))} | {p['rate']} | {p['size']} "
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
                f"| {s['label']} | {fmt(int(p['connections']))} "
                f"| {fmt(f['connections_established'])} | {fmt(int(f['target_rss_kb_before']))} "
                f"| {fmt(int(f['target_rss_kb_after']))} | {fmt(f['bytes_per_connection'], 0)} "
                f"| {fmt(f['kernel_slab_bytes_per_connection'], 0)} |")
        md.append("")
    ramp = [s for s in scenarios if s["scenario"] == "ramp"]
    if ramp:
        md += ["## Connection ramp", "",
               "N streams opened as fast as the load generator can (at most 1,000 connects in "
               "flight): connections/s = streams established / time to the last response head.",
               "", "| target | connections | established | time s | connections/s "
               "| connect p50 ms | connect p99 ms |", "|---|---|---|---|---|---|---|"]
        for s in ramp:
            p, f = s["params"], s["figures"]
            md.append(f"| {s['label']} | {fmt(int(p['connections']))} "
                      f"| {fmt(f['connections_established'])} | {fmt(f['ramp_s'], 3)} "
                      f"| {fmt(f['connections_per_s'], 0)} | {ms(f['connect_us']['p50'])} "
                      f"| {ms(f['connect_us']['p99'])} |")
        md.append("")
    md += ["## Exact commands", ""]
    for s in scenarios:
        md.append(f"### {s['name']} ({s['label']})")
        md.append("")
        md.append("```sh")
        md += s["commands"]
        md.append("```")
        md.append("")
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write("\n".join(md))


# ---- run_all.sh: the whole comparison ----

def median(values):
    vals = sorted(v for v in values if v is not None)
    if not vals:
        return None
    n = len(vals)
    return vals[n // 2] if n % 2 else (vals[n // 2 - 1] + vals[n // 2]) / 2


def is_bridge(s):
    return s["target"] == "bridge"


def group_runs(scenarios, group):
    """{(label, name): [scenario, ...]} in first-seen order for one group."""
    out = {}
    for s in scenarios:
        if s.get("group") == group:
            out.setdefault((s["label"], s["name"]), []).append(s)
    return out


def with_unclaimed(fig):
    """fig plus target_cpu_conservative_us_per_delivery: the server's CPU and all the
    machine's CPU that no process of the benchmark claimed during the window (softirq,
    ksoftirqd, anything else), as if the server had caused all of it."""
    need = ("target_cpu_s", "other_cpu_cores", "window_s", "deliveries")
    if all(fig.get(k) is not None for k in need) and fig["deliveries"]:
        fig = dict(fig)
        extra = fig["other_cpu_cores"] * fig["window_s"]
        fig["target_cpu_conservative_us_per_delivery"] = round(
            (fig["target_cpu_s"] + extra) * 1e6 / fig["deliveries"], 3)
    return fig


def summarize(runs):
    """Medians over the repeats other work did not disturb (all of them when every run was
    disturbed); missing, duplicates and lost streams summed over every run."""
    every = runs
    clean = [r for r in runs if not r.get("disturbed")]
    runs = clean or runs
    f = [with_unclaimed(r["figures"]) for r in runs]
    fa = [r["figures"] for r in every]
    out = {"runs": len(runs), "disturbed_excluded": len(every) - len(runs),
           "all_disturbed": not clean, "label": runs[0]["label"], "target": runs[0]["target"],
           "workers": runs[0].get("workers", 1), "params": runs[0]["params"],
           "name": runs[0]["name"], "target_args": runs[0].get("target_args", "")}
    for key in ("deliveries_per_s", "deliveries_per_s_offered", "target_cpu_us_per_delivery",
                "machine_cpu_us_per_delivery", "target_cpu_conservative_us_per_delivery",
                "target_cpu_percent", "loadgen_cpu_percent", "bytes_per_connection",
                "kernel_slab_bytes_per_connection", "connections_per_s", "ramp_s",
                "publisher_rate_achieved", "target_rss_kb_before", "target_rss_kb_after",
                "window_s", "other_cpu_cores", "machine_busy_cores"):
        out[key] = median(x.get(key) for x in f)
    for key in ("p50", "p99", "p999", "max"):
        out[key] = median((x.get("latency_us") or {}).get(key) for x in f)
        out["connect_" + key] = median((x.get("connect_us") or {}).get(key) for x in f)
    for key in ("missing", "duplicates", "reordered", "malformed", "connections_failed",
                "connections_dropped", "publisher_errors", "publisher_late"):
        vals = [x.get(key) for x in fa if x.get(key) is not None]
        out[key] = sum(vals) if vals else None
    out["established_min"] = min(x.get("connections_established", 0) for x in fa)
    out["requested"] = max(x.get("connections_requested", 0) for x in fa)
    out["p99_runs"] = [(x.get("latency_us") or {}).get("p99") for x in f]
    out["target_errors"] = sorted({e for r in runs for e in r.get("target_errors", [])})
    return out


def runs_text(sm):
    t = str(sm["runs"])
    if sm.get("all_disturbed"):
        t += " (disturbed)"
    elif sm.get("disturbed_excluded"):
        t += f" (+{sm['disturbed_excluded']} disturbed, not in the medians)"
    return t


def good(sm, p99_limit_us=100000):
    """Deliveries/s that count under load: p99 < limit, nothing missed, no stream lost."""
    if sm is None or sm["p99"] is None:
        return None
    ok = (sm["p99"] < p99_limit_us and sm["missing"] == 0 and sm["connections_dropped"] == 0
          and sm["established_min"] == sm["requested"])
    return sm["deliveries_per_s"] if ok else 0.0


def ratio(a, b):
    if a is None or b is None:
        return None
    if b == 0:
        return math.inf if a > 0 else None
    return a / b


def fr(x, digits=2):
    if x is None:
        return "-"
    if x == math.inf:
        return "∞"
    return f"{x:.{digits}f}"


def fanout_table(rows, title_cols=("target", "subscribers", "msg/s", "bytes")):
    md = ["| target | subscribers | msg/s | bytes | runs | deliveries/s (offered) "
          "| CPU µs/delivery | machine CPU µs/delivery | target CPU | p50 ms | p99 ms | p99.9 ms "
          "| max ms | missing (all runs) | reordered | publisher msg/s achieved | loadgen CPU "
          "| other load (cores) |",
          "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for sm in rows:
        p = sm["params"]
        md.append(
            f"| {sm['label']} | {fmt(int(p['subscribers']))} | {fmt(int(p['rate']))} "
            f"| {fmt(int(p['size']))} | {runs_text(sm)} "
            f"| {fmt(sm['deliveries_per_s'], 0)} ({fmt(sm['deliveries_per_s_offered'], 0)}) "
            f"| {fmt(sm['target_cpu_us_per_delivery'], 2)} "
            f"| {fmt(sm.get('machine_cpu_us_per_delivery'), 2)} | {fmt(sm['target_cpu_percent'])}% "
            f"| {ms(sm['p50'])} | {ms(sm['p99'])} | {ms(sm['p999'])} | {ms(sm['max'])} "
            f"| {fmt(sm['missing'])} | {fmt(sm['reordered'])} "
            f"| {fmt(sm['publisher_rate_achieved'], 0)} | {fmt(sm['loadgen_cpu_percent'])}% "
            f"| {fmt(sm['other_cpu_cores'], 2)} |")
    return md


def load_steps(path):
    steps = []
    if path and os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    steps.append(json.loads(line))
    return steps


def final(outdir, machine_path, steps_path, part_paths):
    machine = read_facts(machine_path)
    steps = load_steps(steps_path)
    scenarios = []
    for p in part_paths:
        with open(p) as f:
            scenarios += json.load(f)["scenarios"]

    def rows(group, pred=lambda s: True):
        return [summarize(v) for v in group_runs(scenarios, group).values() if pred(v[0])]

    def find(group, target, workers=1, **params):
        """The summary of one configuration in a group: target "bridge" (plain flags) or
        "nchan" (memory store), and scenario parameters such as subscribers=1000."""
        for runs in group_runs(scenarios, group).values():
            s = runs[0]
            if s["target"] != target or s.get("workers", 1) != workers:
                continue
            if target == "bridge" and s.get("target_args"):
                continue
            if all(int(float(s["params"].get(k, -1))) == v for k, v in params.items()):
                return summarize(runs)
        return None

    NCHAN = "nchan"

    # ---- targets ----
    targets = []  # (target, requirement, bridge figure, nchan figure, ratio text, verdict)

    def verdict(ok):
        return "-" if ok is None else ("**met**" if ok else "**missed**")

    idle_ok = []
    for n in (10000, 19000):
        b = find("idle", "bridge", connections=n)
        c = find("idle", NCHAN, connections=n)
        bb = b["bytes_per_connection"] if b else None
        cb = c["bytes_per_connection"] if c else None
        r = ratio(bb, cb)
        ok = None if bb is None or cb is None else (r <= 0.1 and bb <= 1024)
        idle_ok.append(ok)
        targets.append((f"idle memory per connection, {n:,} streams",
                        "≤ 1/10 of Nchan's and ≤ 1 KB",
                        f"{fmt(bb, 0)} B", f"{fmt(cb, 0)} B (worker RSS)",
                        f"{fr(r, 3)}", verdict(ok)))

    b100 = find("fanout", "bridge", subscribers=1000, rate=100, size=200)
    c100 = find("fanout", NCHAN, subscribers=1000, rate=100, size=200)
    if b100 and c100:
        r = ratio(b100["target_cpu_us_per_delivery"], c100["target_cpu_us_per_delivery"])
        targets.append(("1,000 × 100 msg/s: server CPU per delivery", "≤ 0.75 × Nchan's",
                        f"{fmt(b100['target_cpu_us_per_delivery'], 2)} µs",
                        f"{fmt(c100['target_cpu_us_per_delivery'], 2)} µs", fr(r),
                        verdict(r is not None and r <= 0.75)))
        key = "target_cpu_conservative_us_per_delivery"
        r = ratio(b100.get(key), c100.get(key))
        targets.append(("1,000 × 100 msg/s: server CPU per delivery, counting against each server "
                        "all the machine's CPU no benchmark process claimed (softirq, ksoftirqd, "
                        "other work)", "≤ 0.75 × Nchan's (conservative)",
                        f"{fmt(b100.get(key), 2)} µs", f"{fmt(c100.get(key), 2)} µs", fr(r),
                        verdict(r is not None and r <= 0.75)))
        r = ratio(b100["p99"], c100["p99"])
        targets.append(("1,000 × 100 msg/s: p99 latency", "≤ 0.5 × Nchan's",
                        f"{ms(b100['p99'])} ms", f"{ms(c100['p99'])} ms", fr(r),
                        verdict(r is not None and r <= 0.5)))
        targets.append(("1,000 × 100 msg/s: nothing missed", "0 missing",
                        f"{fmt(b100['missing'])} missing ({b100['runs']} runs)",
                        f"{fmt(c100['missing'])} missing", "-",
                        verdict(b100["missing"] == 0 and b100["connections_dropped"] == 0)))
    for rate in (300, 1000):
        b = find("fanout", "bridge", subscribers=1000, rate=rate, size=200)
        c = find("fanout", NCHAN, subscribers=1000, rate=rate, size=200)
        if b and c:
            gb, gc = good(b), good(c)
            r = ratio(gb, gc)
            ok = None if gb is None or gc is None else (gb > 0 and (r is None or r >= 3))

            def why(sm, g):
                if g:
                    return f"{fmt(g, 0)}/s (p99 {ms(sm['p99'])} ms, 0 missing)"
                return (f"0/s: p99 {ms(sm['p99'])} ms, {fmt(sm['missing'])} missing, "
                        f"{fmt(sm['deliveries_per_s'], 0)}/s delivered")
            targets.append((f"1,000 × {rate:,} msg/s offered: deliveries/s with p99 < 100 ms "
                            "and nothing missed", "≥ 3 × Nchan's", why(b, gb), why(c, gc),
                            fr(r), verdict(ok)))
    sat_b = sat_best([s for s in scenarios if s.get("group") == "sat" and is_bridge(s)
                      and s.get("workers", 1) == 1])
    sat_c = sat_best([s for s in scenarios if s.get("group") == "sat" and s["target"] == NCHAN
                      and s.get("workers", 1) == 1])
    if sat_b is not None and sat_c is not None:
        r = ratio(sat_b[0], sat_c[0])
        targets.append(("saturation search (1,000 subscribers): highest deliveries/s with p99 "
                        "< 100 ms and nothing missed", "≥ 3 × Nchan's",
                        f"{fmt(sat_b[0], 0)}/s (at {sat_b[1]} msg/s)",
                        f"{fmt(sat_c[0], 0)}/s (at {sat_c[1]} msg/s)", fr(r),
                        verdict(r is not None and r >= 3)))
    cpus = []
    for rate in (100, 300, 1000):
        b = find("fanout", "bridge", subscribers=1000, rate=rate, size=200)
        cpus.append(b["target_cpu_us_per_delivery"] if b else None)
    if None not in cpus:
        falling = cpus[0] > cpus[1] > cpus[2]
        targets.append(("CPU per delivery falls as the rate rises (1,000 × 100 → 300 → 1,000)",
                        "strictly falling", " → ".join(f"{c:.2f}" for c in cpus) + " µs", "-",
                        "-", verdict(falling)))
    b10k = find("fanout10k", "bridge", subscribers=10000, rate=10, size=200)
    c10k = find("fanout10k", NCHAN, subscribers=10000, rate=10, size=200)
    if b10k:
        ok = b10k["p99"] is not None and b10k["p99"] < 100000 and b10k["missing"] == 0
        targets.append(("10,000 × 10 msg/s: p99", "< 100 ms (and nothing missed)",
                        f"{ms(b10k['p99'])} ms, {fmt(b10k['missing'])} missing",
                        f"{ms(c10k['p99'])} ms, {fmt(c10k['missing'])} missing" if c10k else "-",
                        fr(ratio(b10k["p99"], c10k["p99"] if c10k else None)), verdict(ok)))
    b8 = find("8k", "bridge", subscribers=1000, rate=100, size=8192)
    if b8:
        c8 = find("8k", NCHAN, subscribers=1000, rate=100, size=8192)
        r8 = None
        for runs in group_runs(scenarios, "8k").values():
            if runs[0]["target"] == "nchan-redis":
                r8 = summarize(runs)
        ok = b8["missing"] == 0 and b8["connections_dropped"] == 0
        other = []
        if c8:
            other.append(f"memory: {fmt(c8['missing'])} missing")
        if r8:
            other.append(f"redis: {fmt(r8['missing'])} missing")
        targets.append(("8 KB payloads (1,000 × 100 msg/s) lossless", "0 missing",
                        f"{fmt(b8['missing'])} missing ({b8['runs']} runs), p99 {ms(b8['p99'])} ms",
                        "; ".join(other) or "-", "-", verdict(ok)))
    b19 = find("idle", "bridge", connections=19000)
    if b19:
        ok = (b19["established_min"] == 19000 and b19["connections_failed"] == 0
              and b19["connections_dropped"] == 0)
        targets.append(("19,000 connections per process", "all established and held",
                        f"{fmt(b19['established_min'])} of 19,000 (min over {b19['runs']} runs), "
                        f"{fmt(b19['connections_failed'])} failed",
                        "-", "-", verdict(ok)))

    # ---- markdown ----
    md = ["# sse-bridge vs Nchan: benchmark results", "",
          f"Generated {machine.get('date', '?')} by `scripts/bench/run_all.sh` "
          f"({machine.get('wall_time', '?')}). Every figure below comes from this run's "
          "measurements (`results.json` holds every run's raw figures).", "",
          "Everything runs on this one 2-core machine over loopback: the server under test, "
          "redis-server, the publisher and the load generators share the cores, so figures "
          "are lower bounds on what a server could do alone, and the load generator's own "
          "queueing is part of every latency. Where a row says runs > 1 the figures are "
          "medians over the runs (the median of two is their mean); missing is summed over "
          "all runs.", "",
          "## Machine and versions", ""]
    for k in sorted(machine):
        md.append(f"- **{k}**: {machine[k]}")
    md.append("")

    md += ["## Targets (from the issue)", "",
           "Ratios are sse-bridge / Nchan (memory store, one worker), both measured in this run.",
           "", "| target | requirement | sse-bridge | Nchan | ratio | verdict |",
           "|---|---|---|---|---|---|"]
    for t in targets:
        md.append("| " + " | ".join(t) + " |")
    md.append("")

    ver = [s for s in scenarios if s.get("group") in ("verify", "verify-drop")]
    if ver:
        md += ["## Correctness check", "",
               "Small runs before the measurements: every stream must get every message "
               "(0 missing), and with one sequence number left out by the publisher every "
               "stream must miss exactly that one (missing = streams). One row per run.", "",
               "| target | streams | messages | left out | missing | duplicates | verdict |",
               "|---|---|---|---|---|---|---|"]
        for s in ver:
            p, f = s["params"], s["figures"]
            streams = int(p["subscribers"])
            dropped = p.get("dropped_seq")
            want = streams if dropped is not None else 0
            ok = (f["missing"] == want and f["duplicates"] == 0
                  and f["connections_established"] == streams)
            md.append(f"| {s['label']} | {streams} | {p['messages']} | {dropped or '-'} "
                      f"| {fmt(f['missing'])} (want {want}) | {fmt(f['duplicates'])} "
                      f"| {'pass' if ok else '**FAIL**'} |")
        md.append("")

    idle = rows("idle", lambda s: s["scenario"] == "idle") + \
        rows("reuseport", lambda s: s["scenario"] == "idle")
    if idle:
        md += ["## Idle memory", "",
               "N streams held open with no traffic. bytes/connection = RSS growth of the "
               "server processes / N: for sse-bridge the bridge process(es); **for Nchan the "
               "nginx worker(s)' RSS** (the master holds no connections; the worker's RSS "
               "includes the shared-memory pages it touched). Kernel slab growth is "
               "machine-wide (both ends of each loopback connection) and listed apart.", "",
               "| target | connections | runs | established (min) | bytes/connection "
               "| RSS before → after kB | kernel slab bytes/connection | other load (cores) |",
               "|---|---|---|---|---|---|---|---|"]
        for sm in idle:
            md.append(f"| {sm['label']} | {fmt(int(sm['params']['connections']))} | {sm['runs']} "
                      f"| {fmt(sm['established_min'])} | {fmt(sm['bytes_per_connection'], 0)} "
                      f"| {fmt(sm['target_rss_kb_before'], 0)} → {fmt(sm['target_rss_kb_after'], 0)} "
                      f"| {fmt(sm['kernel_slab_bytes_per_connection'], 0)} "
                      f"| {fmt(sm['other_cpu_cores'], 2)} |")
        md.append("")

    for group, title, text in (
            ("fanout", "Fan-out: 1,000 subscribers, 200 B payloads",
             "One channel, every subscriber gets every message. deliveries/s = events received "
             "by all streams / the window from the first publish to the last receipt. CPU = "
             "utime+stime of the server's processes over that window (/proc/PID/stat; for "
             "nginx master + workers) / deliveries; machine CPU = every core's busy time "
             "over the window (/proc/stat) / deliveries: server, load generators, redis, "
             "publisher and kernel work charged to no process (softirq, ksoftirqd). Latency = receive time − the publisher's "
             "timestamp. sse-bridge is published to through Redis PUBLISH, Nchan through "
             "HTTP POSTs to its publisher location (pipelined on a keep-alive connection), "
             "both by sse-publisher at the same fixed rate. Every scenario is bounded in "
             "time: *missing* counts sequence numbers a stream had not received when its "
             "load generator stopped (T + 15 s after the ramp), so for a server that fell "
             "behind it includes messages still queued or never accepted (then the "
             "publisher's achieved rate is below the offered one), not only lost ones. "
             "*other load* = CPU taken by work outside the benchmark during the window."),
            ("fanout10k", "Fan-out: 10,000 subscribers, 200 B payloads", ""),
            ("8k", "8 KB payloads: 1,000 subscribers × 100 msg/s × 8,192 B", ""),
            ("coalesce", "--coalesce-ms trade-off: sse-bridge, 1,000 subscribers, 200 B",
             "The bridge holds writes up to N ms to batch them: CPU per delivery against "
             "latency, at 1,000 msg/s (and at 100 msg/s, where the CPU target is set; the "
             "--coalesce-ms 0 figures at 100 msg/s are the sse-bridge rows of the fan-out "
             "table)."),
            ("writepath", "Write path: io_uring (default) against --io-uring off",
             "By default (--io-uring auto) every flush's sends leave in one io_uring submit "
             "(64 sends per system call); with --io-uring off each connection is one write() "
             "system call. The two ran alternately in this group (runs = repeats of each).")):
        rs = rows(group, lambda s: s["scenario"] == "fanout")
        if rs:
            md += [f"## {title}", ""]
            if text:
                md += [text, ""]
            md += fanout_table(rs)
            md.append("")

    sat = [s for s in scenarios if s.get("group") == "sat"]
    if sat:
        md += ["## Saturation search: 1,000 subscribers, 200 B, 5 s per step", "",
               "The rate rises until a step fails: p99 ≥ 100 ms, anything missing, or a stream "
               "lost. The best passing step's deliveries/s is the figure.", "",
               "| target | msg/s | deliveries/s (offered) | CPU µs/delivery | target CPU | p50 ms "
               "| p99 ms | missing | publisher msg/s achieved | loadgen CPU | other load (cores) "
               "| pass |",
               "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        labels = []
        for s in sat:
            if s["label"] not in labels:
                labels.append(s["label"])
        for lab in labels:
            for s in [x for x in sat if x["label"] == lab]:
                sm = summarize([s])
                g = good(sm)
                md.append(f"| {lab} | {fmt(int(s['params']['rate']))} "
                          f"| {fmt(sm['deliveries_per_s'], 0)} ({fmt(sm['deliveries_per_s_offered'], 0)}) "
                          f"| {fmt(sm['target_cpu_us_per_delivery'], 2)} | {fmt(sm['target_cpu_percent'])}% "
                          f"| {ms(sm['p50'])} | {ms(sm['p99'])} | {fmt(sm['missing'])} "
                          f"| {fmt(sm['publisher_rate_achieved'], 0)} | {fmt(sm['loadgen_cpu_percent'])}% "
                          f"| {fmt(sm['other_cpu_cores'], 2)} "
                          f"| {('yes' if g else 'no') + (' (disturbed: rerun)' if s.get('disturbed') else '')} |")
        md += ["", "| target | highest deliveries/s with p99 < 100 ms and nothing missed | at msg/s |",
               "|---|---|---|"]
        for lab in labels:
            best = sat_best([x for x in sat if x["label"] == lab])
            md.append(f"| {lab} | {fmt(best[0], 0) if best else 'none passed'} "
                      f"| {best[1] if best else '-'} |")
        md.append("")

    ramp = rows("ramp", lambda s: s["scenario"] == "ramp")
    if ramp:
        md += ["## Connection ramp", "",
               "One load generator opens N streams as fast as it can (at most 1,000 connects in "
               "flight; both servers listen with a backlog of 1,024): connections/s = streams "
               "established / time until the last response head arrived. The load generator "
               "shares the cores, so this is a lower bound.", "",
               "| target | streams | runs | established (min) | time to all established s "
               "| connections/s | connect p50 ms | connect p99 ms | other load (cores) |",
               "|---|---|---|---|---|---|---|---|---|"]
        for sm in ramp:
            md.append(f"| {sm['label']} | {fmt(int(sm['params']['connections']))} | {runs_text(sm)} "
                      f"| {fmt(sm['established_min'])} | {fmt(sm['ramp_s'], 3)} "
                      f"| {fmt(sm['connections_per_s'], 0)} | {ms(sm['connect_p50'])} "
                      f"| {ms(sm['connect_p99'])} | {fmt(sm['other_cpu_cores'], 2)} |")
        md.append("")

    rp = rows("reuseport", lambda s: s["scenario"] == "fanout")
    if rp:
        md += ["## Two processes: sse-bridge ×2 with --reuseport vs nginx with 2 workers", "",
               "The bridge runs two processes on one port (SO_REUSEPORT); nginx runs "
               "worker_processes 2 with `listen ... reuseport`. CPU sums every process. The "
               "30,000-stream idle row is in the idle table above.", ""]
        md += fanout_table(rp)
        md.append("")

    skipped = [st for st in steps if st.get("skipped")]
    failed = [st for st in steps if not st.get("skipped") and st.get("rc") not in (0, None)]
    perf = [st for st in steps if st.get("perf")]
    if perf:
        md += ["## Profile of sse-bridge under load", ""]
        for st in perf:
            md += [st.get("title", ""), "", "```"] + st["perf"] + ["```", ""]
    notes = [st for st in steps if st.get("note")]
    waited = sum(int(st.get("quiet_wait_s") or 0) for st in steps)
    loads = [s["figures"].get("load_average_before") for s in scenarios]
    loads = [x for x in loads if x is not None]
    if loads or skipped or failed or notes:
        md += ["## Notes", ""]
        others = [s["figures"].get("other_cpu_cores") for s in scenarios
                  if s["figures"].get("other_cpu_cores") is not None]
        if others:
            md.append(f"- **other load (cores)** = machine-wide busy CPU time (/proc/stat) minus "
                      "what the server, redis-server, the publisher and the load generators "
                      "took, per second of the window: work that is not part of the benchmark "
                      "(other builds and tests on this shared machine) competing for the 2 "
                      f"cores. Over the scenarios: {min(others):.2f} to {max(others):.2f}, "
                      f"median {median(others):.2f}. Rows with a high figure are skewed (mostly "
                      "latency).")
        dist = [s for s in scenarios if s.get("disturbed")]
        if dist:
            md.append(f"- {len(dist)} fan-out/ramp runs had more than 0.3 cores of other load "
                      "during their window: they were flagged *disturbed*, run again once (time "
                      "permitting), and left out of the medians when an undisturbed run of the "
                      "same row exists (they stay in results.json; their missing counts still "
                      "add up in the tables).")
        if waited:
            md.append(f"- run_all.sh waited {waited} s in all (at most 30 s per step) for other "
                      "work on the machine to fall below 0.3 cores before starting steps.")
        if loads:
            md.append(f"- 1-minute load average when each scenario started: {min(loads):.2f} to "
                      f"{max(loads):.2f} (median {median(loads):.2f}; per scenario in "
                      "results.json). The machine has 2 cores; other work on it (builds, other "
                      "tests) shows up here and skews the figures.")
        for st in skipped:
            md.append(f"- skipped: {st.get('what')}: {st.get('why')}")
        for st in failed:
            md.append(f"- `{st.get('cmd')}` exited {st.get('rc')} (a scenario failed or was "
                      "cut short; its rows may be missing)")
        for st in notes:
            md.append(f"- {st['note']}")
        errs = sorted({e for s in scenarios for e in s.get("target_errors", [])})
        if errs:
            md.append(f"- nginx logged {len(errs)} distinct error lines, e.g. `{errs[0][:200]}`")
        md.append("")

    md += ["## Exact commands", "", "```sh", "scripts/bench/run_all.sh"] + \
          [st["cmd"] for st in steps if st.get("cmd")] + ["```", "",
          "Each scenario's processes (first run of each; later runs differ only in ports):", ""]
    seen = set()
    for s in scenarios:
        key = (s.get("group"), s["label"], s["name"])
        if key in seen:
            continue
        seen.add(key)
        md += [f"### {s.get('group')}: {s['name']} ({s['label']})", "", "```sh"] + \
              s["commands"] + ["```", ""]

    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump({"machine": machine, "steps": steps,
                   "targets": [dict(zip(("target", "requirement", "sse_bridge", "nchan", "ratio",
                                         "verdict"), t)) for t in targets],
                   "scenarios": scenarios}, f, indent=1)
        f.write("\n")
    with open(os.path.join(outdir, "results.md"), "w") as f:
        f.write("\n".join(md))
    return targets


def sat_best(runs):
    """(best passing deliveries/s, its rate) over saturation steps, or None when none passed."""
    best = None
    for s in runs:
        if s.get("disturbed"):
            continue
        g = good(summarize([s]))
        if g and (best is None or g > best[0]):
            best = (g, int(s["params"]["rate"]))
    return best


def main(argv):
    if len(argv) >= 3 and argv[1] == "scenario":
        json.dump(scenario(argv[2]), sys.stdout)
        sys.stdout.write("\n")
        return 0
    if len(argv) >= 4 and argv[1] == "write":
        write(argv[2], argv[3], argv[4:])
        return 0
    if len(argv) == 3 and argv[1] == "rewrite":
        # Re-renders OUTDIR/results.md (and .json) from the figures already in
        # OUTDIR/results.json, e.g. after a change to this file's presentation.
        import tempfile
        with open(os.path.join(argv[2], "results.json")) as f:
            data = json.load(f)
        with tempfile.TemporaryDirectory() as tmp:
            machine = os.path.join(tmp, "machine.txt")
            with open(machine, "w") as f:
                f.writelines(f"{k}={v}\n" for k, v in data["machine"].items())
            with open(machine, "a") as f:
                f.write(f"re_rendered={time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} by "
                        "report.py rewrite from this run's results.json (figures unchanged)\n")
            steps = os.path.join(tmp, "steps.jsonl")
            with open(steps, "w") as f:
                f.writelines(json.dumps(st) + "\n" for st in data.get("steps", []))
            part = os.path.join(tmp, "part.json")
            with open(part, "w") as f:
                json.dump({"scenarios": data["scenarios"]}, f)
            final(argv[2], machine, steps, [part])
        return 0
    if len(argv) >= 5 and argv[1] == "final":
        for t in final(argv[2], argv[3], argv[4], argv[5:]):
            sys.stderr.write(f"{t[0]}: {t[2]} vs {t[3]} -> {t[5]}\n")
        return 0
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
