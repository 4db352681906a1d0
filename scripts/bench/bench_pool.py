#!/usr/bin/python3
"""Benchmark of sse-bridge's cluster-wide connection pool (Redis + Lua).

Starts its own redis-server (free port, --save "" --appendonly no, temp dir)
and pairs of bridges on free ports, all on 127.0.0.1, and measures:

1. Admission burst: --clients clients (default 5,000) connect at once, half
   to each bridge, with --max-connections (default 4,000) so the rest must
   be refused. One process, non-blocking sockets and epoll; client source
   addresses spread over 127.0.0.1..127.0.0.K (bind() with
   IP_BIND_ADDRESS_NO_PORT). Reported: span from the first connect() to the
   last answer (the response head), admitted/s and refused/s over that span,
   the counts (the pool must hold exactly max-connections, checked on the
   clients, in Redis and on both bridges), time-to-answer p50/p99/max, and
   the kernel's listen-queue overflow counters over the burst. A second
   burst ("pre-connected") sets every TCP connection up first, untimed, then
   every client sends its request at once: the same 5,000 admissions without
   the clients' connect() work (one Python process) in the window.
2. Heal after kill -9: two bridges with --max-connections N (default 1,000)
   and a given --lease-ms; b1 holds N streams (the cap is full, checked with
   a refused probe on b2), then b1 is killed with SIGKILL. Measured from the
   kill: when "{sse}:total" (GET every 10 ms, read-only, never reaps) drops
   to b2's own count, and when a new client is admitted on b2. Two modes:
     idle  - no traffic after the kill, so only b2's lease renewal (every
             lease/3) runs a script that reaps b1: expect expiry + up to
             lease/3; a client tries b2 once the drop was seen.
     retry - a client retries b2 every 10 ms after each refusal, like b1's
             orphaned clients would; its own admission script reaps b1, so
             expect the admission right at b1's lease expiry.
   b1's lease expiry (its score in "{sse}:bridges", Redis's clock) is read
   after the kill, so the heal splits into "lease left at the kill" and
   "expiry -> reaped".
3. Cost of the burst: utime+stime (/proc/PID/stat, clock ticks) of both
   bridges and of redis-server from just before the first connect to the
   last answer, divided by the admissions (and by all answers), plus Redis's
   own INFO commandstats for the script calls (reset before the burst), and
   the CPU that processes this run did not start used meanwhile (/proc/stat):
   on a shared machine that is what the figures competed with.

Every loop is bounded in count and time; the whole run stops itself within
HARD_LIMIT_S seconds (SIGALRM), and every process it started is killed on
the way out. Loopback only. Results: printed, and appended to
results/pool.md and results/pool.json (unless --no-write).

  /usr/bin/python3 scripts/bench/bench_pool.py --bridge /tmp/build-pool/bridge/sse-bridge
"""

import argparse
import datetime
import errno
import hashlib
import json
import os
import platform
import resource
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
HARD_LIMIT_S = 90          # the whole run, enforced with SIGALRM
PLAN_LIMIT_S = 80          # a plan estimated above this is refused up front
HOST = "127.0.0.1"
PREFIX = "{sse}:"          # the bridge's default --redis-prefix
CHANNEL = "bench"
REQUEST = ("GET /events?channels=%s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
           "Accept: text/event-stream\r\n\r\n" % CHANNEL).encode()
IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
CLK_TCK = os.sysconf("SC_CLK_TCK")
POLL_S = 0.010             # Redis polling and client retry interval in the heal runs
HEAD_MAX = 16384           # a response head larger than this is an error
BODY_MAX = 65536


class BenchTimeout(Exception):
    pass


class BenchError(Exception):
    pass


def now():
    return time.monotonic()


# --- processes ---------------------------------------------------------------------


class Procs:
    """Every process this run started, stopped by its own pid only."""

    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        self.live = []

    def spawn(self, name, argv):
        log = open(os.path.join(self.tmpdir, name + ".log"), "ab")
        try:
            p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                 close_fds=True)
        finally:
            log.close()
        p.bench_name = name
        self.live.append(p)
        return p

    def log_tail(self, name, n=15):
        try:
            with open(os.path.join(self.tmpdir, name + ".log"), "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
            return "\n".join(lines[-n:])
        except OSError:
            return ""

    def stop(self, p, grace=3.0):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=2)
        if p in self.live:
            self.live.remove(p)

    def kill9(self, p):
        p.kill()
        p.wait(timeout=2)
        if p in self.live:
            self.live.remove(p)

    def stop_all(self):
        for p in list(self.live):
            try:
                if p.poll() is None:
                    p.kill()
                    p.wait(timeout=2)
            except Exception:
                pass
            self.live.remove(p)


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    """utime + stime of pid, in clock ticks."""
    with open("/proc/%d/stat" % pid) as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


def cpu_busy_ms():
    """The whole machine's non-idle CPU time (/proc/stat), in ms."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return (sum(v[:8]) - v[3] - v[4]) * 1000.0 / CLK_TCK


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return None


def tcp_ext():
    """The kernel's TcpExt counters (/proc/net/netstat)."""
    out = {}
    try:
        with open("/proc/net/netstat") as f:
            lines = f.read().splitlines()
        for i in range(0, len(lines) - 1, 2):
            names, values = lines[i].split(), lines[i + 1].split()
            if names[0] == "TcpExt:":
                out = {k: int(v) for k, v in zip(names[1:], values[1:])}
    except (OSError, ValueError):
        pass
    return out


