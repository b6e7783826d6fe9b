"""Hostile price-override files (costs.prices.override_file): exit 2, one line naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_helpers import BILLION_LAUGHS, snapshot

HAIKU = {"input_mtok_usd": "1", "output_mtok_usd": "5", "cache_read_mtok_usd": "0.1",
         "cache_write_5m_mtok_usd": "1.25", "cache_write_1h_mtok_usd": "2", "batch_discount": "0.5",
         "as_of": "'2026-01-01'"}


def haiku(**changes: str) -> str:
    """A Claude override file for claude-haiku-4-5 with some values replaced (or added)."""
    entry = {**HAIKU, **changes}
    return "claude:\n  claude-haiku-4-5: {" + ", ".join(f"{k}: {v}" for k, v in entry.items()) + "}\n"


CU = "neon:\n  launch:\n    compute_cu_hour_usd: {}\n"
BAD_OVERRIDES = {
    "entry_is_text": ("claude:\n  claude-haiku-4-5: cheap\n", ("claude.claude-haiku-4-5", "mapping")),
    "entry_is_list": ("claude:\n  claude-haiku-4-5: [1, 2]\n", ("claude.claude-haiku-4-5", "mapping")),
    "claude_is_list": ("claude: [1]\n", ("claude", "mapping")),
    "rate_negative": (haiku(input_mtok_usd="-1"), ("claude.claude-haiku-4-5.input_mtok_usd", ">= 0")),
    "rate_inf": (haiku(output_mtok_usd=".inf"), ("output_mtok_usd", "finite")),
    "rate_text": (haiku(output_mtok_usd="x"), ("output_mtok_usd",)),
    "rate_missing": ("claude:\n  claude-haiku-4-5: {input_mtok_usd: 1}\n", ("output_mtok_usd",)),
    "claude_unknown_key": (haiku(colour="red"), ("claude.claude-haiku-4-5.colour", "unknown key")),
    "bad_date": (haiku(as_of="yesterday"), ("as_of", "YYYY-MM-DD")),
    "long_context_mult_text": (haiku(long_context_mult="lots"), ("long_context_mult",)),
    "threshold_negative": (haiku(long_context_threshold_tokens="-5"), ("long_context_threshold_tokens",)),
    "cu_hour_cheap": (CU.format("cheap"), ("neon.launch.compute_cu_hour_usd", "finite number")),
    "cu_hour_null": (CU.format("null"), ("neon.launch.compute_cu_hour_usd",)),
    "cu_hour_negative": (CU.format("-0.1"), ("compute_cu_hour_usd", ">= 0")),
    "cu_hour_bool": (CU.format("true"), ("compute_cu_hour_usd",)),
    "cu_hour_inf": (CU.format(".inf"), ("compute_cu_hour_usd", "finite")),
    "unknown_top_key": ("aws:\n  ec2: 1\n", ("aws", "unknown key")),
    "unknown_plan": ("neon:\n  lunch:\n    compute_cu_hour_usd: 0.1\n", ("neon.lunch", "unknown key")),
    "unknown_price_key": ("railway:\n  gpu_minute_usd: 1\n", ("railway.gpu_minute_usd", "unknown key")),
    "plan_is_number": ("neon:\n  launch: 5\n", ("neon.launch", "mapping")),
    "vendor_is_text": ("cloudflare_workers: free\n", ("cloudflare_workers", "mapping")),
    "duplicate_key": ("neon:\n  launch: {}\nneon:\n  scale: {}\n", ("duplicate key 'neon'",)),
    "billion_laughs": (BILLION_LAUGHS, ("too large",)),
    "top_level_list": ("- 1\n", ("must be a YAML mapping",)),
}


@pytest.mark.parametrize("case", sorted(BAD_OVERRIDES))
def test_bad_override_file(cli, tmp_path: Path, case: str):
    text, words = BAD_OVERRIDES[case]
    f = tmp_path / "prices.yaml"
    f.write_text(text)
    before = snapshot(tmp_path)
    cli.bad("cost", "--draws", "0", "--set", f"costs.prices.override_file={f}",
            names=("costs.prices.override_file", *words))
    assert snapshot(tmp_path) == before


def test_override_file_that_is_a_device(cli):
    cli.bad("cost", "--draws", "0", "--set", "costs.prices.override_file=/dev/zero",
            names=("costs.prices.override_file", "not a regular file"))


def test_a_good_override_is_used(cli, tmp_path: Path):
    f = tmp_path / "prices.yaml"
    f.write_text("neon:\n  launch:\n    compute_cu_hour_usd: 0.2\n")
    r = cli.run("cost", "--draws", "0", "--set", f"costs.prices.override_file={f}", "--json")
    assert r.code == 0, r.err


@pytest.mark.parametrize("assignment, words", [
    ("costs.tiers.free.price_stars=1e308", ("costs.tiers.free.price_stars", "<=")),
    ("costs.tiers.free.price_stars=.inf", ("costs.tiers.free.price_stars", "finite")),
    ("costs.tiers.free.usage_mult=1e300", ("costs.tiers.free.usage_mult", "<=")),
    ("costs.revenue.payout_usd_per_star=.nan", ("costs.revenue.payout_usd_per_star", "finite")),
])
def test_overflowing_cost_inputs(cli, assignment, words):
    cli.bad("cost", "--draws", "0", "--set", assignment, names=words)
