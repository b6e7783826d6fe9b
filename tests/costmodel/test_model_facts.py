"""Current models: legacy/retiring warnings, each model's minimum cacheable prefix, one digest a day."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pytest
from botcap.costmodel.model_facts import (
    OUTDATED,
    facts_document,
    min_cacheable_tokens,
    model_facts,
    model_warnings,
)
from botcap.costmodel.prices import load_price_book
from botcap.costmodel.result import run_cost
from botcap.costmodel.volumes import DIGEST_KIND, build_lines, cacheable_share

from botcap.cli import main
from botcap.scenario import load_scenario

PRICED_ON = "2026-11-01"   # as conftest.py: dated price variants cannot move the numbers


def _rates(scenario, api_model):
    return load_price_book(scenario.costs.prices, [api_model]).claude[api_model].rates_mtok_usd


# --- the data file and the default scenario ----------------------------------------------------
def test_every_outdated_model_names_a_current_replacement_priced_by_genai_prices(default_scenario):
    models = facts_document()["models"]
    for key, entry in models.items():
        if entry["status"] in OUTDATED:
            assert models[entry["replacement"]]["status"] == "active", key
            book = load_price_book(default_scenario.costs.prices, [entry["replacement"]])
            assert book.claude[entry["replacement"]].source.startswith("genai-prices"), key


def test_the_default_scenario_calls_only_active_models_and_warns_of_nothing(default_scenario):
    for spec in default_scenario.platform.claude.models.values():
        facts = model_facts(spec.api_model)
        assert facts is not None and facts.status == "active", spec.api_model
    assert model_warnings(default_scenario) == []


def test_a_dated_model_id_finds_its_models_entry():
    assert model_facts("claude-sonnet-4-5-20250929").key == "claude-sonnet-4-5"
    assert model_facts("claude-sonnet-5").key == "claude-sonnet-5"     # not claude-sonnet-5-5's prefix
    assert model_facts("claude-sonnet-5-5").key == "claude-sonnet-5-5"
    assert model_facts("claude-nope-9") is None
    assert min_cacheable_tokens("claude-nope-9") == facts_document()["default_min_cacheable_tokens"]


# --- the warning ---------------------------------------------------------------------------------
def test_a_legacy_model_gets_one_line_with_its_replacement_and_the_price_change(default_scenario):
    s = load_scenario(sets=["platform.claude.models.sonnet.api_model=claude-sonnet-4-6",
                            f"costs.prices.priced_on={PRICED_ON}"])
    lines = model_warnings(s)
    assert len(lines) == 1 and "\n" not in lines[0]
    line = lines[0]
    assert line.startswith("platform.claude.models.sonnet.api_model: claude-sonnet-4-6 is legacy")
    assert "current replacement claude-sonnet-5-5" in line
    old, new = _rates(s, "claude-sonnet-4-6"), _rates(s, "claude-sonnet-5-5")
    for key in ("input", "output"):
        assert f"${old[key]:.2f} -> ${new[key]:.2f} ({(new[key] - old[key]) / old[key]:+.0%})" in line


def test_a_deprecated_model_says_when_it_retires_and_once_past_that_it_is_retired():
    sets = ["platform.claude.models.sonnet.api_model=claude-sonnet-4-5-20250929"]
    before = model_warnings(load_scenario(sets=sets), today=date(2026, 11, 1))
    after = model_warnings(load_scenario(sets=sets), today=date(2026, 12, 1))
    retires = model_facts("claude-sonnet-4-5").retires
    assert f"is deprecated, retires {retires}" in before[0]
    assert f"is retired since {retires}" in after[0]


def test_validate_sim_and_cost_print_the_warning_on_stderr_and_in_json(capsys, tmp_path):
    legacy = ["--set", "platform.claude.models.haiku.api_model=claude-sonnet-4-6"]
    assert main(["scenario", "validate", *legacy, "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["warnings"] == [err.removeprefix("warning: ").rstrip("\n")]
    assert err.count("\n") == 1 and "models.haiku.api_model: claude-sonnet-4-6 is legacy" in err

    assert main(["cost", *legacy, "--draws", "0", "--json"]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)["warnings"]) == 1 and err.startswith("warning: ")

    assert main(["sim", "run", *legacy, "--json", "--hours", "0.05", "--replications", "1",
                 "--set", "workload.dau=50", "--set", "horizon.warmup_s=0",
                 "--out", str(tmp_path / "o")]) == 0
    out, err = capsys.readouterr()
    assert len(json.loads(out)["warnings"]) == 1 and "warning: " in err
    written = json.loads((tmp_path / "o" / "summary.json").read_text(encoding="utf-8"))
    assert written["warnings"] == json.loads(out)["warnings"]

    assert main(["scenario", "validate", "--json"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["warnings"] == [] and "warning" not in err


# --- the minimum cacheable prefix ----------------------------------------------------------------
def test_a_constant_prefix_is_cached_all_or_nothing_at_the_minimum():
    got = cacheable_share(np.array([4095.0, 4096.0, 10_000.0]), np.zeros(3), np.full(3, 4096.0))
    assert got.tolist() == [0.0, 1.0, 1.0]


@pytest.mark.parametrize("mean,cv", [(1050.0, 0.4), (4200.0, 0.4), (4096.0, 1.0), (20_000.0, 0.3)])
def test_a_varying_prefix_caches_the_share_of_tokens_in_long_enough_calls(mean, cv):
    rng = np.random.default_rng(7)
    sigma = np.sqrt(np.log1p(cv * cv))
    x = rng.lognormal(np.log(mean) - sigma * sigma / 2, sigma, 400_000)
    monte_carlo = x[x >= 4096].sum() / x.sum()
    got = float(cacheable_share(np.array([mean]), np.array([cv]), np.array([4096.0]))[0])
    assert got == pytest.approx(monte_carlo, abs=0.01)


def test_a_prefix_below_haikus_minimum_saves_nothing_and_sonnets_lower_minimum_caches_it(tiny):
    # 2,000 input tokens, half a prefix: 1,000 tokens, under Haiku 4.5's 4,096, over Sonnet 5.5's 512
    short = {"workload.kinds.chat_simple.input_tokens": 2000, "workload.kinds.chat_simple.model": "haiku"}
    cached = {"cached_share": 0.5, "hit_rate": 0.8, "ttl": "5m"}
    sets = tuple(f"{k}={v}" for k, v in short.items())
    with_cache = run_cost(tiny(sets=sets, prompt_cache=cached), draws=0).data
    without = run_cost(tiny(sets=sets, prompt_cache={}), draws=0).data
    assert min_cacheable_tokens("claude-haiku-4-5") > 1000
    assert with_cache["total"]["claude_monthly_usd"] == pytest.approx(without["total"]["claude_monthly_usd"],
                                                                      rel=1e-12)
    sonnet = ("workload.kinds.chat_simple.input_tokens=2000", "workload.kinds.chat_simple.model=sonnet")
    assert min_cacheable_tokens("claude-sonnet-5-5") <= 1000
    s_cache = run_cost(tiny(sets=sonnet, prompt_cache=cached, model_shares={}), draws=0).data
    s_none = run_cost(tiny(sets=sonnet, prompt_cache={}, model_shares={}), draws=0).data
    r = _rates(tiny(), "claude-sonnet-5-5")
    saving_per_call = 1000 * (r["input"] - 0.8 * r["cache_read"] - 0.2 * r["cache_write_5m"]) / 1e6
    saving = s_none["total"]["claude_monthly_usd"] - s_cache["total"]["claude_monthly_usd"]
    assert saving == pytest.approx(1000 * 30 * 0.75 * saving_per_call, rel=1e-9)


def test_the_default_prompt_cache_mitigation_counts_only_cacheable_prefixes(default_scenario, monkeypatch):
    import botcap.costmodel.volumes as volumes

    honest = run_cost(default_scenario, draws=0).data["mitigations"]["prompt_cache"]["monthly_saving_usd"]
    monkeypatch.setattr(volumes, "min_cacheable_tokens", lambda api_model: 0)
    naive = run_cost(default_scenario, draws=0).data["mitigations"]["prompt_cache"]["monthly_saving_usd"]
    assert 0 < honest < naive      # simple chats on Haiku (~1,050-token prefixes) cannot be cached


# --- digests and Stars ---------------------------------------------------------------------------
def test_a_digest_is_one_per_subscriber_per_day_on_every_tier(default_scenario):
    lines = build_lines(default_scenario, default_scenario.costs.tiers)
    share = default_scenario.workload.digests.subscribers_share
    mults = {t.usage_mult for t in default_scenario.costs.tiers.values()}
    assert len(mults) > 1          # the tiers do differ in usage, so scaling would show
    for i, kind in enumerate(lines.kind):
        if kind == DIGEST_KIND:
            assert lines.calls_per_user_day[i] == pytest.approx(share, rel=1e-12)


def test_break_even_in_stars_is_paying_users_times_their_stars(default_result):
    be = default_result.data["break_even"]
    tiers = default_result.data["tiers"]
    paying = {n: t for n, t in tiers.items() if t["price_stars"] > 0}
    stars_each = sum(t["users"] * t["price_stars"] for t in paying.values()) / sum(
        t["users"] for t in paying.values())       # subscription_days (30) vs month_days (30.4375)
    month = 30.4375 / 30
    assert be["stars_per_paying_user_month"] == pytest.approx(stars_each * month, rel=1e-9)
    assert be["stars_per_month"] == pytest.approx(be["paying_users"] * be["stars_per_paying_user_month"])
    revenue = sum(t["monthly_revenue_usd"] for t in tiers.values())
    assert be["current_stars_per_month"] * be["usd_per_star_net"] == pytest.approx(revenue, rel=1e-9)


# --- the data file refuses nonsense --------------------------------------------------------------
@pytest.mark.parametrize("entry,message", [
    ("{status: old, min_cacheable_tokens: 1024}", "status: must be one of"),
    ("{status: legacy, min_cacheable_tokens: 1024, replacement: claude-nope}", "replacement: must name"),
    ("{status: active, min_cacheable_tokens: -1}", "min_cacheable_tokens: must be a whole number"),
    ("{status: active, min_cacheable_tokens: 1.5}", "min_cacheable_tokens: must be a whole number"),
])
def test_a_broken_facts_file_is_refused_naming_the_entry(tmp_path, monkeypatch, entry, message):
    import botcap.costmodel.model_facts as mf

    f = tmp_path / "model_facts.yaml"
    f.write_text(f"as_of: '2026-11-30'\ndefault_min_cacheable_tokens: 1024\nmodels:\n  claude-x: {entry}\n")
    monkeypatch.setattr(mf, "FILE", f)
    mf.facts_document.cache_clear()
    try:
        with pytest.raises(ValueError, match=f"models.claude-x.{message}"):
            mf.facts_document()
    finally:
        monkeypatch.undo()
        mf.facts_document.cache_clear()


def test_an_unpriced_replacement_or_a_broken_price_file_still_gives_the_warning(tmp_path):
    bad = tmp_path / "prices.yaml"
    bad.write_text("claude:\n  claude-sonnet-4-6: {input_mtok_usd: -1}\n")
    s = load_scenario(sets=["platform.claude.models.sonnet.api_model=claude-sonnet-4-6",
                            f"costs.prices.override_file={bad}"])
    (line,) = model_warnings(s)
    assert "current replacement claude-sonnet-5-5: price difference unknown" in line


def test_the_sim_caches_no_prompt_shorter_than_the_models_minimum(capsys):
    # Haiku's prompts are 1,500 tokens (< 4,096): never cached; Sonnet's ~6,000 (> 512): half read
    assert main(["sim", "run", "--json", "--hours", "0.25", "--replications", "1",
                 "--set", "workload.dau=2000", "--set", "horizon.warmup_s=0", "--set", "horizon.start=12:00",
                 "--set", "workload.kinds.chat_simple.input_tokens=1500",
                 "--set", "platform.claude.prompt_cache_hit_rate=0.5"]) == 0
    tokens = json.loads(capsys.readouterr().out)["claude"]["tokens"]
    haiku, sonnet = tokens["haiku"], tokens["sonnet"]
    assert haiku["input"] > 0 and haiku["cache_read"] == haiku["cache_write"] == 0
    cached = sonnet["cache_read"] + sonnet["cache_write"]
    assert sonnet["cache_read"] > 0 and sonnet["cache_read"] / cached == pytest.approx(0.5, abs=0.01)
