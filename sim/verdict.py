"""THE SLO verdict: one plain function over a ``botcap sim run --json`` summary and the scenario's ``slo``.

Why apart from the summary builder: the sweeps, the optimiser and the capacity search judge summaries
they hold (even ones read back from JSON), so the judge must need nothing but the summary and the SLO.
It judges everything the summary counts (docs/outputs.md):

- users, per kind with an SLO: the CENSORED p95 (failures +inf, unfinished at their age), so a kind
  cannot "meet" its latency SLO because its slow requests failed; the error rate per kind and overall;
- digests: the share that failed, the censored max lateness of those not failed (in flight at the end
  at their age so far, moved past the horizon at their planned lateness), duplicates sent;
- no data is never a pass: a run where nothing arrived (no user message, no digest) is not met.

Keys (stable, read by H3's sweeps): ``{"met": bool, "violations": [{"what", "value", "limit",
"text"}], "not_judged": [str]}``; ``what`` is the summary key judged, ``value`` may be +inf (null in
JSON) and ``text`` is the line people read.
"""

from __future__ import annotations

import math

__all__ = ["slo_verdict"]


def _limits(slo) -> dict:
    return slo.model_dump() if hasattr(slo, "model_dump") else dict(slo)


def _fmt(x: float) -> str:
    return "inf" if x == math.inf else f"{x:.4g}"


def slo_verdict(summary: dict, slo) -> dict:
    """{"met", "violations", "not_judged"} of ``summary`` against ``slo`` (a ``Slo`` model or its dict)."""
    lim = _limits(slo)
    violations: list[dict] = []
    not_judged: list[str] = []

    def over(what: str, value: float, limit: float, unit: str = "", why: str = "") -> None:
        if value is None or (isinstance(value, float) and math.isnan(value)) or value > limit:
            value = math.nan if value is None else value
            text = f"{what}: {_fmt(value)}{unit} > {limit:g}{unit}" + (f" ({why})" if why else "")
            violations.append({"what": what, "value": value, "limit": limit, "text": text})

    req = summary["requests"]
    dg = summary.get("digests", {})
    if req["arrived"] == 0 and dg.get("scheduled", 0) == 0:
        violations.append({"what": "requests.arrived", "value": 0, "limit": 1,
                           "text": "requests.arrived: 0 and digests.scheduled: 0 (nothing to judge)"})
    censored = summary.get("latency_censored_by_kind_s", {})
    by_kind = summary.get("requests_by_kind", {})
    for kind, limit_s in sorted(lim.get("p95_s", {}).items()):
        stats = censored.get(kind)
        if stats is None or not stats.get("count"):
            not_judged.append(f"latency_censored_by_kind_s.{kind}.p95: no {kind} request arrived")
            continue
        share_failed = by_kind.get(kind, {}).get("error_rate", 0.0)
        over(f"latency_censored_by_kind_s.{kind}.p95", stats["p95"], limit_s, " s",
             f"{share_failed:.1%} failed" if stats["p95"] == math.inf else "")
    max_error = lim.get("max_error_rate", 1.0)
    for kind, k in sorted(by_kind.items()):
        if k.get("completed", 0) + k.get("failed", 0):
            over(f"requests_by_kind.{kind}.error_rate", k["error_rate"], max_error)
    if req["completed"] + req["failed"]:
        over("error_rate", summary["error_rate"], max_error)
    if dg.get("scheduled", 0):
        over("digests.failed_share", dg["failed"] / dg["scheduled"], lim.get("digest_max_failed_share", 0.01),
             "", f"{dg['failed']} of {dg['scheduled']} failed")
        late = dg.get("lateness_censored_s", {}).get("max_not_failed", math.nan)
        if late is not None and not (isinstance(late, float) and math.isnan(late)):
            over("digests.lateness_censored_s.max_not_failed", late,
                 lim.get("digest_max_lateness_s", math.inf), " s",
                 f"{dg['in_flight']} still unsent at the end" if dg.get("in_flight") else "")
    dups = dg.get("duplicate_sends", 0)
    if dups:
        over("digests.duplicate_sends", dups, lim.get("max_duplicate_sends", 0))
    return {"met": not violations, "violations": violations, "not_judged": not_judged}
