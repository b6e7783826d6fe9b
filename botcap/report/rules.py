"""The rules that turn numbers into recommendations: small pure functions, one per kind of choice.

Why apart from the sections: a recommendation must follow the numbers, and a test must be able to
move one number across a rule's threshold and see the answer change without running a simulation.
Every SLO judgement reads the simulator's own verdict (``summary["slo"]``, built by
``botcap.sim.summary``): these rules never judge the SLO a second time, they only add headroom,
ordering and cost on top of it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

__all__ = [
    "HEADROOM",
    "met",
    "violations",
    "violates",
    "pressure",
    "fewest_meeting",
    "near_best",
    "first_rise",
    "cheapest",
    "price_for_margin",
    "within",
]

HEADROOM = 0.30
"""Share of each SLO limit kept free: a variant qualifies when every p95 <= 70% of its limit."""


def met(summary: dict) -> bool:
    """The simulator's SLO verdict; nothing completed is never a pass."""
    if summary.get("requests", {}).get("completed", 0) == 0:
        return False
    return bool(summary.get("slo", {}).get("met", False))


def violations(summary: dict) -> list[str]:
    """The verdict's violations as text (plain strings, or objects naming ``what``)."""
    out = []
    for v in summary.get("slo", {}).get("violations", []):
        if isinstance(v, dict):
            what, value, limit = v.get("what", "?"), v.get("value"), v.get("limit")
            if v.get("text"):
                out.append(str(v["text"]))
            elif isinstance(value, int | float) and isinstance(limit, int | float):
                out.append(f"{what}: {value:.4g} > {limit:g}")
            else:
                out.append(str(what))
        else:
            out.append(str(v))
    return out


def violates(summary: dict, prefix: str) -> bool:
    """Whether the verdict names a violation of ``prefix`` (e.g. ``digests.lateness_s``)."""
    whats = [
        v.get("what", "") if isinstance(v, dict) else str(v)
        for v in summary.get("slo", {}).get("violations", [])
    ]
    return any(w.startswith(prefix) for w in whats)


def pressure(summary: dict, slo) -> float:
    """The largest ratio of a measured p95 (or the digest lateness max) to its SLO limit.

    Not a verdict: a scale for plots and for "how far from the limit", 1.0 being the limit itself.
    """
    ratios = []
    for kind, limit in slo.p95_s.items():
        p95 = summary.get("latency_by_kind_s", {}).get(kind, {}).get("p95")
        if isinstance(p95, int | float) and math.isfinite(p95):
            ratios.append(p95 / limit)
    late = summary.get("digests", {}).get("lateness_s", {}).get("max")
    if isinstance(late, int | float) and math.isfinite(late) and slo.digest_max_lateness_s > 0:
        ratios.append(late / slo.digest_max_lateness_s)
    return max(ratios) if ratios else math.nan


def with_headroom(summary: dict, slo, headroom: float = HEADROOM) -> bool:
    """Verdict met AND every kind's p95 at most (1 - headroom) of its limit."""
    if not met(summary):
        return False
    for kind, limit in slo.p95_s.items():
        p95 = summary.get("latency_by_kind_s", {}).get(kind, {}).get("p95")
        if isinstance(p95, int | float) and math.isfinite(p95) and p95 > (1 - headroom) * limit:
            return False
    return True


def fewest_meeting(
    counts: Sequence[int], summaries: Sequence[dict], slo, headroom: float = HEADROOM
) -> int | None:
    """The smallest count whose run meets the SLO with ``headroom``; None when none does."""
    for n, s in sorted(zip(counts, summaries, strict=True), key=lambda p: p[0]):
        if with_headroom(s, slo, headroom):
            return n
    return None


def near_best(xs: Sequence[float], ys: Sequence[float], rel: float = 0.05) -> float | None:
    """The smallest x whose y (lower is better) is within ``rel`` of the lowest y seen: where more
    stops helping. None when no y is finite."""
    pairs = sorted(
        (x, y) for x, y in zip(xs, ys, strict=True) if isinstance(y, int | float) and math.isfinite(y)
    )
    if not pairs:
        return None
    best = min(y for _, y in pairs)
    return next(x for x, y in pairs if y <= best * (1 + rel))


def first_rise(xs: Sequence[float], ys: Sequence[float], rel: float = 0.05) -> float | None:
    """The smallest x whose y exceeds y at the smallest x by more than ``rel``; None if none does."""
    pairs = sorted((x, y) for x, y in zip(xs, ys, strict=True) if math.isfinite(y))
    if not pairs:
        return None
    base = pairs[0][1]
    for x, y in pairs[1:]:
        if y > base * (1 + rel):
            return x
    return None


def cheapest(rows: Sequence[dict], ok: Callable[[dict], bool], cost_key: str) -> dict | None:
    """The row with the lowest ``cost_key`` among those ``ok`` accepts (first one on a tie)."""
    good = [r for r in rows if ok(r) and isinstance(r.get(cost_key), int | float)]
    return min(good, key=lambda r: r[cost_key]) if good else None


def price_for_margin(cost_per_user_usd: float, revenue_usd_per_star: float, target_margin: float) -> float:
    """Whole Stars per month at which revenue leaves ``target_margin`` of it after the cost.

    revenue_usd_per_star is what one Star of the tier's price brings in per user-month after
    Telegram's payout rate and refunds (the cost model's revenue / price); margin = 1 - cost/revenue.
    """
    if not 0 <= target_margin < 1:
        raise ValueError(f"target_margin: must be in [0, 1) (got {target_margin})")
    if revenue_usd_per_star <= 0:
        raise ValueError(f"revenue_usd_per_star: must be > 0 (got {revenue_usd_per_star})")
    return float(math.ceil(cost_per_user_usd / (1 - target_margin) / revenue_usd_per_star))


def within(value: float, claim: float, tolerance: float) -> bool:
    """Whether ``value`` is within ``tolerance`` (a share) of ``claim``."""
    return abs(value - claim) <= tolerance * abs(claim)
