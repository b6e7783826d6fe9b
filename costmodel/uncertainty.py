"""Sensitivity and uncertainty: tornado, Monte Carlo bands and Sobol indices of the unit economics.

Why one description for all three: each uncertain input is a ``Factor`` (tokens and actions:
lognormal multipliers with mean 1; hit rates: beta around the scenario's value; payout per Star:
uniform over its stated range; tornado ends: the stated range or +-swing). Every draw is one column
of a single vectorised ``unit.evaluate`` call, so 10,000 draws cost one pass of numpy.

Sobol indices: by default numpy draws with the Saltelli (2010) first-order and Jansen total-order
estimators, the very formulas of ``SALib.analyze.sobol`` (tests check they agree on SALib's own
samples). ``method="salib"`` runs SALib itself (Saltelli sampling, bootstrap confidence); it is
opt-in because importing SALib (pandas) alone takes longer than the whole default run's 2 s budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from botcap.costmodel.unit import Built, evaluate

__all__ = ["Factor", "factors_for", "tornado", "monte_carlo", "sobol"]


@dataclass(frozen=True)
class Factor:
    name: str
    base: float
    low: float              # tornado ends
    high: float
    dist: str               # "uniform", "lognormal", "beta" or "constant" (Monte Carlo / Sobol)
    a: float = 0.0          # uniform: lo, hi; lognormal: sigma (mean 1); beta: alpha, beta (scale=base/mean)
    b: float = 0.0
    scale: float = 1.0

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` independent draws (numpy only: no scipy import on the default path)."""
        if self.dist == "uniform":
            return rng.uniform(self.a, self.b, n)
        if self.dist == "lognormal":
            return rng.lognormal(-self.a**2 / 2, self.a, n)
        if self.dist == "beta":
            return rng.beta(self.a, self.b, n) * self.scale
        return np.full(n, self.base)

    def ppf(self, u: np.ndarray) -> np.ndarray:
        """Inverse CDF, for samplers that work in the unit cube (SALib)."""
        from scipy.special import betaincinv, ndtri

        u = np.clip(u, 1e-9, 1 - 1e-9)
        if self.dist == "uniform":
            return self.a + (self.b - self.a) * u
        if self.dist == "lognormal":
            return np.exp(-self.a**2 / 2 + self.a * ndtri(u))
        if self.dist == "beta":
            return betaincinv(self.a, self.b, u) * self.scale
        return np.full_like(u, self.base)

    def describe(self) -> dict:
        spec = {"uniform": {"low": self.a, "high": self.b},
                "lognormal": {"mean": 1.0, "cv": math.sqrt(math.exp(self.a**2) - 1) if self.a else 0.0},
                "beta": {"alpha": self.a, "beta": self.b}, "constant": {"value": self.base}}[self.dist]
        return {"dist": self.dist, **spec, "base": self.base, "tornado": [self.low, self.high]}


def _hit_rate(built: Built, which: str) -> float:
    """The call-weighted hit rate the multiplier scales (0 = nothing to vary)."""
    ln = built.lines
    w = built.users[ln.tier] * ln.calls_per_user_day
    if which == "content":
        rates = ln.content_hit
    else:
        rates, w = ln.prompt_hit, w * ln.input_tokens * ln.cached_share
    return float((w * rates).sum() / w.sum()) if w.sum() > 0 else 0.0


def _beta_mult(name: str, mean: float, k: float, swing: float) -> Factor:
    """A multiplier on hit rates whose effect is a beta-distributed hit rate around ``mean``."""
    if mean <= 0 or mean >= 1:
        return Factor(name, 1.0, 1 - swing, 1 + swing, "constant")
    return Factor(name, 1.0, 1 - swing, min(1 + swing, 1 / mean), "beta", mean * k, (1 - mean) * k, 1 / mean)


def factors_for(scenario, built: Built) -> list[Factor]:
    u = scenario.costs.uncertainty
    rev = scenario.costs.revenue
    s = u.tornado_swing
    lognorm = lambda cv: math.sqrt(math.log(1 + cv * cv))  # noqa: E731
    refund = rev.refund_rate
    k = u.hit_rate_concentration
    lo, hi = rev.payout_usd_per_star_low, rev.payout_usd_per_star_high

    def spread(name: str, cv: float) -> Factor:
        return Factor(name, 1.0, 1 - s, 1 + s, "lognormal" if cv else "constant", lognorm(cv))

    return [
        Factor("payout_usd_per_star", rev.payout_usd_per_star, lo, hi, "uniform", lo, hi),
        spread("input_tokens_mult", u.tokens_cv),
        spread("output_tokens_mult", u.tokens_cv),
        spread("actions_mult", u.actions_cv),
        _beta_mult("content_cache_hit_mult", _hit_rate(built, "content"), k, s),
        _beta_mult("prompt_cache_hit_mult", _hit_rate(built, "prompt"), k, s),
        Factor("claude_price_mult", 1.0, 1 - s, 1 + s, "constant"),  # published prices: tornado only
        spread("infra_price_mult", u.infra_price_cv),
        Factor("refund_rate", refund, refund * (1 - s), min(refund * (1 + s), 1.0),
               "beta" if 0 < refund < 1 else "constant", refund * k, (1 - refund) * k, 1.0),
    ]


def _eval(built: Built, factors: list[Factor], values: np.ndarray) -> dict[str, np.ndarray]:
    return evaluate(built, **{f.name: values[:, i] for i, f in enumerate(factors)})


