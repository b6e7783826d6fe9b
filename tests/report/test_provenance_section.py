"""A calibrated scenario's report states its runs and held-out error; an uncalibrated one says so."""

from __future__ import annotations

from botcap.report.context import Ctx
from botcap.report.provenance import provenance
from botcap.report.variants import Window, scenario_hash, with_sets
from botcap.scenario import load_scenario

CAL = (
    "calibration={runs: [runs/cal-a, runs/cal-b], created_utc: '2026-11-30T01:02:03Z', "
    "fitted_rates_per_s: [1, 2, 3], held_out_rates_per_s: [4], "
    "max_holdout_error: {throughput: 0.02, p50: 0.05, p95: 0.081}}"
)


def _rows(scenario) -> dict:
    ctx = Ctx(base=scenario, window=Window())
    sec, plots = provenance(ctx, ctx.cost()["prices"])
    assert plots == []
    return {r["item"]: r["value"] for r in sec["table"]["rows"]}, sec


def test_calibrated_scenario_states_runs_and_held_out_error():
    sc = with_sets(load_scenario(), [CAL])
    rows, sec = _rows(sc)
    assert "runs/cal-a, runs/cal-b" in rows["calibration"] and "p95 8.1%" in rows["calibration"]
    assert rows["held-out max error p95"] == "0.081"
    assert rows["scenario sha256"] == scenario_hash(sc)
    assert sec["recommendation"]["values"]["cal"] == "calibrated from measured runs"
    assert sec["calibration"]["runs"] == ["runs/cal-a", "runs/cal-b"]


def test_uncalibrated_scenario_says_every_input_is_assumed():
    sc = load_scenario()
    rows, sec = _rows(sc)
    assert rows["calibration"].startswith("not calibrated")
    assert not any(k.startswith("held-out") for k in rows)
    inputs = {r["input"] for r in sec["tables"][0]["rows"]}
    # every scenario leaf and every report assumption is listed
    assert "scenario.platform.db.max_connections" in inputs and "report.target_margin" in inputs
    assert any(k.startswith("price.claude.") for k in inputs)
