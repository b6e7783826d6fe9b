"""Draw samples from scenario distributions with a numpy Generator (seedable, vectorised).

Shared by the SimPy model and the fake APIs' latency models, so that one scenario distribution
means the same thing everywhere.
"""

from __future__ import annotations

import math

import numpy as np

from botcap.scenario.dists import Constant, Empirical, Exponential, Gamma, Lognormal


def lognormal_params(mean: float, cv: float) -> tuple[float, float]:
    """(mu, sigma) of the underlying normal for a lognormal with this mean and cv."""
    sigma2 = math.log1p(cv * cv)
    return math.log(mean) - sigma2 / 2, math.sqrt(sigma2)


def sample(dist, rng: np.random.Generator, size: int | None = None):
    """Samples of ``dist``: a float when ``size`` is None, else an array of ``size`` floats."""
    if isinstance(dist, int | float):
        dist = Constant(mean=float(dist))
    if isinstance(dist, Constant):
        return dist.mean if size is None else np.full(size, dist.mean)
    if isinstance(dist, Exponential):
        return rng.exponential(dist.mean, size)
    if isinstance(dist, Lognormal):
        mu, sigma = lognormal_params(dist.mean, dist.cv)
        return rng.lognormal(mu, sigma, size)
    if isinstance(dist, Gamma):
        shape = 1.0 / (dist.cv * dist.cv)
        return rng.gamma(shape, dist.mean / shape, size)
    if isinstance(dist, Empirical):
        return rng.choice(np.asarray(dist.samples, dtype=float), size)
    raise TypeError(f"not a distribution: {dist!r}")


class Sampler:
    """Hands out single draws cheaply by pre-drawing blocks (a SimPy hot path calls this per request)."""

    __slots__ = ("_dist", "_rng", "_block", "_buf", "_i")

    def __init__(self, dist, rng: np.random.Generator, block: int = 4096):
        self._dist, self._rng, self._block = dist, rng, block
        self._buf = np.empty(0)
        self._i = 0

    def __call__(self) -> float:
        if self._i >= len(self._buf):
            self._buf = np.asarray(sample(self._dist, self._rng, self._block), dtype=float)
            self._i = 0
        v = self._buf[self._i]
        self._i += 1
        return float(v)
