#!/usr/bin/python3
"""Benchmark of sse-bridge's gzip (one raw-deflate segment per message, shared
by every gzip stream; frames <= --compression-threshold go as stored blocks).

Starts its own redis-server and one sse-bridge on free 127.0.0.1 ports and
publishes a deterministic corpus (seeded) that looks like what the YouTube
summarizer emits:
  progress   JSON progress events of ~200 bytes
  summaries  completed-job JSON with 2-20 KB of English-like text (sentences
             drawn from an embedded word list with Zipf-Mandelbrot frequency,
             a few topic words per summary repeated, paragraphs)
  mix        jobs of 100 progress events followed by their summary

Measured:
1. Wire bytes, gzip vs identity: one raw-socket client of each kind counts
   every byte after the response head; per corpus the difference between
   snapshots taken once both clients hold the whole corpus. The decoded gzip
   body must equal the identity body byte for byte. The same bytes are
   predicted offline with Python's zlib (same zlib, same parameters as
   common/gzseg.c) and two alternatives are computed offline for reference:
   every frame deflated (threshold 0), and a per-connection zlib stream that
   keeps its window across messages (what per-client gzip, e.g. a proxy,
   would send; not what the bridge does).
2. Compression CPU per message at 100, 1,000 and again 100 gzip streams:
   each corpus (summaries, mix) published one message at a time; after each,
   once every stream holds it, /sse/health system_metrics.compression is
   read: sums give cpu_ms / segments_compressed and cpu_ms / segments_built,
   the per-message deltas give medians; next to the bridge's utime+stime.
3. Fan-out: the mix at --rate msg/s for --duration s. Sequential runs
   (ABBA...): --fanout-clients gzip streams on the bridge (each decompressed
   with zlib.decompressobj(wbits=31)), then as many identity streams.
   Paired runs: a second bridge (same command, another port) on the same
   channel, gzip streams on one and identity streams on the other in the
   same window (roles swapped every other run), so both see the same
   machine. Bridge utime+stime (/proc/PID/stat) and write syscalls
   (/proc/PID/io) from the first publish to the last receipt, per delivery;
   every client counts its "event: bench" blocks and decoded bytes (must
   equal the corpus). The machine's other load over each window is recorded.

Clients: one process, non-blocking sockets, epoll. The publisher is a
forked child (redis-py, paced on absolute deadlines). Loopback only; every
wait is bounded and the whole run stops itself after --time-limit s
(SIGALRM); every process started is killed on the way out.

  /usr/bin/python3 scripts/bench/bench_gzip.py --build /tmp/build-gzb

Writes scripts/bench/results/gzip.md and gzip.json (--out DIR to change).
"""
import argparse
import ctypes
import datetime
import errno
import hashlib
import json
import multiprocessing
import os
import platform
import random
import resource
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
import zlib

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CHANNEL = "bench"
PAT = b"event: " + CHANNEL.encode() + b"\n"
HOST = "127.0.0.1"
CLK_TCK = os.sysconf("SC_CLK_TCK")
GZS_HEADER_LEN = 10   # common/gzseg.h
GZS_TRAILER_LEN = 13  # common/gzseg.h (sent only when the stream ends cleanly)
THRESHOLD = 1024      # the bridge's default --compression-threshold
LEVEL = 6             # the bridge's default --compression-level


class Deadline(Exception):
    pass


# --------------------------------------------------------------------------
# Corpus

# Ordered roughly by English frequency: function words first (they make up
# about half of running text), then general and topic vocabulary.
FUNCTION_WORDS = """the of and to a in is that for it as was with be by on not
this are or from at which but have an they you were their one all we can has
there been if more when will would who so no its about into than these what
some other also them then only could may such most how our many out up new
any should each between both after over through where while because those
just very well like much even must here way same own still during before
being under without again however every another against since few first two
three""".split()
CONTENT_WORDS = """video speaker model data learning people time example system
process question research work part approach problem result results point
idea method information world way years change use power energy market
company growth cost value design team project product users user customer
support network training language text image audio transcript summary
section topic discussion interview story history science theory evidence
study analysis experiment test performance speed quality memory computer
software hardware code program function version release feature features
server client request response channel message stream event events browser
connection performance security privacy policy government law economy
economic financial money price prices budget revenue profit investment risk
strategy business industry technology tools platform service services cloud
storage database query index search engine content creator audience viewers
channel episode series lecture course lesson student students teacher school
university professor author book chapter paper article report review
opinion argument claim reason reasons factor factors effect effects impact
benefit benefits challenge challenges solution solutions option options
decision decisions goal goals plan plans step steps stage stages phase level
levels number numbers percent rate rates growth trend trends pattern
patterns structure structures network networks layer layers neural deep
machine intelligence artificial human humans brain mind body health medical
doctor patient patients treatment disease climate water food plant plants
animal animals species environment earth planet space light sound music art
film culture society community family children parents life death war peace
country countries city cities state states nation global local national
international history ancient modern future past present century decade
today recently eventually finally initially overall generally specifically
particularly especially clearly simply directly quickly slowly carefully
important significant different similar large small high low long short
early late major minor key main central critical basic simple complex
difficult easy possible likely common rare strong weak open free full real
true false better best worse worst good bad great little big new old young
explains describes argues suggests shows demonstrates highlights notes
mentions discusses compares introduces presents reviews outlines covers
focuses emphasizes concludes believes says thinks found shows found makes
takes gives uses needs wants helps allows requires provides includes
creates builds runs moves grows leads starts ends keeps turns brings holds
means seems becomes remains appears""".split()
TOPICS = CONTENT_WORDS[:240]
STAGES = [("queued", 0), ("downloading", 3), ("extracting_audio", 12),
          ("transcribing", 20), ("chunking", 62), ("summarizing", 68),
          ("finalizing", 96)]
STAGE_MSG = {"queued": "Waiting for a worker",
             "downloading": "Downloading video",
             "extracting_audio": "Extracting the audio track",
             "transcribing": "Transcribing audio chunk {c} of {n}",
             "chunking": "Splitting the transcript into sections",
             "summarizing": "Summarizing section {c} of {n}",
             "finalizing": "Writing the summary"}
B62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


