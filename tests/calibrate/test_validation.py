"""Held-out prediction on a synthetic ladder: the model predicts itself within noise, and a wrong
model is caught (so the error figures can fail)."""

from __future__ import annotations

import math

import pytest
from botcap.sim.calibrate import calibrate
from botcap.sim.calibrate.bundles import read_bundles
from botcap.sim.calibrate.predict import (
    level_stats,
    max_errors,
    measured_frame,
    predict_levels,
    predicted_frame,
    saturation,
)
from botcap.sim.calibrate.replay import replay_scenario


@pytest.fixture(scope="module")
def result(ladder_bundle):
    return calibrate([ladder_bundle], holdout=[1, 3, 5], replications=3, seed=5)


def test_contract_keys_and_split(result):
    r = result.report
    assert {"runs", "scenario_out", "fits", "levels", "max_holdout_error", "saturation", "usl"} <= set(r)
    assert [lv["held_out"] for lv in r["levels"]] == [False, True, False, True, False, True]
    assert result.scenario.calibration.fitted_rates_per_s == [0.5, 2, 4]
    lv = r["levels"][1]
    assert {"measured", "predicted", "error", "by_kind", "rate_per_s", "held_out"} <= set(lv)
    assert set(lv["measured"]) >= {"throughput_per_s", "p50_s", "p95_s"}


def test_replaying_the_true_model_with_its_seed_reproduces_the_measurement(no_tokens_bundle, truth):
    # the bookkeeping check: same model, same trace, same seed -> every level statistic identical
    # (without answer lengths in the bundle: replayed lengths are handed out in arrival order, the
    # model's own draws in Claude-call order, so with them a few requests swap lengths)
    b = read_bundles([no_tokens_bundle])[0]
    meas, pred = measured_frame(b), predicted_frame(b, truth, seed=4)   # the seed it was written with
    for lv in b.levels:
        m, p = level_stats(meas, lv), level_stats(pred, lv)
        for key in ("throughput_per_s", "p50_s", "p95_s", "error_rate"):
            # abs: times pass through Unix-time floats (~1.75e9 s, resolution 2.4e-7 s)
            assert p[key] == pytest.approx(m[key], rel=1e-6, abs=1e-6), (lv.rate_per_s, key)


def test_model_predicts_its_own_held_out_levels(result):
    # "measured" is one realisation of 80-200 requests per kind per level; near the knee one run's
    # p95 varies by +-20-40% between seeds (see the bands), so self-prediction cannot be tighter
    err = result.report["max_holdout_error"]
    assert err["levels"] == 3
    assert err["throughput"] < 0.10
    assert err["p50"] < 0.25 and err["p95"] < 0.25
    below_knee = result.report["levels"][1]                               # 1/s: far from saturation
    assert below_knee["error"]["throughput"] < 0.05


def test_a_wrong_model_is_caught(result, ladder_bundle):
    bundles = read_bundles([ladder_bundle])
    doc = result.scenario.model_dump(mode="json")
    doc["platform"]["claude"]["concurrency_per_instance"] = 5             # half the real semaphore
    from botcap.scenario import load_scenario
    wrong = load_scenario(data=doc)
    held = {(bundles[0].name, i) for i in (1, 3, 5)}
    levels = predict_levels(bundles, held, lambda b: wrong, replications=1, seed=5)
    err = max_errors(levels)
    assert err["throughput"] > 0.3 and err["p95"] > 0.5


def test_saturation_interpolates_between_levels(truth):
    slo = replay_scenario(truth, kinds=["command"], hours=1).slo
    def lv(rate, p95):
        k = {"p95_s": p95, "n": 50}
        return {"rate_per_s": rate, "measured": {"error_rate": 0.0}, "predicted": {"error_rate": 0.0},
                "by_kind": {"command": {"measured": k, "predicted": {**k, "p95_s": p95 * 2}}}}
    s = saturation([lv(1, 0.5), lv(2, 0.8), lv(3, 1.6)], slo)               # command SLO: p95 <= 1 s
    assert s["measured_rate_per_s"] == pytest.approx(2 + 0.2 / 0.8)
    assert s["predicted_rate_per_s"] == pytest.approx(1 + 0.0 / 0.6)     # 2x slower: 1/s is exactly at 1
    assert math.isclose(s["error"], abs(1 - 2.25) / 2.25)
