"""The DB and MCP stages of the reference bot: per-call times from per-update sums.

The bot times the sum of an update's queries (and MCP calls); the model draws each call apart, so the
sums are divided by the kind's count, and for the DB the spread is scaled back to one query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from botcap.sim.calibrate.fit import EMPIRICAL_POINTS, Fit, fit_positive
from botcap.sim.calibrate.patch import set_key as _set

from botcap.scenario import Scenario
from botcap.scenario.dists import Empirical

if TYPE_CHECKING:
    from botcap.sim.calibrate.stages import StageFits

__all__ = ["fit_db", "fit_mcp", "per_call"]


def _per_kind_means(good: pd.DataFrame, base: Scenario, column: str, count_attr: str):
    """(n, per-call means) per kind that makes ``n > 0`` calls: the measured per-update sums of
    ``column`` (zeros dropped) divided by the kind's ``count_attr``."""
    for kind, spec in base.workload.kinds.items():
        n = getattr(spec, count_attr)
        if n <= 0:
            continue
        v = good.loc[good["kind"] == kind, column].to_numpy(dtype=float)
        yield n, v[v > 0] / n


def per_call(good: pd.DataFrame, base: Scenario, column: str, count_attr: str) -> np.ndarray:
    parts = [v for _, v in _per_kind_means(good, base, column, count_attr)]
    return np.concatenate(parts) if parts else np.empty(0)


def _single_query_cv(good: pd.DataFrame, base: Scenario) -> float:
    """cv of ONE query from per-update sums of n queries: Var(sum / n) = Var(one) / n for independent
    queries, so each kind's variance of the per-query mean is scaled back up by its n."""
    var_sum, count, total = 0.0, 0, 0.0
    for n, v in _per_kind_means(good, base, "db_query_s", "db_queries"):
        if v.size < 2:
            continue
        var_sum += v.size * n * float(v.var())
        count += v.size
        total += float(v.sum())
    return (var_sum / count) ** 0.5 / (total / count) if count and total > 0 else float("nan")


def _single_query_samples(good: pd.DataFrame, base: Scenario) -> np.ndarray:
    """Per-query samples whose n-query sums spread like the measured per-update sums: each kind's
    per-query means ``v = sum / n`` moved away from their mean by sqrt(n) (the empirical form of
    ``_single_query_cv``; without it the model's n independent draws of a mean narrow a kind's DB
    tail by sqrt(n): a note's p95 over three queries 2.2 ms modelled vs 3.0 ms measured)."""
    parts = [np.maximum(v.mean() + (v - v.mean()) * n ** 0.5, 0.05 * v.mean())
             for n, v in _per_kind_means(good, base, "db_query_s", "db_queries") if v.size]
    return np.concatenate(parts)


def fit_db(out: StageFits, good: pd.DataFrame, base: Scenario, n_min: int) -> None:
    samples = per_call(good, base, "db_query_s", "db_queries")
    if samples.size == 0:
        out.notes.append("db.query_s: no update ran a query; kept the scenario's")
        return
    f = fit_positive("db.query_s", samples, min_samples=n_min)
    cv = _single_query_cv(good, base)
    if f.name in ("lognormal", "gamma") and 0 < cv <= 100:
        f = Fit(f.stage, f.dist.model_copy(update={"cv": cv}), f.n,
                {**f.gof, "cv_of_per_query_mean": f.dist.cv, "cv_note": "scaled to one query"}, f.candidates)
    elif f.name == "empirical":
        one = _single_query_samples(good, base)
        q = np.quantile(one, (np.arange(EMPIRICAL_POINTS) + 0.5) / EMPIRICAL_POINTS)
        f = Fit(f.stage, Empirical(dist="empirical", samples=[float(x) for x in q]), f.n,
                {**f.gof, "cv_of_per_query_mean": f.dist.cv, "cv_note": "spread scaled to one query"},
                f.candidates)
    out.fits[f.stage] = f
    _set(out.patch, "platform.db.query_s", f.scenario_value())
    _set(out.patch, "platform.network_rtt_s.db", 0.0)


def fit_mcp(out: StageFits, good: pd.DataFrame, base: Scenario, n_min: int) -> None:
    samples = per_call(good, base, "mcp_s", "mcp_calls")
    if samples.size == 0:
        out.notes.append("mcp.latency_s: no MCP call measured; kept the scenario's")
        return
    f = fit_positive("mcp.latency_s", samples, min_samples=n_min)
    out.fits[f.stage] = f
    _set(out.patch, "platform.mcp.latency_s", f.scenario_value())
    _set(out.patch, "platform.network_rtt_s.mcp", 0.0)
