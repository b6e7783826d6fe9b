"""`botcap calibrate` through Typer: --json contract, the written scenario, and exit 2 on bad bundles.

The command is registered on a fresh app with botcap's exit-code policy (BadInput -> 2), as
``botcap.cli`` does once ``botcap.sim.calibrate.cli`` is in its COMMAND_MODULES.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
import typer
from botcap.sim.calibrate.cli import register
from botcap.sim.runner import run
from botcap.sim.summary import summarize
from typer.testing import CliRunner

from botcap.errors import BadInput
from botcap.scenario import load_scenario

HERE = Path(__file__).parent


def botcap(*args: str) -> tuple[int, str, str]:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        pass

    register(app)
    result = CliRunner().invoke(app, list(args))
    if isinstance(result.exception, BadInput):
        return 2, result.stdout, "\n".join(result.exception.lines)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, ""


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


@pytest.fixture(scope="module")
def calibrated(ladder_bundle, tmp_path_factory):
    out = tmp_path_factory.mktemp("cal") / "calibrated.yaml"
    code, stdout, err = botcap("calibrate", str(ladder_bundle), "--holdout", "1,3,5", "--out", str(out),
                               "--replications", "2", "--json")
    assert code == 0, err
    return json.loads(stdout), out


def test_json_contract_and_written_scenario(calibrated, ladder_bundle):
    report, out = calibrated
    assert report["runs"] == [str(ladder_bundle)] and report["scenario_out"] == str(out)
    for name, f in report["fits"].items():
        assert {"dist", "params", "gof"} <= set(f), name
        assert {"statistic", "value"} <= set(f["gof"]), name
    assert set(report["max_holdout_error"]) >= {"throughput", "p50", "p95"}
    assert set(report["saturation"]) >= {"measured_rate_per_s", "predicted_rate_per_s"}
    assert set(report["usl"]) >= {"sigma", "kappa", "gamma"}
    text = out.read_text()
    assert text.startswith("# Calibrated by `botcap calibrate`") and str(ladder_bundle) in text
    assert (out.parent / "calibrated.plots" / "latency_load.png").stat().st_size > 10_000


def test_calibrated_scenario_says_so_in_sim_output(calibrated, ladder_bundle):
    _, out = calibrated
    sc = load_scenario(out, ["horizon.hours=0.2", "horizon.warmup_s=60", "workload.dau=300"])
    assert sc.calibration.runs == [str(ladder_bundle)]
    assert sc.calibration.held_out_rates_per_s == [1, 3, 5]
    summary = summarize(run(sc, replications=1))
    assert summary["calibrated_from"] == [str(ladder_bundle)]


def test_incomplete_bundle_is_refused_and_nothing_written(ladder_bundle, tmp_path):
    b = _copy(ladder_bundle, tmp_path / "cut")
    run_json = json.loads((b / "run.json").read_text())
    run_json.update(complete=False, reason="interrupted (Ctrl-C)")
    (b / "run.json").write_text(json.dumps(run_json))
    out = tmp_path / "cal.yaml"
    code, _, err = botcap("calibrate", str(b), "--out", str(out))
    assert code == 2 and "incomplete run" in err and "interrupted (Ctrl-C)" in err
    assert not out.exists()


def test_bundles_of_different_platforms_are_refused(ladder_bundle, tmp_path):
    b = _copy(ladder_bundle, tmp_path / "other")
    run_json = json.loads((b / "run.json").read_text())
    run_json["scenario"]["platform"]["claude"]["concurrency_per_instance"] = 20
    (b / "run.json").write_text(json.dumps(run_json))
    code, _, err = botcap("calibrate", str(ladder_bundle), str(b))
    assert code == 2
    assert "different platform config" in err and "claude.concurrency_per_instance: 10 vs 20" in err


def test_too_small_a_bundle_is_refused(ladder_bundle, tmp_path):
    b = _copy(ladder_bundle, tmp_path / "small")
    stages = pd.read_parquet(b / "stages.parquet")
    stages.iloc[:40].to_parquet(b / "stages.parquet")
    code, _, err = botcap("calibrate", str(b), "--holdout", "none")
    assert code == 2 and "too few samples to fit" in err


@pytest.mark.parametrize("remove, message", [
    ("stages.parquet", "telegram_log.parquet: missing (no stages.parquet"),
    ("run.json", "run.json: missing")])
def test_missing_files_are_refused(ladder_bundle, tmp_path, remove, message):
    b = _copy(ladder_bundle, tmp_path / "missing")
    (b / remove).unlink()
    code, _, err = botcap("calibrate", str(b))
    assert code == 2 and message in err


def test_unknown_holdout_rate_and_missing_folder(ladder_bundle, tmp_path):
    code, _, err = botcap("calibrate", str(ladder_bundle), "--holdout", "7")
    assert code == 2 and "no load level at 7/s" in err and "levels: 0.5, 1, 2, 3, 4, 5" in err
    code, _, err = botcap("calibrate", str(tmp_path / "nope"))
    assert code == 2 and "no such run folder" in err
