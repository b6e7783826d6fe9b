"""MLE fits against known distributions (fixed seeds; tolerances ~4 standard errors at n = 3000)."""

from __future__ import annotations

import numpy as np
import pytest
from botcap.sim.calibrate.fit import fit_positive

from botcap.errors import BadInput
from botcap.sampling import lognormal_params


def test_lognormal_is_recognised_and_recovered():
    mu, sigma = lognormal_params(0.01, 0.6)
    a = np.random.default_rng(1).lognormal(mu, sigma, 3000)
    f = fit_positive("x", a)
    assert f.name == "lognormal"
    assert f.dist.mean == pytest.approx(0.01, rel=0.04)
    assert f.dist.cv == pytest.approx(0.6, rel=0.06)
    assert f.gof["statistic"] == "ks" and f.gof["value"] < 0.03
    assert f.candidates["gamma"]["ks"] > f.candidates["lognormal"]["ks"]


def test_gamma_is_recognised_and_recovered():
    a = np.random.default_rng(2).gamma(4.0, 0.25, 3000)  # mean 1, cv 0.5
    f = fit_positive("x", a)
    assert f.name == "gamma"
    assert f.dist.mean == pytest.approx(1.0, rel=0.03)
    assert f.dist.cv == pytest.approx(0.5, rel=0.05)


def test_bimodal_falls_back_to_empirical_quantiles():
    rng = np.random.default_rng(3)
    a = np.concatenate([rng.normal(1.0, 0.02, 1500), rng.normal(5.0, 0.05, 1500)])
    f = fit_positive("x", a)
    assert f.name == "empirical"
    assert f.gof["rejected_ks"] > 0.2          # the best parametric form was far off
    pts = np.asarray(f.dist.samples)
    assert np.quantile(pts, 0.25) == pytest.approx(np.quantile(a, 0.25), rel=0.02)
    assert np.quantile(pts, 0.95) == pytest.approx(np.quantile(a, 0.95), rel=0.02)
    assert f.dist.mean == pytest.approx(a.mean(), rel=0.01)


def test_constant_sample_is_a_constant():
    f = fit_positive("x", [0.25] * 40)
    assert f.name == "constant" and f.dist.mean == pytest.approx(0.25)


def test_too_few_samples_is_bad_input_naming_the_stage():
    with pytest.raises(BadInput, match=r"kinds.note.service_s: too few samples to fit \(12; at least 30"):
        fit_positive("kinds.note.service_s", np.ones(12) + np.arange(12))
