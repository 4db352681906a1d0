"""The sse-bridge demo: a small "video summarizer" Flask app.

The page (GET /) has a form for a video URL. POST /jobs starts a background
job (a thread) that PUBLISHes `summary_progress` events (0 -> 100 %) targeted
to the requesting browser's client id, with history, then one
`summary_complete` event carrying a multi-KB summary (over the bridge's
--compression-threshold, so gzip is exercised). The app never holds a
stream: the page loads EnhancedSSEClient from the bridge (/sse-client.js) and
streams /events from it, on the same origin through the load balancer.

When an auth secret is configured (SSE_AUTH_SECRET or SSE_AUTH_SECRET_FILE,
the same variables the bridge reads), the app signs each browser's token
(sse_publish.make_token): the page gives EnhancedSSEClient a token function
(its `token` option, asked before every connection) that returns the token
in hand while it is fresh and fetches a new one from GET /sse-token after.

Environment (all optional):
  DEMO_LISTEN          host:port to serve on (127.0.0.1:5000)
  REDIS_URL            where to PUBLISH (SSE_REDIS_URL, else redis://127.0.0.1:6379)
  SSE_AUTH_SECRET / SSE_AUTH_SECRET_FILE   sign tokens with this HS256 key
  DEMO_TOKEN_TTL       token lifetime in seconds (900)
  DEMO_STEPS           progress events per job (20: 0, 5, ..., 100 %)
  DEMO_STEP_MS         pause between progress events in ms (250)
  DEMO_SUMMARY_BYTES   approximate size of the summary (6000)
  DEMO_BRIDGE_URL      where the page finds the bridge ("" = same origin)
  DEMO_SECRET_KEY      Flask session key (random per process)

Run it with Debian's Flask and redis-py (/usr/bin/python3 scripts/demo/app.py);
scripts/run.sh and docker-compose.yml start it behind haproxy.
"""

import logging
import os
import secrets
import sys
import threading
import time
import uuid
from pathlib import Path

import redis
from flask import Flask, abort, jsonify, render_template, request, session

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # scripts/: the publishing helper
from sse_publish import PublishConnectionError, make_token, publish  # noqa: E402

log = logging.getLogger("demo")

CHANNELS = ["summary_progress", "summary_complete"]
STAGES = ["fetching the video", "extracting the audio", "transcribing", "finding the chapters",
          "summarizing", "polishing the summary"]


def _env_int(name, default, lo, hi):
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise SystemExit("demo: %s=%r is not an integer" % (name, raw))
    if not lo <= v <= hi:
        raise SystemExit("demo: %s=%d is outside %d..%d" % (name, v, lo, hi))
    return v


def _auth_secret():
    """The bridge's HS256 key, from the same variables the bridge reads; None without one."""
    secret = os.environ.get("SSE_AUTH_SECRET") or None
    path = os.environ.get("SSE_AUTH_SECRET_FILE") or None
    if secret is None and path is not None:
        with open(path, "rb") as f:
            secret = f.read()
        if secret.endswith(b"\n"):
            secret = secret[:-1]  # one trailing newline dropped, as the bridge does
    if isinstance(secret, str):
        secret = secret.encode("utf-8")
    return secret


def summary_text(url, size):
    """A made-up but readable summary of about `size` bytes (several KB, so
    the bridge compresses it)."""
    paras = []
    n = 0
    i = 0
    while n < size:
        i += 1
        p = ("Part %d. The video at %s moves on to its %s section. The speaker explains how events "
             "travel from the web application through Redis to every browser that follows them, why "
             "each message is framed and compressed only once, and how a client that loses its "
             "connection resumes from the last event it saw without missing or repeating anything. "
             "Key points: heartbeats keep proxies from closing idle streams; reconnection uses "
             "exponential backoff with full jitter; limits hold across the whole cluster." % (
                 i, url, ["opening", "middle", "technical", "practical", "closing"][i % 5]))
        paras.append(p)
        n += len(p) + 2
    return "\n\n".join(paras)


