"""``python -m botcap.loadtest.fakes.claude``: one JSON line with the URL, serves the SDK, stops on SIGTERM;
refuses
a non-loopback host."""

from __future__ import annotations

import json
import selectors
import signal
import subprocess
import sys

import anthropic

CMD = [sys.executable, "-m", "botcap.loadtest.fakes.claude"]


def read_line(proc: subprocess.Popen, timeout_s: float) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    assert sel.select(timeout_s), "no URL line within the timeout"
    return proc.stdout.readline()


def test_serves_on_a_free_port_and_stops_cleanly_on_sigterm():
    proc = subprocess.Popen([*CMD, "--port", "0", "--time-scale", "0", "--seed", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = read_line(proc, 30)
        url = json.loads(line)["url"]
        assert url.startswith("http://127.0.0.1:")
        c = anthropic.Anthropic(base_url=url, api_key="k", max_retries=0)
        msg = c.messages.create(model="claude-haiku-4-5", max_tokens=20,
                                messages=[{"role": "user", "content": "hi"}])
        assert msg.usage.input_tokens == 1 and 1 <= msg.usage.output_tokens <= 20
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert proc.stdout.read() == ""  # exactly one line on stdout
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_refuses_a_non_loopback_host_with_exit_2():
    proc = subprocess.run([*CMD, "--host", "0.0.0.0"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.strip().splitlines() == [
        "--host: 0.0.0.0 is not a loopback address (pass --allow-non-loopback to serve on it)"]
