"""More capacity never makes the honest metrics clearly worse on the same seed, unless the output
names the mechanism (issue 15: the monotonicity suite).

Each capacity knob is run at a low and a high value in the short 10:00-burst window (tests/truth
conftest). The honest metrics are the ones failures cannot flatter: per kind the censored p95 (failures
+inf, unfinished at their age), the users' error rate, the digests' failed share and censored lateness
(p95 and the max of those not failed). "Clearly worse": p95 up by more than 25% + 1 s, a rate or share
up by more than 0.02, a lateness up by more than 25% + 60 s. A knob may make a metric worse only through
a mechanism listed for it here, and ``summary["mechanisms"]`` must then name it with a larger count than
at the low value (e.g. 8 pools against max_connections 100: refused connections; a bigger slot cap:
more digests written in the window, sharing Claude with the users).
"""

from __future__ import annotations

import math

import pytest
from truth_helpers import summary_of

LOW_LIMITS = "platform.claude.rate_limits={rpm: 60, itpm: 30000, otpm: 6000}"
HIGH_LIMITS = "platform.claude.rate_limits={rpm: 600, itpm: 300000, otpm: 60000}"
# knob -> (sets at low capacity, sets at high capacity, mechanisms that may explain a worse metric)
KNOBS = {
    "instances": (("platform.instances=5",), ("platform.instances=8",), {"db.too_many_connections"}),
    "handlers": (("platform.handlers_per_instance=2",), ("platform.handlers_per_instance=100",), set()),
    "pool size": (("platform.db.pool_size_per_instance=1",), ("platform.db.pool_size_per_instance=50",),
                  {"db.too_many_connections"}),
    "max_connections": (("platform.db.max_connections=20",), ("platform.db.max_connections=100",), set()),
    "claude semaphore": (("platform.claude.concurrency_per_instance=2",),
                         ("platform.claude.concurrency_per_instance=10",), {"claude.http_429"}),
    "rate limits": ((LOW_LIMITS,), (HIGH_LIMITS,), set()),
    "scheduler concurrency": (("scheduler.concurrency=20",), ("scheduler.concurrency=50",),
                              {"db.too_many_connections"}),
    "slot cap": (("scheduler.policy=auto_shift", "scheduler.cap_per_slot=100"),
                 ("scheduler.policy=auto_shift", "scheduler.cap_per_slot=400"), {"digests.sent"}),
}


def honest_metrics(s: dict) -> dict[str, tuple[float, str]]:
    """name -> (value, scale): "p95", "share" or "lateness" (how "clearly worse" is judged)."""
    out = {f"latency_censored_by_kind_s.{k}.p95": (v["p95"], "p95")
           for k, v in s["latency_censored_by_kind_s"].items()}
    out["error_rate"] = (s["error_rate"], "share")
    d = s["digests"]
    out["digests.failed_share"] = (d["failed"] / d["scheduled"] if d["scheduled"] else 0.0, "share")
    out["digests.lateness_censored_s.p95"] = (d["lateness_censored_s"]["p95"], "lateness")
    late = d["lateness_censored_s"]
    out["digests.lateness_censored_s.max_not_failed"] = (late["max_not_failed"], "lateness")
    return out


def clearly_worse(lo: float, hi: float, scale: str) -> bool:
    if math.isnan(hi) or math.isnan(lo):
        return False  # nothing to compare (e.g. no digest not failed)
    if hi == math.inf:
        return lo != math.inf
    if scale == "share":
        return hi > lo + 0.02
    return hi > lo * 1.25 + (1.0 if scale == "p95" else 60.0)


def _counts(s: dict) -> dict[str, int]:
    return {m["what"]: m["count"] for m in s["mechanisms"]}


@pytest.mark.parametrize("knob", KNOBS)
def test_more_capacity_is_never_clearly_worse_without_a_named_mechanism(knob):
    low_sets, high_sets, allowed = KNOBS[knob]
    lo, hi = summary_of(*low_sets), summary_of(*high_sets)
    m_lo, m_hi = honest_metrics(lo), honest_metrics(hi)
    worse = sorted(name for name, (v, scale) in m_hi.items()
                   if name in m_lo and clearly_worse(m_lo[name][0], v, scale))
    if worse:
        c_lo, c_hi = _counts(lo), _counts(hi)
        named = {what for what in allowed if c_hi.get(what, 0) > c_lo.get(what, 0)}
        assert named, (f"{knob}: more capacity made {worse} clearly worse and the output names no "
                       f"mechanism for it; low {c_lo}, high {c_hi}")
        for m in hi["mechanisms"]:
            if m["what"] in named:
                assert m["text"].endswith(f": {m['count']:,}")


def test_the_known_inversions_are_named():
    # 8 instances x (pool + 20 lock queries) against 100 connections: digests starve, and the output
    # says why
    hi = summary_of("platform.instances=8")
    (refused,) = [m for m in hi["mechanisms"] if m["what"] == "db.too_many_connections"]
    assert refused["count"] > 1000
    assert "8 pools x 50" in refused["text"] and "max_connections 100" in refused["text"]
    # a bigger slot cap helps the digests and costs the users' chat latency: both visible
    lo_cap = summary_of("scheduler.policy=auto_shift", "scheduler.cap_per_slot=100")
    hi_cap = summary_of("scheduler.policy=auto_shift", "scheduler.cap_per_slot=400")
    assert hi_cap["digests"]["lateness_censored_s"]["p95"] < lo_cap["digests"]["lateness_censored_s"]["p95"]
    assert _counts(hi_cap)["digests.sent"] > _counts(lo_cap)["digests.sent"]
