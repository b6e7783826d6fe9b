"""Fit one stage's measured times to a scenario distribution: MLE lognormal or gamma, else empirical.

Why these two: they are the positive, right-skewed forms the scenario and the sampler already know
(``botcap.scenario.dists``), so a fit is written back as ``{dist, mean, cv}`` and means the same thing
in the sim and in the fakes. Both are fitted by maximum likelihood with the location fixed at 0
(scipy ``fit(floc=0)``); the one with the smaller Kolmogorov–Smirnov distance wins. When even the
winner is clearly rejected (KS p-value below ``REJECT_P``), the samples themselves are kept as an
empirical distribution (``EMPIRICAL_POINTS`` quantiles: the shape, tails included, without writing
thousands of numbers into the YAML). A (near-)constant sample becomes a constant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

from botcap.errors import BadInput
from botcap.scenario.dists import Constant, Empirical, Gamma, Lognormal

__all__ = ["Fit", "fit_positive", "MIN_SAMPLES", "REJECT_P", "EMPIRICAL_POINTS"]

MIN_SAMPLES = 30          # below this a KS test says nothing and an MLE cv is noise
REJECT_P = 1e-3           # KS p-value under which the parametric form is not used
EMPIRICAL_POINTS = 500    # quantiles kept for an empirical fit
FLOOR_S = 1e-6            # measured times are clipped here: a 0 s timer reading breaks log/gamma fits


@dataclass(frozen=True)
class Fit:
    """One fitted stage: the scenario distribution plus what the fit looked like."""

    stage: str
    dist: object                      # a botcap.scenario.dists model (Lognormal, Gamma, Empirical, Constant)
    n: int
    gof: dict = field(default_factory=dict)       # {"statistic": "ks", "value": D, "p_value": p}
    candidates: dict = field(default_factory=dict)  # {"lognormal": {"ks": D, "p": p}, ...}

    @property
    def name(self) -> str:
        return self.dist.dist

    def params(self) -> dict:
        """The parameters as the scenario writes them (empirical: its summary, not every sample)."""
        d = self.dist
        if isinstance(d, Empirical):
            a = np.asarray(d.samples)
            return {"mean": float(a.mean()), "cv": float(d.cv), "points": len(a),
                    "p50": float(np.quantile(a, 0.5)), "p95": float(np.quantile(a, 0.95))}
        return {"mean": float(d.mean), "cv": float(d.cv)}

    def to_json(self) -> dict:
        return {"dist": self.name, "params": self.params(), "gof": dict(self.gof), "n": self.n}

    def scenario_value(self) -> dict:
        """The distribution as a scenario YAML value."""
        return self.dist.model_dump(mode="json")


def _ks(a: np.ndarray, frozen) -> tuple[float, float]:
    res = stats.kstest(a, frozen.cdf)
    return float(res.statistic), float(res.pvalue)


def fit_positive(stage: str, samples, *, min_samples: int = MIN_SAMPLES,
                 reject_p: float = REJECT_P) -> Fit:
    """The best scenario distribution for positive ``samples`` of ``stage`` (seconds, tokens…).

    Raises BadInput naming the stage when there are fewer than ``min_samples`` finite values.
    """
    a = np.asarray(samples, dtype=float)
    a = a[np.isfinite(a)]
    if a.size < min_samples:
        raise BadInput(f"{stage}: too few samples to fit ({a.size}; at least {min_samples} needed)")
    a = np.maximum(a, FLOOR_S)
    mean = float(a.mean())
    sd = float(a.std())
    if sd <= 1e-9 * mean or sd < 1e-9:
        return Fit(stage, Constant(mean=mean), int(a.size), {"statistic": "ks", "value": 0.0, "p_value": 1.0})
    cands: dict[str, tuple] = {}
    shape, _, scale = stats.lognorm.fit(a, floc=0)
    frozen = stats.lognorm(shape, 0, scale)
    s2 = shape * shape
    cands["lognormal"] = (Lognormal(dist="lognormal", mean=float(scale * math.exp(s2 / 2)),
                                    cv=float(min(math.sqrt(math.expm1(s2)), 100.0))), *_ks(a, frozen))
    try:
        k, _, theta = stats.gamma.fit(a, floc=0)
        frozen = stats.gamma(k, 0, theta)
        cands["gamma"] = (Gamma(dist="gamma", mean=float(k * theta), cv=float(min(1 / math.sqrt(k), 100.0))),
                          *_ks(a, frozen))
    except (RuntimeError, ValueError, FloatingPointError):  # scipy's optimiser can fail on odd data
        pass
    best = min(cands, key=lambda name: cands[name][1])
    dist, d_stat, p = cands[best]
    table = {name: {"ks": c[1], "p_value": c[2]} for name, c in cands.items()}
    if p < reject_p:
        q = np.quantile(a, (np.arange(EMPIRICAL_POINTS) + 0.5) / EMPIRICAL_POINTS)
        emp = Empirical(dist="empirical", samples=[float(x) for x in q])
        ecdf_d, ecdf_p = _ks(a, _EcdfOf(np.asarray(emp.samples)))
        return Fit(stage, emp, int(a.size), {"statistic": "ks", "value": ecdf_d, "p_value": ecdf_p,
                                             "rejected": best, "rejected_ks": d_stat}, table)
    return Fit(stage, dist, int(a.size), {"statistic": "ks", "value": d_stat, "p_value": p}, table)


class _EcdfOf:
    """The CDF of an empirical distribution (for its own KS distance to the data)."""

    def __init__(self, points: np.ndarray):
        self.points = np.sort(points)

    def cdf(self, x):
        return np.searchsorted(self.points, x, side="right") / self.points.size
