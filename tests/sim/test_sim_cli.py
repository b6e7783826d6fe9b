"""`botcap sim run` as a real process: the --json contract, --out's files, and bad input (exit 2).

Runs use the M/M/c scenario for half a simulated hour (~5,000 requests): seconds, not minutes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from botcap.sim.outdir import check_out_dir

from botcap.errors import BadInput

MMC = str(Path(__file__).resolve().parents[2] / "sim" / "scenarios" / "mmc.yaml")
SHORT = [MMC, "--hours", "0.5"]
# an SLO no run can meet: `sim run` must still exit 0 (only capacity/gates exit 1)
STRICT = ["--set", "slo.p95_s={work: 0.01}"]

# docs/contracts.md, `botcap sim run --json`: top-level keys and the keys inside each block
CONTRACT = {
    "scenario": None, "seed": None, "replications": None, "simulated_s": None, "throughput_per_s": None,
    "requests": {"arrived", "completed", "failed", "timed_out"},
    "latency_s": {"mean", "p50", "p95", "p99"},
    "latency_by_kind_s": None,
    "wait_s": {"handler", "db_pool", "claude_semaphore", "rate_limit", "telegram_send"},
    "utilization": {"handlers", "db_connections", "claude_concurrency"},
    "claude": {"calls", "http_429", "http_529", "retries", "breaker_open_s", "tokens"},
    "digests": {"scheduled", "sent", "max_per_slot", "lateness_s"},
    "db": {"peak_server_connections", "acquire_timeouts"},
    "slo": {"met", "violations"},
}


def botcap(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "botcap.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300, env={**os.environ, "COLUMNS": "200"})


@pytest.fixture(scope="module")
def json_run():
    r = botcap("sim", "run", *SHORT, *STRICT, "--replications", "2", "--seed", "5", "--json")
    assert r.returncode == 0, r.stderr
    return r


def test_json_is_one_object_with_the_contract_keys(json_run):
    s = json.loads(json_run.stdout)  # the whole of stdout parses as one JSON value
    assert isinstance(s, dict)
    for key, inner in CONTRACT.items():
        assert key in s, key
        if inner:
            assert inner <= set(s[key]), (key, inner - set(s[key]))
    assert s["scenario"] == "mmc" and s["seed"] == 5 and s["replications"] == 2
    assert s["simulated_s"] == 1800.0
    assert set(s["latency_by_kind_s"]) == {"work"}
    assert set(s["latency_by_kind_s"]["work"]) == {"count", "mean", "p50", "p95", "p99"}
    assert set(s["digests"]["lateness_s"]) == {"p50", "p95", "max"}
    assert len(s["ci95"]["latency_s.p95"]) == 2 and len(s["ci95"]["throughput_per_s"]) == 2
    assert "Traceback" not in json_run.stderr


def test_out_writes_every_file_atomically_and_matches_json(tmp_path, json_run):
    out = tmp_path / "results" / "mmc"
    r = botcap("sim", "run", *SHORT, *STRICT, "--replications", "2", "--seed", "5", "--out", str(out))
    assert r.returncode == 0, r.stderr
    names = {p.name for p in out.iterdir()}
    assert {"requests.parquet", "summary.json", "timeseries.parquet", "latency_cdf.png", "queues.png",
            "digests_per_minute.png", ".botcap-out.json"} == names   # the marker: botcap wrote it
    assert list((tmp_path / "results").iterdir()) == [out]  # no temporary folder left behind
    summary = json.loads((out / "summary.json").read_text())
    assert summary == json.loads(json_run.stdout)  # same seed, same options: the same object
    rows = pd.read_parquet(out / "requests.parquet")
    assert len(rows) == summary["requests"]["arrived"]  # the rows the summary was computed from
    assert set(rows["replication"]) == {0, 1} and rows["arrival_s"].min() >= 600.0  # warm-up cut
    for png in ("latency_cdf.png", "queues.png", "digests_per_minute.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "SLO" in r.stdout  # the human table when not --json


def test_sim_run_exits_0_when_the_slo_is_not_met(json_run):
    assert json_run.returncode == 0
    slo = json.loads(json_run.stdout)["slo"]
    assert slo["met"] is False and slo["violations"][0]["what"] == "latency_censored_by_kind_s.work.p95"
    assert slo["violations"][0]["text"].startswith("latency_censored_by_kind_s.work.p95: ")


@pytest.mark.parametrize(("args", "line"), [
    (["--set", "platform.no_such_key=1"], "platform.no_such_key"),
    (["--replications", "0"], "--replications: must be in 1..1000 (got 0)"),
    (["--hours", "-1"], "--hours: must be > 0 and <= 744 (got -1)"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, args, line):
    out = tmp_path / "out"
    r = botcap("sim", "run", MMC, *args, "--out", str(out), "--json")
    assert r.returncode == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and line in lines[0], r.stderr
    assert list(tmp_path.iterdir()) == []  # neither --out nor a temporary folder


def test_out_that_is_a_file_is_bad_input(tmp_path):
    target = tmp_path / "taken"
    target.write_text("keep me")
    with pytest.raises(BadInput) as e:
        check_out_dir(target)
    assert e.value.lines[0].startswith("--out: must be a directory or a new path")
    assert target.read_text() == "keep me"


def test_capacity_exits_1_when_no_load_meets_the_slo():
    # work takes 1 s on average: no arrival rate, however small, gives p95 <= 1 ms
    r = botcap("sim", "capacity", MMC, "--hours", "0.2", "--replications", "1",
               "--set", "slo.p95_s={work: 0.001}", "--json")
    assert r.returncode == 1, r.stderr
    found = json.loads(r.stdout)
    assert found["capacity"] is None and found["knob"] == "workload.arrivals.rate_per_s"
    assert all(not e["met"] for e in found["evaluations"])
    assert found["evaluations"][0]["value"] == 3.2  # the search starts at the scenario's own load
