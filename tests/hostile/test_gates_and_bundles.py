"""Hostile gates files and RunBundles: the gate validates before judging and fails closed.

Exit 2 for a malformed gates file or bundle, 1 for an incomplete or empty one, 0 only when a
complete bundle with data meets every threshold.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from botcap.loadtest.harness.validate import validate_bundle
from hostile_helpers import BILLION_LAUGHS, CI_GATES, gates_file, request_rows, snapshot, write_bundle

from botcap.errors import BadInput, IncompleteBundle

BAD_GATES = {
    "billion_laughs": (BILLION_LAUGHS, ("too large",)),
    "recursive_alias": ("thresholds: &a [*a]\n", ("alias refers to itself",)),
    "duplicate_thresholds": ("thresholds: ['p95_s < 1']\nthresholds: ['error_rate < 0.5']\n",
                             ("duplicate key", ":2")),
    "infinite_number": ("thresholds: ['p95_s < 1e999']\n", ("right-hand side",)),
    "nan_word": ("thresholds: ['p95_s < nan']\n", ("right-hand side",)),
    "empty_file": ("", ("must be a mapping",)),
    "thresholds_null": ("thresholds:\n", ("must be a list",)),
    "thresholds_mapping": ("thresholds: {p95_s: 1}\n", ("must be a list",)),
    "nested_list": ("thresholds:\n  - [p95_s, 1]\n", ("non-empty string",)),
    "empty_string": ("thresholds: ['']\n", ("non-empty string",)),
    "unknown_metric": ("thresholds: ['latency < 1']\n", ("unknown metric 'latency'",)),
    "equality": ("thresholds: ['p95_s == 1']\n", ("operator '=='",)),
    "huge_threshold": ("thresholds: ['p95_s < " + "9" * 100_000 + "x']\n", ("gates.yaml:1", "...")),
    "unknown_top_key": ("thresholds: ['p95_s < 1']\nlimits: []\n", ("unknown key 'limits'",)),
    "yaml_error": ("thresholds: [\n", ("YAML syntax error",)),
    "per_kind_on_total": ("thresholds: ['dropped{kind=note} < 1']\n", ("no per-kind value",)),
}


@pytest.mark.parametrize("case", sorted(BAD_GATES))
def test_bad_gates_file_exits_2_before_the_bundle_is_read(cli, tmp_path: Path, case: str):
    text, words = BAD_GATES[case]
    g = tmp_path / "gates.yaml"
    g.write_text(text)
    cli.bad("gate", g, tmp_path / "no-such-run", names=words)


@pytest.mark.parametrize("path_kind", ["dev_zero", "directory", "binary"])
def test_unusable_gates_file(cli, tmp_path: Path, path_kind: str):
    if path_kind == "dev_zero":
        g = Path("/dev/zero")
    elif path_kind == "directory":
        g = tmp_path
    else:
        g = tmp_path / "g.yaml"
        g.write_bytes(b"\x00\xff\x00")
    cli.bad("gate", g, tmp_path, names=("gates file",))


def _frame(**changes) -> pd.DataFrame:
    rows = request_rows()
    for col, value in changes.items():
        if value is None:
            rows = rows.drop(columns=[col])
        else:
            rows[col] = value(rows) if callable(value) else value
    return rows


# (how to break the bundle, exit code, words of the one line)
BAD_BUNDLES = {
    "run_json_binary": (dict(run_text=b"\x00\x01\xff"), 2, ("run.json", "binary")),
    "run_json_not_json": (dict(run_text="{complete: true"), 2, ("run.json", "not valid JSON")),
    "run_json_list": (dict(run_text="[1, 2]"), 2, ("run.json", "must be a JSON object")),
    "run_json_nan": (dict(run_text='{"complete": true, "duration_s": NaN}'), 2, ("NaN is not JSON",)),
    "run_json_deep": (dict(run_text="[" * 100_000 + "]" * 100_000), 2, ("run.json",)),
    "counts_list": (dict(run={"counts": []}), 2, ("counts",)),
    "dropped_text": (dict(run={"counts": {"requests": 20, "dropped": "many"}}), 2, ("counts.dropped",)),
    "dropped_negative": (dict(run={"counts": {"requests": 20, "dropped": -1}}), 2, ("counts.dropped",)),
    "dropped_bool": (dict(run={"counts": {"requests": 20, "dropped": True}}), 2, ("counts.dropped",)),
    "counts_missing": (dict(run={"counts": None}), 2, ("counts", "missing")),
    "requests_count_mismatch": (dict(run={"counts": {"requests": 99}}), 2, ("counts.requests says 99",)),
    "complete_text": (dict(run={"complete": "true"}), 2, ("complete",)),
    "complete_missing": (dict(run_text='{"duration_s": 1}'), 2, ("complete", "missing")),
    "duration_zero": (dict(run={"duration_s": 0}), 2, ("duration_s", "> 0")),
    "duration_negative": (dict(run={"duration_s": -5}), 2, ("duration_s",)),
    "duration_text": (dict(run={"duration_s": "long"}), 2, ("duration_s",)),
    "levels_strings": (dict(run={"levels": ["fast"]}), 2, ("levels.0", "'fast'")),
    "levels_lack_fields": (dict(run={"levels": [{"level": 0, "duration_s": 5}]}), 2,
                           ("levels.0.rate_per_s", "missing")),
    "levels_negative_rate": (dict(run={"levels": [{"level": 0, "rate_per_s": -1, "duration_s": 5}]}), 2,
                             ("levels.0.rate_per_s",)),
    "time_scale_zero": (dict(run={"claude_time_scale": 0}), 2, ("claude_time_scale",)),
    "level_bot_cpu_text": (dict(run={"levels": [{"level": 0, "rate_per_s": 1, "duration_s": 5,
                                                  "bot_cpu_s": "lots"}]}), 2, ("levels.0.bot_cpu_s",)),
    "level_bot_cpu_negative": (dict(run={"levels": [{"level": 0, "rate_per_s": 1, "duration_s": 5,
                                                      "bot_cpu_s": -1}]}), 2, ("levels.0.bot_cpu_s", ">= 0")),
    "level_host_busy_text": (dict(run={"levels": [{"level": 0, "rate_per_s": 1, "duration_s": 5,
                                                    "host_busy_cores": [2]}]}), 2,
                             ("levels.0.host_busy_cores",)),
    "bot_cpu_text": (dict(run={"bot_cpu_s": "w"}), 2, ("bot_cpu_s", "finite number")),
    "ok_column_missing": (dict(rows=_frame(ok=None)), 2, ("missing column(s) ok",)),
    "kind_column_missing": (dict(rows=_frame(kind=None)), 2, ("missing column(s) kind",)),
    "ok_as_text": (dict(rows=_frame(ok=lambda r: r["ok"].map({True: "True", False: "False"}))), 2,
                   ("column ok", "booleans")),
    "ok_as_int": (dict(rows=_frame(ok=lambda r: r["ok"].astype(int))), 2, ("column ok",)),
    "negative_latency": (dict(rows=_frame(latency_s=lambda r: r["latency_s"] - 5)), 2,
                         ("column latency_s", ">= 0")),
    "infinite_latency": (dict(rows=_frame(latency_s=lambda r: r["latency_s"].fillna(np.inf))), 2,
                         ("column latency_s",)),
    "ok_without_latency": (dict(rows=_frame(latency_s=np.nan)), 2, ("every ok request must have a latency",)),
    "latency_as_text": (dict(rows=_frame(latency_s=lambda r: r["latency_s"].astype(str))), 2,
                        ("column latency_s", "numeric")),
    "sent_at_inf": (dict(rows=_frame(sent_at=np.inf)), 2, ("column sent_at",)),
    "kind_none": (dict(rows=_frame(kind=lambda r: r["kind"].where(r.index > 0, None))), 2, ("column kind",)),
    "level_negative": (dict(rows=_frame(level=-1)), 2, ("column level",)),
    "incomplete": (dict(run={"complete": False, "reason": "crashed: boom"}), 1, ("incomplete run",)),
    "no_requests": (dict(rows=request_rows(0, failed=0)), 1, ("no requests",)),
    "no_requests_no_duration": (dict(rows=request_rows(0, failed=0), run={"duration_s": None}), 1,
                                ("no requests",)),
}


@pytest.mark.parametrize("case", sorted(BAD_BUNDLES))
def test_bad_bundle_fails_closed(cli, tmp_path: Path, case: str):
    how, code, words = BAD_BUNDLES[case]
    run = write_bundle(tmp_path / "run", **how)
    before = snapshot(tmp_path)
    r = cli.run("gate", CI_GATES, run, "--json")
    assert r.code == code, (r.code, r.err, r.out[:300])
    assert "Traceback" not in r.err + r.out
    if code == 2:
        assert r.out == "" and len(r.lines) == 1, r.lines
        assert all(w in r.lines[0] for w in words), r.lines
    else:   # judged, failed closed: every threshold fails and the reason is in the problems
        out = json.loads(r.out)
        assert not out["passed"] and not out["complete"]
        assert all(row["verdict"] == "fail" for row in out["results"])
        assert any(all(w in p for w in words) for p in out["problems"]), out["problems"]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case", ["missing_folder", "file_not_folder", "no_run_json", "requests_missing",
                                  "requests_not_parquet", "requests_is_a_fifo", "run_json_is_a_folder"])
def test_not_a_bundle_is_bad_input(cli, tmp_path: Path, case: str):
    import os

    run = tmp_path / "run"
    if case == "file_not_folder":
        run.write_text("x")
    elif case != "missing_folder":
        write_bundle(run)
        if case == "no_run_json":
            (run / "run.json").unlink()
        elif case == "requests_missing":
            (run / "requests.parquet").unlink()
        elif case == "requests_not_parquet":
            (run / "requests.parquet").write_text("kind,ok\nx,True\n")
        elif case == "requests_is_a_fifo":
            (run / "requests.parquet").unlink()
            os.mkfifo(run / "requests.parquet")
        else:
            (run / "run.json").unlink()
            (run / "run.json").mkdir()
    cli.bad("gate", CI_GATES, run, names=(str(run),))


def test_zero_requests_never_pass_dropped_rate_or_failed(cli, tmp_path: Path):
    run = write_bundle(tmp_path / "run", rows=request_rows(0, failed=0))
    r = cli.run("gate", gates_file(tmp_path, "dropped_rate < 0.01", "failed <= 0"), run, "--json")
    assert r.code == 1
    assert [row["note"] for row in json.loads(r.out)["results"]] == ["bundle incomplete"] * 2


def test_malformed_baseline_is_bad_input(cli, tmp_path: Path):
    run = write_bundle(tmp_path / "run")
    base = write_bundle(tmp_path / "base", run={"counts": {"requests": 20, "dropped": "many"}})
    cli.bad("gate", gates_file(tmp_path, "p95_s < 2 * baseline"), run, "--baseline", base,
            names=("base", "counts.dropped"))


def test_a_good_bundle_passes_and_a_failing_threshold_exits_1(cli, tmp_path: Path):
    run = write_bundle(tmp_path / "run")
    assert cli.run("gate", gates_file(tmp_path, "p95_s < 5", "error_rate < 0.1"), run).code == 0
    r = cli.run("gate", gates_file(tmp_path, "p95_s < 0.5"), run, "--json")
    assert r.code == 1 and json.loads(r.out)["results"][0]["verdict"] == "fail"


# ---------------------------------------------------------------------------------------------
# the validator's own API, as calibrate and replay call it
def test_validator_needs_levels_and_stages_when_asked(tmp_path: Path):
    run = write_bundle(tmp_path / "run")
    with pytest.raises(BadInput, match="levels: required here"):
        validate_bundle(run, need=("requests", "levels"))
    with pytest.raises(BadInput, match=r"stages.parquet: missing"):
        validate_bundle(run, need=("requests", "stages"))
    pd.DataFrame({"kind": ["command"], "ok": [True], "handler_s": [-0.1]}).to_parquet(run / "stages.parquet")
    with pytest.raises(BadInput, match="column handler_s: must be >= 0"):
        validate_bundle(run, need=("stages",))
    with pytest.raises(BadInput, match="missing column.*claude_call_s"):
        validate_bundle(run, need=("stages",), columns={"stages": ("claude_call_s",)})


def test_validator_optional_black_box_files_and_extra_columns(tmp_path: Path):
    rows = request_rows()
    rows["update_id"] = np.arange(len(rows))   # an extra column written by a newer harness: allowed
    run = write_bundle(tmp_path / "run", rows=rows)
    info = validate_bundle(run)
    assert info.complete and len(info.requests) == 20 and info.duration_s == 20.0 and info.dropped == 0
    with pytest.raises(BadInput, match="telegram_log.parquet: missing"):
        validate_bundle(run, need=("requests", "telegram_log"))
    with pytest.raises(ValueError, match="unknown need"):
        validate_bundle(run, need=("request",))


def test_validator_incomplete_raises_or_reports(tmp_path: Path):
    run = write_bundle(tmp_path / "run", run={"complete": False, "reason": "x" * 10_000})
    with pytest.raises(IncompleteBundle) as e:
        validate_bundle(run)
    assert e.value.exit_code == 1 and len(e.value.lines[0]) < 400
    info = validate_bundle(run, allow_incomplete=True)
    assert not info.complete and info.problems and info.requests is None


@pytest.mark.parametrize("command", [("calibrate",), ("sim", "replay")])
@pytest.mark.parametrize("levels, words", [
    (["fast"], ("levels.0", "must be a mapping")),
    ([{"level": 0, "duration_s": 5}], ("levels.0.rate_per_s", "missing")),
    ([{"level": "0", "rate_per_s": 1, "duration_s": 5}], ("levels.0.level", "whole number")),
])
def test_calibrate_and_replay_use_the_same_validator(cli, tmp_path: Path, command, levels, words):
    run = write_bundle(tmp_path / "run", run={"levels": levels})
    before = snapshot(tmp_path)
    cli.bad(*command, run, names=words)
    assert snapshot(tmp_path) == before