def tornado(built: Built, factors: list[Factor]) -> list[dict]:
    """Each input at its low and high end, the others at base: monthly cost and margin, widest first."""
    d = len(factors)
    values = np.tile([f.base for f in factors], (2 * d + 1, 1))
    for i, f in enumerate(factors):
        values[2 * i, i], values[2 * i + 1, i] = f.low, f.high
    r = _eval(built, factors, values)
    cost, margin = r["monthly_cost"], r["monthly_margin"]
    rows = [{"input": f.name, "low": f.low, "high": f.high,
             "monthly_cost_usd": [float(cost[2 * i]), float(cost[2 * i + 1])],
             "monthly_margin_usd": [float(margin[2 * i]), float(margin[2 * i + 1])],
             "swing_margin_usd": float(abs(margin[2 * i + 1] - margin[2 * i]))}
            for i, f in enumerate(factors)]
    return sorted(rows, key=lambda row: -row["swing_margin_usd"])


def _pcts(x: np.ndarray) -> dict[str, float]:
    p5, p50, p95 = np.quantile(x, [0.05, 0.5, 0.95], method="nearest")
    return {"p5": float(p5), "p50": float(p50), "p95": float(p95), "mean": float(np.mean(x))}


def monte_carlo(built: Built, factors: list[Factor], draws: int, seed: int) -> tuple[dict, dict]:
    """P5/P50/P95 of monthly cost, margin and break-even; and the raw draws (for the histogram)."""
    rng = np.random.default_rng(seed)
    values = np.column_stack([f.sample(rng, draws) for f in factors])
    r = _eval(built, factors, values)
    be = r["break_even_paying_users"]
    summary = {"draws": draws, "seed": seed,
               "monthly_cost_usd": _pcts(r["monthly_cost"]),
               "monthly_margin_usd": _pcts(r["monthly_margin"]),
               "monthly_revenue_usd": _pcts(r["monthly_revenue"]),
               "claude_monthly_usd": _pcts(r["claude_monthly"]),
               "break_even_paying_users": {k: (v if math.isfinite(v) else None)
                                           for k, v in _pcts(be).items()},
               "break_even_unreachable_share": float(np.mean(~np.isfinite(be))),
               "inputs": {f.name: f.describe() for f in factors}}
    return summary, {"monthly_cost": r["monthly_cost"], "monthly_margin": r["monthly_margin"]}


def sobol_estimates(y_a: np.ndarray, y_b: np.ndarray, y_ab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First-order (Saltelli 2010) and total (Jansen) indices; y_ab[:, i] = A with column i from B.

    Outputs are standardised over all runs first, exactly as ``SALib.analyze.sobol`` does.
    """
    every = np.concatenate([y_a, y_b, y_ab.ravel()])
    sd = every.std()
    if sd <= 0:
        return np.zeros(y_ab.shape[1]), np.zeros(y_ab.shape[1])
    mu = every.mean()
    y_a, y_b, y_ab = (y_a - mu) / sd, (y_b - mu) / sd, (y_ab - mu) / sd
    var = np.var(np.concatenate([y_a, y_b]))
    s1 = np.mean(y_b[:, None] * (y_ab - y_a[:, None]), axis=0) / var
    st = 0.5 * np.mean((y_a[:, None] - y_ab) ** 2, axis=0) / var
    return s1, st


OUTPUTS = (("monthly_cost_usd", "monthly_cost"), ("monthly_margin_usd", "monthly_margin"))


def sobol(built: Built, factors: list[Factor], base_samples: int, seed: int, method: str = "numpy") -> dict:
    """First-order and total Sobol indices of monthly cost and margin for the varied inputs."""
    varied = [f for f in factors if f.dist != "constant"]
    if not varied:
        return {}
    if method == "salib":
        return _sobol_salib(built, varied, base_samples, seed)
    n, d = base_samples, len(varied)
    rng = np.random.default_rng(seed)
    a = np.column_stack([f.sample(rng, n) for f in varied])
    b = np.column_stack([f.sample(rng, n) for f in varied])
    blocks = [a, b] + [np.where(np.arange(d) == i, b, a) for i in range(d)]
    r = _eval(built, varied, np.vstack(blocks))
    out: dict = {"method": "numpy: Saltelli 2010 (S1) and Jansen (ST) estimators, as SALib.analyze.sobol",
                 "base_samples": n, "runs": n * (d + 2)}
    for key, col in OUTPUTS:
        y = r[col]
        s1, st = sobol_estimates(y[:n], y[n:2 * n], y[2 * n:].reshape(d, n).T)
        out[key] = {f.name: {"S1": float(s1[i]), "ST": float(st[i])} for i, f in enumerate(varied)}
    return out


def _sobol_salib(built: Built, varied: list[Factor], base_samples: int, seed: int) -> dict:
    from SALib.analyze import sobol as analyze
    from SALib.sample import sobol as sample

    problem = {"num_vars": len(varied), "names": [f.name for f in varied],
               "bounds": [[0.0, 1.0]] * len(varied)}
    u = sample.sample(problem, base_samples, calc_second_order=False, seed=seed)
    values = np.column_stack([f.ppf(u[:, i]) for i, f in enumerate(varied)])
    r = _eval(built, varied, values)
    out: dict = {"method": "SALib: Saltelli sampling, sobol.analyze with 100 bootstrap resamples",
                 "base_samples": base_samples, "runs": int(len(u))}
    for key, col in OUTPUTS:
        y = r[col]
        if np.ptp(y) == 0:
            continue
        res = analyze.analyze(problem, y, calc_second_order=False, num_resamples=100, seed=seed)
        out[key] = {name: {"S1": float(res["S1"][i]), "ST": float(res["ST"][i]),
                           "ST_conf": float(res["ST_conf"][i])} for i, name in enumerate(problem["names"])}
    return out
