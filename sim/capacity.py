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
    facts = calibration_facts(scenario)
    if facts is not None:
        found["calibration"] = facts
    return found
