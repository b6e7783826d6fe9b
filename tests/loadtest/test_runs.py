"""Real Locust runs against the real staging stack on PostgreSQL and Redis (never skipped).

One smoke run through the CLI starts its own stack; the other runs share one stack and reach it
through its fake Telegram API (``--telegram-url``: updates injected, the fake calls the webhook),
as a user's own bot would be reached.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from botcap.loadtest.harness.profiles import resolve
from botcap.loadtest.harness.run import RunOptions, run_load
from botcap.loadtest.staging.stack import StagingStack

from botcap.errors import BadInput

pytestmark = pytest.mark.services
BOTCAP = [sys.executable, "-m", "botcap.cli"]
ENV = {**os.environ, "COLUMNS": "200"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with StagingStack(workdir=tmp_path_factory.mktemp("stack"), claude_time_scale=0.05) as info:
        yield info


def test_smoke_bundle_is_complete_and_consistent(tmp_path: Path):
    out = tmp_path / "smoke"
    r = subprocess.run([*BOTCAP, "loadtest", "run", "--profile", "smoke", "--out", str(out), "--json"],
                       capture_output=True, text=True, timeout=150, env=ENV)
    assert r.returncode == 0, r.stdout + r.stderr
    assert json.loads(r.stdout)["complete"] is True
    run = json.loads((out / "run.json").read_text())
    requests = pd.read_parquet(out / "requests.parquet")
    stats = pd.read_csv(out / "locust_stats.csv")
    locust_count = int(stats.loc[stats["Name"] == "Aggregated", "Request Count"].iloc[0])
    # requests counted by Locust = rows in the requests file = replies recorded by the fake Telegram
    assert locust_count == len(requests) == run["telegram_stats"]["sent_count"] == 40
    assert requests["ok"].all() and (requests["replied_at"] > requests["sent_at"]).all()
    assert set(requests["kind"]) == {"command", "note", "chat_simple", "chat_deep"}  # every kind
    assert np.allclose(requests["latency_s"], requests["replied_at"] - requests["sent_at"])
    assert len(pd.read_parquet(out / "stages.parquet")) == 40
    assert (out / "locust.html").stat().st_size > 1000 and (out / "locust_stats_history.csv").exists()
    assert {"locust", "bot-1", "telegram", "claude"} <= set(run["cpu"]["processes"])
    assert run["complete"] and run["duration_s"] <= 60


def test_open_workload_achieves_its_target_rate(tmp_path: Path, stack):
    rate, seconds = 10.0, 20.0
    run = run_load(RunOptions(profile=resolve("ci", rate=rate, duration_s=seconds), out=tmp_path / "open",
                              telegram_url=stack.telegram_api_url, bot_token=stack.bot_token,
                              external_bot=True, live=False))
    assert run["complete"], run["reason"]
    requests = pd.read_parquet(tmp_path / "open" / "requests.parquet")
    assert run["counts"]["dropped"] == 0 and requests["ok"].all()
    # sent on time: the generator posted every arrival close to its intended time
    lag = requests["posted_at"] - requests["sent_at"]
    assert lag.quantile(0.99) < 0.25, lag.describe()
    span = requests["posted_at"].max() - requests["posted_at"].min()
    achieved = (len(requests) - 1) / span
    assert achieved == pytest.approx(rate, rel=0.05)
    assert run["rate_per_s"] == pytest.approx(rate, rel=0.05)
    assert run["summary"]["all"]["throughput_per_s"] == pytest.approx(rate, rel=0.05)


def test_workers_split_the_load_and_report_every_request(tmp_path: Path, stack):
    run = run_load(RunOptions(profile=resolve("ci", rate=6, duration_s=8, workers=2), out=tmp_path / "w",
                              telegram_url=stack.telegram_api_url, bot_token=stack.bot_token,
                              external_bot=True, workers=2, live=False))
    assert run["complete"], run["reason"]
    requests = pd.read_parquet(tmp_path / "w" / "requests.parquet")
    assert requests["worker"].nunique() == 2
    assert len(requests) == run["counts"]["locust_requests"] == 48
    assert {"locust-master", "locust-worker-1", "locust-worker-2"} <= set(run["cpu"]["processes"])


def _default_sigint() -> None:
    """In the child: Ctrl-C's default. A suite started in the background (``cmd &``, ``nohup``) inherits
    SIGINT ignored, and Python then installs no KeyboardInterrupt handler: the run would not stop."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_leaves_an_incomplete_bundle_that_fails_the_gate(tmp_path: Path, stack):
    out = tmp_path / "cut"
    p = subprocess.Popen([*BOTCAP, "loadtest", "run", "--profile", "ci", "--rate", "4", "--duration", "60",
                          "--telegram-url", stack.telegram_api_url, "--bot-token", stack.bot_token,
                          "--out", str(out), "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         env=ENV, text=True, preexec_fn=_default_sigint)
    deadline = time.monotonic() + 60
    while not ((out / "records.jsonl").exists() and (out / "records.jsonl").stat().st_size > 0):
        assert time.monotonic() < deadline and p.poll() is None, p.communicate()
        time.sleep(0.3)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    run = json.loads((out / "run.json").read_text())
    assert run["complete"] is False and "interrupted" in run["reason"]
    assert len(pd.read_parquet(out / "requests.parquet")) > 0   # what was measured is kept
    gates = tmp_path / "g.yaml"
    gates.write_text("thresholds: ['error_rate < 1']\n")
    r = subprocess.run([*BOTCAP, "gate", str(gates), str(out)], capture_output=True, text=True, env=ENV)
    assert r.returncode == 1 and "incomplete" in r.stdout


def test_digest_burst_times_every_digest_against_the_moved_clock(stack):
    from botcap.loadtest.harness.digest import digest_burst

    requests, digests, summary = digest_burst(
        telegram_url=stack.telegram_api_url, token=stack.bot_token, scheduler_url=stack.scheduler_url,
        subscribers=30, send_limit_per_s=30, timeout_s=60)
    assert requests["ok"].all() and summary["subscribed"] == 30
    assert summary["sent"] == len(digests) == 30 and summary["missing"] == 0
    # nothing is sent before 10:00 on the moved clock, and the burst is over within the catch-up window
    assert (digests["lateness_s"] > 0).all() and summary["lateness_s"]["max"] < 60
    # pigeonhole: 30 digests within (max + 1) one-second windows
    assert summary["send_rate_per_s"]["peak_1s"] >= 30 / (summary["lateness_s"]["max"] + 1)


def _bot_api(stack, method: str, **params) -> dict:
    req = urllib.request.Request(f"{stack.telegram_api_url}/bot{stack.bot_token}/{method}",
                                 data=json.dumps(params).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def test_target_webhook_gets_updates_posted_with_the_secret(tmp_path: Path, stack):
    # the stack's bot stands in for a user's own webhook bot: updates go straight to its webhook
    with pytest.raises(BadInput, match="set a webhook at the fake"):  # the fake would deliver them too
        run_load(RunOptions(profile=resolve("ci", rate=4, duration_s=5), out=tmp_path / "dup",
                            target=stack.webhook_url, telegram_url=stack.telegram_api_url,
                            bot_token=stack.bot_token, live=False))
    assert _bot_api(stack, "deleteWebhook")["ok"]
    try:
        run = run_load(RunOptions(profile=resolve("ci", rate=4, duration_s=5), out=tmp_path / "t",
                                  target=stack.webhook_url, webhook_secret=stack.webhook_secret,
                                  telegram_url=stack.telegram_api_url, bot_token=stack.bot_token, live=False))
        bad = run_load(RunOptions(profile=resolve("ci", rate=4, duration_s=1), out=tmp_path / "bad",
                                  target=stack.webhook_url, webhook_secret="wrong",
                                  telegram_url=stack.telegram_api_url, bot_token=stack.bot_token, live=False))
    finally:
        assert _bot_api(stack, "setWebhook", url=stack.webhook_url, secret_token=stack.webhook_secret)["ok"]
    assert run["complete"], run["reason"]
    assert run["target"] == "external" and stack.webhook_url in run["target_url"]
    assert run["profile"] is None and run["claude_time_scale"] is None   # no stack labels on a foreign bot
    assert run["counts"]["ok"] == run["counts"]["requests"] == 20
    assert bad["complete"] and bad["verdict"].startswith("4 of 4 requests failed")
    requests = pd.read_parquet(tmp_path / "bad" / "requests.parquet")
    assert len(requests) == 4 and not requests["ok"].any()       # the bot refuses a wrong secret
    assert requests["error"].str.match(r"webhook HTTP 40[13]").all(), requests["error"].tolist()
