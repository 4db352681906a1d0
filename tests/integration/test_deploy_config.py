"""The deployment files validate without a Docker engine: docker-compose.yml
through Debian's docker-compose (`config`, offline), the haproxy configs
through `haproxy -c`, the compose bridges' environment through the real
binary, and the Dockerfile against what CI runs (same deps.sh, same cmake
build) and what the binary links."""

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
HAPROXY_DIR = REPO_ROOT / "scripts" / "haproxy"
RENDER = HAPROXY_DIR / "render.sh"
COMPOSE_CFG = HAPROXY_DIR / "haproxy-compose.cfg"
# What docker-compose.yml's haproxy service runs (render.sh arguments).
COMPOSE_RENDER_ARGS = ["0.0.0.0:8080", "demo:5000", "bridge1:8080", "bridge2:8080"]
BRIDGES = ["bridge1", "bridge2"]


def compose_config(tmp_path, env=None):
    e = {k: v for k, v in os.environ.items() if not k.startswith(("SSE_", "DOCKER_", "COMPOSE_"))}
    e.update(env or {})
    p = subprocess.run(["docker-compose", "-f", str(COMPOSE), "--project-directory", str(REPO_ROOT), "config"],
                       capture_output=True, text=True, timeout=60, env=e, cwd=str(tmp_path))
    assert p.returncode == 0, "docker-compose config failed:\n%s\n%s" % (p.stdout, p.stderr)
    return yaml.safe_load(p.stdout)


