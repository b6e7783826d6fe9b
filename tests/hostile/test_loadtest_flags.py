"""`loadtest run` flags checked before anything starts; load goes to loopback only unless allowed.

``run_load`` (which starts the staging stack and Locust) is replaced by a function that fails the
test: every case here must be refused before it, and leave no --out folder behind.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from botcap.errors import BadInput
from botcap.inputs import require_loopback


@pytest.fixture
def nothing_starts(monkeypatch):
    import botcap.loadtest.harness.run as run

    def refuse(*a, **k):
        raise AssertionError("the load test started before its flags were checked")

    monkeypatch.setattr(run, "run_load", refuse)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FAKE = "http://127.0.0.1:{port}"

BAD_FLAGS = {
    "rate_inf": (["--rate", "inf"], ("--rate", "finite")),
    "rate_nan": (["--rate", "nan"], ("--rate", "finite")),
    "rate_tiny": (["--rate", "0.000001"], ("--rate", "between")),
    "rate_negative": (["--rate", "-3"], ("--rate",)),
    "rate_huge": (["--rate", "1e9"], ("--rate", "between")),
    "rate_times_duration_below_one": (["--rate", "0.05", "--duration", "10"], ("--rate", "no arrival")),
    "duration_inf": (["--duration", "inf"], ("--duration", "finite")),
    "duration_tiny": (["--duration", "0.0000001"], ("--duration", "between")),
    "duration_zero": (["--duration", "0"], ("--duration",)),
    "duration_days": (["--duration", "864000"], ("--duration", "between")),
    "instances_zero": (["--instances", "0"], ("--instances", "between")),
    "instances_many": (["--instances", "10000"], ("--instances",)),
    "users_zero": (["--users", "0"], ("--users",)),
    "workers_negative": (["--workers", "-1"], ("--workers",)),
    "telegram_url_ftp": (["--telegram-url", "ftp://x"], ("--telegram-url", "http://")),
    "telegram_url_no_host": (["--telegram-url", "http://"], ("--telegram-url", "no host")),
    "telegram_url_bad_port": (["--telegram-url", "http://127.0.0.1:99999/"],
                              ("--telegram-url", "Port out of range")),
    "telegram_url_remote": (["--telegram-url", "http://192.0.2.10:8081"], ("--telegram-url", "192.0.2.10",
                                                                           "--allow-host")),
    "target_remote": (["--target", "http://198.51.100.7/webhook", "--telegram-url", "http://127.0.0.1:9"],
                      ("--target", "198.51.100.7", "not a loopback")),
    "target_hostname": (["--target", "http://bot.example.com/hook", "--telegram-url", "http://127.0.0.1:9"],
                        ("--target", "bot.example.com")),
    "target_unspecified": (["--target", "http://0.0.0.0:8080/", "--telegram-url", "http://127.0.0.1:9"],
                           ("--target", "0.0.0.0")),
    "target_decimal_ip": (["--target", "http://2130706433/", "--telegram-url", "http://127.0.0.1:9"],
                          ("--target", "2130706433")),
    "allow_host_other": (["--target", "http://198.51.100.7/", "--telegram-url", "http://127.0.0.1:9",
                          "--allow-host", "198.51.100.70"], ("--target", "198.51.100.7")),
    "allow_host_unused": (["--allow-host", "example.com"], ("--allow-host", "example.com")),
    "out_proc": (["--out", "/proc/botcap"], ("--out", "/proc")),
    "mode": (["--mode", "carrier-pigeon"], ("--mode",)),
    "seed_negative": (["--seed", "-1"], ("--seed", "0 to")),
    "seed_huge": (["--seed", str(2**70)], ("--seed",)),
    "bot_token_slash": (["--bot-token", "1:a/b"], ("--bot-token",)),
    "bot_token_huge": (["--bot-token", "1:" + "a" * 100_000], ("--bot-token", "...")),
    "secret_huge": (["--secret", "s" * 100_000], ("--secret", "...")),
    "secret_spaces": (["--secret", "my secret"], ("--secret",)),
    "baseline_missing": (["--baseline", "/nonexistent/run"], ("/nonexistent/run", "no such run folder")),
    "baseline_not_json": (["--baseline", "/etc"], ("/etc/run.json", "missing")),
    "reply_timeout_inf": (["--reply-timeout", "inf"], ("--reply-timeout",)),
    "max_error_rate_nan": (["--max-error-rate", "nan"], ("--max-error-rate",)),
    "arrivals_garbage": (["--arrivals", "fast@always"], ("--arrivals",)),
    "warmup_inf": (["--warmup", "inf"], ("--warmup",)),
    "scenario_dev_zero": (["--scenario", "/dev/zero"], ("/dev/zero", "not a regular file")),
    "gate_dev_zero": (["--gate", "/dev/zero"], ("gates file", "/dev/zero")),
    "mix_garbage": (["--mix", "garbage"], ("--mix",)),
    "profile": (["--profile", "huge"], ("--profile",)),
}


@pytest.mark.parametrize("case", sorted(BAD_FLAGS))
def test_bad_flag_refused_before_anything_starts(cli, nothing_starts, tmp_path: Path, monkeypatch, case):
    monkeypatch.chdir(tmp_path)
    args, words = BAD_FLAGS[case]
    if "--out" not in args:
        args = [*args, "--out", str(tmp_path / "bundle")]
    cli.bad("loadtest", "run", *args, names=words)
    assert list(tmp_path.iterdir()) == []   # no bundle, no runs/ folder


def test_a_closed_target_fails_in_seconds_without_a_bundle(cli, nothing_starts, tmp_path: Path):
    port = closed_port()
    out = tmp_path / "bundle"
    cli.bad("loadtest", "run", "--target", f"http://127.0.0.1:{port}/hook", "--telegram-url",
            f"http://127.0.0.1:{port}", "--out", out, names=("--target", "connection refused"))
    assert not out.exists()


def test_a_closed_fake_telegram_fails_without_a_bundle(cli, nothing_starts, tmp_path: Path):
    out = tmp_path / "bundle"
    cli.bad("loadtest", "run", "--telegram-url", FAKE.format(port=closed_port()), "--out", out,
            names=("--telegram-url", "connection refused"))
    assert not out.exists()


def test_a_non_empty_out_folder_is_refused(cli, nothing_starts, tmp_path: Path):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "run.json").write_text("{}")
    cli.bad("loadtest", "run", "--out", out, names=("--out", "not empty"))
    assert (out / "run.json").read_text() == "{}"


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/x", "http://127.9.9.9/", "http://localhost:1/",
                                 "https://LOCALHOST/", "http://[::1]:8443/hook",
                                 "http://[::ffff:127.0.0.1]:80/"])
def test_loopback_urls_pass(url):
    assert require_loopback(url, None)


def test_allow_host_names_the_host_exactly_and_warns(capsys):
    assert require_loopback("http://10.0.0.5:8080/", "10.0.0.5", flag="--target") == "10.0.0.5"
    assert capsys.readouterr().err.count("\n") == 1
    for near_miss in ("10.0.0.50", "10.0.0", "0.0.5", "*"):
        with pytest.raises(BadInput):
            require_loopback("http://10.0.0.5:8080/", near_miss)
    with pytest.raises(BadInput, match="not a loopback"):
        require_loopback("http://127.0.0.1.evil.example/", None)
    with pytest.raises(BadInput, match="not a loopback"):
        require_loopback("http://user@10.0.0.5/", None)


@pytest.fixture
def live_fake_telegram():
    import json
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "botcap.loadtest.fakes.telegram", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        yield json.loads(proc.stdout.readline())["url"]
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_a_webhook_behind_a_live_fake_that_refuses_fails_in_seconds(cli, nothing_starts, tmp_path: Path,
                                                                    live_fake_telegram):
    import json
    import time
    import urllib.request

    from botcap.loadtest.users.telegram import DEFAULT_TOKEN

    hook = f"http://127.0.0.1:{closed_port()}/webhook"
    req = urllib.request.Request(f"{live_fake_telegram}/bot{DEFAULT_TOKEN}/setWebhook",
                                 data=json.dumps({"url": hook}).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert json.loads(r.read())["ok"]
    out = tmp_path / "bundle"
    started = time.monotonic()
    cli.bad("loadtest", "run", "--telegram-url", live_fake_telegram, "--out", out,
            names=("--telegram-url (the bot's webhook)", "connection refused"))
    assert time.monotonic() - started < 10 and not out.exists()
