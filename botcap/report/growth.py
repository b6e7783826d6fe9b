"""The growth plan: the cheapest configuration meeting the SLO per DAU level, by ``botcap sim optimize``.

Why the optimizer: the question is "cheapest configuration meeting the SLO", which is exactly what
``botcap.sim.optimize.optimize`` answers (configurations walked in increasing monthly cost, the DES
only judging the constraint). The report runs it per level with a reduced budget, on the report's
executor, and caches each level's answer in the sweep folder (``optimize/<key>.json``), so a rebuild
reuses it.

Why some levels are extrapolated: simulated events grow with DAU, so one replication at 1M DAU costs
about 100x one at 10K. A level is simulated only when its estimated wall time (the previous level's
measured wall seconds per simulated replication x the DAU ratio x the budget) fits ``LEVEL_BUDGET_S``;
otherwise the last simulated winner's configuration is carried up with its instance count scaled by
DAU and priced by the cost model, and the row says "extrapolated" and why. Nothing is judged there.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

from botcap.report.variants import save_json, scenario_hash

__all__ = ["BUDGET_RUNS", "LEVEL_BUDGET_S", "scaled_space", "plan_level", "carried_up", "simulate_next"]

BUDGET_RUNS = {False: 12, True: 2}
"""Simulated replications per level (full, quick): the optimizer's --budget."""
LEVEL_BUDGET_S = {False: 600.0, True: 20.0}
"""A level is simulated when its estimated wall time is at most this (full, quick)."""
INSTANCES_PATH = "platform.instances"


def scaled_space(space, dau: int, ref_dau: int = 10_000):
    """The optimizer's space with its instance counts and the same counts scaled by max(1, dau / ref_dau)
    (rounded up): a larger level also searches proportionally larger fleets, and still the small ones
    (a fleet need not grow with DAU when Claude, not the bot, is the bottleneck)."""
    factor = max(1.0, dau / ref_dau)
    dims = dict(space.dimensions)
    if INSTANCES_PATH in dims and isinstance(dims[INSTANCES_PATH], list):
        base = dims[INSTANCES_PATH]
        dims[INSTANCES_PATH] = sorted(set(base) | {max(1, math.ceil(n * factor)) for n in base})
    return space.model_copy(update={"dimensions": dims})


def simulate_next(
    per_rep_s: float | None, dau_from: int, dau_to: int, budget_runs: int, limit_s: float
) -> tuple[bool, float | None]:
    """(simulate?, estimated wall seconds) for the level ``dau_to`` from the measured seconds per
    simulated replication at ``dau_from``; the first level (no measurement) is always simulated."""
    if per_rep_s is None:
        return True, None
    est = per_rep_s * (dau_to / dau_from) * budget_runs
    return est <= limit_s, est


def plan_level(
    base,
    space,
    dau: int,
    *,
    budget: int,
    seed: int | None,
    executor,
    cache_dir: Path | None,
    lean: bool = False,
) -> dict:
    """``optimize`` at ``dau`` with ``budget`` simulated replications (cached), plus ``wall_s``."""
    from botcap.sim.optimize import optimize

    sp = scaled_space(space, dau).model_copy(update={"budget_runs": budget})
    if lean:  # the reduced run: one candidate per cost level, one replication, stop at the first winner
        sp = sp.model_copy(
            update={"per_cost_level": 1, "runners_up": 0, "replications": 1, "screen_replications": 1}
        )
    key = hashlib.sha256(
        json.dumps(
            [scenario_hash(base), dau, seed, sp.model_dump(mode="json")], sort_keys=True, default=str
        ).encode()
    ).hexdigest()[:24]
    path = cache_dir / "optimize" / f"{key}.json" if cache_dir is not None else None
    if path is not None and path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    t0 = time.monotonic()
    res = optimize(base, sp, dau=dau, seed=seed, executor=executor)
    keep = {
        k: res[k]
        for k in (
            "dau",
            "winner",
            "monthly_cost_usd",
            "monthly_cost_per_dau_usd",
            "books",
            "prune_reasons",
            "slo_p95_s",
            "window",
        )
    }
    keep["wall_s"] = round(time.monotonic() - t0, 1)
    keep["budget_runs"] = budget
    keep["instances_searched"] = sp.dimensions.get(INSTANCES_PATH)
    if path is not None:
        save_json(path, keep)
    return keep


def carried_up(base, space, config: dict, dau_from: int, dau_to: int) -> tuple[dict, dict]:
    """(config with instances scaled by dau_to / dau_from, ``botcap cost`` data at dau_to for it)."""
    from botcap.costmodel.mitigations import mitigated_tiers
    from botcap.costmodel.result import run_cost
    from botcap.scenario import apply_set
    from botcap.scenario.loader import validate
    from botcap.sim.optimize import _apply, _max_connections, _neon_per_cu
    from botcap.sim.space import HAIKU, Choice

    cfg = dict(config)
    if isinstance(cfg.get(INSTANCES_PATH), int | float):
        cfg[INSTANCES_PATH] = math.ceil(cfg[INSTANCES_PATH] * dau_to / dau_from)
    overrides, haiku = {}, 0.0
    for name, value in cfg.items():
        dim = space.dimensions.get(name)
        if isinstance(dim, Choice):
            overrides.update(dim.choices[value])
        elif name == HAIKU:
            haiku = float(value)
        else:
            overrides[name] = value
    doc = base.model_dump(mode="json")
    apply_set(doc, f"workload.dau={dau_to}")
    doc = _apply(doc, _max_connections(base, overrides, _neon_per_cu(base)))
    doc["costs"]["mitigations"]["haiku_routing_share"] = haiku
    sc = validate(doc)
    if haiku > 0:
        sc = sc.model_copy(
            update={"costs": sc.costs.model_copy(update={"tiers": mitigated_tiers("haiku_routing", sc)})}
        )
    return cfg, run_cost(sc, draws=0).data