def haproxy_check(path):
    p = subprocess.run(["haproxy", "-c", "-f", str(path)], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout + p.stderr


def render(*args):
    p = subprocess.run(["bash", str(RENDER)] + list(args), capture_output=True, text=True, timeout=10)
    return p.returncode, p.stdout, p.stderr


@pytest.fixture(scope="module")
def compose(tmp_path_factory):
    return compose_config(tmp_path_factory.mktemp("compose"))


def test_compose_file_validates_offline_with_the_whole_topology(compose):
    services = compose["services"]
    assert sorted(services) == ["bridge1", "bridge2", "demo", "haproxy", "redis"]
    redis = services["redis"]
    cmd = redis["command"]
    assert "--appendonly" in cmd and cmd[cmd.index("--appendonly") + 1] == "yes", cmd
    # The AOF lives on a named volume: a restarted container keeps it.
    assert any("redis-data" in str(v) and "/data" in str(v) for v in redis.get("volumes", [])), redis
    assert "redis-data" in compose.get("volumes", {})
    for name, target in [("bridge1", "bridge"), ("bridge2", "bridge"), ("demo", "demo"), ("haproxy", "haproxy")]:
        b = services[name]["build"]
        assert Path(b["context"]) == REPO_ROOT and b["target"] == target, (name, b)
    assert services["haproxy"]["ports"], services["haproxy"]
    assert set(services["haproxy"]["depends_on"]) >= {"bridge1", "bridge2", "demo"}


def test_compose_bridges_are_configured_by_environment_only_with_distinct_ids(compose):
    services = compose["services"]
    ids = set()
    lb_ip = services["haproxy"]["networks"]["sse"]["ipv4_address"]
    for name in BRIDGES:
        svc = services[name]
        assert "command" not in svc and "entrypoint" not in svc, "flags on the command line: %r" % svc
        env = svc["environment"]
        assert all(k.startswith("SSE_") for k in env), env
        ids.add(env["SSE_BRIDGE_ID"])
        assert env["SSE_REDIS_URL"] == "redis://redis:6379"
        # Only haproxy's X-Forwarded-For is believed.
        assert env["SSE_TRUSTED_PROXIES"] == lb_ip + "/32", (env, lb_ip)
        assert svc["depends_on"]["redis"]["condition"] == "service_healthy"
    assert len(ids) == len(BRIDGES)
    demo = services["demo"]["environment"]
    assert demo["REDIS_URL"] == "redis://redis:6379"


def test_compose_passes_the_auth_secret_to_bridges_and_demo(tmp_path):
    secret = "s" * 40
    cfg = compose_config(tmp_path, {"SSE_AUTH_SECRET": secret, "SSE_PORT": "9090"})
    for name in BRIDGES + ["demo"]:
        assert cfg["services"][name]["environment"]["SSE_AUTH_SECRET"] == secret, name
    ports = cfg["services"]["haproxy"]["ports"]
    assert any("9090" in str(p) for p in ports), ports


def test_every_environment_variable_of_the_compose_bridges_is_a_bridge_setting_it_accepts(compose, bridge_bin, tmp_path):
    help_text = subprocess.run([bridge_bin, "--help"], capture_output=True, text=True, timeout=10).stdout
    env = dict(compose["services"]["bridge1"]["environment"])
    for k in env:
        assert re.search(r"\benv %s\b" % re.escape(k), help_text), "%s is not a bridge setting" % k
    # The real binary starts with exactly that environment (Redis may be
    # absent: it keeps retrying), listening where a test can reach it.
    env = {k: str(v) for k, v in env.items()}
    env.update(SSE_LISTEN="127.0.0.1:0", SSE_REDIS_URL="redis://127.0.0.1:1")
    errf = open(tmp_path / "bridge.stderr", "wb")
    proc = subprocess.Popen([bridge_bin], env=dict(PATH=os.environ.get("PATH", ""), **env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf)
    try:
        deadline = time.monotonic() + 10
        while b"listening on" not in (tmp_path / "bridge.stderr").read_bytes():
            assert proc.poll() is None, (tmp_path / "bridge.stderr").read_text()
            assert time.monotonic() < deadline, (tmp_path / "bridge.stderr").read_text()
            time.sleep(0.05)
        assert "bridge=bridge1" in (tmp_path / "bridge.stderr").read_text()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        errf.close()


def test_haproxy_configs_validate_and_the_compose_one_is_the_current_rendering(tmp_path):
    rc, out, err = render("127.0.0.1:18080", "127.0.0.1:15000", "127.0.0.1:18081", "127.0.0.1:18082")
    assert rc == 0, err
    local = tmp_path / "haproxy.cfg"
    local.write_text(out)
    rc, text = haproxy_check(local)
    assert rc == 0 and "Configuration file is valid" in text, text
    assert "WARNING" not in text, text  # literal addresses: nothing to resolve
    # The compose rendering is committed: it must be what the template gives now.
    rc, out, err = render(*COMPOSE_RENDER_ARGS)
    assert rc == 0, err
    assert COMPOSE_CFG.read_text() == out, "scripts/haproxy/haproxy-compose.cfg is stale: re-run render.sh %s" % (
        " ".join(COMPOSE_RENDER_ARGS))
    rc, text = haproxy_check(COMPOSE_CFG)
    # Service names resolve only inside the compose network: warnings, no error.
    assert rc == 0 and "Configuration file is valid" in text, text
    assert "ALERT" not in text, text


def test_haproxy_config_is_sse_safe():
    cfg = (HAPROXY_DIR / "haproxy.cfg.in").read_text()
    lines = [l.split("#", 1)[0].strip() for l in cfg.splitlines()]
    lines = [l for l in lines if l]
    # Streams must not be cut, buffered or re-compressed.
    assert not any(l.startswith(("option http-server-close", "option httpclose", "option http-buffer-request",
                                 "compression ")) for l in lines), lines
    assert "option forwardfor" in lines and "http-request del-header X-Forwarded-For" in lines
    assert "option httpchk GET /readyz" in lines
    assert "option redispatch 1" in lines

    def secs(v):
        m = re.fullmatch(r"(\d+)(ms|s|m|h)?", v)
        return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 0.001}[m.group(2)]

    sections = {}
    cur = None
    for l in lines:
        if l.split()[0] in ("global", "defaults", "frontend", "backend", "resolvers", "listen"):
            cur = " ".join(l.split()[:2])
            sections[cur] = []
        else:
            sections[cur].append(l)

    def timeouts(section):
        return dict((l.split()[1], secs(l.split()[2])) for l in sections[section] if l.startswith("timeout "))

    # What a stream meets: the defaults, then the frontend's and the bridges' own.
    eff = dict(timeouts("defaults"), **timeouts("frontend web"))
    eff.update(timeouts("backend bridges"))
    # Ten heartbeat intervals (30 s) at least on every side of a stream.
    for k in ("client", "server", "tunnel"):
        assert eff[k] >= 300, (k, eff)
    # Every bridge route goes to the bridges, the rest to the demo.
    routes = " ".join(l for l in lines if l.startswith("acl to_bridge"))
    for path in ("/events", "/stream", "/sse-client.js", "/metrics", "/healthz", "/readyz", "/sse/"):
        assert path in routes, (path, routes)


def test_render_refuses_what_is_not_host_port():
    rc, out, err = render("127.0.0.1:8080", "demo:5000", "bridge1:8080\n    server evil 1.2.3.4:80")
    assert rc == 2 and out == "" and "HOST:PORT" in err
    rc, out, err = render("127.0.0.1:8080")
    assert rc == 2


def _dockerfile_stages():
    stages = {}
    cur = None
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)$", line, re.I)
        if m:
            cur = m.group(2)
            stages[cur] = {"from": m.group(1), "lines": []}
            continue
        stages[cur]["lines"].append(line)
    return stages


