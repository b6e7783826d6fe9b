"""Tornado, Monte Carlo and Sobol: seeded, consistent with the base case and with SALib."""

from __future__ import annotations

import numpy as np
import pytest
from botcap.costmodel import uncertainty as U
from botcap.costmodel.prices import load_price_book
from botcap.costmodel.result import run_cost
from botcap.costmodel.unit import build


@pytest.fixture(scope="module")
def built(default_scenario):
    api = sorted({m.api_model for m in default_scenario.platform.claude.models.values()})
    return build(default_scenario, load_price_book(default_scenario.costs.prices, api))


def test_monte_carlo_is_seeded_ordered_and_centred_on_the_base_case(default_scenario, built):
    factors = U.factors_for(default_scenario, built)
    a, _ = U.monte_carlo(built, factors, 10_000, seed=7)
    b, _ = U.monte_carlo(built, factors, 10_000, seed=7)
    assert a["monthly_cost_usd"] == b["monthly_cost_usd"]
    c = a["monthly_cost_usd"]
    assert c["p5"] < c["p50"] < c["p95"]
    base = run_cost(default_scenario, draws=0).data["total"]["monthly_cost_usd"]
    assert c["p5"] < base < c["p95"]
    # every multiplier has mean 1 and cost is ~linear in each: the mean of 10,000 draws sits within
    # 2% of the base case (cost cv ~0.35 -> standard error of the mean ~0.4%)
    assert c["mean"] == pytest.approx(base, rel=0.02)
    # payout per Star is uniform over its stated range: revenue spans it
    assert a["inputs"]["payout_usd_per_star"] == {"dist": "uniform", "low": 0.009, "high": 0.013,
                                                 "base": 0.011, "tornado": [0.009, 0.013]}


def test_beta_hit_rate_draws_have_the_scenario_mean(default_scenario, built):
    f = U._beta_mult("content_cache_hit_mult", 0.15, 20, 0.2)
    draws = f.sample(np.random.default_rng(1), 200_000) * 0.15      # the hit rate itself
    assert draws.mean() == pytest.approx(0.15, abs=0.002)
    assert draws.std() == pytest.approx(np.sqrt(0.15 * 0.85 / 21), rel=0.02)   # beta with a+b = 20
    assert np.all((draws >= 0) & (draws <= 1))


def test_tornado_uses_the_stated_range_and_ranks_by_margin_swing(default_result):
    rows = default_result.data["uncertainty"]["tornado"]
    swings = [r["swing_margin_usd"] for r in rows]
    assert swings == sorted(swings, reverse=True)
    payout = next(r for r in rows if r["input"] == "payout_usd_per_star")
    assert (payout["low"], payout["high"]) == (0.009, 0.013)
    assert payout["monthly_cost_usd"][0] == payout["monthly_cost_usd"][1]      # payout moves revenue only
    rev = default_result.data["total"]["monthly_revenue_usd"]
    assert payout["swing_margin_usd"] == pytest.approx(rev * (0.013 - 0.009) / 0.011, rel=1e-9)


def test_numpy_sobol_estimators_equal_salib_on_salibs_own_samples(default_scenario, built):
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    varied = [f for f in U.factors_for(default_scenario, built) if f.dist != "constant"]
    d, n = len(varied), 256
    problem = {"num_vars": d, "names": [f.name for f in varied], "bounds": [[0.0, 1.0]] * d}
    u = sample.sample(problem, n, calc_second_order=False, seed=3)
    values = np.column_stack([f.ppf(u[:, i]) for i, f in enumerate(varied)])
    y = U._eval(built, varied, values)["monthly_cost"]
    res = analyze.analyze(problem, y, calc_second_order=False, num_resamples=10, seed=3)
    rows = y.reshape(n, d + 2)                    # SALib's layout: A, AB_1..AB_D, B per base sample
    s1, st = U.sobol_estimates(rows[:, 0], rows[:, -1], rows[:, 1:-1])
    np.testing.assert_allclose(s1, res["S1"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(st, res["ST"], rtol=1e-9, atol=1e-12)


def test_sobol_numpy_and_salib_agree_on_the_default(default_scenario, built):
    factors = U.factors_for(default_scenario, built)
    ours = U.sobol(built, factors, 4096, seed=1)["monthly_cost_usd"]
    theirs = U.sobol(built, factors, 1024, seed=1, method="salib")["monthly_cost_usd"]
    for name in ours:
        assert ours[name]["ST"] == pytest.approx(theirs[name]["ST"], abs=0.05), name
    top = max(ours, key=lambda k: ours[k]["ST"])
    assert top == max(theirs, key=lambda k: theirs[k]["ST"]) == "actions_mult"
    assert ours["payout_usd_per_star"]["ST"] == 0.0     # payout cannot move cost
