"""Price sources: genai-prices (bundled, offline) agrees with the dated override file; precedence; errors."""

from __future__ import annotations

import sys
from datetime import date

import pytest
from botcap.costmodel.prices import (
    RATE_KEYS,
    GenaiPricesSource,
    OverrideSource,
    load_price_book,
    repo_override_document,
)

from botcap.errors import BadInput

PRICED_ON = date(2026, 11, 1)


def _sources():
    doc = repo_override_document()
    g = doc["genai_prices"]
    return GenaiPricesSource(PRICED_ON, g["as_of"], g["version"]), OverrideSource(doc, "repo file"), doc


@pytest.mark.parametrize("api_model", sorted(repo_override_document()["claude"]))
def test_genai_prices_matches_the_override_file_where_both_have_a_price(api_model):
    genai, repo, doc = _sources()
    g, o = genai.model_price(api_model), repo.model_price(api_model)
    assert g is not None and o is not None
    # a documented disagreement must still be one (else the note, and the exception, go)
    known = set(doc["claude"][api_model].get("disagrees_with_genai_prices", []))
    assert known <= set(RATE_KEYS)
    for key in RATE_KEYS:
        if key in known:
            assert g.rates_mtok_usd[key] != pytest.approx(o.rates_mtok_usd[key], rel=1e-12), key
            continue
        assert g.rates_mtok_usd[key] == pytest.approx(o.rates_mtok_usd[key], rel=1e-12), key
        assert g.batch_rates_mtok_usd[key] == pytest.approx(o.batch_rates_mtok_usd[key], rel=1e-12), key
    assert g.long_context_threshold_tokens == o.long_context_threshold_tokens
    if g.long_context_threshold_tokens:
        for key in RATE_KEYS:
            assert g.long_context_rates_mtok_usd[key] == pytest.approx(o.long_context_rates_mtok_usd[key])


def test_genai_prices_is_used_offline_and_dated():
    genai, _, doc = _sources()
    assert genai.as_of == doc["genai_prices"]["as_of"]
    assert genai.model_price("claude-haiku-4-5").source.startswith("genai-prices 0.2.3")
    # the updater (the only code that fetches) was never started
    up = sys.modules.get("genai_prices.update_prices")
    assert up is None or up._shared_updater.ref_count == 0
    from genai_prices import data_snapshot
    assert data_snapshot._custom_snapshot is None


def test_every_infrastructure_price_has_a_source_and_a_date():
    doc = repo_override_document()
    entries = [doc["railway"], doc["cloudflare_workers"]]
    entries += [v for v in doc["neon"].values() if isinstance(v, dict)]
    entries += list(doc["claude"].values())
    for e in entries:
        assert e["source"].startswith("https://") and len(e["as_of"]) == 10
        assert e["verified"] in ("assumed", "yes")


def test_user_override_file_wins_and_names_itself(default_scenario, tmp_path):
    f = tmp_path / "mine.yaml"
    f.write_text("claude:\n  claude-haiku-4-5: {input_mtok_usd: 0.8, output_mtok_usd: 4,"
                 " cache_read_mtok_usd: 0.08, cache_write_5m_mtok_usd: 1,"
                 " cache_write_1h_mtok_usd: 1.6, batch_discount: 0.5,"
                 " source: my invoice, as_of: '2026-11-20'}\n")
    spec = default_scenario.costs.prices.model_copy(update={"override_file": str(f)})
    book = load_price_book(spec, ["claude-haiku-4-5", "claude-sonnet-4-5"])
    assert book.claude["claude-haiku-4-5"].rates_mtok_usd["input"] == 0.8
    assert "mine.yaml" in book.claude["claude-haiku-4-5"].source
    assert book.claude["claude-sonnet-4-5"].source.startswith("genai-prices")
    assert "mine.yaml" in book.source


@pytest.mark.parametrize("entry, message", [
    ("{input_mtok_usd: -1}", "claude.claude-haiku-4-5.input_mtok_usd: must be a finite number >= 0 (got -1)"),
    ("{input_mtok_usd: 1, output_mtok_usd: 5, cache_read_mtok_usd: 0.1, cache_write_5m_mtok_usd: 1.25,"
     " cache_write_1h_mtok_usd: 2, batch_discount: 1.5}",
     "batch_discount: must be a finite number from 0 to 1.0 (got 1.5)"),
])
def test_bad_override_values_name_the_key(default_scenario, tmp_path, entry, message):
    f = tmp_path / "bad.yaml"
    f.write_text(f"claude:\n  claude-haiku-4-5: {entry}\n")
    spec = default_scenario.costs.prices.model_copy(update={"override_file": str(f)})
    with pytest.raises(BadInput) as e:
        load_price_book(spec, ["claude-haiku-4-5"])
    assert len(e.value.lines) == 1 and message in e.value.lines[0]


def test_a_model_no_source_prices_is_bad_input(default_scenario):
    with pytest.raises(BadInput) as e:
        load_price_book(default_scenario.costs.prices, ["claude-nope-9"])
    assert "api_model 'claude-nope-9'" in e.value.lines[0] and "claude-haiku-4-5" in e.value.lines[0]
