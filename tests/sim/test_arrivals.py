import numpy as np
from botcap.sim.arrivals import session_starts_s


def test_daily_count_and_hourly_shape_follow_the_profile():
    weights = [1.0] * 8 + [4.0] * 8 + [2.0] * 8
    rng = np.random.default_rng(7)
    t_s = session_starts_s(weights, 20_000, rng, days=1)
    # Poisson count: sd = sqrt(20000) ~ 141; 5 sd = 707 is wide enough for a fixed seed, tight vs bugs.
    assert abs(len(t_s) - 20_000) < 710
    counts = np.bincount((t_s // 3600).astype(int), minlength=24)
    expected = np.array(weights) / sum(weights) * 20_000
    # per-hour Poisson: 5 sd of each hourly count
    assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
    assert np.all(np.diff(t_s) >= 0)
