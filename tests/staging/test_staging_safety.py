"""Safety and the command: non-loopback endpoints are refused without the flag; `botcap staging up`
exits 2 with how-to-start when PostgreSQL/Redis are unreachable; a killed supervisor leaves no orphans."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest
from botcap.loadtest.staging.config import BotConfig
from botcap.loadtest.staging.procs import alive
from botcap.loadtest.staging.stack import StagingStack

from botcap.errors import BadInput

pytestmark = pytest.mark.services


def _config(tmp_path, **kw) -> BotConfig:
    base = dict(scenario={}, bot_token="1:" + "a" * 35, telegram_api_url="http://127.0.0.1:1",
                claude_api_url="http://127.0.0.1:2", database_url="postgresql://x@127.0.0.1/x",
                redis_url="redis://127.0.0.1:1/0", stages_dir=str(tmp_path))
    return BotConfig(**{**base, **kw})


@pytest.mark.parametrize("field", ["telegram_api_url", "claude_api_url"])
def test_bot_process_refuses_non_loopback_endpoint_without_the_flag(tmp_path, field):
    path = tmp_path / "config.json"
    _config(tmp_path, **{field: "https://api.example.org"}).dump(path)
    r = subprocess.run([sys.executable, "-m", "botcap.loadtest.staging", "--config", str(path),
                        "--instance", "x"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert f"{field}: 'https://api.example.org' is not on loopback" in r.stderr
    assert "--allow-non-loopback api.example.org" in r.stderr
    assert "Traceback" not in r.stderr


def test_named_host_is_allowed(tmp_path):
    _config(tmp_path, claude_api_url="https://api.example.org",
            allow_non_loopback=["api.example.org"]).check_endpoints()


def test_staging_up_exits_2_with_how_to_start_when_services_are_unreachable(tmp_path):
    env = {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none", "REDIS_URL": "redis://127.0.0.1:1/0",
           "PATH": "/usr/bin:/bin"}
    r = subprocess.run([sys.executable, "-m", "botcap.cli", "staging", "up", "--instances", "1",
                        "--workdir", str(tmp_path)], capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 2, r.stderr
    assert "PostgreSQL at postgresql://postgres@127.0.0.1:1/none is unreachable" in r.stderr
    assert "Redis at redis://127.0.0.1:1/0 is unreachable" in r.stderr
    assert "scripts/ensure_services.py" in r.stderr and "Traceback" not in r.stderr
    assert not list(tmp_path.iterdir())          # nothing was started


def test_a_killed_supervisor_leaves_no_orphans(tmp_path):
    """Children get PR_SET_PDEATHSIG: SIGKILL the supervisor (no chance to clean up), they still go."""
    sleeper = "import time; print('{}', flush=True); time.sleep(120)"
    supervisor = (
        "import sys, time; from pathlib import Path; from botcap.loadtest.staging.procs import Child\n"
        f"c = Child('sleeper', [sys.executable, '-c', {sleeper!r}], Path({str(tmp_path / 's.log')!r}))\n"
        "c.ready(30); print(c.pid, flush=True); time.sleep(120)\n")
    proc = subprocess.Popen([sys.executable, "-c", supervisor], stdout=subprocess.PIPE, text=True)
    try:
        child_pid = int(proc.stdout.readline())
        assert alive(child_pid)
    finally:
        proc.kill()
        proc.wait(10)
    deadline = time.monotonic() + 10
    while alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child_pid), "the child outlived its SIGKILLed supervisor"


@pytest.mark.parametrize("field", ["telegram_api_url", "claude_api_url"])
def test_stack_refuses_a_non_loopback_api_before_starting_anything(tmp_path, field):
    stack = StagingStack(workdir=tmp_path / "stack", **{field: "https://api.example.org"})
    with pytest.raises(BadInput, match="--allow-non-loopback api.example.org"):
        stack.start()
    assert not (tmp_path / "stack").exists()


def test_staging_up_refuses_a_non_loopback_api_without_the_flag(tmp_path):
    r = subprocess.run([sys.executable, "-m", "botcap.cli", "staging", "up", "--claude-api-url",
                        "https://api.anthropic.com", "--workdir", str(tmp_path / "w")],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "claude_api_url: 'https://api.anthropic.com' is not on loopback" in r.stderr
    assert not (tmp_path / "w").exists()
