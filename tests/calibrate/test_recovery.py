"""Synthetic bundles from a known scenario: calibration gives its parameters back.

Tolerances are stated per parameter: ~300-1600 samples per stage, so means within 5-10% and cvs
within 15-20% (a few standard errors; the seeds are fixed, so these are exact re-runs, not flakes).
"""

from __future__ import annotations

import pytest
from botcap.sim.calibrate.bundles import read_bundles
from botcap.sim.calibrate.stages import MAX_TOKENS_PER_S, apply_patch, fit_stages, stage_rows


@pytest.fixture(scope="module")
def fitted(ladder_bundle):
    bundles = read_bundles([ladder_bundle])
    return fit_stages(stage_rows(bundles, bundles[0].levels), bundles[0].scenario)


@pytest.mark.parametrize("kind", ["command", "chat_simple", "chat_deep"])
def test_service_time_per_kind(fitted, truth, kind):
    f = fitted.fits[f"kinds.{kind}.service_s"]
    want = truth.workload.kinds[kind].service_s
    assert f.dist.mean == pytest.approx(want.mean, rel=0.08)
    assert f.dist.cv == pytest.approx(want.cv, rel=0.2)


def test_db_query_time_with_cv_scaled_back_to_one_query(fitted, truth):
    f = fitted.fits["db.query_s"]
    want = truth.platform.db.query_s
    assert f.dist.mean == pytest.approx(want.mean, rel=0.05)
    assert f.dist.cv == pytest.approx(want.cv, rel=0.15)                   # 1.0 for one query
    assert f.gof["cv_of_per_query_mean"] < 0.75                             # what the sums alone show


@pytest.mark.parametrize("model", ["haiku", "sonnet"])
def test_claude_ttft_and_tokens_per_second_by_regression(fitted, truth, model):
    m = truth.platform.claude.models[model]
    f = fitted.fits[f"claude.{model}.ttft_s"]
    reg = fitted.regressions[f"claude.{model}.output_tokens_per_s"]
    assert reg["params"]["tokens_per_s"] == pytest.approx(m.output_tokens_per_s, rel=0.03)
    assert reg["gof"]["value"] > 0.9                                        # R² of the line
    assert f.dist.mean == pytest.approx(m.ttft_s.mean, rel=0.05)
    assert f.dist.cv == pytest.approx(m.ttft_s.cv, rel=0.2)


def test_mcp_and_telegram(fitted, truth):
    mcp = fitted.fits["mcp.latency_s"]
    assert mcp.dist.mean == pytest.approx(truth.platform.mcp.latency_s.mean, rel=0.07)
    assert mcp.dist.cv == pytest.approx(truth.platform.mcp.latency_s.cv, rel=0.2)
    assert fitted.patch["platform"]["network_rtt_s"]["telegram"] == pytest.approx(0.01, rel=1e-9)
    assert fitted.patch["platform"]["network_rtt_s"]["claude"] == 0.0


def test_patch_enters_kinds_and_models_without_replacing_them(fitted, truth):
    doc = apply_patch(truth.model_dump(mode="json"), fitted.patch)
    assert doc["workload"]["kinds"]["chat_deep"]["mcp_calls"] == 1          # untouched keys survive
    assert doc["platform"]["claude"]["models"]["sonnet"]["api_model"] == "claude-sonnet-4-6"


def test_without_token_counts_the_whole_call_is_ttft_and_flagged(no_tokens_bundle):
    bundles = read_bundles([no_tokens_bundle])
    rows = stage_rows(bundles, bundles[0].levels)
    fitted = fit_stages(rows, bundles[0].scenario)
    assert fitted.patch["platform"]["claude"]["models"]["sonnet"]["output_tokens_per_s"] == MAX_TOKENS_PER_S
    first_ok = rows["ok"] & (rows["claude_attempts"] == 1)
    calls = rows.loc[(rows["kind"] == "chat_deep") & first_ok, "claude_call_s"]
    assert fitted.fits["claude.sonnet.ttft_s"].dist.mean == pytest.approx(calls.mean(), rel=0.03)
    assert any("no per-call output tokens" in n for n in fitted.notes)
