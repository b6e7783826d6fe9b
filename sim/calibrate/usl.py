"""The Universal Scalability Law beside the DES: a three-number cross-check of throughput vs concurrency.

Gunther's USL, ``X(N) = gamma N / (1 + sigma (N - 1) + kappa N (N - 1))``: ``gamma`` the throughput of
one request in flight, ``sigma`` contention (serialisation), ``kappa`` coherency (crosstalk that makes
throughput fall past a peak). It is fitted by nonlinear least squares (scipy ``least_squares``, all
three >= 0) to each level's (N, X): X the replies per second, N the mean number in the system by
Little's law (X × mean latency). Where the USL and the DES disagree on a level's throughput by more
than ``DISAGREE`` the level is listed: the DES models queues the USL cannot see (semaphores, pools,
rate limits), the USL sees effects the DES may miss (CPU contention between processes).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import least_squares

__all__ = ["usl_x", "fit_usl", "compare", "DISAGREE"]

DISAGREE = 0.10


def usl_x(n, sigma: float, kappa: float, gamma: float):
    n = np.asarray(n, dtype=float)
    return gamma * n / (1 + sigma * (n - 1) + kappa * n * (n - 1))


def fit_usl(n, x) -> dict:
    """sigma, kappa, gamma (+ the peak N and X, rmse); NaN values when fewer than 3 usable points."""
    n = np.asarray(n, dtype=float)
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(n) & np.isfinite(x) & (n > 0) & (x > 0)
    n, x = n[ok], x[ok]
    nan = {"sigma": math.nan, "kappa": math.nan, "gamma": math.nan, "points": int(n.size)}
    if n.size < 3:
        return nan
    g0 = float(np.max(x / np.maximum(n, 1.0)))

    def resid(p):
        return (usl_x(n, *p) - x) / x.mean()

    res = least_squares(resid, x0=[0.05, 0.001, g0], bounds=([0, 0, 1e-12], [10, 10, np.inf]))
    sigma, kappa, gamma = (float(v) for v in res.x)
    out = {"sigma": sigma, "kappa": kappa, "gamma": gamma, "points": int(n.size),
           "rmse_per_s": float(np.sqrt(np.mean((usl_x(n, sigma, kappa, gamma) - x) ** 2)))}
    if kappa > 0:
        n_peak = math.sqrt(max(1 - sigma, 0.0) / kappa)
        out.update(peak_concurrency=n_peak, peak_throughput_per_s=float(usl_x(n_peak, sigma, kappa, gamma)))
    else:
        out.update(peak_concurrency=math.inf, peak_throughput_per_s=gamma / sigma if sigma > 0 else math.inf)
    return out


def compare(levels: list[dict], usl: dict) -> list[dict]:
    """Levels where the USL's throughput at the measured concurrency and the DES's differ by > DISAGREE."""
    if not math.isfinite(usl.get("gamma", math.nan)):
        return []
    out = []
    for lv in levels:
        n = lv["measured"].get("concurrency", math.nan)
        des = lv["predicted"]["throughput_per_s"]
        if not (math.isfinite(n) and n > 0 and math.isfinite(des) and des > 0):
            continue
        x = float(usl_x(n, usl["sigma"], usl["kappa"], usl["gamma"]))
        if abs(x - des) / des > DISAGREE:
            out.append({"rate_per_s": lv["rate_per_s"], "concurrency": n, "usl_throughput_per_s": x,
                        "des_throughput_per_s": des,
                        "measured_throughput_per_s": lv["measured"].get("throughput_per_s")})
    return out
