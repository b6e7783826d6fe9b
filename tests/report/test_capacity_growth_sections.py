"""A1's capacity part and GROWTH as built (the quick report and the committed example): the SLO used is
the one the rule derives from A1's own rows, instances follow the capacity rule, and every growth level
says whether it was simulated or extrapolated (an extrapolated level is never judged)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from botcap.report.capacity import instances_needed, relaxed_limits
from botcap.scenario import load_scenario

EXAMPLE = Path(__file__).resolve().parents[2] / "reports" / "default" / "report.json"
SLO = load_scenario(None, []).slo


def _reports(quick_json):
    return [("quick", quick_json), ("example", json.loads(EXAMPLE.read_text(encoding="utf-8")))]


@pytest.mark.parametrize("which", ["quick", "example"])
def test_a1_capacity_uses_the_slo_its_rule_derives(quick_json, which):
    report = dict(_reports(quick_json))[which]
    a1 = report["sections"]["A1"]
    rows = a1["table"]["rows"]
    lowest = {
        k: min((r[f"p95_{k}_s"] for r in rows if r[f"p95_{k}_s"] is not None), default=None)
        for k in SLO.p95_s
    }
    expected = dict(SLO.p95_s) if any(r["slo_met"] for r in rows) else relaxed_limits(lowest, SLO.p95_s)
    assert a1["capacity"]["slo_p95_s_used"] == expected
    cap_table, need_table = a1["tables"]
    by_mode: dict = {}
    for r in cap_table["rows"]:
        by_mode.setdefault(r["mode"], {})[r["instances"]] = r["capacity_dau"]
        if r["capacity_dau"] is not None and r["failed_at_dau"] is not None:
            assert r["capacity_dau"] < r["failed_at_dau"]  # a bracket: met below, missed above
        assert r["binding"]  # what bounds it is named
    assert set(by_mode) == {"webhook", "polling"}
    for row in need_table["rows"]:
        for mode, caps in by_mode.items():
            assert (row[f"{mode}_instances"], row[f"{mode}_how"]) == instances_needed(caps, row["dau"])


@pytest.mark.parametrize("which", ["quick", "example"])
def test_growth_levels_say_how_they_were_obtained(quick_json, which):
    report = dict(_reports(quick_json))[which]
    rows = report["sections"]["GROWTH"]["table"]["rows"]
    assert [r["dau"] for r in rows][:2] == [1000, 10_000]
    assert rows[0]["how"].startswith("simulated")  # the first level is always simulated
    for r in rows:
        if r["how"] == "extrapolated":
            assert r["slo_met"] is None and r["simulated_replications"] == 0
            assert r["remark"].startswith("not simulated: estimated")
        elif r["how"] == "pre-screened (optimizer)":  # every configuration ruled out by the bounds
            assert r["slo_met"] is False and r["simulated_replications"] == 0
            assert r["monthly_cost_usd"] is None
            assert r["remark"].startswith("none of ") and "rule out every one (" in r["remark"]
        else:
            assert r["simulated_replications"] > 0
            # a simulated level either has a confirmed winner with a price, or says none met the SLO
            assert (r["slo_met"] is True and r["monthly_cost_usd"] > 0) or (
                r["slo_met"] is False and r["monthly_cost_usd"] is None
            )
    if which == "example":  # the committed example simulates up to 100K; at 1M no configuration of the
        # space can meet the SLO (Claude's token limits of the largest tier, Telegram's bot-wide sends)
        assert [r["how"] for r in rows] == ["simulated (optimizer)"] * 3 + ["pre-screened (optimizer)"]
        assert "rate_limit_itpm" in rows[3]["remark"] and "telegram_send" in rows[3]["remark"]