def test_dockerfile_builds_like_ci_and_runs_as_a_non_root_user_with_a_healthcheck(bridge_bin):
    stages = _dockerfile_stages()
    assert list(stages)[-1] == "bridge", "the bridge is the default (last) target"
    assert set(stages) == {"build", "bridge", "demo", "haproxy"}
    for name, st in stages.items():
        assert st["from"] == "debian:bookworm-slim", (name, st["from"])
    build = " ".join(st for st in stages["build"]["lines"] if st.startswith("RUN"))
    # The same steps as CI: scripts/test.sh runs deps.sh, then builds `build` RelWithDebInfo.
    test_sh = (REPO_ROOT / "scripts" / "test.sh").read_text()
    assert "scripts/deps.sh" in test_sh and "build build -DCMAKE_BUILD_TYPE=RelWithDebInfo" in test_sh
    assert "scripts/deps.sh" in build
    assert "cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo" in build
    assert "cmake --build build" in build

    for name in ("bridge", "demo", "haproxy"):
        lines = stages[name]["lines"]
        users = [l.split(None, 1)[1] for l in lines if l.startswith("USER ")]
        assert users and users[-1] not in ("root", "0"), (name, users)
        hc = [l for l in lines if l.startswith("HEALTHCHECK")]
        assert len(hc) == 1, (name, hc)
    bridge = stages["bridge"]["lines"]
    assert "/healthz" in [l for l in bridge if l.startswith("HEALTHCHECK")][0]
    assert any(l.startswith("COPY --from=build /src/build/bridge/sse-bridge") for l in bridge)

    # The runtime stage installs the package of every library the binary links.
    installs = " ".join(l for l in bridge if l.startswith("RUN"))
    ldd = subprocess.run(["ldd", bridge_bin], capture_output=True, text=True, timeout=10).stdout
    for lib in re.findall(r"^\s*(\S+\.so\S*) => ", ldd, re.M):
        if lib.startswith(("libc.so", "libm.so", "libpthread", "libdl.so", "librt.so", "ld-linux",
                           "libasan", "libubsan", "libstdc++", "libgcc_s")):
            continue  # in every Debian image (sanitizer builds are not shipped)
        owner = subprocess.run(["dpkg", "-S", "*/" + lib], capture_output=True, text=True, timeout=10).stdout
        pkgs = {line.split(":", 1)[0] for line in owner.splitlines() if line}
        assert pkgs & set(installs.split()), "%s (from %s) is not installed in the bridge stage" % (lib, pkgs)


def test_dockerignore_keeps_build_dirs_out_of_the_context():
    ignored = (REPO_ROOT / ".dockerignore").read_text().split()
    for entry in ("build", "build-*", ".git", "tests/browser/node_modules"):
        assert entry in ignored, entry
