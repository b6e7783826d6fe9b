"""A1's capacity per ingress mode: ``botcap sim capacity`` per mode and instance count, and the rules
that turn capacities into instance counts at 10K DAU and at each growth level.

Why a relaxed SLO can be needed: capacity is the largest load meeting the SLO, and a kind whose p95 at
the lightest simulated load already sits above its limit (the default's chat_deep: its service time
alone, ~23 s against 15 s) meets it at no load at all; a bisection then lands on a few dozen DAU,
where too few requests were sampled for the p95 to exceed the limit by chance. That number is an
artifact, not a capacity. So when no A1 variant meets the stated SLO, the capacity is searched under
the SLO relaxed by a stated rule (``relaxed_limits``), and the page says so.

Capacity searches run in this process (``botcap.sim.capacity.find_capacity``, common seeds) and are
cached as JSON in the report's sweep folder, keyed by the resolved scenario and the search options.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path

from botcap.report import rules
from botcap.report.variants import save_json, scenario_hash

__all__ = [
    "CAPACITY_TOLERANCE",
    "MIN_SCALING",
    "relaxed_limits",
    "scaling_efficiency",
    "instances_needed",
    "capacity_search",
]

CAPACITY_TOLERANCE = {False: 0.05, True: 0.25}
"""The bisection stops when the failing DAU is within this share above the capacity (full, quick)."""
MIN_SCALING = 0.8
"""Instances are extrapolated only when capacity grows at least 80% as fast as the instance count."""


def relaxed_limits(
    lowest_p95_s: Mapping[str, float | None], limits: Mapping[str, float], headroom: float = rules.HEADROOM
) -> dict[str, float]:
    """The SLO's p95 limits, each kind whose lowest simulated p95 exceeds ``(1 - headroom)`` of its limit
    raised to that p95 / (1 - headroom), rounded up to a whole second (so the kind keeps the same
    headroom the rules ask of everything else). Other kinds keep their stated limit."""
    out = {}
    for kind, limit in limits.items():
        p = lowest_p95_s.get(kind)
        if isinstance(p, int | float) and math.isfinite(p) and p > (1 - headroom) * limit:
            out[kind] = float(math.ceil(p / (1 - headroom)))
        else:
            out[kind] = float(limit)
    return out


def scaling_efficiency(capacity_by_n: Mapping[int, float | None]) -> float | None:
    """(capacity at the most instances / at the fewest) / (most / fewest): 1.0 = linear in instances.
    None when fewer than two counts have a capacity."""
    pts = sorted((n, c) for n, c in capacity_by_n.items() if c)
    if len(pts) < 2 or pts[0][0] == pts[-1][0]:
        return None
    (n0, c0), (n1, c1) = pts[0], pts[-1]
    return (c1 / c0) / (n1 / n0)


def instances_needed(
    capacity_by_n: Mapping[int, float | None],
    dau: int,
    headroom: float = rules.HEADROOM,
    min_scaling: float = MIN_SCALING,
) -> tuple[int | None, str]:
    """Instances to carry ``dau`` with ``headroom``: (count or None, how).

    The fewest simulated count whose capacity x (1 - headroom) >= dau ("simulated"); else, when capacity
    scales with instances (``scaling_efficiency`` >= ``min_scaling``), the per-instance capacity at the
    most instances simulated times the count, solved for dau ("extrapolated"); else None ("instances do
    not raise the capacity enough": more of them are not the answer)."""
    pts = sorted((n, c) for n, c in capacity_by_n.items() if c)
    if not pts:
        return None, "no simulated count meets the SLO at any load"
    for n, c in pts:
        if c * (1 - headroom) >= dau:
            return n, "simulated"
    eff = scaling_efficiency(capacity_by_n)
    if eff is None:
        return None, "not within the simulated counts (one count with a capacity: no scaling measured)"
    if eff < min_scaling:
        return (
            None,
            f"not by instances: capacity grows {eff:.2f} of linear with instances (< {min_scaling:g})",
        )
    n_max, c_max = pts[-1]
    per_instance = c_max / n_max
    return math.ceil(dau / ((1 - headroom) * per_instance)), "extrapolated"


def capacity_search(
    scenario, *, hours: float, replications: int, seed: int | None, cache_dir: Path | None, tolerance: float
) -> dict:
    """``find_capacity`` on ``scenario`` (its DAU is the starting point), cached in ``cache_dir``."""
    from botcap.sim.capacity import find_capacity

    key = hashlib.sha256(
        json.dumps([scenario_hash(scenario), hours, replications, seed, tolerance]).encode()
    ).hexdigest()[:24]
    path = cache_dir / "capacity" / f"{key}.json" if cache_dir is not None else None
    if path is not None and path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    found = find_capacity(scenario, seed=seed, replications=replications, hours=hours, rel_tol=tolerance)
    keep = {k: found[k] for k in ("knob", "capacity", "failed_at", "rel_tol", "uncertainty")}
    keep["evaluations"] = [
        {
            "value": e["value"],
            "met": e["met"],
            "violations": [v["text"] if isinstance(v, dict) else str(v) for v in e["violations"]],
        }
        for e in found["evaluations"]
    ]
    if path is not None:
        save_json(path, keep)
    return keep


def _lowest_p95(rows: list[dict], kinds) -> dict[str, float | None]:
    out = {}
    for k in kinds:
        vals = [r.get(f"p95_{k}_s") for r in rows]
        vals = [v for v in vals if isinstance(v, int | float) and math.isfinite(v)]
        out[k] = min(vals) if vals else None
    return out


def _outcome(get) -> dict:
    """A search's result, or a result saying it failed (no capacity, the error named): one search that
    raises leaves the others standing, and nothing is made up for it."""
    try:
        return get()
    except Exception as exc:  # noqa: BLE001 -- said in the row, never a number
        msg = f"search failed: {type(exc).__name__}: {str(exc)[:200]}"
        return {"capacity": None, "failed_at": None, "evaluations": [], "uncertainty": {}, "error": msg}


def _binding(found: dict) -> str:
    """The first violation of the smallest load seen to fail: what bounds the capacity."""
    if found.get("error"):
        return found["error"]
    failed = [e for e in found["evaluations"] if not e["met"]]
    if not failed:
        return "none seen to fail"
    worst = min(failed, key=lambda e: e["value"])
    return worst["violations"][0] if worst["violations"] else "requests.completed: 0"


def capacity_part(ctx, a1_rows: list[dict], modes, growth_dau) -> dict:
    """A1's capacity per mode and instance count, instances needed per DAU level, and the SLO used.

    Returns {"slo_used", "relaxed", "rows", "needed", "values", "fmt", "text", "rule"} for ``a1``."""
    slo = ctx.base.slo
    limits = dict(slo.p95_s)
    stated_met = any(r.get("slo_met") for r in a1_rows)
    used = limits if stated_met else relaxed_limits(_lowest_p95(a1_rows, limits), limits)
    relaxed = {k: v for k, v in used.items() if v != limits[k]}
    counts = [5] if ctx.quick else [2, 5, 8, 12]
    w = ctx.window
    jobs = []
    for m in modes:
        for n in counts:
            sets = [f"platform.mode={m}", f"platform.instances={n}", f"horizon.start='{w.start}'"]
            sets += [f"slo.p95_s.{k}={v!r}" for k, v in relaxed.items()]
            jobs.append((m, n, ctx.scenario(sets)))
    ctx.label(f"A1 capacity: {len(jobs)} searches")
    tol = CAPACITY_TOLERANCE[ctx.quick]
    kw = {
        "hours": w.hours,
        "replications": w.replications,
        "seed": w.seed,
        "cache_dir": ctx.cache_dir,
        "tolerance": tol,
    }
    if ctx.executor is not None:
        futures = [ctx.executor.submit(capacity_search, sc, **kw) for _, _, sc in jobs]
        found = [_outcome(f.result) for f in futures]
    else:
        found = [_outcome(lambda sc=sc: capacity_search(sc, **kw)) for _, _, sc in jobs]
    rows, by_mode = [], {m: {} for m in modes}
    for (m, n, _), f in zip(jobs, found, strict=True):
        u = f.get("uncertainty") or {}
        at = u.get("at_capacity") or {}
        ci = u.get("capacity_ci95") or [None, None]
        by_mode[m][n] = f["capacity"]
        rows.append(
            {
                "mode": m,
                "instances": n,
                "capacity_dau": f["capacity"],
                "failed_at_dau": f["failed_at"],
                "ci95_lo_dau": ci[0],
                "ci95_hi_dau": ci[1],
                "peak_arrivals_per_s": (at.get("arrivals_per_s") or {}).get("peak_hour"),
                "replications": u.get("replications"),
                "runs": len(f["evaluations"]),
                "binding": _binding(f),
            }
        )
    needed = []
    for dau in growth_dau:
        row = {"dau": dau}
        for m in modes:
            row[f"{m}_instances"], row[f"{m}_how"] = instances_needed(by_mode[m], dau)
        needed.append(row)
    values, fmt = {}, {}
    parts = []
    slo_text = (
        "the stated SLO"
        if not relaxed
        else "the SLO relaxed to "
        + ", ".join(f"{k} p95 <= {v:g} s (stated {limits[k]:g} s)" for k, v in relaxed.items())
    )
    values["slo_used"], fmt["slo_used"] = slo_text, "text"
    for m in modes:
        best_n = max(by_mode[m], key=lambda n: (by_mode[m][n] or 0, -n))
        at10 = (
            next(r for r in needed if r["dau"] == ctx.base.workload.dau)
            if any(r["dau"] == ctx.base.workload.dau for r in needed)
            else needed[0]
        )
        values.update(
            {
                f"{m}_cap": by_mode[m][best_n],
                f"{m}_cap_n": best_n,
                f"{m}_need": at10[f"{m}_instances"]
                if at10[f"{m}_instances"] is not None
                else at10[f"{m}_how"],
                f"{m}_eff": scaling_efficiency(by_mode[m]),
            }
        )
        fmt.update(
            {
                f"{m}_cap": "int",
                f"{m}_cap_n": "int",
                f"{m}_eff": "num",
                f"{m}_need": "int" if at10[f"{m}_instances"] is not None else "text",
            }
        )
        parts.append(
            f"{m}: at most {{{m}_cap}} DAU (at {{{m}_cap_n}} instances; from the fewest to the most "
            f"instances capacity grows {{{m}_eff}} of linear); instances for {ctx.base.workload.dau:,} DAU: "
            f"{{{m}_need}}."
        )
    values["dau"], fmt["dau"] = ctx.base.workload.dau, "int"
    text = "Capacity under {slo_used}: " + " ".join(parts)
    rule = (
        f"Capacity = botcap sim capacity (bisection on workload.dau from {ctx.base.workload.dau:,}, "
        f"tolerance {tol:.0%}, common seeds, the report's window) per mode at "
        f"{', '.join(map(str, counts))} instances. "
        "When no A1 variant meets the stated SLO, each kind whose lowest p95 over A1's variants exceeds "
        f"{1 - rules.HEADROOM:.0%} of its limit gets the limit p95/{1 - rules.HEADROOM:g} rounded up to a "
        "whole second (the stated one is unreachable by instances). Instances for a DAU level: the "
        f"fewest simulated count whose capacity x {1 - rules.HEADROOM:g} >= the DAU; else, when capacity "
        f"scales with instances at >= {MIN_SCALING:g} of linear, the per-instance capacity at the most "
        "instances simulated, extrapolated; else none (more instances are not the answer: see GROWTH)."
    )
    return {
        "slo_used": used,
        "relaxed": relaxed,
        "rows": rows,
        "needed": needed,
        "values": values,
        "fmt": fmt,
        "text": text,
        "rule": rule,
        "by_mode": by_mode,
    }