def http_get(port, path, timeout=2.0):
    """One blocking GET with Connection: close: (status, body bytes)."""
    with socket.create_connection((HOST, port), timeout=timeout) as s:
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode())
        buf = b""
        end = now() + timeout
        while now() < end and len(buf) < BODY_MAX:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/1.1 ") else 0
    return status, body


# --- the client engine -------------------------------------------------------------

CONNECTING, READY, HEAD, BODY, OPEN, DONE, FAILED = range(7)


class Conn:
    __slots__ = ("sock", "port", "src", "t0", "t_ans", "status", "buf", "state", "head", "body", "err")

    def __init__(self, src, port):
        self.src, self.port = src, port
        self.sock = None
        self.t0 = self.t_ans = None
        self.status = 0
        self.buf = b""
        self.state = CONNECTING
        self.head = ""
        self.body = b""
        self.err = None

    def prepare(self):
        """Socket created and bound to its source address, not connected yet."""
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        try:  # the port is picked at connect(), per destination: no bind() exhaustion
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
        except OSError:
            pass
        s.bind((self.src, 0))
        self.sock = s

    @property
    def answered(self):
        return self.t_ans is not None or self.state == FAILED

    def ok_stream(self):
        return self.status == 200 and "content-type: text/event-stream" in self.head

    def ok_refusal(self):
        if self.status != 429 or "connection: close" not in self.head or "application/json" not in self.head:
            return False
        try:
            return json.loads(self.body.decode()).get("code") == "too_many_connections"
        except (ValueError, UnicodeDecodeError, AttributeError):
            return False

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None


class Engine:
    """Drives many Conns through connect -> request -> response head; an
    admitted stream stays open (not read further), a refusal is read to EOF."""

    def __init__(self, hold=False):
        self.sel = selectors.EpollSelector()
        self.answered = 0
        self.hold = hold    # True: stop once connected (READY) until send_request
        self.ready = 0

    def start(self, c):
        if c.sock is None:
            c.prepare()
        c.t0 = now()
        rc = c.sock.connect_ex((HOST, c.port))
        if rc not in (0, errno.EINPROGRESS):
            self._fail(c, "connect: %s" % os.strerror(rc), registered=False)
            return
        self.sel.register(c.sock, selectors.EVENT_WRITE, c)

    def _fail(self, c, why, registered=True):
        if registered:
            self.sel.unregister(c.sock)
        c.err = why
        if c.t_ans is None:
            self.answered += 1
        c.state = FAILED
        c.close()

    def _event(self, c):
        try:
            if c.state == CONNECTING:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    self._fail(c, "connect: %s" % os.strerror(err))
                    return
                if self.hold:
                    c.state = READY
                    self.ready += 1
                    self.sel.unregister(c.sock)
                    return
                c.sock.send(REQUEST)  # 80 bytes into an empty socket buffer
                c.state = HEAD
                self.sel.modify(c.sock, selectors.EVENT_READ, c)
                return
            data = c.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            if c.state == BODY:         # answered already: the body is simply cut short
                c.err = "body: %s" % e
                self.sel.unregister(c.sock)
                c.state = DONE
                c.close()
            else:
                self._fail(c, "head: %s" % e)
            return
        if c.state == HEAD:
            if not data:
                self._fail(c, "closed before the response head")
                return
            c.buf += data
            i = c.buf.find(b"\r\n\r\n")
            if i < 0:
                if len(c.buf) > HEAD_MAX:
                    self._fail(c, "response head too large")
                return
            c.t_ans = now()
            self.answered += 1
            c.head = c.buf[:i].decode("latin-1").lower()
            rest = c.buf[i + 4:]
            c.buf = b""
            try:
                c.status = int(c.head.split(" ", 2)[1])
            except (IndexError, ValueError):
                c.status = -1
            if c.status == 200:
                c.state = OPEN  # the stream stays open; its events are not read
                self.sel.unregister(c.sock)
            else:
                c.body = rest
                c.state = BODY
            return
        if c.state == BODY:
            if not data or len(c.body) > BODY_MAX:
                self.sel.unregister(c.sock)
                c.state = DONE
                c.close()
                return
            c.body += data

    def send_request(self, c):
        """A READY (connected, silent) client sends its request now."""
        c.t0 = now()
        try:
            c.sock.send(REQUEST)
        except OSError as e:
            self._fail(c, "send: %s" % e, registered=False)
            return
        c.state = HEAD
        self.sel.register(c.sock, selectors.EVENT_READ, c)

    def poll(self, timeout):
        for key, _ in self.sel.select(timeout=max(0.0, timeout)):
            self._event(key.data)

    def run_until(self, cond, deadline):
        while not cond() and now() < deadline:
            self.poll(min(0.05, deadline - now()))
        return cond()

    def pending(self):
        return len(self.sel.get_map())

    def drop(self, c):
        """Closes c, first taking it out of the selector if it is still in."""
        if c.sock is not None and c.sock in self.sel.get_map():
            self.sel.unregister(c.sock)
        c.close()

    def close(self):
        self.sel.close()


