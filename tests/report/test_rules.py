"""The recommendation rules move when the numbers move across their thresholds (no simulation needed)."""

from __future__ import annotations

import math

import pytest

from botcap.report import rules
from botcap.report.fmt import format_value
from botcap.report.section import make_section
from botcap.report.sections_cost import _mix_shift
from botcap.scenario import load_scenario

SLO = load_scenario(None, []).slo  # p95 limits: command 1, note 1, chat_simple 5, chat_deep 15 s


def summary(
    p95: dict[str, float], *, met: bool = True, completed: int = 100, late_max: float = 10.0, violations=()
) -> dict:
    return {
        "requests": {"completed": completed},
        "latency_by_kind_s": {k: {"p95": v} for k, v in p95.items()},
        "digests": {"lateness_s": {"max": late_max}},
        "slo": {"met": met, "violations": list(violations)},
    }


def fast(chat_deep: float) -> dict:
    return summary({"command": 0.1, "note": 0.1, "chat_simple": 1.0, "chat_deep": chat_deep})


def test_fewest_meeting_follows_the_headroom_threshold():
    limit = SLO.p95_s["chat_deep"]
    at_edge = (1 - rules.HEADROOM) * limit
    # 3 instances just inside 70% of the limit: 3 is the answer
    assert rules.fewest_meeting([2, 3, 5], [fast(limit), fast(at_edge * 0.99), fast(1.0)], SLO) == 3
    # the same 3 instances just above 70%: the answer moves to 5
    assert rules.fewest_meeting([2, 3, 5], [fast(limit), fast(at_edge * 1.01), fast(1.0)], SLO) == 5
    # nothing within: None (never a made-up answer)
    assert rules.fewest_meeting([2, 3], [fast(limit), fast(limit)], SLO) is None


def test_verdict_is_the_simulators_and_no_data_never_passes():
    assert not rules.met(summary({"chat_deep": 1.0}, met=False))
    assert not rules.met(summary({"chat_deep": 1.0}, completed=0))
    assert rules.fewest_meeting([1], [summary({"chat_deep": 1.0}, met=False)], SLO) is None


def test_violations_read_strings_and_objects():
    s = summary(
        {},
        met=False,
        violations=[
            {
                "what": "digests.lateness_censored_s.max_not_failed",
                "value": 900.0,
                "limit": 300.0,
                "text": "digests.lateness_censored_s.max_not_failed: 900 s > 300 s",
            },
            {"what": "error_rate", "value": 0.2, "limit": 0.01},
            "latency_s.p95: 3 s > 1 s",
        ],
    )
    assert rules.violations(s) == [
        "digests.lateness_censored_s.max_not_failed: 900 s > 300 s",
        "error_rate: 0.2 > 0.01",
        "latency_s.p95: 3 s > 1 s",
    ]
    assert rules.violates(s, "digests")
    assert not rules.violates(summary({}, violations=[{"what": "error_rate"}]), "digests")


def test_pressure_is_the_worst_ratio():
    s = summary({"chat_deep": 30.0, "command": 0.5}, late_max=150.0)
    assert rules.pressure(s, SLO) == pytest.approx(2.0)
    s = summary({"chat_deep": 3.0}, late_max=900.0)
    assert rules.pressure(s, SLO) == pytest.approx(3.0)
    assert math.isnan(rules.pressure({"latency_by_kind_s": {}, "digests": {}}, SLO))


def test_near_best_moves_with_the_improvement():
    xs = [2, 3, 5, 8]
    assert rules.near_best(xs, [10.0, 5.0, 2.0, 1.97]) == 5  # 5 is within 5% of the best (1.97)
    assert rules.near_best(xs, [10.0, 5.0, 2.0, 1.8]) == 8  # 5 is 11% off: only 8 will do
    assert rules.near_best(xs, [9.8, 9.7, 9.7, 2.9]) == 8  # a flat stretch is not the end of the gains
    assert rules.near_best(xs, [1.0, 9.9, 2.0, 1.0]) == 2
    assert rules.near_best([], []) is None
    assert rules.near_best([1, 2], [math.nan, math.nan]) is None


def test_first_rise_finds_where_it_starts_to_matter():
    rtt = [10, 30, 60, 100, 150]
    assert rules.first_rise(rtt, [1.0, 1.01, 1.04, 1.049, 1.06]) == 150
    assert rules.first_rise(rtt, [1.0, 1.01, 1.06, 1.07, 1.09]) == 60
    assert rules.first_rise(rtt, [1.0, 1.0, 1.0, 1.0, 1.0]) is None


