"""Unit economics: a case computed by hand to the cent, and invariants that must hold for any scenario."""

from __future__ import annotations

import numpy as np
import pytest
from botcap.costmodel.prices import load_price_book
from botcap.costmodel.result import run_cost
from botcap.costmodel.unit import build, evaluate

# By hand, for the ``tiny`` scenario of conftest.py (Haiku 4.5: $1 in, $5 out, $0.10 cache read,
# $1.25 5-min cache write per MTok):
#   input per call  = 10000 x (0.5 x 1.00 + 0.5 x 0.8 x 0.10 + 0.5 x 0.2 x 1.25) / 1e6 = $0.00665
#   output per call = 200 x 5 / 1e6                                                   = $0.001
#   calls per user-day = 1 x (1 - 0.25) = 0.75  ->  $0.0057375 per user-day
#   per user-month (30 days) = $0.172125; 1,000 users -> $172.125
CLAUDE_PER_USER_MONTH = 0.172125
# Infrastructure: Neon 1 CU x 730 h x $0.14 = 102.20; storage (1 GB + 1000 x 200 KB) x $0.35 = 0.42;
# egress 0.12 GB < 100 GB included; Railway 6 services x (0.25 x 0.000463 + 0.5 x 0.000231) x 43,200 min
# = 59.94; Workers $5 (30,000 requests < 10M included); fixed 26 + 20 = 46.
TOTAL_MONTHLY = 172.125 + 102.20 + 0.42 + 59.94 + 5.0 + 46.0          # = 385.685
FIXED_MONTHLY = 102.20 + 1.0 * 0.35 + 59.94 + 5.0 + 46.0               # = 213.49
REVENUE_PER_USER = 100 * (30 / 30) * 0.011 * (1 - 0.02)                # = 1.078
VARIABLE_PER_USER = CLAUDE_PER_USER_MONTH + 0.0002 * 0.35              # Claude + 200 KB of storage


@pytest.fixture(scope="module")
def tiny_result(tiny):
    return run_cost(tiny(), draws=0)


def test_claude_cost_by_hand_to_the_cent(tiny_result):
    t = tiny_result.data["tiers"]["T1"]
    assert t["users"] == 1000
    assert t["claude_per_user_month_usd"] == pytest.approx(CLAUDE_PER_USER_MONTH, abs=1e-12)
    assert tiny_result.data["total"]["claude_monthly_usd"] == pytest.approx(172.125, abs=1e-9)


def test_total_cost_revenue_and_margin_by_hand(tiny_result):
    d = tiny_result.data
    assert d["total"]["monthly_cost_usd"] == pytest.approx(TOTAL_MONTHLY, abs=1e-9)
    assert d["total"]["fixed_monthly_usd"] == pytest.approx(FIXED_MONTHLY, abs=1e-9)
    assert d["total"]["monthly_revenue_usd"] == pytest.approx(1000 * REVENUE_PER_USER, abs=1e-9)
    t = d["tiers"]["T1"]
    assert t["revenue_per_user_month_usd"] == pytest.approx(1.078, abs=1e-12)
    assert t["cost_per_user_month_usd"] == pytest.approx(TOTAL_MONTHLY / 1000, abs=1e-9)
    assert t["margin_per_user_month_usd"] == pytest.approx(1.078 - TOTAL_MONTHLY / 1000, abs=1e-9)


def test_break_even_ltv_and_payback_by_hand(tiny_result):
    d = tiny_result.data
    contribution = REVENUE_PER_USER - VARIABLE_PER_USER                   # 0.905805
    assert d["break_even"]["paying_users"] == pytest.approx(FIXED_MONTHLY / contribution, rel=1e-9)
    assert round(d["break_even"]["paying_users"], 2) == 235.69
    # in Stars: 100 Stars per paying user per 30-day month, at the payout rate net of refunds
    assert d["break_even"]["stars_per_paying_user_month"] == pytest.approx(100.0, rel=1e-12)
    assert d["break_even"]["stars_per_month"] == pytest.approx(100.0 * FIXED_MONTHLY / contribution, rel=1e-9)
    assert d["break_even"]["current_stars_per_month"] == pytest.approx(1000 * 100.0, rel=1e-12)
    stars_usd = d["break_even"]["stars_per_month"] * d["break_even"]["usd_per_star_net"]
    assert stars_usd == pytest.approx(d["break_even"]["paying_users"] * REVENUE_PER_USER, rel=1e-9)
    t = d["tiers"]["T1"]
    assert t["ltv_usd"] == pytest.approx(contribution / 0.1, rel=1e-9)
    assert t["payback_months"] == pytest.approx(2.0 / contribution + 21 / 30, rel=1e-9)


