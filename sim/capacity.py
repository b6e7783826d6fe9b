"""The largest load that still meets the scenario's SLO: a bracketing bisection over one knob.

Why bisection with common random numbers: each evaluation is a full simulation, so the search must
use few of them (about log2(range / tolerance)), and every evaluation uses the same seeds, so that
two neighbouring loads see the same random draws and "met" flips once, not back and forth by noise.
The knob is ``workload.dau`` for diurnal scenarios and ``workload.arrivals.rate_per_s`` for
constant-rate ones (any numeric dotted path may be given).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import reduce

from botcap.sim.runner import check_options, run
from botcap.sim.summary import summarize

from botcap.errors import BadInput
from botcap.provenance import calibration_facts
from botcap.scenario import Scenario, apply_set
from botcap.scenario.loader import validate

__all__ = ["default_knob", "find_capacity"]

KNOB_BOUNDS = {"workload.dau": (1, 100_000_000), "workload.arrivals.rate_per_s": (1e-6, 1e6)}
MAX_EVALUATIONS = 60


def default_knob(scenario: Scenario) -> str:
    """The load knob of a scenario: the constant rate in poisson mode, else daily active users."""
    poisson = scenario.workload.arrivals.process == "poisson"
    return "workload.arrivals.rate_per_s" if poisson else "workload.dau"


def _value(scenario: Scenario, knob: str):
    try:
        value = reduce(getattr, knob.split("."), scenario)
    except AttributeError:
        value = None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadInput(f"--knob: must be a numeric scenario key such as workload.dau (got {knob!r})")
    return value


def with_value(scenario: Scenario, knob: str, value) -> Scenario:
    """The scenario with ``knob`` set to ``value`` (validated like --set)."""
    doc = scenario.model_dump(mode="json")
    apply_set(doc, f"{knob}={value!r}")
    return validate(doc)


def _texts(violations) -> list[str]:
    """The verdict's violations as the lines people read (the verdict gives {what, value, limit, text})."""
    return [v["text"] if isinstance(v, dict) else str(v) for v in violations]


def arrivals_per_s(scenario: Scenario, knob: str, value) -> dict | None:
    """User messages per second at ``knob = value``: the day's mean and the busiest hour's."""
    wl = scenario.workload
    if knob == "workload.arrivals.rate_per_s":
        return {"mean": float(value), "peak_hour": float(value)}
    if knob != "workload.dau" or value is None:
        return None
    w = wl.arrivals.hourly_weights
    if wl.arrivals.process == "poisson":
        return {"mean": wl.arrivals.rate_per_s, "peak_hour": wl.arrivals.rate_per_s}
    mean = value * wl.sessions_per_user * wl.messages_per_session / 86_400.0
    return {"mean": mean, "peak_hour": mean * max(w) / (sum(w) / len(w))}


def _uncertainty(scenario: Scenario, knob: str, lo, hi, summaries: dict, replications: int | None) -> dict:
    """How sure the answer is: the final bracket (met at ``lo``, missed at ``hi``, same seeds), its width,
    the replications behind each run, and the 95% CIs across replications of the p95 per kind at both
    ends (from each summary's ``ci95``; absent with one replication). In DAU and in arrivals per second.
    """
    reps = scenario.horizon.replications if replications is None else replications

    def ends(value) -> dict | None:
        s = summaries.get(value)
        if s is None:
            return None
        ci = {k: v for k, v in s.get("ci95", {}).items() if k.startswith("latency_by_kind_s.")}
        return {"value": value, "arrivals_per_s": arrivals_per_s(scenario, knob, value),
                "met": s["slo"]["met"],
                "p95_by_kind_s": {k: d.get("p95") for k, d in s["latency_by_kind_s"].items()},
                "ci95_p95_by_kind_s": ci}

    width = (hi / lo - 1) if lo and hi else None
    a, b = ends(lo), ends(hi)
    return {"replications": reps, "bracket": [lo, hi], "bracket_rel_width": width,
            "at_capacity": a, "at_failed": b, "capacity_ci95": _capacity_ci(scenario, a, b),
            "note": "the answer lies in [capacity, failed_at) for these seeds; capacity_ci95 widens it by "
                    "the 95% CI of the binding kind's p95 divided by that p95's slope between the two ends "
                    "(a linear approximation; null with one replication)"}