def pct(values, p):
    """Nearest-rank percentile of a non-empty list."""
    v = sorted(values)
    k = max(0, min(len(v) - 1, int(-(-p * len(v) // 100)) - 1))
    return v[k]


# --- the cluster under test ---------------------------------------------------------


class Cluster:
    def __init__(self, args, procs, tmpdir):
        self.args, self.procs, self.tmpdir = args, procs, tmpdir
        self.redis_port = free_port()
        self.redis_argv = [args.redis_server, "--port", str(self.redis_port), "--bind", HOST,
                           "--save", "", "--appendonly", "no", "--dir", tmpdir,
                           "--logfile", os.path.join(tmpdir, "redis-server.log")]
        self.redis_proc = procs.spawn("redis-server", self.redis_argv)
        self.r = redis.Redis(host=HOST, port=self.redis_port, socket_timeout=2, decode_responses=True)
        deadline = now() + 5
        for _ in range(250):
            try:
                if self.r.ping():
                    break
            except redis.exceptions.ConnectionError:
                pass
            if now() > deadline or self.redis_proc.poll() is not None:
                raise BenchError("redis-server did not answer PING")
            time.sleep(0.02)
        self.bridges = {}
        self.commands = {"redis-server": shlex.join(self.redis_argv)}

    def bridge_argv(self, bid, port, max_conn, lease_ms):
        return [self.args.bridge, "--listen", "%s:%d" % (HOST, port),
                "--redis-url", "redis://%s:%d" % (HOST, self.redis_port), "--bridge-id", bid,
                "--channels", CHANNEL, "--max-connections", str(max_conn),
                "--max-connections-per-ip", str(self.args.max_per_ip), "--lease-ms", str(lease_ms),
                "--log-level", "warn"]

    def start_bridges(self, tag, max_conn, lease_ms):
        """b1 and b2 on fresh ports against an empty Redis, both registered."""
        self.r.flushall()
        self.bridges = {}
        for bid in ("b1", "b2"):
            port = free_port()
            argv = self.bridge_argv(bid, port, max_conn, lease_ms)
            self.commands["%s %s" % (tag, bid)] = shlex.join(argv)
            p = self.procs.spawn("%s-%s" % (tag, bid), argv)
            self.bridges[bid] = {"proc": p, "port": port, "name": "%s-%s" % (tag, bid)}
        deadline = now() + 5
        for bid, b in self.bridges.items():
            while True:
                if b["proc"].poll() is not None:
                    raise BenchError("%s exited %s:\n%s" % (b["name"], b["proc"].returncode,
                                                            self.procs.log_tail(b["name"])))
                try:
                    if (http_get(b["port"], "/healthz", 0.5)[0] == 200 and
                            self.r.zscore(PREFIX + "bridges", bid) is not None):
                        break
                except OSError:
                    pass
                if now() > deadline:
                    raise BenchError("%s did not come up:\n%s" % (b["name"], self.procs.log_tail(b["name"])))
                time.sleep(0.02)

    def stop_bridges(self):
        for b in self.bridges.values():
            self.procs.stop(b["proc"])
        self.bridges = {}

    def health(self, bid):
        status, body = http_get(self.bridges[bid]["port"], "/sse/health")
        return json.loads(body) if status == 200 else {}

    def counts(self):
        """(total, held by b1, held by b2) in Redis, read-only."""
        p = self.r.pipeline(transaction=False)
        p.get(PREFIX + "total")
        p.hget(PREFIX + "held:b1", "_total")
        p.hget(PREFIX + "held:b2", "_total")
        t, h1, h2 = p.execute()
        return int(t or 0), int(h1 or 0), int(h2 or 0)

    def wait_total(self, want, timeout):
        """Seconds until GET total == want (polled every 10 ms), or None."""
        t0 = now()
        for _ in range(int(timeout / POLL_S) + 1):
            if self.counts()[0] == want:
                return now() - t0
            time.sleep(POLL_S)
        return None


# --- 1 + 3: the admission burst ------------------------------------------------------


def run_burst(args, cl, budget_end, preconnected=False):
    """preconnected=False: every client connect()s at once (the figure asked
    for). True: every TCP connection is set up first, untimed, then every
    client sends its request at once: the same admissions without the
    clients' and the kernel's connect work in the window."""
    res = {"variant": "preconnected" if preconnected else "connect", "clients": args.clients,
           "max_connections": args.max_connections, "lease_ms": args.burst_lease_ms,
           "source_ips": args.source_ips}
    cl.start_bridges("burst-pre" if preconnected else "burst", args.max_connections, args.burst_lease_ms)
    ports = [cl.bridges["b1"]["port"], cl.bridges["b2"]["port"]]
    srcs = ["127.0.0.%d" % (1 + i) for i in range(args.source_ips)]
    conns = [Conn(srcs[i % len(srcs)], ports[i % 2]) for i in range(args.clients)]
    for c in conns:
        c.prepare()
    eng = Engine(hold=preconnected)
    if preconnected:
        for i, c in enumerate(conns):
            eng.start(c)
            if i % 200 == 199:
                eng.poll(0)
        eng.run_until(lambda: eng.ready + eng.answered >= len(conns), min(budget_end, now() + 8))
        if eng.ready != len(conns):
            raise BenchError("pre-connecting: %d of %d connected" % (eng.ready, len(conns)))
        eng.hold = False
        time.sleep(0.2)  # the bridges' accept work settles before the window opens
    pids = {"b1": cl.bridges["b1"]["proc"].pid, "b2": cl.bridges["b2"]["proc"].pid,
            "redis-server": cl.redis_proc.pid}
    cl.r.config_resetstat()
    net0 = tcp_ext()
    ru0 = resource.getrusage(resource.RUSAGE_SELF)
    cpu0 = {k: cpu_ticks(v) for k, v in pids.items()}
    busy0 = cpu_busy_ms()
    t_first = now()
    for i, c in enumerate(conns):
        if preconnected:
            eng.send_request(c)
        else:
            eng.start(c)
        if i % 200 == 199:      # answers that arrive meanwhile are timed when they arrive
            eng.poll(0)
    t_last_connect = now()
    deadline = min(budget_end, now() + args.burst_timeout)
    eng.run_until(lambda: eng.answered >= len(conns), deadline)
    t_end = now()
    cpu1 = {k: cpu_ticks(v) for k, v in pids.items()}
    busy1 = cpu_busy_ms()
    ru1 = resource.getrusage(resource.RUSAGE_SELF)
    net1 = tcp_ext()
    # refusals still being read to EOF (bounded)
    eng.run_until(lambda: eng.pending() == 0, min(budget_end, now() + 2))
    cmdstats = cl.r.info("commandstats")

    admitted = [c for c in conns if c.status == 200]
    refused = [c for c in conns if c.status == 429]
    failed = [c for c in conns if c.state == FAILED]
    other = [c for c in conns if c.t_ans is not None and c.status not in (200, 429)]
    unanswered = [c for c in conns if not c.answered]
    last_ans = max((c.t_ans for c in conns if c.t_ans is not None), default=t_end)
    span = last_ans - t_first
    tta = [(c.t_ans - c.t0) * 1000 for c in conns if c.t_ans is not None]
    tta_ok = [(c.t_ans - c.t0) * 1000 for c in admitted]
    tta_no = [(c.t_ans - c.t0) * 1000 for c in refused]
    total, h1, h2 = cl.counts()
    health = {bid: cl.health(bid) for bid in ("b1", "b2")}

    def hp(bid, *path):
        v = health[bid]
        for k in path:
            v = v.get(k, {}) if isinstance(v, dict) else {}
        return v if isinstance(v, (int, float)) else None

    res.update({
        "connect_loop_ms": round((t_last_connect - t_first) * 1000, 1),
        "span_ms": round(span * 1000, 1),
        "answers": len(tta),
        "admitted": len(admitted),
        "refused": len(refused),
        "failed": len(failed),
        "other_status": len(other),
        "unanswered": len(unanswered),
        "bad_admitted": sum(1 for c in admitted if not c.ok_stream()),
        "bad_refused": sum(1 for c in refused if c.state == DONE and not c.ok_refusal()),
        "admitted_per_s": round(len(admitted) / span, 1) if span > 0 else None,
        "refused_per_s": round(len(refused) / span, 1) if span > 0 else None,
        "answers_per_s": round(len(tta) / span, 1) if span > 0 else None,
        "tta_ms": {"p50": round(pct(tta, 50), 2), "p99": round(pct(tta, 99), 2),
                   "max": round(max(tta), 2)} if tta else None,
        "tta_admitted_ms": {"p50": round(pct(tta_ok, 50), 2), "p99": round(pct(tta_ok, 99), 2)}
        if tta_ok else None,
        "tta_refused_ms": {"p50": round(pct(tta_no, 50), 2), "p99": round(pct(tta_no, 99), 2)}
        if tta_no else None,
        "redis_total": total,
        "redis_held": {"b1": h1, "b2": h2},
        "bridge_local": {bid: hp(bid, "connection_pool", "local_connections") for bid in health},
        "bridge_rejected_total_limit": {bid: hp(bid, "connection_pool", "rejected", "total_limit")
                                        for bid in health},
        "bridge_admitted_while_degraded": {bid: hp(bid, "connection_pool", "admitted_while_degraded")
                                           for bid in health},
        "per_bridge_clients_admitted": {"b1": sum(1 for c in admitted if c.port == ports[0]),
                                        "b2": sum(1 for c in admitted if c.port == ports[1])},
        "listen_overflows": net1.get("ListenOverflows", 0) - net0.get("ListenOverflows", 0),
        "listen_drops": net1.get("ListenDrops", 0) - net0.get("ListenDrops", 0),
        "syn_retrans": net1.get("TCPSynRetrans", 0) - net0.get("TCPSynRetrans", 0),
        "errors_sample": sorted({c.err for c in failed})[:5],
    })
    cap = args.max_connections
    res["cap_held"] = (len(admitted) == cap and total == cap and h1 + h2 == cap and
                       res["failed"] == 0 and res["unanswered"] == 0 and res["other_status"] == 0 and
                       res["bad_admitted"] == 0 and res["bad_refused"] == 0 and
                       len(refused) == args.clients - cap and
                       sum(v or 0 for v in res["bridge_local"].values()) == cap and
                       not any(res["bridge_admitted_while_degraded"].values()))

    # 3: CPU over the burst
    n_adm, n_ans = max(1, len(admitted)), max(1, len(tta))
    cpu = {}
    for k in pids:
        ms = (cpu1[k] - cpu0[k]) * 1000.0 / CLK_TCK
        cpu[k] = {"cpu_ms": round(ms, 1), "us_per_admission": round(ms * 1000 / n_adm, 1),
                  "us_per_answer": round(ms * 1000 / n_ans, 1)}
    ms = (cpu["b1"]["cpu_ms"] + cpu["b2"]["cpu_ms"])
    cpu["bridges"] = {"cpu_ms": round(ms, 1), "us_per_admission": round(ms * 1000 / n_adm, 1),
                      "us_per_answer": round(ms * 1000 / n_ans, 1)}
    ms = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) * 1000
    cpu["client (this script)"] = {"cpu_ms": round(ms, 1), "us_per_admission": round(ms * 1000 / n_adm, 1),
                                   "us_per_answer": round(ms * 1000 / n_ans, 1)}
    ours = cpu["bridges"]["cpu_ms"] + cpu["redis-server"]["cpu_ms"] + cpu["client (this script)"]["cpu_ms"]
    res["machine_busy_ms"] = round(busy1 - busy0, 1)
    res["other_processes_cpu_ms"] = round(max(0.0, busy1 - busy0 - ours), 1)
    res["cpu"] = cpu
    res["cpu_tick_ms"] = 1000.0 / CLK_TCK
    res["redis_commandstats"] = {
        k.replace("cmdstat_", ""): {f: v[f] for f in ("calls", "usec", "usec_per_call") if f in v}
        for k, v in cmdstats.items() if k in ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_script|load")}

    # release: every admitted stream closes; the pool must come back to 0
    for c in conns:
        eng.drop(c)
    eng.close()
    left = max(0.5, min(10.0, budget_end - now() - 1))
    drained = cl.wait_total(0, left)
    res["release_drain_ms"] = round(drained * 1000, 1) if drained is not None else None
    res["total_after_release"] = cl.counts()[0]
    cl.stop_bridges()
    return res


# --- 2: heal after kill -9 -----------------------------------------------------------


def run_heal(args, cl, lease_ms, mode, budget_end):
    n = args.heal_streams
    res = {"lease_ms": lease_ms, "mode": mode, "streams": n, "max_connections": n}
    cl.start_bridges("heal-%d-%s" % (lease_ms, mode), n, lease_ms)
    p1, p2 = cl.bridges["b1"]["port"], cl.bridges["b2"]["port"]
    srcs = ["127.0.0.%d" % (1 + i) for i in range(args.source_ips)]
    eng = Engine()
    held = [Conn(srcs[i % len(srcs)], p1) for i in range(n)]
    for c in held:
        eng.start(c)
    eng.run_until(lambda: eng.answered >= n, min(budget_end, now() + 10))
    res["b1_admitted"] = sum(1 for c in held if c.ok_stream())
    total, h1, h2 = cl.counts()
    res["total_before_kill"] = total
    # the cap is full: a client on b2 must be refused now
    probe = Conn(HOST, p2)
    eng.start(probe)
    eng.run_until(lambda: probe.answered, min(budget_end, now() + 3))
    res["b2_before_kill"] = probe.status
    eng.drop(probe)
    if res["b1_admitted"] != n or total != n or probe.status != 429:
        raise BenchError("heal setup: b1 admitted %d of %d, total %d, b2 probe %s"
                         % (res["b1_admitted"], n, total, probe.status))

    b1 = cl.bridges["b1"]["proc"]
    wall_kill_ms = time.time() * 1000
    t_kill = now()
    cl.procs.kill9(b1)
    res["kill_wall_ms"] = round(wall_kill_ms)

    end = min(budget_end, t_kill + 2.0 * lease_ms / 1000 + 2)
    t_drop = t_adm = None
    expiry_ms = None
    attempts = 0
    probe = None
    next_probe = t_kill if mode == "retry" else None
    next_poll = t_kill
    polls = 0
    max_polls = int((end - t_kill) / POLL_S) + 10
    while now() < end and polls < max_polls and (t_drop is None or t_adm is None):
        wait = min(x for x in (next_poll, next_probe, end) if x is not None) - now()
        eng.poll(wait)
        t = now()
        if probe is not None and probe.answered:
            if probe.status == 200:
                t_adm = probe.t_ans
                next_probe = None
            else:
                if probe.status != 429:
                    res.setdefault("probe_errors", []).append(probe.err or probe.status)
                eng.drop(probe)
                probe = None
                next_probe = t + POLL_S
        if next_probe is not None and probe is None and t >= next_probe and t_adm is None:
            probe = Conn(HOST, p2)
            attempts += 1
            eng.start(probe)
        if t >= next_poll and t_drop is None:
            polls += 1
            pl = cl.r.pipeline(transaction=False)
            pl.get(PREFIX + "total")
            pl.hget(PREFIX + "held:b2", "_total")
            pl.zscore(PREFIX + "bridges", "b1")
            total, mine, score = pl.execute()
            if score is not None:
                expiry_ms = score      # b1 is dead: its last lease extension is final
            if int(total or 0) <= int(mine or 0):
                t_drop = now()
                if mode == "idle":
                    next_probe = t_drop  # a client arrives once the pool has healed
            next_poll = max(next_poll + POLL_S, t)
    res["probe_attempts"] = attempts
    res["total_drop_ms"] = round((t_drop - t_kill) * 1000, 1) if t_drop is not None else None
    res["admitted_ms"] = round((t_adm - t_kill) * 1000, 1) if t_adm is not None else None
    res["lease_left_at_kill_ms"] = round(expiry_ms - wall_kill_ms, 1) if expiry_ms is not None else None
    if t_drop is not None and expiry_ms is not None:
        res["reaped_after_expiry_ms"] = round(res["total_drop_ms"] - res["lease_left_at_kill_ms"], 1)
    res["total_after"], _, res["b2_held_after"] = cl.counts()
    res["b1_reaped"] = cl.r.zscore(PREFIX + "bridges", "b1") is None
    res["ok"] = t_drop is not None and t_adm is not None and res["b1_reaped"]
    if probe is not None:
        eng.drop(probe)
    for c in held:
        eng.drop(c)
    eng.close()
    cl.stop_bridges()
    return res


# --- reporting ------------------------------------------------------------------------


def cmd_version(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.TimeoutExpired) as e:
        return "unavailable (%s)" % e


def machine_info():
    info = {"hostname": platform.node(), "kernel": platform.release(), "arch": platform.machine(),
            "cpus": os.cpu_count(), "python": platform.python_version(), "redis_py": redis.__version__}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu_model"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            info["mem_total_mb"] = int(f.readline().split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    for key, path in (("somaxconn", "/proc/sys/net/core/somaxconn"),
                      ("tcp_max_syn_backlog", "/proc/sys/net/ipv4/tcp_max_syn_backlog"),
                      ("tcp_syncookies", "/proc/sys/net/ipv4/tcp_syncookies"),
                      ("ip_local_port_range", "/proc/sys/net/ipv4/ip_local_port_range")):
        try:
            with open(path) as f:
                info[key] = f.read().strip().replace("\t", " ")
        except OSError:
            pass
    info["nofile"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    info["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return info


def repo_state():
    """Read-only: the checkout's HEAD and whether it has local changes."""
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--", "bridge", "common", "cmake",
                                "CMakeLists.txt"], capture_output=True, text=True, timeout=5).stdout.strip()
        return {"head": head, "bridge_sources_modified": dirty != ""}
    except (OSError, subprocess.TimeoutExpired):
        return {}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fmt(v, unit=""):
    if v is None:
        return "—"
    if isinstance(v, float):
        v = ("%.1f" % v) if abs(v) >= 10 else ("%.2f" % v)
    elif isinstance(v, int):
        v = "{:,}".format(v)
    return "%s%s" % (v, unit)


def markdown(run):
    out = []
    m, v = run["machine"], run["versions"]
    out.append("## Run %s" % run["started_utc"])
    out.append("")
    out.append("- bridge: `%s` (%s, sha256 %s…); %s; redis-py %s; Python %s"
               % (run["bridge"], v["sse_bridge"], run["bridge_sha256"][:12], v["redis_server"],
                  m.get("redis_py"), m.get("python")))
    dirty = (" (bridge/, common/ or CMake files differ from it)" if run["repo"].get("bridge_sources_modified")
             else " (bridge/, common/ and CMake files as committed)")
    out.append("- repo HEAD %s%s" % (run["repo"].get("head", "?")[:12], dirty))
    out.append("- machine: %s, %s CPUs, %s MB, %s, kernel %s; somaxconn %s, syn backlog %s, "
               "ports %s, nofile %s; bridge listen backlog 1024"
               % (m.get("cpu_model"), m.get("cpus"), m.get("mem_total_mb"), m.get("os"), m.get("kernel"),
                  m.get("somaxconn"), m.get("tcp_max_syn_backlog"), m.get("ip_local_port_range"),
                  m.get("nofile")))
    out.append("- command: `%s` (%.1f s); load average %s at the start, %s at the end"
               % (run["command"], run["duration_s"], run.get("loadavg_at_start"), run.get("loadavg_at_end")))
    bursts = [x for x in (run.get("burst"), run.get("burst_preconnected")) if x]
    if bursts:
        b = bursts[0]
        out.append("")
        out.append("### 1. Admission burst: %s clients at once over 2 bridges, --max-connections %s"
                   % (fmt(b["clients"]), fmt(b["max_connections"])))
        out.append("")
        out.append("Time to answer: from a client's connect() (pre-connected: its request) to its "
                   "complete response head. Rates are over the whole window.")
        out.append("")
        names = {"connect": "connect() at once", "preconnected": "pre-connected, requests at once"}
        out.append("| figure | " + " | ".join(names[x["variant"]] for x in bursts) + " |")
        out.append("|---|" + "---|" * len(bursts))

        def p(d, k):
            return fmt((d or {}).get(k))

        rows = [
            ("first connect (request) → last answer", lambda x: fmt(x["span_ms"], " ms")),
            ("client's connect() (send) loop", lambda x: fmt(x["connect_loop_ms"], " ms")),
            ("admitted / refused / failed / unanswered", lambda x: "%s / %s / %s / %s"
             % (fmt(x["admitted"]), fmt(x["refused"]), fmt(x["failed"]), fmt(x["unanswered"]))),
            ("**admitted/s**", lambda x: "**%s**" % fmt(x["admitted_per_s"])),
            ("**refusals/s**", lambda x: "**%s**" % fmt(x["refused_per_s"])),
            ("answers/s", lambda x: fmt(x["answers_per_s"])),
            ("time to answer p50 / p99 / max", lambda x: "%s / %s / %s ms"
             % (p(x["tta_ms"], "p50"), p(x["tta_ms"], "p99"), p(x["tta_ms"], "max"))),
            ("… admitted p50 / p99", lambda x: "%s / %s ms"
             % (p(x["tta_admitted_ms"], "p50"), p(x["tta_admitted_ms"], "p99"))),
            ("… refused p50 / p99", lambda x: "%s / %s ms"
             % (p(x["tta_refused_ms"], "p50"), p(x["tta_refused_ms"], "p99"))),
            ("{sse}:total after (held b1 + b2)", lambda x: "%s (%s + %s)"
             % (fmt(x["redis_total"]), fmt(x["redis_held"]["b1"]), fmt(x["redis_held"]["b2"]))),
            ("cap held exactly (clients, Redis, bridges agree)",
             lambda x: "**%s**" % ("yes" if x["cap_held"] else "NO")),
            ("admitted while degraded (b1, b2)", lambda x: "%s, %s"
             % (x["bridge_admitted_while_degraded"]["b1"], x["bridge_admitted_while_degraded"]["b2"])),
            ("listen overflows / drops / SYN retransmits", lambda x: "%s / %s / %s"
             % (fmt(x["listen_overflows"]), fmt(x["listen_drops"]), fmt(x["syn_retrans"]))),
            ("all closed → {sse}:total back to 0", lambda x: "%s (now %s)"
             % (fmt(x["release_drain_ms"], " ms"), fmt(x["total_after_release"]))),
            ("CPU of other processes in the window", lambda x: "%s ms of %s ms busy"
             % (fmt(x["other_processes_cpu_ms"]), fmt(x["machine_busy_ms"]))),
        ]
        out.extend("| %s | %s |" % (name, " | ".join(f(x) for x in bursts)) for name, f in rows)
    heals = run.get("heal") or []
    if heals:
        out.append("")
        out.append("### 2. Heal after kill -9 of b1 (holding --max-connections streams; b2 idle)")
        out.append("")
        out.append("| lease | mode | streams | b1 lease left at kill | {sse}:total dropped | "
                   "new client admitted on b2 | expiry → reaped | b2 attempts |")
        out.append("|---|---|---|---|---|---|---|---|")
        for h in heals:
            out.append("| %s ms | %s | %s | %s | %s | %s | %s | %s |"
                       % (fmt(h["lease_ms"]), h["mode"], fmt(h["streams"]),
                          fmt(h.get("lease_left_at_kill_ms"), " ms"), fmt(h.get("total_drop_ms"), " ms"),
                          fmt(h.get("admitted_ms"), " ms"), fmt(h.get("reaped_after_expiry_ms"), " ms"),
                          fmt(h.get("probe_attempts"))))
        out.append("")
        out.append("Times from the SIGKILL, Redis polled every 10 ms. b1 is killed right after its "
                   "last admission, which renewed its lease: the lease left at the kill is about a "
                   "whole lease (a replica killed at a random moment has between 2/3 and all of it "
                   "left). idle: no client traffic, so only b2's renewal (every lease/3) runs a "
                   "script that reaps; a client tries b2 once the drop was seen. retry: a client "
                   "retries b2 10 ms after each refusal; its own admission reaps.")
    if bursts:
        out.append("")
        out.append("### 3. CPU over the burst (utime+stime from /proc/PID/stat, %g ms ticks)"
                   % bursts[0]["cpu_tick_ms"])
        out.append("")
        out.append("| process | " + " | ".join("%s: CPU, per admission, per answer" % names[x["variant"]]
                                             for x in bursts) + " |")
        out.append("|---|" + "---|" * len(bursts))
        for k in bursts[0]["cpu"]:
            cells = []
            for x in bursts:
                c = x["cpu"][k]
                cells.append("%s ms, **%s µs**, %s µs" % (fmt(c["cpu_ms"]), fmt(c["us_per_admission"]),
                                                         fmt(c["us_per_answer"])))
            out.append("| %s | %s |" % (k, " | ".join(cells)))
        for x in bursts:
            for k, c in x["redis_commandstats"].items():
                out.append("")
                out.append("Redis INFO commandstats `%s` (%s): %s calls, %s µs/call inside Redis."
                           % (k, names[x["variant"]], fmt(c.get("calls")), c.get("usec_per_call")))
    out.append("")
    out.append("Processes started:")
    out.append("")
    out.append("```")
    for k, c in run["commands"].items():
        out.append("# %s\n%s" % (k, c))
    out.append("```")
    if run.get("problems"):
        out.append("")
        out.append("Problems: " + "; ".join(run["problems"]))
    out.append("")
    return "\n".join(out) + "\n"


def write_results(run, results_dir):
    os.makedirs(results_dir, exist_ok=True)
    jpath = os.path.join(results_dir, "pool.json")
    doc = {"runs": []}
    if os.path.exists(jpath):
        with open(jpath) as f:
            doc = json.load(f)
    doc.setdefault("runs", []).append(run)
    tmp = jpath + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, jpath)
    mpath = os.path.join(results_dir, "pool.md")
    new = not os.path.exists(mpath)
    with open(mpath, "a") as f:
        if new:
            f.write("# sse-bridge cluster pool benchmark\n\n"
                    "Written by `scripts/bench/bench_pool.py` (one section per run, newest last; "
                    "pool.json holds every figure).\n\n")
        f.write(markdown(run))
    return mpath, jpath


# --- main ------------------------------------------------------------------------------


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bridge", default=os.path.join(REPO, "build", "bridge", "sse-bridge"))
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--clients", type=int, default=5000)
    ap.add_argument("--max-connections", type=int, default=4000)
    ap.add_argument("--max-per-ip", type=int, default=100000, help="--max-connections-per-ip (high)")
    ap.add_argument("--source-ips", type=int, default=20, help="client sources 127.0.0.1..127.0.0.K")
    ap.add_argument("--burst-lease-ms", type=int, default=3000)
    ap.add_argument("--burst-timeout", type=float, default=20.0)
    ap.add_argument("--heal-leases", default="3000,1000", help="comma-separated --lease-ms values")
    ap.add_argument("--heal-modes", default="idle,retry", help="idle, retry or both")
    ap.add_argument("--heal-streams", type=int, default=1000)
    ap.add_argument("--skip-burst", action="store_true")
    ap.add_argument("--skip-preconnected", action="store_true",
                    help="no second burst with the TCP connections set up beforehand")
    ap.add_argument("--results-dir", default=os.path.join(HERE, "results"))
    ap.add_argument("--no-write", action="store_true", help="print only")
    a = ap.parse_args(argv)
    a.heal_leases = [int(x) for x in a.heal_leases.split(",") if x.strip()]
    a.heal_modes = [x.strip() for x in a.heal_modes.split(",") if x.strip()]
    if not 1 <= a.source_ips <= 254:
        ap.error("--source-ips must be 1..254")
    if not 1 <= a.max_connections < a.clients <= 18000:
        ap.error("need 1 <= --max-connections < --clients <= 18000")
    if not 1 <= a.heal_streams <= 10000 or any(not 300 <= x <= 20000 for x in a.heal_leases):
        ap.error("--heal-streams 1..10000, --heal-leases 300..20000 each")
    if any(m not in ("idle", "retry") for m in a.heal_modes):
        ap.error("--heal-modes: idle and/or retry")
    plan = ((0 if a.skip_burst else 8 if a.skip_preconnected else 16) +
            sum(2.0 * lease / 1000 + 3 for lease in a.heal_leases for _ in a.heal_modes))
    if plan > PLAN_LIMIT_S:
        ap.error("this plan may take ~%.0f s, over the %d s budget" % (plan, PLAN_LIMIT_S))
    if not os.access(a.bridge, os.X_OK):
        ap.error("no executable bridge at %s (build it, or pass --bridge)" % a.bridge)
    return a


def main(argv):
    args = parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.clients + 200
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, need), hard))

    def on_alarm(signum, frame):
        raise BenchTimeout("hard limit of %d s reached" % HARD_LIMIT_S)

    def on_term(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)

    t_start = now()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(HARD_LIMIT_S - 2)
    budget_end = t_start + HARD_LIMIT_S - 5

    run = {"started_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
           "command": shlex.join([sys.executable, os.path.relpath(os.path.abspath(__file__), REPO)] + argv),
           "bridge": args.bridge, "bridge_sha256": sha256(args.bridge),
           "versions": {"sse_bridge": cmd_version([args.bridge, "--version"]),
                        "redis_server": cmd_version([args.redis_server, "--version"])},
           "machine": machine_info(), "repo": repo_state(), "loadavg_at_start": loadavg(),
           "problems": []}
    tmpdir = tempfile.mkdtemp(prefix="bench-pool-")
    procs = Procs(tmpdir)
    failed = False
    try:
        cl = Cluster(args, procs, tmpdir)
        run["commands"] = cl.commands
        if not args.skip_burst:
            print("burst: %d clients, cap %d ..." % (args.clients, args.max_connections), flush=True)
            run["burst"] = run_burst(args, cl, budget_end)
            if not args.skip_preconnected:
                print("burst, pre-connected: %d clients, cap %d ..." % (args.clients, args.max_connections),
                      flush=True)
                run["burst_preconnected"] = run_burst(args, cl, budget_end, preconnected=True)
            for key in ("burst", "burst_preconnected"):
                if key not in run:
                    continue
                if not run[key]["cap_held"]:
                    run["problems"].append("%s: the cap did not hold exactly" % key)
                if run[key]["total_after_release"] != 0:
                    run["problems"].append("%s: {sse}:total did not return to 0 after every stream closed"
                                           % key)
        run["heal"] = []
        for lease in args.heal_leases:
            for mode in args.heal_modes:
                print("heal: lease %d ms, %s ..." % (lease, mode), flush=True)
                h = run_heal(args, cl, lease, mode, budget_end)
                run["heal"].append(h)
                if not h["ok"]:
                    run["problems"].append("heal lease %d %s: not healed in time" % (lease, mode))
    except (Exception, KeyboardInterrupt) as e:
        failed = True
        run["problems"].append("aborted: %s: %s" % (type(e).__name__, e))
        for p in list(procs.live):
            if p.bench_name == "redis-server" and p.poll() is None:
                continue
            tail = procs.log_tail(p.bench_name, 5)
            if tail:
                run["problems"].append("%s log: %s" % (p.bench_name, tail.replace("\n", " | ")))
    finally:
        signal.alarm(0)
        procs.stop_all()
        shutil.rmtree(tmpdir, ignore_errors=True)
    run["duration_s"] = round(now() - t_start, 1)
    run["loadavg_at_end"] = loadavg()
    run.setdefault("commands", {})
    text = markdown(run)
    print()
    print(text)
    if not args.no_write:
        mpath, jpath = write_results(run, args.results_dir)
        print("appended to %s and %s" % (os.path.relpath(mpath), os.path.relpath(jpath)))
    return 1 if failed or run["problems"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