def test_override_file_prices_give_the_same_dollars(tiny):
    r = run_cost(tiny(sets=("costs.prices.source=override",)), draws=0)
    assert "genai-prices" not in r.data["prices"]["source"]
    got = r.data["tiers"]["T1"]["claude_per_user_month_usd"]
    assert got == pytest.approx(CLAUDE_PER_USER_MONTH, abs=1e-12)


def test_batch_and_one_hour_cache_by_hand(tiny):
    # all calls batched (50% of every rate) and a 1-hour cache write ($2/MTok instead of $1.25)
    s = tiny(batch_share={"chat_simple": 1.0},
             prompt_cache={"cached_share": 0.5, "hit_rate": 0.8, "ttl": "1h"})
    per_call = (10_000 * (0.5 * 1.0 + 0.5 * 0.8 * 0.1 + 0.5 * 0.2 * 2.0) + 200 * 5) / 1e6 * 0.5
    r = run_cost(s, draws=0)
    got = r.data["tiers"]["T1"]["claude_per_user_month_usd"]
    assert got == pytest.approx(per_call * 0.75 * 30, abs=1e-12)


def test_full_content_cache_means_no_claude_cost_for_that_kind(default_scenario, tiers_set):
    base = run_cost(default_scenario, draws=0).data
    s = tiers_set(default_scenario, content_cache_hit_rate={"chat_deep": 1.0})
    hit = run_cost(s, draws=0).data
    assert hit["volumes"]["claude_monthly_usd_by_kind"]["chat_deep"] == 0.0
    kept = base["total"]["claude_monthly_usd"] - base["volumes"]["claude_monthly_usd_by_kind"]["chat_deep"]
    assert hit["total"]["claude_monthly_usd"] == pytest.approx(kept, rel=1e-12)


def _built(scenario):
    api = sorted({m.api_model for m in scenario.platform.claude.models.values()})
    return build(scenario, load_price_book(scenario.costs.prices, api))


@pytest.mark.parametrize("factor", ["input_tokens_mult", "output_tokens_mult", "claude_price_mult",
                                    "actions_mult", "infra_price_mult"])
def test_cost_rises_with_tokens_prices_and_use(default_scenario, factor):
    b = _built(default_scenario)
    cost = evaluate(b, **{factor: np.linspace(0.5, 2.0, 16)})["monthly_cost"]
    assert np.all(np.diff(cost) > 0)


def test_break_even_falls_as_the_stars_price_rises(default_scenario, tiers_set):
    be = []
    for mult in (1.0, 1.5, 2.0, 3.0):
        s = tiers_set(default_scenario, price_stars=lambda t, m=mult: t.price_stars * m)
        be.append(run_cost(s, draws=0).data["break_even"]["paying_users"])
    assert all(a > b for a, b in zip(be, be[1:], strict=False)), be


def test_break_even_unreachable_when_paying_users_cannot_carry_free_ones(tiny):
    s = tiny(sets=("costs.revenue.payout_usd_per_star_low=0.00001",
                   "costs.revenue.payout_usd_per_star=0.00001"))
    d = run_cost(s, draws=0).data
    assert d["break_even"]["paying_users"] is None and d["break_even"]["reachable"] is False


def test_users_times_cost_per_user_adds_up_to_the_total(default_result):
    d = default_result.data
    total = sum(t["users"] * t["cost_per_user_month_usd"] for t in d["tiers"].values())
    assert total == pytest.approx(d["total"]["monthly_cost_usd"], rel=1e-9)
    for t in d["tiers"].values():
        parts = sum(t[k] for k in ("claude_per_user_month_usd", "db_per_user_month_usd",
                                   "compute_per_user_month_usd", "other_per_user_month_usd"))
        assert parts == pytest.approx(t["cost_per_user_month_usd"], rel=1e-12)
        assert t["margin_per_user_month_usd"] == pytest.approx(
            t["revenue_per_user_month_usd"] - t["cost_per_user_month_usd"], abs=1e-12)
    comp = d["total"]["by_component_monthly_usd"]
    assert sum(comp.values()) == pytest.approx(d["total"]["monthly_cost_usd"], rel=1e-9)


def test_default_claude_volume_matches_the_workload_and_the_claim_is_checked(default_result):
    d = default_result.data
    # sum(share x usage_mult) = 1, so the tiers spend the workload's Claude calls exactly
    vol = d["volumes"]
    assert vol["claude_calls_per_day"] == pytest.approx(vol["workload_claude_calls_per_day"], rel=1e-12)
    claim = d["planners_claim"]
    assert claim["model_claude_monthly_usd"] == d["total"]["claude_monthly_usd"]
    assert claim["confirmed"] == (abs(claim["ratio"] - 1) <= 0.25)
    assert 0 < d["total"]["claude_share_of_cost"] < 1
