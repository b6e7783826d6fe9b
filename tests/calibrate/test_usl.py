"""USL fit on points generated from known coefficients, and the DES comparison."""

from __future__ import annotations

import numpy as np
import pytest
from botcap.sim.calibrate.usl import compare, fit_usl, usl_x


def test_known_coefficients_are_recovered():
    n = np.array([1, 2, 4, 8, 16, 32, 64], dtype=float)
    x = usl_x(n, 0.05, 0.002, 3.0) * (1 + 0.01 * np.array([1, -1, 1, -1, 1, -1, 1]))  # 1% noise
    u = fit_usl(n, x)
    assert u["gamma"] == pytest.approx(3.0, rel=0.03)
    assert u["sigma"] == pytest.approx(0.05, abs=0.01)
    assert u["kappa"] == pytest.approx(0.002, rel=0.25)
    assert u["peak_concurrency"] == pytest.approx(np.sqrt(0.95 / 0.002), rel=0.15)


def test_too_few_points_give_nan():
    u = fit_usl([1, 2], [1, 2])
    assert np.isnan(u["sigma"]) and u["points"] == 2


def test_compare_lists_levels_where_usl_and_des_disagree():
    u = {"sigma": 0.0, "kappa": 0.0, "gamma": 1.0}
    levels = [{"rate_per_s": 1, "measured": {"concurrency": 2.0}, "predicted": {"throughput_per_s": 2.05}},
              {"rate_per_s": 2, "measured": {"concurrency": 4.0}, "predicted": {"throughput_per_s": 3.0}}]
    out = compare(levels, u)
    assert [d["rate_per_s"] for d in out] == [2]
    assert out[0]["usl_throughput_per_s"] == pytest.approx(4.0)