def create_app():
    app = Flask(__name__, template_folder=str(HERE / "templates"), static_folder=str(HERE / "static"))
    app.secret_key = os.environ.get("DEMO_SECRET_KEY") or secrets.token_bytes(32)
    redis_url = os.environ.get("REDIS_URL") or os.environ.get("SSE_REDIS_URL") or "redis://127.0.0.1:6379"
    r = redis.Redis.from_url(redis_url, socket_timeout=3, socket_connect_timeout=3)
    secret = _auth_secret()
    ttl = _env_int("DEMO_TOKEN_TTL", 900, 10, 7 * 24 * 3600)
    steps = _env_int("DEMO_STEPS", 20, 1, 1000)
    step_ms = _env_int("DEMO_STEP_MS", 250, 0, 60000)
    summary_bytes = _env_int("DEMO_SUMMARY_BYTES", 6000, 100, 500000)
    bridge_url = os.environ.get("DEMO_BRIDGE_URL", "").rstrip("/")
    jobs = {}  # job id -> {"client_id", "url", "state", "pct"}
    jobs_lock = threading.Lock()

    def client_id():
        cid = session.get("client_id")
        if not cid:
            cid = "browser-" + uuid.uuid4().hex[:16]
            session["client_id"] = cid
        return cid

    def token_for(cid):
        if secret is None:
            return None
        return make_token(secret, cid, CHANNELS, ttl=ttl)

    def run_job(job_id, cid, url):
        """The background job: progress events, then the summary. Only PUBLISH."""
        try:
            for i in range(steps + 1):
                pct = i * 100 // steps
                stage = STAGES[min(len(STAGES) - 1, i * len(STAGES) // (steps + 1))]
                publish(r, "summary_progress", {"job": job_id, "step": i, "steps": steps, "pct": pct,
                                                "stage": stage}, target=cid, history=True)
                with jobs_lock:
                    jobs[job_id]["pct"] = pct
                if i < steps:
                    time.sleep(step_ms / 1000.0)
            text = summary_text(url, summary_bytes)
            publish(r, "summary_complete", {"job": job_id, "url": url, "title": "Summary of " + url,
                                            "summary": text, "words": len(text.split())},
                    target=cid, history=True)
            with jobs_lock:
                jobs[job_id]["state"] = "done"
        except PublishConnectionError as e:
            log.error("job %s: Redis unavailable: %s", job_id, e)
            with jobs_lock:
                jobs[job_id]["state"] = "failed"

    @app.get("/")
    def index():
        cid = client_id()
        cfg = {"client_id": cid, "token": token_for(cid), "token_ttl": ttl if secret else None,
               "channels": CHANNELS, "bridge_url": bridge_url, "auth": secret is not None}
        return render_template("index.html", cfg=cfg, bridge_url=bridge_url)

    @app.get("/sse-token")
    def sse_token():
        if secret is None:
            abort(404)
        cid = client_id()
        return jsonify(token=token_for(cid), client_id=cid, ttl=ttl)

    @app.post("/jobs")
    def start_job():
        cid = client_id()
        url = (request.form.get("url") or (request.get_json(silent=True) or {}).get("url") or "").strip()
        if not url or len(url) > 2000 or not url.startswith(("http://", "https://")):
            return jsonify(error="give the video's http(s) URL", code="invalid_url"), 400
        job_id = uuid.uuid4().hex[:12]
        with jobs_lock:
            jobs[job_id] = {"client_id": cid, "url": url, "state": "running", "pct": 0}
        threading.Thread(target=run_job, args=(job_id, cid, url), name="job-" + job_id, daemon=True).start()
        return jsonify(job=job_id, client_id=cid, steps=steps), 202

    @app.get("/jobs/<job_id>")
    def job_status(job_id):
        with jobs_lock:
            job = jobs.get(job_id)
            if job is None or job["client_id"] != session.get("client_id"):
                abort(404)
            return jsonify(job=job_id, state=job["state"], pct=job["pct"])

    @app.get("/app/healthz")
    def healthz():
        try:
            up = bool(r.ping())
        except redis.exceptions.RedisError:
            up = False
        return jsonify(status="ok", redis="up" if up else "down")

    return app


def main():
    logging.basicConfig(level=logging.INFO, format="%(asctime)s demo %(levelname)s %(message)s")
    listen = os.environ.get("DEMO_LISTEN", "127.0.0.1:5000")
    host, _, port = listen.rpartition(":")
    app = create_app()
    log.info("demo app on http://%s:%s (tokens: %s)", host, port, "on" if _auth_secret() else "off")
    # Werkzeug's threaded server: enough for a demo (the app answers short
    # requests only; the streams are the bridge's).
    app.run(host=host.strip("[]") or "127.0.0.1", port=int(port), threaded=True, use_reloader=False)


if __name__ == "__main__":
    main()
