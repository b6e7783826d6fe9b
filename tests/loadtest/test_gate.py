"""`botcap gate`: exit 0 all hold, 1 any fails or the bundle is incomplete, 2 malformed gates or bundle.

Bundles here are synthetic (written with the harness's own bundle writer) so that every value is
known exactly; the real runs are in test_runs.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from botcap.loadtest.harness.bundle import REQUESTS, write_run_json
from botcap.loadtest.harness.gate import evaluate, parse_gates
from botcap.loadtest.harness.percentiles import metrics

from botcap.errors import BadInput

BOTCAP = [sys.executable, "-m", "botcap.cli"]


def botcap(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*BOTCAP, *map(str, args)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


def make_bundle(path: Path, *, latencies: dict[str, list[float]], failed: int = 0, duration_s: float = 10.0,
                dropped: int = 0, complete: bool = True) -> Path:
    path.mkdir(parents=True)
    rows = []
    t = 1_700_000_000.0
    for kind, lats in latencies.items():
        for i, lat in enumerate(lats):
            rows.append({"kind": kind, "sent_at": t + i, "posted_at": t + i, "replied_at": t + i + lat,
                         "latency_s": lat, "ok": True, "error": None, "level": 0, "chat_id": i,
                         "message_id": 1, "worker": "w"})
    for i in range(failed):
        rows.append({"kind": "command", "sent_at": t + i, "posted_at": t + i, "replied_at": np.nan,
                     "latency_s": np.nan, "ok": False, "error": "timeout", "level": 0, "chat_id": -i,
                     "message_id": 1, "worker": "w"})
    pd.DataFrame(rows).to_parquet(path / REQUESTS, index=False)
    write_run_json(path, {"complete": complete, "duration_s": duration_s,
                          "counts": {"requests": len(rows), "dropped": dropped},
                          **({} if complete else {"reason": "interrupted"})})
    return path


def gates(tmp_path: Path, *lines: str) -> Path:
    p = tmp_path / "gates.yaml"
    p.write_text("thresholds:\n" + "".join(f'  - "{line}"\n' for line in lines))
    return p


@pytest.fixture
def run(tmp_path: Path) -> Path:
    # command latencies 0.01..1.00 s (100 requests), chat_simple 2..4 s (3 requests), 1 failure
    return make_bundle(tmp_path / "run", latencies={"command": [i / 100 for i in range(1, 101)],
                                                   "chat_simple": [2.0, 3.0, 4.0]}, failed=1)


def test_metrics_are_exact_not_bucketed(run: Path):
    df = pd.read_parquet(run / REQUESTS)
    m = metrics(df, 10.0, dropped=0)
    cmd = np.arange(1, 101) / 100
    assert m["p95_s{kind=command}"] == pytest.approx(np.quantile(cmd, 0.95), abs=1e-12)
    assert m["p50_s{kind=chat_simple}"] == 3.0
    assert m["requests"] == 104 and m["failed"] == 1
    assert m["error_rate"] == pytest.approx(1 / 104)
    assert m["throughput_per_s"] == pytest.approx(103 / 10.0)


def test_all_thresholds_hold_exit_0(tmp_path: Path, run: Path):
    g = gates(tmp_path, "p95_s{kind=command} < 1", "p99_s{kind=chat_simple} <= 4",
              "error_rate < 0.01", "throughput_per_s > 10", "dropped <= 0")
    r = botcap("gate", g, run, "--json")
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout)
    assert out["passed"] and [row["verdict"] for row in out["results"]] == ["pass"] * 5


def test_one_failing_threshold_exits_1_and_names_it(tmp_path: Path, run: Path):
    g = gates(tmp_path, "error_rate < 0.01", "p95_s{kind=chat_simple} < 3")
    r = botcap("gate", g, run)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "p95_s{kind=chat_simple} < 3" in r.stdout and "FAIL" in r.stdout


def test_relative_threshold_against_baseline(tmp_path: Path, run: Path):
    slow = make_bundle(tmp_path / "base", latencies={"command": [0.5] * 100}, duration_s=10.0)
    g = gates(tmp_path, "throughput_per_s > 0.9 * baseline", "p50_s < baseline + 0.1")
    ok = evaluate(parse_gates(g.read_text()), run, slow)
    assert ok["passed"], ok
    assert ok["results"][0]["limit"] == pytest.approx(0.9 * 100 / 10.0)
    # this run's 10.3/s is not 5% above the baseline's 10/s
    worse = evaluate(parse_gates("thresholds: ['throughput_per_s > 1.05 * baseline']"), run, slow)
    assert not worse["passed"]


def test_relative_threshold_without_baseline_is_bad_input(tmp_path: Path, run: Path):
    r = botcap("gate", gates(tmp_path, "throughput_per_s > 0.9 * baseline"), run)
    assert r.returncode == 2
    assert "--baseline" in r.stderr and "line 2" in r.stderr


def test_incomplete_bundle_fails_closed_even_if_every_value_holds(tmp_path: Path):
    cut = make_bundle(tmp_path / "cut", latencies={"command": [0.1] * 10}, complete=False)
    r = botcap("gate", gates(tmp_path, "p95_s < 100"), cut, "--json")
    assert r.returncode == 1
    out = json.loads(r.stdout)
    assert not out["complete"] and out["results"][0]["note"] == "bundle incomplete"


def test_missing_bundle_is_bad_input_and_missing_kind_fails(tmp_path: Path, run: Path):
    r = botcap("gate", gates(tmp_path, "p95_s < 100"), tmp_path / "nope")
    assert r.returncode == 2 and r.stderr.strip() == f"{tmp_path / 'nope'}: no such run folder"
    out = evaluate(parse_gates("thresholds: ['p95_s{kind=chat_deep} < 100']"), run)
    assert not out["passed"] and out["results"][0]["note"] == "no data"


def test_incomplete_baseline_fails(tmp_path: Path, run: Path):
    base = make_bundle(tmp_path / "b", latencies={"command": [0.1] * 10}, complete=False)
    assert not evaluate(parse_gates("thresholds: ['p95_s < 2 * baseline']"), run, base)["passed"]


@pytest.mark.parametrize("text, line, what", [
    ("thresholds:\n  - 'p95_s < 1'\n  - 'p96_s < 1'\n", 3, "unknown metric 'p96_s'"),
    ("thresholds:\n  - 'error_rate ~ 1'\n", 2, "expected 'METRIC"),
    ("thresholds:\n  - 'p95_s == 1'\n", 2, "operator '=='"),
    ("thresholds:\n  - 'p95_s < fast'\n", 2, "right-hand side 'fast'"),
    ("thresholds:\n  - 'dropped{kind=note} < 1'\n", 2, "no per-kind value"),
    ("thresholds:\n  - 'p95_s < 1'\nlimits: []\n", 3, "unknown key 'limits'"),
    ("thresholds: 'p95_s < 1'\n", 1, "must be a list"),
    ("thresholds: []\n", 1, "at least one"),
    ("thresholds:\n  - [p95_s, 1]\n", 2, "non-empty string"),
    ("thresholds:\n  - 'p95_s < 1'\n   bad: [\n", 3, "YAML syntax error"),
    ("- 'p95_s < 1'\n", 1, "must be a mapping"),
])
def test_malformed_gates_name_line_and_problem(text: str, line: int, what: str):
    with pytest.raises(BadInput) as e:
        parse_gates(text, "g.yaml")
    assert len(e.value.lines) == 1
    assert e.value.lines[0].startswith(f"g.yaml:{line}:") and what in e.value.lines[0], e.value.lines


def test_malformed_gates_file_exits_2_before_reading_the_bundle(tmp_path: Path):
    g = tmp_path / "g.yaml"
    g.write_text("thresholds:\n  - 'p95_s < 1'\n  - 'latency < 1'\n")
    r = botcap("gate", g, tmp_path / "no-such-run")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().splitlines() == [
        f"{g}:3: 'latency < 1': unknown metric 'latency' (allowed: mean_s, p50_s, p90_s, p95_s, p99_s, "
        "max_s, p50_censored_s, p95_censored_s, p99_censored_s, error_rate, throughput_per_s, requests, "
        "failed, dropped, dropped_rate, "
        "predicted_capacity_dau, predicted_p95_s)"]


def test_shipped_ci_gates_file_parses():
    ci = Path(__file__).resolve().parents[2] / "loadtest" / "gates" / "ci.yaml"
    assert len(parse_gates(ci.read_text(), str(ci))) >= 4