def test_cheapest_among_acceptable():
    rows = [
        {"name": "a", "usd": 10, "ok": False},
        {"name": "b", "usd": 20, "ok": True},
        {"name": "c", "usd": 30, "ok": True},
    ]
    assert rules.cheapest(rows, lambda r: r["ok"], "usd")["name"] == "b"
    rows[0]["ok"] = True
    assert rules.cheapest(rows, lambda r: r["ok"], "usd")["name"] == "a"
    assert rules.cheapest(rows, lambda r: False, "usd") is None


def test_price_for_margin_crosses_with_cost():
    # 0.01 USD per Star per month, 50% margin: cost 2.00 needs 400 Stars; a cent more needs 402
    assert rules.price_for_margin(2.00, 0.01, 0.5) == 400
    assert rules.price_for_margin(2.01, 0.01, 0.5) == 402
    assert rules.price_for_margin(2.00, 0.01, 0.0) == 200
    with pytest.raises(ValueError, match="target_margin"):
        rules.price_for_margin(2.0, 0.01, 1.0)
    with pytest.raises(ValueError, match="revenue_usd_per_star"):
        rules.price_for_margin(2.0, 0.0, 0.5)


def test_within_claim_tolerance():
    assert rules.within(5_000 * 1.25, 5_000, 0.25)
    assert not rules.within(5_000 * 1.26, 5_000, 0.25)


def test_mix_shift_keeps_the_mix_a_distribution():
    base = load_scenario(None, [])
    sets = _mix_shift(base, {("chat_deep", "chat_simple"): 0.5})
    mix = {s.split("=")[0].split(".")[-1]: float(s.split("=")[1]) for s in sets}
    assert sum(mix.values()) == pytest.approx(1.0)
    assert mix["chat_deep"] == pytest.approx(base.workload.mix["chat_deep"] / 2)


def test_format_value_is_stable_and_rejects_unknown_formats():
    assert format_value(1234.4, "usd") == "$1,234"
    assert format_value(0.0123, "usd") == "$0.0123"
    assert format_value(0.0, "usd") == "$0.00" and format_value(-0.5, "usd") == "-$0.5000"
    assert format_value(0.4567, "pct") == "45.7%"
    assert format_value(12345.6, "int") == "12,346"
    assert format_value(None, "num") == "–" and format_value(float("nan"), "s") == "–"
    assert format_value(True, "bool") == "yes"
    with pytest.raises(ValueError, match="fmt"):
        format_value(1, "money")


def test_a_section_refuses_a_recommendation_without_its_numbers():
    with pytest.raises(ValueError, match="without a value"):
        make_section(
            "X",
            "t",
            question="q",
            rule="r",
            variants=[],
            columns=[],
            rows=[],
            recommendation="use {n} instances",
            values={},
            value_fmt={},
        )


def _fault_rows(on_attempts, off_attempts, on_err=0.05, off_err=0.05, on_error="none", off_error="none"):
    return [
        {
            "fault": "f",
            "breaker": "breaker",
            "attempts": on_attempts,
            "error_rate": on_err,
            "sim_error": on_error,
        },
        {
            "fault": "f",
            "breaker": "no breaker",
            "attempts": off_attempts,
            "error_rate": off_err,
            "sim_error": off_error,
        },
    ]


def test_breaker_rule_crosses_its_thresholds():
    from botcap.report.sections_faults import _breaker_pays

    assert _breaker_pays(_fault_rows(790, 1000), "f")  # 21% fewer attempts
    assert not _breaker_pays(_fault_rows(810, 1000), "f")  # 19%: not enough
    assert not _breaker_pays(_fault_rows(500, 1000, on_err=0.08, off_err=0.05), "f")  # 3 points more errors
    assert _breaker_pays(_fault_rows(500, 1000, on_err=0.069, off_err=0.05), "f")  # 1.9 points: tolerated
    # a failed simulation is no evidence: zero attempts there must not look like a saving
    assert not _breaker_pays(_fault_rows(0, 1000, on_error="simulation failed: RecursionError"), "f")


def test_a_failed_variant_is_kept_as_no_data():
    from botcap.report.common import slo_row
    from botcap.report.variants import failed_summary

    s = failed_summary(RecursionError("maximum recursion depth exceeded"))
    assert not rules.met(s)
    row = slo_row(s, SLO)
    assert row["slo_met"] is False and row["sim_error"].startswith("simulation failed: RecursionError")
    assert row["p95_chat_deep_s"] is None
    assert rules.fewest_meeting([1], [s], SLO) is None


def test_a_section_the_scenario_cannot_answer_says_so():
    from botcap.report.build import failed_section

    sec = failed_section("B6", ValueError("B6: the scenario has no tier named T3 (costs.tiers)"))
    assert sec["table"]["rows"] == [] and sec["recommendation"]["values"]["error"].startswith(
        "ValueError: B6"
    )
