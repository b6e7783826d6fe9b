"""Session start times: a non-homogeneous Poisson process over the 24 hourly weights, by thinning.

Why thinning: it is exact for a piecewise-constant rate and needs only the peak rate, so one
vectorised draw per day serves every DAU size without per-event Python objects.
"""

from __future__ import annotations

import numpy as np

__all__ = ["session_starts_s"]

HOUR_S = 3600.0


def session_starts_s(weights: list[float], sessions_per_day: float, rng: np.random.Generator,
                     days: float = 1.0) -> np.ndarray:
    """Sorted session start times (s) over `days`; the expected count per day is `sessions_per_day`."""
    w = np.asarray(weights, dtype=float)
    rate_per_s = w / w.sum() * sessions_per_day / HOUR_S
    peak_per_s = float(rate_per_s.max())
    horizon_s = days * 24 * HOUR_S
    n = rng.poisson(peak_per_s * horizon_s)
    t_s = np.sort(rng.uniform(0.0, horizon_s, n))
    hour = (t_s // HOUR_S).astype(int) % 24
    keep = rng.uniform(0.0, 1.0, n) * peak_per_s < rate_per_s[hour]
    return t_s[keep]
