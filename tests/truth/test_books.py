"""Nothing leaves the books without a reason: arrived/scheduled = completed/sent + failed (by reason)
+ in flight + missed, on scenarios that used to lose work (issue 15 items 2-4).

``summarize`` itself raises ``BooksDoNotBalance`` when they do not add up, so every scenario the suite
runs checks them; these tests pick the edges where work was dropped and check what it became.
"""

from __future__ import annotations

import copy
import math

import pytest
from botcap.sim.summary import BooksDoNotBalance, check_books
from truth_helpers import summary_of

EDGES = {
    "default": (),
    "8 instances, max_connections 100": ("platform.instances=8",),
    "scheduler concurrency 50": ("scheduler.concurrency=50",),
    "separate worker, window edge": ("scheduler.placement=separate",),
    "auto_shift cap 50": ("scheduler.cap_per_slot=50", "scheduler.policy=auto_shift"),
    "claude timeout 5 s": ("platform.claude.timeout_s=5",),
    "5-minute outage": ('platform.claude.faults.outages=[{start: "10:00", duration_s: 300}]',),
    "no lock": ("scheduler.lock=none",),
    "redis lock, polling": ("scheduler.lock=redis", "platform.mode=polling"),
}


def _balanced(d: dict, entered: str, done: str) -> None:
    assert d[entered] == d[done] + d["failed"] + d["in_flight"] + d["missed"]
    assert d["failed"] == sum(d["failed_by_reason"].values())


@pytest.mark.parametrize("sets", EDGES.values(), ids=EDGES.keys())
def test_books_balance_for_users_per_kind_and_digests(sets):
    s = summary_of(*sets)
    _balanced(s["requests"], "arrived", "completed")
    for d in s["requests_by_kind"].values():
        _balanced(d, "arrived", "completed")
    _balanced(s["digests"], "scheduled", "sent")
    assert s["digests"]["scheduled"] > 800 or "auto_shift" in str(sets)  # the burst is in the window
    assert s["digests"]["missed"] == 0 and s["requests"]["missed"] == 0


def test_refused_lock_queries_are_retried_not_dropped():
    # 8 pools of 20 against 100 connections: lock queries are refused (too_many_connections) and retried
    s = summary_of("platform.instances=8")
    d = s["digests"]
    assert s["db"]["too_many_connections"] > 1000 and d["lock_retries"] > 1000
    assert d["in_flight"] > 100 and d["waiting"] > 0  # unsent at the end: in flight, not vanished
    assert d["sent"] + d["in_flight"] == d["scheduled"]
    # and the verdict sees them: unsent digests are already 20 minutes late at the end
    assert d["lateness_censored_s"]["max_not_failed"] >= 1200.0 - 1e-6
    assert "digests.lateness_censored_s.max_not_failed" in {v["what"] for v in s["slo"]["violations"]}


def test_more_connections_send_every_digest():
    s = summary_of("platform.instances=8", "platform.db.max_connections=500")
    assert s["db"]["too_many_connections"] == 0 and s["digests"]["lock_retries"] == 0
    assert s["digests"]["sent"] == s["digests"]["scheduled"]


def test_jobs_waiting_at_the_horizon_are_in_flight_with_their_age():
    d = summary_of("scheduler.placement=separate")["digests"]
    assert d["waiting"] > 0 and d["in_flight"] >= d["waiting"]
    # a 10:00 digest still waiting at 10:20 is at least 1,200 s late; sent ones are earlier
    assert d["lateness_censored_s"]["max"] == pytest.approx(1200.0)
    assert d["lateness_s"]["max"] < 1200.0


def test_auto_shift_past_the_horizon_is_counted_and_its_lateness_bounded():
    d = summary_of("scheduler.cap_per_slot=50", "scheduler.policy=auto_shift")["digests"]
    assert d["shifted_past_horizon"] > 500  # the 10:00 crowd moved to slots after 10:20
    # moved hours later (50 a slot of 5 minutes): their planned lateness enters the censored max
    assert d["lateness_censored_s"]["max"] > 3600.0 > d["lateness_s"]["max"]


def test_timeouts_are_labelled_timeouts_and_categories_are_disjoint():
    s = summary_of("platform.claude.timeout_s=5")
    r = s["requests"]
    assert r["failed_by_reason"].get("claude_timeout", 0) > 50
    assert "claude_failed" not in r["failed_by_reason"]
    assert r["timed_out"] == sum(n for why, n in r["failed_by_reason"].items() if "timeout" in why)
    assert s["digests"]["failed_by_reason"].get("claude_timeout", 0) > 0


def test_the_books_check_refuses_a_summary_that_does_not_add_up():
    s = copy.deepcopy(summary_of())
    check_books(s)
    s["digests"]["in_flight"] -= 1
    with pytest.raises(BooksDoNotBalance, match="digests: scheduled"):
        check_books(s)
    s = copy.deepcopy(summary_of())
    s["requests"]["failed_by_reason"]["made_up"] = 1
    with pytest.raises(BooksDoNotBalance, match="failed_by_reason"):
        check_books(s)


def test_breaker_open_time_is_wall_clock_not_summed_over_instances():
    s = summary_of('platform.claude.faults.outages=[{start: "10:00", duration_s: 300}]')
    c = s["claude"]
    assert c["breaker_openings"] >= 5  # each of the 5 instances opens at least once
    assert sum(c["breaker_open_s_by_instance"]) > c["breaker_open_s"]
    # open from about 10:00 until about the outage's end plus a cool-down: not 5 x that
    assert 300.0 <= c["breaker_open_s"] <= 300.0 + 2 * 60.0 + 60.0
    assert not math.isnan(c["breaker_open_s"])


def test_per_instance_figures_show_what_the_average_hides():
    polling = summary_of("platform.mode=polling")["by_instance"]
    assert polling["requests"][0] > 0 and polling["requests"][1:] == [0, 0, 0, 0]  # one poller: instance 0
    assert polling["utilization"]["handlers"][0] > 0 and polling["utilization"]["handlers"][1:] == [0.0] * 4
    webhook = summary_of()["by_instance"]
    assert len(webhook["requests"]) == 5 and min(webhook["requests"]) > 0.1 * max(webhook["requests"])


def test_waits_say_how_many_waited_and_how_long_those_did():
    w = summary_of()["wait_s"]["claude_semaphore"]
    assert 0 < w["share_waited"] < 1
    # the p95 of those who waited is at least the p95 over everyone (most of whom never wait)
    assert w["p95_of_waiting"] >= w["p95"] and w["p95_of_waiting"] > 0
