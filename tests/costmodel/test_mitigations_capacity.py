"""A3 mitigations priced on the same scenario, and the capacity cross-check's flags."""

from __future__ import annotations

import pytest
from botcap.costmodel.prices import load_price_book
from botcap.costmodel.result import run_cost


def test_each_mitigation_saves_and_combined_saves_most(default_result):
    d = default_result.data
    m = d["mitigations"]
    assert set(m) == {"haiku_routing", "content_cache", "prompt_cache", "batch_digests", "combined"}
    for name, row in m.items():
        assert row["monthly_saving_usd"] > 0, name
        total = row["monthly_cost_usd"] + row["monthly_saving_usd"]
        assert total == pytest.approx(d["total"]["monthly_cost_usd"], rel=1e-12)
    singles = [row["monthly_saving_usd"] for name, row in m.items() if name != "combined"]
    assert max(singles) < m["combined"]["monthly_saving_usd"] < sum(singles)   # savings overlap


def test_batch_digests_saves_exactly_half_of_the_digest_claude_cost(default_result):
    # default: digests go 100% through the Batch API at 50% of every rate, nothing else changes
    d = default_result.data
    digest_usd = d["volumes"]["claude_monthly_usd_by_kind"]["digest"]
    assert d["mitigations"]["batch_digests"]["monthly_saving_usd"] == pytest.approx(digest_usd / 2, rel=1e-12)


def test_content_cache_saves_its_hit_rate_of_the_chat_claude_cost(default_result):
    d = default_result.data
    by_kind = d["volumes"]["claude_monthly_usd_by_kind"]
    chat = by_kind["chat_simple"] + by_kind["chat_deep"]
    assert d["mitigations"]["content_cache"]["monthly_saving_usd"] == pytest.approx(0.15 * chat, rel=1e-12)


def test_haiku_routing_by_hand(tiny):
    # tiny: chat_simple already on Haiku; route it to Sonnet in the tier, then move half back to Haiku
    s = tiny(model_shares={"chat_simple": {"sonnet": 1.0}}, content_cache_hit_rate={}, prompt_cache={})
    d = run_cost(s, draws=0).data
    book = load_price_book(s.costs.prices, [m.api_model for m in s.platform.claude.models.values()])
    models = s.platform.claude.models
    haiku, sonnet = (book.claude[models[k].api_model].rates_mtok_usd for k in ("haiku", "sonnet"))
    haiku_call = (10_000 * haiku["input"] + 200 * haiku["output"]) / 1e6
    sonnet_call = (10_000 * sonnet["input"] + 200 * sonnet["output"]) / 1e6
    users_days = 1000 * 30
    assert d["total"]["claude_monthly_usd"] == pytest.approx(users_days * sonnet_call)
    routed = d["mitigations"]["haiku_routing"]["claude_monthly_usd"]
    assert routed == pytest.approx(users_days * (0.5 * sonnet_call + 0.5 * haiku_call))


def test_default_capacity_flags_the_direct_db_connections(default_result):
    cap = default_result.data["capacity"]
    assert cap["db"]["client_connections"] == 5 * 50 and cap["db"]["server_limit"] == 100
    assert not cap["ok"] and any("postgres connections" in f for f in cap["flags"])
    assert all(v < 1 for v in cap["utilisation"].values())   # Claude Tier 4 limits carry the default


def test_pgbouncer_clears_the_db_flag_and_a_small_rate_limit_is_flagged(tiny):
    ok = run_cost(tiny(sets=("platform.db.pooler=pgbouncer",)), draws=0).data["capacity"]
    assert ok["ok"], ok["flags"]
    low = run_cost(tiny(sets=("platform.db.pooler=pgbouncer", "workload.dau=100000",
                             "platform.claude.rate_limits.rpm=50")),
                   draws=0).data["capacity"]
    assert not low["ok"] and low["flags"][0].startswith("claude requests_per_min")


def test_peak_requests_by_hand(tiny):
    # 1,000 users x 0.75 calls/day (25% content cache); busiest hour of the default profile has
    # 2.1 / 28.7 of the day's weight; no digests
    cap = run_cost(tiny(), draws=0).data["capacity"]
    expected = 750 * (2.1 / 28.7) / 60
    assert cap["peak"]["requests_per_min"] == pytest.approx(expected, rel=1e-9)
    # input TPM excludes prompt-cache reads: 10000 x (1 - 0.5 x 0.8) tokens per call
    assert cap["peak"]["input_tokens_per_min"] == pytest.approx(expected * 6000, rel=1e-9)