def _capacity_ci(scenario: Scenario, a: dict | None, b: dict | None) -> list | None:
    """[lo, hi] of the capacity from the binding kind's p95 CI and its slope across the bracket."""
    if not a or not b or b["value"] == a["value"]:
        return None
    limits = scenario.slo.p95_s
    ratios = {k: (a["p95_by_kind_s"].get(k) or 0) / lim for k, lim in limits.items()
              if a["p95_by_kind_s"].get(k) is not None}
    if not ratios:
        return None
    kind = max(ratios, key=ratios.get)
    ci = a["ci95_p95_by_kind_s"].get(f"latency_by_kind_s.{kind}.p95")
    p_lo, p_hi = a["p95_by_kind_s"].get(kind), b["p95_by_kind_s"].get(kind)
    if not ci or p_lo is None or p_hi is None or not all(map(math.isfinite, [*ci, p_lo, p_hi])) \
            or p_hi <= p_lo:
        return None
    slope = (p_hi - p_lo) / (b["value"] - a["value"])
    half = (ci[1] - ci[0]) / 2 / slope
    return [max(0.0, a["value"] - half), a["value"] + half]


def find_capacity(scenario: Scenario, *, knob: str | None = None, seed: int | None = None,
                  replications: int | None = None, hours: float | None = None, rel_tol: float = 0.02,
                  progress: Callable[[str], None] | None = None) -> dict:
    """Bracket then bisect (geometrically) the largest ``knob`` value whose run meets the SLO.

    Returns {"knob", "capacity" (None when even the smallest value fails; the upper bound when even
    that meets it), "failed_at" (the smallest value seen to fail, None if none), "rel_tol",
    "evaluations": [{"value", "met", "violations", "p95_s"}] in run order, "summary" (at the capacity)},
    plus "calibration" (``botcap.provenance.calibration_facts``) when the scenario is calibrated.
    """
    knob = knob or default_knob(scenario)
    start = _value(scenario, knob)
    check_options(scenario, seed=seed, replications=replications, hours=hours)
    if not 0 < rel_tol < 1:
        raise BadInput(f"--tolerance: must be > 0 and < 1 (got {rel_tol:g})")
    lo_bound, hi_bound = KNOB_BOUNDS.get(knob, (start * 1e-6, start * 1e6))
    integer = isinstance(start, int)
    evaluations: list[dict] = []
    summaries: dict = {}

    def norm(value):
        value = max(lo_bound, min(hi_bound, value))
        return max(int(lo_bound), round(value)) if integer else value

    def met(value) -> bool:
        if value in summaries:
            return summaries[value]["slo"]["met"]
        if len(evaluations) >= MAX_EVALUATIONS:
            raise RuntimeError(f"capacity search did not converge in {MAX_EVALUATIONS} runs")
        if progress:
            progress(f"{knob} = {value:,}" if integer else f"{knob} = {value:.4g}")
        s = summarize(run(with_value(scenario, knob, value), seed=seed, replications=replications,
                          hours=hours))
        if s["requests"]["completed"] == 0:  # no evidence is not a pass: nothing was measured
            s["slo"] = {"met": False, "violations": [{"what": "requests.completed", "value": 0, "limit": 1,
                                                      "text": "requests.completed: 0 (nothing to judge)"}],
                        "not_judged": []}
        summaries[value] = s
        evaluations.append({"value": value, "met": s["slo"]["met"], "violations": s["slo"]["violations"],
                            "p95_s": s["latency_s"]["p95"]})
        return s["slo"]["met"]

    lo = hi = None  # lo: largest value known to meet, hi: smallest known to fail
    v = norm(start)
    if met(v):
        lo = v
        while hi is None and v < hi_bound:
            v = norm(v * 2)
            if met(v):
                lo = v
            else:
                hi = v
    else:
        hi = v
        while lo is None and v > lo_bound:
            v = norm(v / 2)
            if met(v):
                lo = v
            else:
                hi = v
    while lo is not None and hi is not None and hi / lo > 1 + rel_tol:
        mid = norm(math.sqrt(lo * hi))
        if mid in (lo, hi):  # integers: adjacent values, nothing left between them
            break
        if met(mid):
            lo = mid
        else:
            hi = mid
    found = {"knob": knob, "capacity": lo, "failed_at": hi, "rel_tol": rel_tol,
             "evaluations": evaluations, "summary": summaries.get(lo) if lo is not None else None}
    found["uncertainty"] = _uncertainty(scenario, knob, lo, hi, summaries, replications)
    facts = calibration_facts(scenario)
    if facts is not None:
        found["calibration"] = facts
    return found
