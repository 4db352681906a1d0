"""The command line through the real binary: --version, --help, invalid
values from flags and from the environment, and valid environment config."""

import re
import subprocess

import pytest

from helpers import bridge_env, free_port, port_accepts, sanitizer_report


def run_bin(bridge_bin, args, env=None, timeout=10):
    """Runs the binary to completion (bounded; killed on timeout)."""
    try:
        return subprocess.run([bridge_bin] + list(args), env=bridge_env(env), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        pytest.fail("sse-bridge %r did not exit within %d s (it should have refused to start); stderr so far: %r"
                    % (args, timeout, e.stderr))


def test_version_prints_name_and_version_on_stdout_and_exits_0(bridge_bin):
    r = run_bin(bridge_bin, ["--version"])
    assert r.returncode == 0, r
    assert r.stdout == b"sse-bridge 0.1.0\n", r.stdout
    assert not sanitizer_report(r.stderr.decode("utf-8", "replace")), r.stderr


def test_help_prints_usage_listing_the_options_on_stdout_and_exits_0(bridge_bin):
    r = run_bin(bridge_bin, ["--help"])
    assert r.returncode == 0, r
    out = r.stdout.decode("utf-8", "replace")
    assert "usage" in out.lower(), out
    for flag in ("--listen", "--redis-url", "--channels", "--flask-channels", "--heartbeat-interval",
                 "--max-queue-bytes", "--max-message-bytes", "--header-timeout", "--drain-timeout",
                 "--retry-ms", "--bridge-id", "--log-level", "--help", "--version"):
        assert flag in out, "--help does not mention %s:\n%s" % (flag, out)
    assert not sanitizer_report(r.stderr.decode("utf-8", "replace")), r.stderr


EXACT_CASES = [
    (["--heartbeat-interval", "abc"], None,
     "sse-bridge: invalid value 'abc' for --heartbeat-interval: expected an integer from 1 to 3600"),
    (["--heartbeat-interval=abc"], None,
     "sse-bridge: invalid value 'abc' for --heartbeat-interval: expected an integer from 1 to 3600"),
    (["--heartbeat-interval", "0"], None,
     "sse-bridge: invalid value '0' for --heartbeat-interval: expected an integer from 1 to 3600"),
    (["--heartbeat-interval", "3601"], None,
     "sse-bridge: invalid value '3601' for --heartbeat-interval: expected an integer from 1 to 3600"),
    ([], {"SSE_HEARTBEAT_INTERVAL": "abc"},
     "sse-bridge: invalid value 'abc' for SSE_HEARTBEAT_INTERVAL (--heartbeat-interval): expected an integer from 1 to 3600"),
    (["--foo"], None, "sse-bridge: unknown option '--foo' (see --help)"),
    (["--listen"], None, "sse-bridge: option --listen needs a value"),
]


@pytest.mark.parametrize(
    "args,env,line", EXACT_CASES,
    ids=["flag-abc", "flag-equals-abc", "flag-zero", "flag-3601", "env-abc", "unknown-option", "missing-value"])
def test_invalid_option_exits_2_with_exactly_one_line_and_listens_on_nothing(bridge_bin, args, env, line):
    port = free_port()
    # --listen first (except where --listen itself is the error) so we can
    # check that nothing came up on that port.
    pre = [] if args == ["--listen"] else ["--listen", "127.0.0.1:%d" % port]
    r = run_bin(bridge_bin, pre + args, env=env)
    assert r.returncode == 2, "exit code %r, stderr %r" % (r.returncode, r.stderr)
    assert r.stderr.decode("utf-8", "replace") == line + "\n"
    assert r.stdout == b"", r.stdout
    assert not port_accepts(port), "something listens on 127.0.0.1:%d after a refused start" % port


PREFIX_CASES = [
    (["--max-queue-bytes", "100"], "sse-bridge: invalid value '100' for --max-queue-bytes: "),
    (["--max-message-bytes", "10"], "sse-bridge: invalid value '10' for --max-message-bytes: "),
    (["--log-level", "loud"], "sse-bridge: invalid value 'loud' for --log-level: "),
    (["--redis-url", "http://127.0.0.1:6379"], "sse-bridge: invalid value 'http://127.0.0.1:6379' for --redis-url: "),
    (["--listen", "127.0.0.1:99999"], "sse-bridge: invalid value '127.0.0.1:99999' for --listen: "),
    (["--trusted-proxies", "not-a-cidr"], "sse-bridge: invalid value 'not-a-cidr' for --trusted-proxies: "),
]


@pytest.mark.parametrize("args,prefix", PREFIX_CASES, ids=[a[0][0].lstrip("-") for a in PREFIX_CASES])
def test_out_of_range_or_malformed_value_exits_2_with_one_line_naming_flag_and_value(bridge_bin, args, prefix):
    port = free_port()
    pre = [] if args[0] == "--listen" else ["--listen", "127.0.0.1:%d" % port]
    r = run_bin(bridge_bin, pre + args)
    assert r.returncode == 2, "exit code %r, stderr %r" % (r.returncode, r.stderr)
    err = r.stderr.decode("utf-8", "replace")
    assert err.count("\n") == 1 and err.endswith("\n"), "expected exactly one line, got %r" % err
    assert err.startswith(prefix) and len(err) > len(prefix) + 1, "got %r, expected %r + what is allowed" % (err, prefix)
    assert not port_accepts(port)


def test_invalid_channel_list_exits_2_with_one_line_naming_the_flag(bridge_bin):
    r = run_bin(bridge_bin, ["--listen", "127.0.0.1:%d" % free_port(), "--channels", "ok,bad name"])
    assert r.returncode == 2, r
    err = r.stderr.decode("utf-8", "replace")
    assert re.fullmatch(r"sse-bridge: invalid value '[^\n]*' for --channels: [^\n]+\n", err), err


def test_environment_variables_configure_the_bridge(bridge, clients):
    b = bridge(channels=None, bridge_id=None,
               env={"SSE_BRIDGE_ID": "env-bridge", "SSE_HEARTBEAT_INTERVAL": "1",
                    "SSE_CHANNELS": "envchan,other", "SSE_RETRY_MS": "1000"})
    assert b.healthz()["bridge"] == "env-bridge"
    c = clients.sse(b.port, "/events")
    ev = c.connected()
    info = ev.json()
    assert info["bridge"] == "env-bridge"
    assert sorted(info["channels"]) == ["envchan", "other"]
    assert info["heartbeat_interval"] == 1
    assert 500 <= ev.retry <= 1500, ev.raw
    hb = c.next_event(3.0, skip_heartbeat=False)
    assert hb.type == "heartbeat", hb


def test_flags_take_precedence_over_environment(bridge):
    b = bridge("--bridge-id", "flag-bridge", bridge_id=None, env={"SSE_BRIDGE_ID": "env-bridge"})
    assert b.healthz()["bridge"] == "flag-bridge"