class Corpus:
    """Deterministic generator of summarizer messages (one random.Random)."""

    def __init__(self, seed):
        self.rng = random.Random(seed)
        vocab = list(FUNCTION_WORDS)
        rest = list(dict.fromkeys(CONTENT_WORDS))
        self.rng.shuffle(rest)
        vocab += [w for w in rest if w not in vocab]
        self.vocab = vocab
        # Zipf-Mandelbrot: weight of rank r = 1 / (r + 2.7)
        acc, cum = 0.0, []
        for r in range(len(vocab)):
            acc += 1.0 / (r + 1 + 2.7)
            cum.append(acc)
        self.cum = cum
        self.ts = 1732500000000
        self.jobs = 0

    def _ids(self):
        rng = self.rng
        job_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        video_id = "".join(rng.choice(B62) for _ in range(11))
        return job_id, video_id

    def _sentence(self, topic):
        rng = self.rng
        n = rng.randint(7, 24)
        words = rng.choices(self.vocab, cum_weights=self.cum, k=n)
        words = [rng.choice(topic) if rng.random() < 0.09 else w for w in words]
        if n > 12 and rng.random() < 0.5:
            k = rng.randint(4, n - 4)
            words[k] += ","
        s = " ".join(words)
        return s[0].upper() + s[1:] + ("?" if rng.random() < 0.03 else ".")

    def text(self, target):
        rng = self.rng
        topic = rng.sample(TOPICS, 10)
        paras, size = [], 0
        while size < target:
            p = []
            for _ in range(rng.randint(3, 7)):
                s = self._sentence(topic)
                if size + len(s) + 1 > target and (p or paras):
                    break
                p.append(s)
                size += len(s) + 1
            else:
                paras.append(" ".join(p))
                size += 1
                continue
            if p:
                paras.append(" ".join(p))
            break
        return "\n\n".join(paras), topic

    def progress_job(self, job_id, video_id, n=100):
        """n progress events of one job (pct 0..99 over the stages)."""
        rng = self.rng
        out = []
        chunks = rng.randint(6, 24)
        sections = rng.randint(4, 12)
        total_s = rng.randint(40, 400)
        for i in range(n):
            pct = i * 100 // n
            stage = [s for s, p in STAGES if p <= pct][-1]
            c, k = 0, 0
            if stage == "transcribing":
                k = chunks
                c = 1 + (pct - 20) * chunks // 42
            elif stage == "summarizing":
                k = sections
                c = 1 + (pct - 68) * sections // 28
            self.ts += rng.randint(150, 2500)
            ev = {"type": "progress", "job_id": job_id, "video_id": video_id,
                  "stage": stage, "pct": pct,
                  "eta_s": max(0, total_s * (100 - pct) // 100 + rng.randint(-3, 3)),
                  "chunk": c, "chunks": k,
                  "message": STAGE_MSG[stage].format(c=c, n=k),
                  "ts": self.ts}
            out.append(json.dumps(ev, separators=(",", ":")).encode())
        return out

    def summary(self, job_id, video_id):
        rng = self.rng
        target = rng.randint(2048, 20480)  # whole payload, bytes
        title_words = rng.choices(self.vocab[40:], k=rng.randint(4, 9))
        title = " ".join(title_words).title()
        points = [self._sentence(rng.sample(TOPICS, 5)) for _ in range(rng.randint(3, 6))]
        base = {"type": "summary", "job_id": job_id, "video_id": video_id,
                "status": "completed", "title": title, "language": "en",
                "duration_s": rng.randint(120, 5400), "key_points": points,
                "summary": "", "word_count": 0, "ts": self.ts}
        overhead = len(json.dumps(base, separators=(",", ":")).encode())
        text, _ = self.text(max(1024, target - overhead - target // 100))
        base["summary"] = text
        base["word_count"] = len(text.split())
        return json.dumps(base, separators=(",", ":")).encode()

    def progress_only(self, jobs):
        out = []
        for _ in range(jobs):
            out += self.progress_job(*self._ids())
        return out

    def summaries(self, n):
        return [self.summary(*self._ids()) for _ in range(n)]

    def mix(self, jobs, per_summary=100):
        out = []
        for _ in range(jobs):
            j, v = self._ids()
            out += self.progress_job(j, v, per_summary)
            out.append(self.summary(j, v))
        return out


def frame(payload):
    """The bytes sse_frame_write() produces for a plain payload on CHANNEL."""
    assert b"\n" not in payload and b"\r" not in payload
    return b"event: " + CHANNEL.encode() + b"\ndata: " + payload + b"\n\n"


def segment_len(fr, threshold=THRESHOLD, level=LEVEL):
    """Bytes of the bridge's segment for frame fr (mirror of common/gzseg.c)."""
    if len(fr) <= threshold:
        nblocks = max(1, (len(fr) + 65534) // 65535)
        return len(fr) + 5 * nblocks
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 8)
    return len(c.compress(fr) + c.flush(zlib.Z_SYNC_FLUSH))


def per_connection_stream_len(frames, level=LEVEL):
    """Reference: one zlib stream per connection, a sync flush per message."""
    c = zlib.compressobj(level, zlib.DEFLATED, -15, 8)
    return sum(len(c.compress(f) + c.flush(zlib.Z_SYNC_FLUSH)) for f in frames)


# --------------------------------------------------------------------------
# Processes

def _pdeathsig():
    """Child dies with us (PR_SET_PDEATHSIG = 1) even if we are SIGKILLed."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0)
    except OSError:
        pass


class Procs:
    def __init__(self):
        self.popen = []   # (name, Popen)
        self.mp = []      # multiprocessing children

    def spawn(self, name, argv, out, err):
        p = subprocess.Popen(argv, stdout=open(out, "wb"), stderr=open(err, "wb"),
                             stdin=subprocess.DEVNULL, preexec_fn=_pdeathsig)
        self.popen.append((name, p))
        return p

    def stop_all(self):
        """At most ~4 s: SIGTERM everyone, SIGTERM again (a bridge's second signal
        ends its drain at once), then SIGKILL."""
        for mp in self.mp:
            if mp.is_alive():
                mp.terminate()
        live = [p for _, p in self.popen if p.poll() is None]
        for step in (signal.SIGTERM, signal.SIGTERM, signal.SIGKILL):
            for p in live:
                try:
                    p.send_signal(step)
                except OSError:
                    pass
            end = time.monotonic() + 1.0
            while live and time.monotonic() < end:
                live = [p for p in live if p.poll() is None]
                time.sleep(0.02)
            if not live:
                break
        for mp in self.mp:
            mp.join(0.5)
            if mp.is_alive():
                mp.kill()
                mp.join(0.5)


def free_port():
    s = socket.socket()
    s.bind((HOST, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def cpu_split(pid):
    """(utime, stime) of a process in clock ticks, or (None, None)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]), int(rest[12])
    except (OSError, IndexError, ValueError):
        return None, None


def cpu_ticks(pid):
    u, s = cpu_split(pid)
    return None if u is None else u + s


def syscalls(pid):
    """(read, write) syscalls of a process so far, from /proc/PID/io."""
    try:
        with open(f"/proc/{pid}/io") as f:
            v = dict(line.split(":") for line in f)
        return int(v["syscr"]), int(v["syscw"])
    except (OSError, KeyError, ValueError):
        return None, None


def machine_ticks():
    """(busy, steal) clock ticks of the whole machine from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[0] + v[1] + v[2] + v[5] + v[6], v[7]


class OtherLoad:
    """CPU the rest of the machine used over a span: machine busy time minus
    the utime+stime of our processes (softirq work charged to no process
    lands in 'others', so this overstates them somewhat)."""

    def __init__(self, pids):
        self.pids = pids
        self.t = time.monotonic()
        self.m, self.st = machine_ticks()
        self.o = sum(cpu_ticks(p) or 0 for p in pids)

    def end(self):
        dt = time.monotonic() - self.t
        m, st = machine_ticks()
        o = sum(cpu_ticks(p) or 0 for p in self.pids)
        others = max(0, (m - self.m) - (o - self.o))
        return {"others_pct_of_one_core": round(100 * others / CLK_TCK / dt, 1) if dt > 0
                else None,
                "steal_pct_of_one_core": round(100 * (st - self.st) / CLK_TCK / dt, 1)
                if dt > 0 else None}


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def http_json(port, path, timeout=5.0):
    with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=timeout) as r:
        return json.loads(r.read())


def health(port):
    h = http_json(port, "/sse/health")
    z = http_json(port, "/healthz")
    c = dict(h["system_metrics"]["compression"])
    c["events_sent"] = h["bridge"]["events_sent"]
    c["bytes_sent"] = h["bridge"]["bytes_sent"]
    c["connections"] = h["bridge"]["connections"]
    for k in ("slow_consumer_drops", "messages_received", "messages_malformed",
              "messages_oversize", "connections_closed"):
        c[k] = z["counters"][k]
    return c


def health_gz(port):
    return http_json(port, "/sse/health")["system_metrics"]["compression"]


def hdelta(a, b):
    return {k: round(b[k] - a[k], 6) for k in b if isinstance(b[k], (int, float))
            and not isinstance(b[k], bool)}


# --------------------------------------------------------------------------
# Publisher (forked child: its own interpreter state, no client sockets)

def publisher_main(conn, redis_port, corpora):
    _pdeathsig()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.alarm(0)
    r = redis.Redis(host=HOST, port=redis_port, socket_timeout=10)
    while True:
        cmd = conn.recv()
        if cmd is None:
            return
        name, rate, count, cap_s = cmd
        msgs = corpora[name][:count]
        t0 = time.monotonic()
        wall0 = time.time()
        cpu0 = time.process_time()
        i, late_max, batches, receivers = 0, 0.0, 0, 0
        n = len(msgs)
        ok = True
        while i < n:
            now = time.monotonic()
            if now - t0 > cap_s:
                ok = False
                break
            if rate is None:
                due = min(n, i + 100)
            else:
                due = min(n, int((now - t0) * rate) + 1)
                if due <= i:
                    time.sleep(max(0.0, t0 + i / rate - now))
                    continue
                late_max = max(late_max, now - (t0 + i / rate))
            if due - i == 1:
                receivers += r.publish(CHANNEL, msgs[i])
            else:
                p = r.pipeline(transaction=False)
                for m in msgs[i:due]:
                    p.publish(CHANNEL, m)
                receivers += sum(p.execute())
            batches += 1
            i = due
        t1 = time.monotonic()
        conn.send({"ok": ok, "sent": i, "seconds": round(t1 - t0, 4),
                   "start_wall": wall0, "end_wall": wall0 + (t1 - t0),
                   "rate_achieved": round(i / (t1 - t0), 2) if t1 > t0 else None,
                   "max_behind_ms": round(late_max * 1000, 2), "round_trips": batches,
                   "receivers_sum": receivers,
                   "cpu_s": round(time.process_time() - cpu0, 3)})


# --------------------------------------------------------------------------
# SSE clients

class Totals:
    def __init__(self):
        self.events = 0
        self.last_rx = 0.0
        self.closed = 0
        self.errors = []


class Client:
    __slots__ = ("sock", "fd", "port", "gzip", "keep", "tot", "state", "head", "dec", "raw",
                 "decoded", "events", "tail", "kept", "ready", "hello", "err")

    def __init__(self, port, gzip, tot, keep=False):
        self.gzip = gzip
        self.port = port
        self.keep = keep
        self.tot = tot
        self.state = "connect"
        self.head = b""
        self.dec = zlib.decompressobj(wbits=31) if gzip else None
        self.raw = 0          # bytes after the response head (wire)
        self.decoded = 0      # body bytes after gunzip
        self.events = 0       # "event: bench" blocks
        self.tail = b""
        self.kept = []
        self.ready = False
        self.hello = b""
        self.err = None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.fd = self.sock.fileno()
        r = self.sock.connect_ex((HOST, port))
        if r not in (0, errno.EINPROGRESS):
            raise OSError(r, os.strerror(r))
        ae = "Accept-Encoding: gzip\r\n" if gzip else ""
        self.head = (f"GET /events?channels={CHANNEL} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
                     f"Accept: text/event-stream\r\n{ae}\r\n").encode()

    def on_writable(self, ep):
        err = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            return self.fail(f"connect: {os.strerror(err)}", ep)
        self.sock.send(self.head)  # ~120 bytes: fits the empty send buffer
        self.head = b""
        self.state = "head"
        ep.modify(self.fd, select.EPOLLIN)

    def fail(self, why, ep):
        if self.err is None:
            self.err = why
            self.tot.closed += 1
            if len(self.tot.errors) < 10:
                self.tot.errors.append(why)
        try:
            ep.unregister(self.fd)
        except (OSError, ValueError):
            pass

    def on_readable(self, ep, now):
        try:
            data = self.sock.recv(262144)
        except BlockingIOError:
            return
        except OSError as e:
            return self.fail(f"recv: {e}", ep)
        if not data:
            return self.fail("closed by the server", ep)
        if self.state == "head":
            self.head += data
            i = self.head.find(b"\r\n\r\n")
            if i < 0:
                if len(self.head) > 8192:
                    self.fail("response head too long", ep)
                return
            head = self.head[:i].decode("latin-1")
            data = self.head[i + 4:]
            self.head = b""
            lines = head.split("\r\n")
            if not lines[0].startswith("HTTP/1.1 200"):
                return self.fail(f"status: {lines[0]}", ep)
            enc = [ln.split(":", 1)[1].strip().lower() for ln in lines[1:]
                   if ln.lower().startswith("content-encoding:")]
            if (enc == ["gzip"]) != self.gzip:
                return self.fail(f"content-encoding {enc} (asked gzip={self.gzip})", ep)
            self.state = "body"
            if not data:
                return
        self.raw += len(data)
        self.tot.last_rx = now
        if self.dec is not None:
            try:
                out = self.dec.decompress(data)
            except zlib.error as e:
                return self.fail(f"gunzip: {e}", ep)
            if self.dec.eof:
                return self.fail("gzip member ended", ep)
        else:
            out = data
        if not out:
            return
        self.decoded += len(out)
        if not self.ready:
            self.hello += out
            if self.hello.count(b"\n\n") >= 2:  # ": sse-bridge ..." and "event: connected"
                self.ready = True
                if len(self.hello.split(b"\n\n", 2)[2]) != 0:
                    self.fail("data after the hello before publishing", ep)
            return
        if self.keep:
            self.kept.append(out)
        buf = self.tail + out
        n = buf.count(PAT)
        if n:
            self.events += n
            self.tot.events += n
        self.tail = buf[-(len(PAT) - 1):]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Pool:
    def __init__(self):
        self.ep = select.epoll()
        self.clients = {}
        self.tot = Totals()

    def connect(self, port, n, gzip, keep=False, deadline=None, batch=200):
        """Opens n streams (batch at a time) and waits for every hello."""
        new = []
        while len(new) < n:
            k = min(batch, n - len(new))
            for _ in range(k):
                c = Client(port, gzip, self.tot, keep)
                self.clients[c.fd] = c
                self.ep.register(c.fd, select.EPOLLOUT)
                new.append(c)
            self.pump(lambda: all(c.ready or c.err for c in new), deadline)
        bad = [c.err for c in new if c.err or not c.ready]
        if bad:
            raise RuntimeError(f"{len(bad)} of {n} streams failed to open: {bad[:3]}")
        return new

    def pump(self, done, deadline, poll_s=0.02, check_s=0.01, tick_s=0.0):
        """Serves the sockets until done() or the deadline (monotonic). With
        tick_s > 0 the clients read on a clock: every tick_s they take what
        has arrived, then sleep (fewer, larger reads: less client CPU)."""
        check_at = 0.0
        next_tick = time.monotonic()
        while True:
            if tick_s > 0:
                now = time.monotonic()
                if now < next_tick:
                    time.sleep(next_tick - now)
                next_tick = max(next_tick + tick_s, time.monotonic())
                poll_s = 0
            now = time.monotonic()
            if now >= check_at:
                if done():
                    return True
                check_at = now + check_s
            if deadline is not None and now >= deadline:
                return done()
            for fd, ev in self.ep.poll(poll_s, 4096):
                c = self.clients.get(fd)
                if c is None:
                    continue
                if c.state == "connect":
                    if ev & (select.EPOLLOUT | select.EPOLLERR | select.EPOLLHUP):
                        c.on_writable(self.ep)
                else:
                    c.on_readable(self.ep, time.monotonic())

    def close(self, clients):
        for c in clients:
            self.clients.pop(c.fd, None)
            try:
                self.ep.unregister(c.fd)
            except (OSError, ValueError):
                pass
            c.close()


# --------------------------------------------------------------------------
# Environment facts

def sh(argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10,
                              cwd=ROOT).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def machine_facts(bridge, redis_server):
    cpu = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kb = int(f.readline().split()[1])
    rev = sh(["git", "rev-parse", "--short", "HEAD"])
    dirty = sh(["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"])
    dpkg = lambda p: sh(["dpkg-query", "-W", "-f", "${Version}", p])
    others = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:
            continue
        if any(w in cmd for w in ("sse-loadgen", "sse-publisher", "nginx: worker",
                                  "run_bench.sh", "bench_pool.py", "sse-bridge ")):
            others.append(cmd[:120])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "kernel": " ".join(platform.uname()[i] for i in (0, 2, 4)),
        "cpu": cpu, "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 1048576, 1),
        "load_average_at_start": open("/proc/loadavg").read().split()[:3],
        "other_benchmark_processes_at_start": others,
        "python": f"{sys.executable} {platform.python_version()}",
        "python_redis": redis.__version__,
        "zlib_python": f"{zlib.ZLIB_VERSION} (runtime {zlib.ZLIB_RUNTIME_VERSION})",
        "zlib_bridge": dpkg("zlib1g"),
        "libuv": dpkg("libuv1"), "hiredis": dpkg("libhiredis0.14"),
        "bridge": sh([bridge, "--version"]),
        "redis": sh([redis_server, "--version"]),
        "compiler": sh(["cc", "--version"]).split("\n")[0],
        "source": rev + (" + uncommitted changes" if dirty else ""),
        "clk_tck": CLK_TCK,
        "open_files_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


# --------------------------------------------------------------------------
# The benchmark

def pct(a, b):
    return round(100.0 * (1 - a / b), 2) if b else None


def run(args, res, procs, work):
    hard_end = args.t0 + args.time_limit - 20  # no new step after: cleanup and writing

    def left(cap):
        return min(time.monotonic() + cap, hard_end)

    # ---- corpus (deterministic) ----
    cg = Corpus(args.seed)
    fan_jobs = -(-args.rate * args.duration // 101)
    corpora = {
        "progress": cg.progress_only(10),          # 1,000 events
        "summaries": cg.summaries(50),
        "mix": cg.mix(5),                          # 5 x (100 progress + 1 summary)
        "fanout": cg.mix(fan_jobs)[:args.rate * args.duration],
    }
    h = hashlib.sha256()
    for k in sorted(corpora):
        for m in corpora[k]:
            h.update(m)
    cinfo = {}
    for k, msgs in corpora.items():
        sizes = sorted(len(m) for m in msgs)
        cinfo[k] = {"messages": len(msgs), "payload_bytes": sum(sizes),
                    "payload_min": sizes[0], "payload_median": sizes[len(sizes) // 2],
                    "payload_max": sizes[-1],
                    "summaries": sum(1 for m in msgs if m.startswith(b'{"type":"summary"'))}
    res["corpus"] = {"seed": args.seed, "sha256": h.hexdigest(), "sets": cinfo,
                     "example_progress": corpora["progress"][37].decode(),
                     "example_summary_start": corpora["summaries"][0][:400].decode() + "..."}
    # A real-English yardstick for the generated text (if the file is there)
    gpl = "/usr/share/common-licenses/GPL-3"
    texts = [json.loads(m)["summary"].encode() for m in corpora["summaries"]]
    yard = {"generated_summary_text_deflate_ratio": round(
        sum(segment_len(t, 0) for t in texts) / sum(len(t) for t in texts), 4)}
    if os.path.exists(gpl):
        g = open(gpl, "rb").read()
        chunks = [g[i:i + 8192] for i in range(0, len(g) - 8192, 8192)]
        yard["gpl3_8k_chunks_deflate_ratio"] = round(
            sum(segment_len(c, 0) for c in chunks) / sum(len(c) for c in chunks), 4)
    res["corpus"]["english_yardstick"] = yard
    # What one deflate of these frames costs in CPU time (this process, before
    # anything else of ours runs): the uncontended yardstick for part 2.
    sframes = [frame(m) for m in corpora["summaries"]]
    best = None
    for _ in range(3):
        c0 = time.process_time()
        for f in sframes:
            z = zlib.compressobj(LEVEL, zlib.DEFLATED, -15, 8)
            z.compress(f)
            z.flush(zlib.Z_SYNC_FLUSH)
            zlib.crc32(f)
        dt = (time.process_time() - c0) / len(sframes)
        best = dt if best is None else min(best, dt)
    res["offline_deflate_cpu_us_per_summary_segment"] = round(best * 1e6, 1)
    print(f"corpus: {json.dumps(cinfo)}", flush=True)

    # ---- processes ----
    rport, bport = free_port(), free_port()
    redis_cmd = [args.redis_server, "--port", str(rport), "--bind", HOST, "--save", "",
                 "--appendonly", "no", "--dir", work]
    bridge_cmd = [args.bridge, "--listen", f"{HOST}:{bport}", "--redis-url",
                  f"redis://{HOST}:{rport}", "--channels", CHANNEL, "--max-connections",
                  "100000", "--max-connections-per-ip", "100000", "--heartbeat-interval",
                  "3600", "--log-level", "warn"]
    res["commands"] = {
        "benchmark": " ".join(["/usr/bin/python3", os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)]
                              + sys.argv[1:]),
        "redis": " ".join(a if a else '""' for a in redis_cmd).replace(work, "$WORK"),
        "bridge": " ".join(bridge_cmd)}
    rp = procs.spawn("redis", redis_cmd, f"{work}/redis.out", f"{work}/redis.err")
    rc = redis.Redis(host=HOST, port=rport, socket_timeout=5)
    end = left(10)
    while True:
        try:
            rc.ping()
            break
        except redis.exceptions.ConnectionError:
            if time.monotonic() > end or rp.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    # The publisher is forked before any client socket exists.
    ctx = multiprocessing.get_context("fork")
    pconn, cconn = ctx.Pipe()
    pub = ctx.Process(target=publisher_main, args=(cconn, rport, corpora), daemon=True)
    pub.start()
    procs.mp.append(pub)

    bp = procs.spawn("bridge", bridge_cmd, f"{work}/bridge.out", f"{work}/bridge.err")
    end = left(10)
    while True:
        try:
            http_json(bport, "/healthz", 1)
            break
        except OSError:
            if time.monotonic() > end or bp.poll() is not None:
                raise RuntimeError("sse-bridge did not start: " +
                                   open(f"{work}/bridge.err").read()[-500:])
            time.sleep(0.05)
    res["bridge_pid_rss_kb_start"] = rss_kb(bp.pid)

    pool = Pool()
    ours = [bp.pid, rp.pid, pub.pid, os.getpid()]

    def wait_subscribed():
        end = left(5)
        while rc.pubsub_numsub(CHANNEL)[0][1] < 1:
            if time.monotonic() > end:
                raise RuntimeError("the bridge never subscribed to the channel")
            time.sleep(0.02)

    def publish(name, rate, count=None, cap_s=30.0):
        msgs = corpora[name] if count is None else corpora[name][:count]
        pconn.send((name, rate, len(msgs), cap_s))
        return msgs

    def publisher_result(timeout):
        if not pconn.poll(max(0.0, timeout)):
            raise RuntimeError("the publisher did not answer in time")
        return pconn.recv()

    def deliver(name, clients, rate=None, cap_s=30.0, drain_s=10.0, tick_s=0.0):
        """Publishes corpus name, serves clients until each holds all of it."""
        msgs = publish(name, rate, cap_s=cap_s)
        base = [c.events for c in clients]
        want = [b + len(msgs) for b in base]
        t0 = time.monotonic()
        ok = pool.pump(lambda: all(c.events >= w or c.err for c, w in zip(clients, want)),
                       left(cap_s + drain_s), tick_s=tick_s)
        t1 = time.monotonic()
        pr = publisher_result(left(5) - time.monotonic())
        return msgs, ok, t0, t1, pr

    # ================= 1. wire bytes =================
    print("1. wire bytes (1 gzip + 1 identity raw-socket client)", flush=True)
    gz, ident = pool.connect(bport, 1, True, keep=True, deadline=left(10))[0], \
        pool.connect(bport, 1, False, keep=True, deadline=left(10))[0]
    wait_subscribed()
    fixed = {"gzip_head_to_first_event_bytes": gz.raw, "identity_head_to_first_event_bytes":
             ident.raw, "gzip_member_header": GZS_HEADER_LEN,
             "gzip_trailer_at_clean_end": GZS_TRAILER_LEN,
             "hello_bytes_decoded": len(gz.hello)}
    wire = []
    for name in ("progress", "summaries", "mix"):
        h0 = health(bport)
        r0 = (gz.raw, ident.raw, gz.decoded, ident.decoded)
        kept0 = (len(gz.kept), len(ident.kept))
        msgs, ok, t0, t1, pr = deliver(name, [gz, ident])
        h1 = health(bport)
        if not ok:
            raise RuntimeError(f"wire bytes: {name} not delivered completely "
                               f"({gz.events}, {ident.events}, {gz.err}, {ident.err})")
        frames = [frame(m) for m in msgs]
        fbytes = sum(len(f) for f in frames)
        g_wire, i_wire = gz.raw - r0[0], ident.raw - r0[1]
        g_body = b"".join(gz.kept[kept0[0]:])
        i_body = b"".join(ident.kept[kept0[1]:])
        model = sum(segment_len(f) for f in frames)
        d = hdelta(h0, h1)
        row = {
            "corpus": name, "messages": len(msgs),
            "summaries": cinfo[name]["summaries"],
            "payload_bytes": sum(len(m) for m in msgs),
            "identity_wire_bytes": i_wire,
            "gzip_wire_bytes": g_wire,
            "ratio_gzip_over_identity": round(g_wire / i_wire, 4),
            "saved_pct": pct(g_wire, i_wire),
            "identity_bytes_per_message": round(i_wire / len(msgs), 1),
            "gzip_bytes_per_message": round(g_wire / len(msgs), 1),
            "identity_equals_frames": i_wire == fbytes and i_body == b"".join(frames),
            "gunzipped_equals_identity": g_body == i_body,
            "gzip_wire_equals_offline_model": g_wire == model,
            "offline_model_gzip_bytes": model,
            "health_delta": {k: d.get(k) for k in ("segments_built", "segments_compressed",
                                                   "bytes_before", "bytes_after",
                                                   "bytes_saved", "cpu_ms")},
            "ref_threshold0_bytes": sum(segment_len(f, 0) for f in frames),
            "ref_per_connection_zlib_bytes": per_connection_stream_len(frames),
        }
        row["ref_threshold0_saved_pct"] = pct(row["ref_threshold0_bytes"], i_wire)
        row["ref_per_connection_zlib_saved_pct"] = pct(row["ref_per_connection_zlib_bytes"], i_wire)
        wire.append(row)
        print(f"  {name}: identity {i_wire} gzip {g_wire} saved {row['saved_pct']}% "
              f"model={row['gzip_wire_equals_offline_model']} "
              f"equal={row['gunzipped_equals_identity']}", flush=True)
        gz.kept.clear()
        ident.kept.clear()
    res["wire"] = {"fixed_per_stream": fixed, "rows": wire}
    gz.keep = ident.keep = False
    pool.close([gz, ident])

    # ================= 2. compression CPU vs client count =================
    print("2. compression CPU per message at 100 and 1,000 gzip streams", flush=True)
    cpu_rows = []
    gclients = []
    ok = True
    for n in args.cpu_clients:
        if n > len(gclients):
            gclients += pool.connect(bport, n - len(gclients), True, deadline=left(20))
        elif n < len(gclients):
            pool.close(gclients[n:])
            gclients = gclients[:n]
            end = left(5)  # until the bridge has seen the closes
            while health(bport)["connections"] > n and time.monotonic() < end:
                time.sleep(0.05)
        wait_subscribed()
        time.sleep(0.2)
        for name in ("summaries", "mix"):
            # One message at a time: publish, wait until every stream holds it,
            # read the counters. Sums give cpu_ms / segments; the per-segment
            # samples give medians that a preemption inside one build cannot move.
            msgs = corpora[name]
            h0 = health(bport)
            ol = OtherLoad(ours)
            t0 = cpu_ticks(bp.pid)
            prev = h0
            comp_us, stored_us, bad_steps = [], [], 0
            ok = True
            done = 0
            for m in msgs:
                target = pool.tot.events + len(gclients)
                rc.publish(CHANNEL, m)
                if not pool.pump(lambda: pool.tot.events >= target, left(10), check_s=0):
                    ok = False
                    break
                done += 1
                cur = health_gz(bport)
                dc, db = (cur["segments_compressed"] - prev["segments_compressed"],
                          cur["segments_built"] - prev["segments_built"])
                us = 1000 * (cur["cpu_ms"] - prev["cpu_ms"])
                if db != 1:
                    bad_steps += 1
                elif dc == 1:
                    comp_us.append(us)
                else:
                    stored_us.append(us)
                prev = cur
            t1 = cpu_ticks(bp.pid)
            mach = ol.end()
            h1 = health(bport)
            d = hdelta(h0, h1)
            comp = d["segments_compressed"]
            built = d["segments_built"]

            def med(v):
                v = sorted(v)
                return round(v[len(v) // 2], 2) if v else None

            def p90(v):
                v = sorted(v)
                return round(v[int(len(v) * 0.9)], 2) if v else None
            row = {
                "gzip_streams": len(gclients), "corpus": name, "messages": done,
                "messages_planned": len(msgs),
                "all_delivered": ok and all(c.err is None for c in gclients),
                "segments_built": built, "segments_compressed": comp,
                "segments_built_per_message": round(built / done, 4) if done else None,
                "steps_not_one_segment": bad_steps,
                "compression_cpu_ms": round(d["cpu_ms"], 3),
                "compression_us_per_compressed_segment": round(1000 * d["cpu_ms"] / comp, 2)
                if comp else None,
                "compression_us_per_message": round(1000 * d["cpu_ms"] / built, 3)
                if built else None,
                "median_us_compressed_segment": med(comp_us),
                "p90_us_compressed_segment": p90(comp_us),
                "median_us_stored_segment": med(stored_us),
                "p90_us_stored_segment": p90(stored_us),
                "max_us_one_segment": round(max(comp_us + stored_us), 1)
                if comp_us or stored_us else None,
                "bytes_before": d["bytes_before"], "bytes_after": d["bytes_after"],
                "events_sent": d["events_sent"],
                "bridge_cpu_ms_total": (t1 - t0) * 1000 / CLK_TCK,
                "compression_share_of_bridge_cpu_pct": round(
                    100 * d["cpu_ms"] / ((t1 - t0) * 1000 / CLK_TCK), 2) if t1 > t0 else None,
                "slow_consumer_drops": d["slow_consumer_drops"],
                "machine": mach,
            }
            cpu_rows.append(row)
            print(f"  {len(gclients)} streams {name}: built {built} compressed {comp} "
                  f"cpu_ms {d['cpu_ms']:.3f} -> {row['compression_us_per_compressed_segment']} "
                  f"us/compressed, {row['compression_us_per_message']} us/message; median "
                  f"compressed {row['median_us_compressed_segment']} stored "
                  f"{row['median_us_stored_segment']} us; bridge "
                  f"{row['bridge_cpu_ms_total']:.0f} ms; others {mach['others_pct_of_one_core']}%",
                  flush=True)
            res["cpu_vs_clients"] = cpu_rows
            if not ok:
                res.setdefault("skipped", []).append(
                    f"part 2 stopped at {len(gclients):,} streams, {name}, after {done} of "
                    f"{len(msgs)} messages (time limit, or a stream stalled)")
                break
        if not ok:
            break
    res["cpu_vs_clients"] = cpu_rows

    # ================= 3. fan-out =================
    fan = []
    nfan = args.fanout_clients
    res["fanout_settings"] = {"clients": nfan, "rate": args.rate, "duration_s": args.duration,
                              "client_tick_ms": args.client_tick_ms,
                              "messages": len(corpora["fanout"]),
                              "summaries": cinfo["fanout"]["summaries"]}
    frames_bytes = sum(len(frame(m)) for m in corpora["fanout"])
    bridges = {1: (bp, bport)}

    def streams_on(port, gzip_on, n):
        """Exactly n healthy streams of one kind on port (reusing open ones)."""
        mine = [c for c in pool.clients.values() if c.port == port]
        keep = [c for c in mine if c.gzip == gzip_on and not c.err][:n]
        kept_ids = {id(c) for c in keep}
        pool.close([c for c in mine if id(c) not in kept_ids])
        return keep + pool.connect(port, n - len(keep), gzip_on, deadline=left(20))

    def time_for(run_no, kind, need):
        if hard_end - time.monotonic() >= need:
            return True
        res.setdefault("skipped", []).append(
            f"fan-out run {run_no} ({kind}): under {need} s left of --time-limit")
        print(f"  skipped: {res['skipped'][-1]}", flush=True)
        return False

    def fanout_run(run_no, kind, groups):
        """groups: [(mode, bridge number, clients)], all served in one window."""
        if not time_for(run_no, kind, args.duration + 8):
            return False
        end = left(5)
        while rc.pubsub_numsub(CHANNEL)[0][1] < len(groups):
            if time.monotonic() > end:
                raise RuntimeError("not every bridge subscribed")
            time.sleep(0.02)
        time.sleep(0.3)
        allc = [c for g in groups for c in g[2]]
        st = []
        for mode, b, clients in groups:
            proc, port = bridges[b]
            st.append({"base": [(c.events, c.raw, c.decoded) for c in clients],
                       "h0": health(port), "b0": cpu_ticks(proc.pid), "sc0": syscalls(proc.pid),
                       "us0": cpu_split(proc.pid),
                       "rss0": rss_kb(proc.pid)})
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        ol = OtherLoad(ours + [p.pid for p, _ in bridges.values() if p is not bp])
        r0 = cpu_ticks(rp.pid)
        pool.tot.last_rx = 0.0
        msgs, ok, t0, t1, pr = deliver("fanout", allc, rate=args.rate,
                                       cap_s=args.duration * 2 + 5, drain_s=args.drain,
                                       tick_s=args.client_tick_ms / 1000)
        for (mode, b, clients), x in zip(groups, st):
            proc, port = bridges[b]
            x["b1"], x["sc1"] = cpu_ticks(proc.pid), syscalls(proc.pid)
            x["us1"] = cpu_split(proc.pid)
        r1 = cpu_ticks(rp.pid)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
        mach = ol.end()
        window = (pool.tot.last_rx or t1) - t0
        client_s = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        for (mode, b, clients), x in zip(groups, st):
            proc, port = bridges[b]
            d = hdelta(x["h0"], health(port))
            got = [c.events - q[0] for c, q in zip(clients, x["base"])]
            dec = [c.decoded - q[2] for c, q in zip(clients, x["base"])]
            wire_b = sum(c.raw - q[1] for c, q in zip(clients, x["base"]))
            deliveries = sum(got)
            bridge_ms = (x["b1"] - x["b0"]) * 1000 / CLK_TCK
            w = x["sc1"][1] - x["sc0"][1] if x["sc0"][1] is not None else None
            row = {
                "run": run_no, "kind": kind, "bridge": b, "mode": mode,
                "streams": len(clients), "messages": len(msgs),
                "expected_deliveries": len(msgs) * len(clients),
                "deliveries": deliveries,
                "missing": len(msgs) * len(clients) - deliveries,
                "streams_complete": sum(1 for g, y in zip(got, dec)
                                        if g == len(msgs) and y == frames_bytes),
                "streams_lost": sum(1 for c in clients if c.err),
                "stream_errors": pool.tot.errors[:5],
                "decoded_bytes_per_stream_expected": frames_bytes,
                "publisher": pr,
                "first_publish_to_last_receipt_s": round(window, 3),
                "drain_after_publisher_s": round(window - pr["seconds"], 3),
                "deliveries_per_s": round(deliveries / window, 1) if window > 0 else None,
                "wire_bytes": wire_b,
                "wire_MB_per_s": round(wire_b / window / 1e6, 2) if window > 0 else None,
                "bridge_cpu_ms": bridge_ms,
                "bridge_system_share_pct": round(100 * (x["us1"][1] - x["us0"][1]) /
                                                 (x["b1"] - x["b0"]), 1)
                if x["b1"] > x["b0"] else None,
                "bridge_cpu_pct_of_one_core": round(100 * bridge_ms / 1000 / window, 1)
                if window > 0 else None,
                "bridge_cpu_us_per_delivery": round(1000 * bridge_ms / deliveries, 3)
                if deliveries else None,
                "bridge_cpu_ms_per_message": round(bridge_ms / len(msgs), 3),
                "bridge_write_syscalls": w,
                "bridge_read_syscalls": x["sc1"][0] - x["sc0"][0]
                if x["sc0"][0] is not None else None,
                "deliveries_per_write": round(deliveries / w, 3) if w else None,
                "bridge_cpu_us_per_write": round(1000 * bridge_ms / w, 3) if w else None,
                "compression_cpu_ms": round(d["cpu_ms"], 3),
                "segments_built": d["segments_built"],
                "segments_compressed": d["segments_compressed"],
                "bridge_bytes_sent": d["bytes_sent"],
                "slow_consumer_drops": d["slow_consumer_drops"],
                "redis_cpu_ms": (r1 - r0) * 1000 / CLK_TCK,
                "machine": mach,
                "client_process_cpu_s": round(client_s, 2),
                "client_process_cpu_pct_of_one_core": round(100 * client_s / window, 1)
                if window > 0 else None,
                "client_process_serves": len(allc),
                "bridge_rss_kb_before": x["rss0"], "bridge_rss_kb_after": rss_kb(proc.pid),
            }
            fan.append(row)
            print(f"  {kind} bridge {b} {mode}: deliveries {deliveries}/"
                  f"{row['expected_deliveries']} complete streams {row['streams_complete']} "
                  f"window {window:.2f}s bridge {bridge_ms:.0f} ms = "
                  f"{row['bridge_cpu_us_per_delivery']} us/delivery, "
                  f"{row['deliveries_per_write']} deliveries/write, "
                  f"{row['bridge_cpu_us_per_write']} us/write; clients {client_s:.1f} s CPU; "
                  f"others {mach['others_pct_of_one_core']}%; publisher "
                  f"{pr['rate_achieved']} msg/s", flush=True)
        res["fanout"] = fan
        return True

    order = []
    for k in range(args.repeat):
        order += [("gzip", "identity"), ("identity", "gzip")][k % 2]
    run_no = 0
    for mode in order:
        run_no += 1
        print(f"3. fan-out #{run_no} (sequential): {nfan} {mode} streams on one bridge, "
              f"{args.rate} msg/s x {args.duration} s", flush=True)
        if not time_for(run_no, "sequential", args.duration + 12):
            break
        clients = streams_on(bport, mode == "gzip", nfan)
        if not fanout_run(run_no, "sequential", [(mode, 1, clients)]):
            break
    for k in range(args.paired):
        run_no += 1
        gb, ib = (1, 2) if k % 2 == 0 else (2, 1)  # swapped on every other run
        print(f"3. fan-out #{run_no} (paired): {nfan} gzip streams on bridge {gb} and {nfan} "
              f"identity streams on bridge {ib} at the same time", flush=True)
        if not time_for(run_no, "paired", args.duration + 15):
            break
        if 2 not in bridges:
            b2port = free_port()
            cmd2 = list(bridge_cmd)
            cmd2[cmd2.index("--listen") + 1] = f"{HOST}:{b2port}"
            res["commands"]["bridge_2"] = " ".join(cmd2)
            bp2 = procs.spawn("bridge2", cmd2, f"{work}/bridge2.out", f"{work}/bridge2.err")
            end = left(10)
            while True:
                try:
                    http_json(b2port, "/healthz", 1)
                    break
                except OSError:
                    if time.monotonic() > end or bp2.poll() is not None:
                        raise RuntimeError("the second sse-bridge did not start")
                    time.sleep(0.05)
            bridges[2] = (bp2, b2port)
        g = streams_on(bridges[gb][1], True, nfan)
        i = streams_on(bridges[ib][1], False, nfan)
        if not fanout_run(run_no, "paired", [("gzip", gb, g), ("identity", ib, i)]):
            break
    pool.close(list(pool.clients.values()))


# --------------------------------------------------------------------------
# Report

def fmt(v, nd=0):
    if v is None:
        return "-"
    if isinstance(v, float) and nd:
        return f"{v:,.{nd}f}"
    if isinstance(v, (int, float)):
        return f"{v:,.0f}" if nd == 0 else f"{v:,}"
    return str(v)


def write_md(res, path):
    L = []
    m = res.get("machine", {})
    L.append("# sse-bridge gzip benchmark\n")
    L.append(f"Generated {m.get('date', '?')} by `scripts/bench/bench_gzip.py` "
             f"(status: **{res.get('status')}**, {res.get('elapsed_s', '?')} s). Everything runs "
             "on this one machine over loopback: the bridge, redis-server, the publisher and "
             "the Python clients share its cores.\n")
    L.extend(res.get("headline", []))
    L.append("## Machine and versions\n")
    for k, v in m.items():
        if isinstance(v, list):
            v = "; ".join(v) if v else "none"
        L.append(f"- **{k}**: {v}")
    L.append("")
    c = res.get("corpus")
    if c:
        L.append("## Corpus\n")
        L.append(f"Deterministic: seed {c['seed']}, sha256 of all payloads `{c['sha256'][:16]}…`. "
                 "Payloads are published as plain messages on channel `bench`, so each event is "
                 "`event: bench\\ndata: <payload>\\n\\n` (payload + 21 bytes). The bridge compares "
                 "that *framed* size with the threshold (1,024).\n")
        L.append("| set | messages | summaries | payload bytes | min | median | max |")
        L.append("|---|---|---|---|---|---|---|")
        for k, s in c["sets"].items():
            L.append(f"| {k} | {fmt(s['messages'])} | {s['summaries']} | {fmt(s['payload_bytes'])} "
                     f"| {fmt(s['payload_min'])} | {fmt(s['payload_median'])} | "
                     f"{fmt(s['payload_max'])} |")
        y = c.get("english_yardstick", {})
        L.append("")
        L.append(f"Progress example: `{c['example_progress']}`\n")
        L.append(f"Summary start: `{c['example_summary_start'][:300]}…`\n")
        if y:
            L.append(f"Text realism check (raw deflate, level 6, each piece alone): generated "
                     f"summary text → {100 * y['generated_summary_text_deflate_ratio']:.1f}% of "
                     f"its size" + (f"; real English (GPL-3 text in 8 KiB pieces) → "
                                    f"{100 * y['gpl3_8k_chunks_deflate_ratio']:.1f}%"
                                    if "gpl3_8k_chunks_deflate_ratio" in y else "") + ".\n")
    w = res.get("wire")
    if w:
        L.append("## 1. Wire bytes: gzip vs identity\n")
        L.append("One gzip and one identity raw-socket client; bytes counted after the response "
                 "head, per corpus (differences of snapshots once both clients hold the whole "
                 "corpus). *gzip / identity* < 1 means gzip saves. Every row is checked: "
                 "identity body = the frames, gunzipped body = identity body, gzip bytes = an "
                 "offline model of `common/gzseg.c` (Python zlib, same version and parameters).\n")
        L.append("| corpus | messages | identity bytes | gzip wire bytes | gzip / identity | "
                 "saved | bytes/msg identity → gzip | checks |")
        L.append("|---|---|---|---|---|---|---|---|")
        for r in w["rows"]:
            chk = all((r["identity_equals_frames"], r["gunzipped_equals_identity"],
                       r["gzip_wire_equals_offline_model"]))
            L.append(f"| {r['corpus']} | {fmt(r['messages'])} | {fmt(r['identity_wire_bytes'])} "
                     f"| {fmt(r['gzip_wire_bytes'])} | {r['ratio_gzip_over_identity']:.3f} | "
                     f"**{r['saved_pct']:+.1f}%** | {r['identity_bytes_per_message']:,} → "
                     f"{r['gzip_bytes_per_message']:,} | {'ok' if chk else 'FAILED'} |")
        f = w["fixed_per_stream"]
        L.append("")
        L.append(f"Per stream, once: the gzip stream's first bytes (member header "
                 f"{f['gzip_member_header']} B + the hello as a stored segment) are "
                 f"{f['gzip_head_to_first_event_bytes']} B vs {f['identity_head_to_first_event_bytes']}"
                 f" B identity; a clean end adds the {f['gzip_trailer_at_clean_end']}-byte trailer.\n")
        L.append("Offline references for the same frames, % saved vs identity (not what the "
                 "bridge sends; computed with Python zlib level 6; the first column is measured "
                 "and matches its model exactly):\n")
        L.append("| corpus | bridge (threshold 1,024) | every frame deflated (threshold 0) | "
                 "one zlib stream per connection, sync flush per message |")
        L.append("|---|---|---|---|")
        for r in w["rows"]:
            L.append(f"| {r['corpus']} | {r['saved_pct']:+.1f}% | "
                     f"{r['ref_threshold0_saved_pct']:+.1f}% | "
                     f"{r['ref_per_connection_zlib_saved_pct']:+.1f}% |")
        L.append("")
        L.extend(res.get("notes_wire", []))
        L.append("")
    cr = res.get("cpu_vs_clients")
    if cr:
        L.append("## 2. Compression CPU per message vs gzip client count\n")
        L.append("Each corpus is published one message at a time: PUBLISH, wait until every "
                 "stream holds the event, read `/sse/health` `system_metrics.compression`. "
                 "`cpu_ms` is the bridge's own timing of `gzs_segment` (building the segment: "
                 "deflate or stored copy, plus CRC). Sum columns are the brief's "
                 "`cpu_ms / segments_compressed` and `cpu_ms / segments_built` over the corpus; "
                 "the median columns use the per-message deltas. Bridge CPU = its utime+stime "
                 "over the corpus (everything: Redis, framing, queuing, writing, the health "
                 "requests).\n")
        L.append("| gzip streams | corpus | messages | segments built (per msg) | compressed | "
                 "cpu_ms | **cpu_ms / compressed, µs** | **cpu_ms / built, µs** | median µs "
                 "compressed (p90) | median µs stored (p90) | bytes_before → bytes_after | "
                 "bridge CPU ms | other load % core |")
        L.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in cr:
            msgs_txt = fmt(r["messages"]) if r["messages"] == r["messages_planned"] else \
                f"{fmt(r['messages'])} of {fmt(r['messages_planned'])} (cut short)"
            L.append(f"| {fmt(r['gzip_streams'])} | {r['corpus']} | {msgs_txt} | "
                     f"{fmt(r['segments_built'])} ({fmt(r['segments_built_per_message'], 2)}) | "
                     f"{fmt(r['segments_compressed'])} | {r['compression_cpu_ms']:.2f} | "
                     f"**{fmt(r['compression_us_per_compressed_segment'], 1)}** | "
                     f"**{fmt(r['compression_us_per_message'], 2)}** | "
                     f"{fmt(r['median_us_compressed_segment'], 1)} "
                     f"({fmt(r['p90_us_compressed_segment'], 1)}) | "
                     f"{fmt(r['median_us_stored_segment'], 2)} "
                     f"({fmt(r['p90_us_stored_segment'], 2)}) | "
                     f"{fmt(r['bytes_before'])} → {fmt(r['bytes_after'])} | "
                     f"{fmt(r['bridge_cpu_ms_total'])} | "
                     f"{r['machine']['others_pct_of_one_core']} |")
        L.append("")
        L.extend(res.get("notes_cpu", []))
        L.append("")
    fo = res.get("fanout")
    if fo:
        s = res["fanout_settings"]
        L.append("## 3. Fan-out: gzip vs identity streams\n")
        L.append(f"The mix ({fmt(s['messages'])} messages, {s['summaries']} of them summaries) "
                 f"published at {s['rate']} msg/s for {s['duration_s']} s. *Sequential* runs: "
                 f"{fmt(s['clients'])} streams of one kind on the bridge, then the other kind "
                 "(ABBA order; open streams are reused). *Paired* runs: a second bridge (same "
                 f"command, another port) on the same Redis channel; {fmt(s['clients'])} gzip "
                 f"streams on one bridge and {fmt(s['clients'])} identity streams on the other "
                 "in the same window, so both see the same machine (the bridges swap roles "
                 "every other run). The clients are one Python "
                 "process (epoll, non-blocking sockets); gzip clients gunzip every byte with "
                 "`zlib.decompressobj(wbits=31)`. Window = first publish to last receipt; bridge "
                 "CPU = its utime+stime over it; writes = its write syscalls (`/proc/PID/io` "
                 "syscw). A stream is complete when it counted every event and its decoded bytes "
                 "equal the corpus frames exactly.\n")
        L.append("| run | kind | bridge | mode | streams | deliveries (expected) | complete "
                 "streams | lost | publisher msg/s | window s | wire MB | bridge CPU ms | "
                 "bridge % core | bridge system share | **bridge µs / delivery** | deliveries / "
                 "write | bridge µs / write | compression ms | client CPU % core | other load % "
                 "core |")
        L.append("|" + "---|" * 20)
        for r in fo:
            L.append(f"| {r['run']} | {r['kind']} | {r['bridge']} | {r['mode']} | "
                     f"{fmt(r['streams'])} | {fmt(r['deliveries'])} "
                     f"({fmt(r['expected_deliveries'])}) | {fmt(r['streams_complete'])} | "
                     f"{r['streams_lost']} | {r['publisher']['rate_achieved']} | "
                     f"{r['first_publish_to_last_receipt_s']} | {r['wire_bytes'] / 1e6:,.1f} | "
                     f"{fmt(r['bridge_cpu_ms'])} | {r['bridge_cpu_pct_of_one_core']} | "
                     f"{r['bridge_system_share_pct']}% | "
                     f"**{r['bridge_cpu_us_per_delivery']}** | {r['deliveries_per_write']} | "
                     f"{r['bridge_cpu_us_per_write']} | {r['compression_cpu_ms']:.1f} | "
                     f"{r['client_process_cpu_pct_of_one_core']} | "
                     f"{r['machine']['others_pct_of_one_core']} |")
        summ = res.get("fanout_by_mode")
        if summ:
            L.append("")
            L.append("Summary (mean over the runs of a kind and mode; min–max):\n")
            L.append("| kind | mode | runs | all events delivered | bridge µs / delivery | "
                     "deliveries / write | bridge µs / write | wire MB per run |")
            L.append("|---|---|---|---|---|---|---|---|")
            for key, x in summ.items():
                L.append(f"| {x['kind']} | {x['mode']} | {x['runs']} | "
                         f"{'yes' if x['all_delivered'] else 'NO'} | "
                         f"**{x['us_per_delivery_mean']}** ({x['us_per_delivery_min']}–"
                         f"{x['us_per_delivery_max']}) | {x['deliveries_per_write_mean']} | "
                         f"{x['us_per_write_mean']} ({x['us_per_write_min']}–"
                         f"{x['us_per_write_max']}) | {x['wire_MB_mean']:,.1f} |")
        L.append("")
        L.extend(res.get("notes_fanout", []))
        L.append("")
    for sk in res.get("skipped", []):
        L.append(f"- skipped: {sk}")
    if res.get("error"):
        L.append(f"## Run error\n\n```\n{res['error']}\n```\n")
    cmd = res.get("commands")
    if cmd:
        L.append("## Exact commands\n")
        L.append("```sh")
        L.append("cmake -S /work/main -B /tmp/build-gzb -DCMAKE_BUILD_TYPE=RelWithDebInfo && "
                 "cmake --build /tmp/build-gzb -j2")
        L.append(cmd["benchmark"])
        L.append("# started by it ($WORK = a temp dir, ports picked free at run time):")
        L.append(cmd["redis"])
        L.append(cmd["bridge"])
        L.append("```")
        L.append("")
        L.append("Clients: `GET /events?channels=bench HTTP/1.1` with `Accept-Encoding: gzip` "
                 "(gzip) or without it (identity). Publisher: a forked Python child, "
                 "`PUBLISH bench <payload>` via redis-py, paced on absolute deadlines.")
    with open(path, "w") as f:
        f.write("\n".join(L) + "\n")


QUIET_PCT = 20.0  # "other load" (% of one core) under which a fan-out run counts as quiet


def quiet_pair(fo, kind):
    """Means over the quiet runs of one kind: (gzip, identity, gzip runs, identity runs)."""
    out = []
    for mode in ("gzip", "identity"):
        rs = [r for r in fo if r["kind"] == kind and r["mode"] == mode and
              r["bridge_cpu_us_per_delivery"] is not None and
              (r["machine"]["others_pct_of_one_core"] or 0) < QUIET_PCT]
        out.append(rs)
    g, i = out
    if not g or not i:
        return None
    m = lambda rs: round(sum(r["bridge_cpu_us_per_delivery"] for r in rs) / len(rs), 3)
    return m(g), m(i), [r["run"] for r in g], [r["run"] for r in i]


def add_headline(res):
    h = []
    w = {r["corpus"]: r for r in res.get("wire", {}).get("rows", [])}
    if w:
        h.append("- **Wire bytes, gzip vs identity** (guide: \"20–60% less bandwidth\"): " +
                 "; ".join(f"{k} {-r['saved_pct']:+.1f}%" for k, r in w.items()) +
            " (progress events are under the 1,024-byte threshold: stored, +5 B each).")
    cr = res.get("cpu_vs_clients", [])
    if cr:
        parts = []
        for r in cr:
            if r["corpus"] == "summaries":
                parts.append(f"{r['gzip_streams']:,} streams "
                             f"{r['compression_us_per_compressed_segment']:.1f} µs")
        mix = [f"{r['gzip_streams']:,}: {r['compression_us_per_message']:.2f}" for r in cr
               if r["corpus"] == "mix" and r["compression_us_per_message"] is not None]
        spm = sorted({r["segments_built_per_message"] for r in cr
                      if r["segments_built_per_message"] is not None})
        h.append("- **Compression CPU** (`cpu_ms / segments_compressed`, summaries): " +
                 " → ".join(parts) + "; mix `cpu_ms / segments_built` µs " + " → ".join(mix) +
                 f"; segments built per message: {', '.join(f'{x:.2f}' for x in spm)} at every "
                 "stream count — one segment per message, not per client.")
    sm = res.get("fanout_by_mode", {})
    fs = res.get("fanout_settings", {})
    for kind in ("sequential", "paired"):
        g, i = sm.get(f"{kind}/gzip"), sm.get(f"{kind}/identity")
        if g and i:
            q = quiet_pair(res.get("fanout", []), kind)
            qt = ""
            if q:
                qt = (f"; runs with other load < {QUIET_PCT:.0f}% of a core only: {q[0]} vs "
                      f"{q[1]} µs ({q[0] / q[1]:.2f}×, gzip runs {q[2]}, identity runs {q[3]})")
            h.append(f"- **Fan-out, {kind}** ({fmt(fs.get('clients'))} streams, "
                     f"{fs.get('rate')} msg/s × {fs.get('duration_s')} s): bridge "
                     f"{g['us_per_delivery_mean']} µs / delivery gzip vs "
                     f"{i['us_per_delivery_mean']} µs identity "
                     f"({g['us_per_delivery_mean'] / i['us_per_delivery_mean']:.2f}×, all runs)"
                     f"{qt}; every event "
                     f"delivered: {'yes' if g['all_delivered'] and i['all_delivered'] else 'NO'}; "
                     f"gzip streams {100 * (1 - g['wire_MB_mean'] / i['wire_MB_mean']):.1f}% "
                     "fewer bytes.")
    if h:
        h = ["## Headline\n"] + h + [""]
    res["headline"] = h


def add_notes(res):
    w = res.get("wire")
    if w:
        rows = {r["corpus"]: r for r in w["rows"]}
        n = []
        p, s, x = rows.get("progress"), rows.get("summaries"), rows.get("mix")

        def inside(v):
            return "inside" if 20 <= v <= 60 else ("above" if v > 60 else "below")
        if p and s and x:
            n.append(f"- Against the integration guide's \"20–60% less bandwidth\": summaries "
                     f"save {s['saved_pct']:.1f}% ({inside(s['saved_pct'])} the range); progress "
                     f"events cost {-p['saved_pct']:.1f}% MORE than identity — every one is a framed "
                     f"~{p['identity_bytes_per_message']:.0f}-byte event, under the 1,024-byte "
                     "threshold, so it goes as a stored block: 5 bytes of block header each; the "
                     f"summarizer's mix (100 progress events per summary) saves "
                     f"{x['saved_pct']:.1f}% ({inside(x['saved_pct'])} the range).")
            n.append(f"- Deflating the small events too would not help: each segment starts "
                     f"from an empty window, and a lone ~200-byte JSON object deflates to about "
                     f"its own size (threshold 0: progress {p['ref_threshold0_saved_pct']:+.1f}%, "
                     f"mix {x['ref_threshold0_saved_pct']:+.1f}%). What would shrink them is a "
                     f"window shared across messages (one zlib stream per connection: progress "
                     f"{p['ref_per_connection_zlib_saved_pct']:+.1f}%, mix "
                     f"{x['ref_per_connection_zlib_saved_pct']:+.1f}%), which costs a z_stream "
                     "(~268 KB) and a deflate per client per message — the design avoids exactly that.")
        res["notes_wire"] = n
    cr = res.get("cpu_vs_clients")
    if cr:
        by = {}
        for r in cr:
            by.setdefault(r["corpus"], []).append(r)
        n = []
        def seq(rows, key, f="{:,.1f}"):
            return " → ".join("-" if r[key] is None else f.format(r[key]) for r in rows)

        def ratio(rows, key):
            top = max(r["gzip_streams"] for r in rows)
            hi = [r[key] for r in rows if r["gzip_streams"] == top and r[key] is not None]
            lo = [r[key] for r in rows if r["gzip_streams"] != top and r[key] is not None]
            if not hi or not lo:
                return None
            return (sum(hi) / len(hi)) / (sum(lo) / len(lo))
        for corpus, rows in by.items():
            streams = seq(rows, "gzip_streams", "{:,}")
            parts = [f"segments built per published message "
                     f"{seq(rows, 'segments_built_per_message', '{:.2f}')}",
                     f"cpu_ms / compressed {seq(rows, 'compression_us_per_compressed_segment')} µs",
                     f"cpu_ms / built {seq(rows, 'compression_us_per_message', '{:,.2f}')} µs",
                     f"median compressed {seq(rows, 'median_us_compressed_segment')} µs"]
            if any(r["median_us_stored_segment"] is not None for r in rows):
                parts.append(f"median stored "
                             f"{seq(rows, 'median_us_stored_segment', '{:,.2f}')} µs")
            rat = []
            for key, label in (("compression_us_per_compressed_segment", "cpu_ms / compressed"),
                               ("compression_us_per_message", "cpu_ms / built"),
                               ("median_us_compressed_segment", "median compressed"),
                               ("median_us_stored_segment", "median stored")):
                x = ratio(rows, key)
                if x is not None:
                    rat.append(f"{label} ×{x:.2f}")
            n.append(f"- {corpus}, streams {streams}: " + "; ".join(parts) +
                     f". Largest count vs the others: {', '.join(rat)}; meanwhile the bridge's "
                     f"total CPU ({seq(rows, 'bridge_cpu_ms_total', '{:,.0f}')} ms) and "
                     f"bytes_before ({seq(rows, 'bytes_before', '{:,}')}) follow the stream "
                     "count.")
        n.append("- `cpu_ms` is wall time around `gzs_segment` (uv_hrtime): when the machine "
                 "is busy (see *other load*) a preemption inside one build adds a whole "
                 "time slice to the sum, which the median ignores; the segment counts are exact.")
        y = res.get("offline_deflate_cpu_us_per_summary_segment")
        if y:
            n.append(f"- Yardstick: the same summary frames deflated by Python's zlib (level 6, "
                     f"fresh stream, sync flush, plus CRC) take {y} µs of CPU time each "
                     "(process_time, best of 3, measured before the run).")
        res["notes_cpu"] = n
    fo = res.get("fanout")
    if fo:
        def vals(rs, k):
            return [r[k] for r in rs if r.get(k) is not None]

        def mean_of(rs, k):
            v = vals(rs, k)
            return round(sum(v) / len(v), 3) if v else None

        def min_of(rs, k):
            v = vals(rs, k)
            return min(v) if v else None

        def max_of(rs, k):
            v = vals(rs, k)
            return max(v) if v else None
        summ = {}
        for kind in ("sequential", "paired"):
            for mode in ("gzip", "identity"):
                rs = [r for r in fo if r["mode"] == mode and r["kind"] == kind]
                if not rs or not vals(rs, "bridge_cpu_us_per_delivery"):
                    continue
                summ[f"{kind}/{mode}"] = {
                    "kind": kind, "mode": mode, "runs": len(rs),
                    "all_delivered": all(not r["missing"] and not r["streams_lost"] and
                                         r["streams_complete"] == r["streams"] for r in rs),
                    "us_per_delivery_mean": mean_of(rs, "bridge_cpu_us_per_delivery"),
                    "us_per_delivery_min": min_of(rs, "bridge_cpu_us_per_delivery"),
                    "us_per_delivery_max": max_of(rs, "bridge_cpu_us_per_delivery"),
                    "us_per_write_mean": mean_of(rs, "bridge_cpu_us_per_write"),
                    "us_per_write_min": min_of(rs, "bridge_cpu_us_per_write"),
                    "us_per_write_max": max_of(rs, "bridge_cpu_us_per_write"),
                    "deliveries_per_write_mean": mean_of(rs, "deliveries_per_write"),
                    "compression_cpu_ms_mean": mean_of(rs, "compression_cpu_ms"),
                    "wire_MB_mean": sum(r["wire_bytes"] for r in rs) / len(rs) / 1e6,
                    "client_cpu_pct_max": max_of(rs, "client_process_cpu_pct_of_one_core"),
                    "drain_s_max": max_of(rs, "drain_after_publisher_s"),
                    "streams": rs[0]["streams"], "messages": rs[0]["messages"],
                    "segments_built": rs[0]["segments_built"],
                }
        res["fanout_by_mode"] = summ
        n = []
        for kind in ("sequential", "paired"):
            g, i = summ.get(f"{kind}/gzip"), summ.get(f"{kind}/identity")
            if not (g and i):
                continue
            q = quiet_pair(fo, kind)
            if q:
                n.append(f"- {kind.capitalize()}, only the runs with other load under "
                         f"{QUIET_PCT:.0f}% of a core (gzip runs {q[2]}, identity runs {q[3]}): "
                         f"gzip {q[0]} vs identity {q[1]} µs per delivery "
                         f"({q[0] / q[1]:.2f}×).")
            n.append(f"- {kind.capitalize()}: bridge CPU per delivery gzip "
                     f"{g['us_per_delivery_mean']} µs vs identity {i['us_per_delivery_mean']} µs "
                     f"(gzip / identity = "
                     f"{g['us_per_delivery_mean'] / i['us_per_delivery_mean']:.2f}); per write "
                     f"syscall {g['us_per_write_mean']} vs {i['us_per_write_mean']} µs; "
                     f"deliveries per write {g['deliveries_per_write_mean']} vs "
                     f"{i['deliveries_per_write_mean']}.")
        g = summ.get("sequential/gzip") or summ.get("paired/gzip")
        i = summ.get("sequential/identity") or summ.get("paired/identity")
        if g and i:
            n.append(f"- Building the segments took {g['compression_cpu_ms_mean']:.1f} ms per "
                     f"gzip run ({fmt(g['segments_built'])} segments, one per message whatever "
                     f"the number of streams) = "
                     f"{1000 * g['compression_cpu_ms_mean'] / (g['streams'] * g['messages']):.4f}"
                     " µs per delivery; the only other per-delivery gzip work is folding the "
                     "segment's CRC into the stream's (`crc32_combine_op`). gzip streams carried "
                     f"{100 * (1 - g['wire_MB_mean'] / i['wire_MB_mean']):.1f}% fewer bytes.")
        sys_share = vals(fo, "bridge_system_share_pct")
        n.append("- Read CPU per delivery together with *deliveries / write*: "
                 f"{min(sys_share) if sys_share else '?'}–{max(sys_share) if sys_share else '?'}% "
                 "of the bridge's CPU in these runs is system time, i.e. mostly its write "
                 "syscalls (over loopback the kernel runs the receiving side inside them too), "
                 "and how many events one write carries "
                 "depends on how late the bridge gets to Redis's messages — more batching when "
                 "the machine is busy (see *other load*), hence fewer µs per delivery. On a "
                 "shared machine that swings sequential runs more than gzip vs identity does; "
                 "the paired run puts both kinds in the same window, and µs per write is the "
                 "steadier unit.")
        for key, x in summ.items():
            if not x["all_delivered"]:
                n.append(f"- {key}: NOT every event arrived in every run (see the table): "
                         "the Python clients did not keep up; the figures are what was measured.")
            else:
                near = " — close to all of its one core, so this is about as far as one " \
                    "Python client process goes" if (x["client_cpu_pct_max"] or 0) > 85 else ""
                n.append(f"- {key}: in every run all {fmt(x['streams'])} streams received all "
                         f"{fmt(x['messages'])} events, byte for byte; the last one arrived at "
                         f"most {x['drain_s_max']} s after the last publish; the client process "
                         f"used at most {x['client_cpu_pct_max']}% of a core{near}.")
        n.append("- CPU figures are taken while the clients, redis-server and the publisher "
                 "run on the same 2 cores, so they include contention (cache, scheduler); "
                 "*other load* = the machine's busy time minus our processes' utime+stime over "
                 "the window (other users of the machine, plus softirq work charged to no "
                 "process), in % of one core of the 2.")
        res["notes_fanout"] = n


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"),
                    help="build directory holding bridge/sse-bridge")
    ap.add_argument("--bridge", help="sse-bridge binary (default BUILD/bridge/sse-bridge)")
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--out", default=os.path.join(HERE, "results"))
    ap.add_argument("--seed", type=int, default=20241125)
    ap.add_argument("--cpu-clients", default="100,1000,100",
                    help="gzip stream counts for part 2, in this order (default 100,1000,100: "
                         "back to 100 shows drift apart from the count)")
    ap.add_argument("--fanout-clients", type=int, default=1000)
    ap.add_argument("--rate", type=int, default=200, help="fan-out msg/s (default 200)")
    ap.add_argument("--duration", type=int, default=10, help="fan-out seconds (default 10)")
    ap.add_argument("--repeat", type=int, default=2,
                    help="fan-out runs per mode, alternating gzip/identity as ABBA... (default 2)")
    ap.add_argument("--paired", type=int, default=2,
                    help="paired fan-out runs: gzip streams on one bridge and identity streams "
                         "on a second bridge (same command, another port), same publisher, same "
                         "window; the bridges swap roles every other run (default 2)")
    ap.add_argument("--client-tick-ms", type=float, default=0,
                    help="part 3: clients read every this many ms instead of at once "
                         "(default 0 = at once)")
    ap.add_argument("--drain", type=float, default=12.0,
                    help="max seconds to wait after the last publish (default 12)")
    ap.add_argument("--time-limit", type=int, default=120,
                    help="hard cap on the whole run in seconds (default 120)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--render", metavar="JSON",
                    help="no run: rebuild the notes and gzip.md (in --out) from a gzip.json "
                         "this script wrote")
    args = ap.parse_args()
    if args.render:
        with open(args.render) as f:
            res = json.load(f)
        add_notes(res)
        add_headline(res)
        with open(args.render, "w") as f:  # same measurements, derived notes refreshed
            json.dump(res, f, indent=2)
            f.write("\n")
        write_md(res, os.path.join(args.out, "gzip.md"))
        print(f"wrote {args.out}/gzip.md (and refreshed the notes in {args.render})")
        return 0
    args.t0 = time.monotonic()
    args.cpu_clients = [int(x) for x in args.cpu_clients.split(",")]
    args.bridge = args.bridge or os.path.join(args.build, "bridge", "sse-bridge")
    if not os.access(args.bridge, os.X_OK):
        sys.exit(f"bench_gzip: {args.bridge} is not built (cmake --build {args.build})")
    if not (1 <= args.rate <= 5000 and 1 <= args.duration <= 30):
        sys.exit("bench_gzip: --rate 1..5000, --duration 1..30")
    need = 2 * max(args.cpu_clients + [args.fanout_clients]) + 64
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))

    res = {"status": "running", "machine": machine_facts(args.bridge, args.redis_server)}
    procs = Procs()
    work = tempfile.mkdtemp(prefix="bench-gzip.")

    def on_alarm(signum, frame_):
        raise Deadline(f"time limit ({args.time_limit} s) reached")

    def on_term(signum, frame_):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(max(1, args.time_limit - 8))
    rc = 0
    try:
        run(args, res, procs, work)
        res["status"] = "partial: steps skipped for time" if res.get("skipped") else "complete"
    except (Exception, KeyboardInterrupt) as e:  # report what was measured
        res["status"] = "incomplete"
        res["error"] = f"{type(e).__name__}: {e}"
        print(f"bench_gzip: {res['error']}", file=sys.stderr)
        rc = 1
    finally:
        signal.alarm(0)
        procs.stop_all()
        try:
            tail = open(os.path.join(work, "bridge.err")).read()[-2000:]
            if tail.strip():
                res["bridge_stderr_tail"] = tail
        except OSError:
            pass
        shutil.rmtree(work, ignore_errors=True)
    res["elapsed_s"] = round(time.monotonic() - args.t0, 1)
    res["machine"]["load_average_at_end"] = open("/proc/loadavg").read().split()[:3]
    add_notes(res)
    add_headline(res)
    if not args.no_write:
        os.makedirs(args.out, exist_ok=True)
        with open(os.path.join(args.out, "gzip.json"), "w") as f:
            json.dump(res, f, indent=2)
            f.write("\n")
        write_md(res, os.path.join(args.out, "gzip.md"))
        print(f"wrote {args.out}/gzip.md and gzip.json", flush=True)
    return rc


if __name__ == "__main__":
    sys.exit(main())
