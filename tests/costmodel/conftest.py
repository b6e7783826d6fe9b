"""Scenarios for cost-model tests: the default, and a tiny one small enough to compute by hand."""

from __future__ import annotations

import pytest
from botcap.costmodel.result import run_cost

from botcap.scenario import load_scenario

PRICED_ON = "2026-11-01"   # fixed so that dated price variants cannot move the expected numbers


def tiny_data(**tier) -> dict:
    """1,000 DAU, 1 message a day, Haiku only, constant 10,000 in / 200 out tokens, 1 tier, 30-day month.

    10,000 input tokens with half of them a cached prefix: 5,000 tokens, above Haiku 4.5's 4,096 minimum.
    """
    t = {"share": 1.0, "price_stars": 100, "churn_monthly": 0.1,
         "content_cache_hit_rate": {"chat_simple": 0.25},
         "prompt_cache": {"cached_share": 0.5, "hit_rate": 0.8, "ttl": "5m"}}
    t.update(tier)
    return {
        "workload": {"dau": 1000, "sessions_per_user": 1, "messages_per_session": 1,
                     "mix": {"chat_simple": 1.0},
                     "kinds": {"chat_simple": {"service_s": 0.01, "model": "haiku",
                                               "input_tokens": 10_000, "output_tokens": 200}},
                     "digests": {"subscribers_share": 0.0}},
        "slo": {"p95_s": {"chat_simple": 5.0}},
        "costs": {"month_days": 30, "tiers": {"T1": t},
                  "revenue": {"subscription_days": 30, "refund_rate": 0.02, "cac_usd": 2.0},
                  "prices": {"priced_on": PRICED_ON}},
    }


def _tiny(sets: tuple[str, ...] = (), **tier):
    return load_scenario(data=tiny_data(**tier), sets=list(sets))


@pytest.fixture(scope="session")
def tiny():
    """The hand-computable scenario: ``tiny(sets=(...), **tier_fields)``."""
    return _tiny


@pytest.fixture(scope="session")
def default_scenario():
    return load_scenario(sets=[f"costs.prices.priced_on={PRICED_ON}"])


@pytest.fixture(scope="session")
def default_result(default_scenario):
    return run_cost(default_scenario, draws=2000)


def with_tiers(scenario, **update):
    """The scenario with every tier updated (``update`` values may be functions of the tier)."""
    tiers = {n: t.model_copy(update={k: v(t) if callable(v) else v for k, v in update.items()})
             for n, t in scenario.costs.tiers.items()}
    return scenario.model_copy(update={"costs": scenario.costs.model_copy(update={"tiers": tiers})})


@pytest.fixture(scope="session")
def tiers_set():
    return with_tiers
