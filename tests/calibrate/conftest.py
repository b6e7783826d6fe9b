"""Shared synthetic bundles (built once per session: each is a few seconds of simulation)."""

from __future__ import annotations

from pathlib import Path

import pytest
from botcap.sim.calibrate.synthetic import write_synthetic_bundle

from botcap.scenario import load_scenario

HERE = Path(__file__).parent
LADDER = [(0.5, 120), (1, 120), (2, 120), (3, 120), (4, 120), (5, 120)]


@pytest.fixture(scope="session")
def truth():
    return load_scenario(HERE / "synthetic.yaml")


@pytest.fixture(scope="session")
def ladder_bundle(tmp_path_factory, truth) -> Path:
    out = tmp_path_factory.mktemp("syn") / "ladder"
    return write_synthetic_bundle(truth, LADDER, out, seed=3, warmup_s=20)


@pytest.fixture(scope="session")
def no_tokens_bundle(tmp_path_factory, truth) -> Path:
    return write_synthetic_bundle(truth, LADDER[:3], tmp_path_factory.mktemp("syn") / "notokens", seed=4,
                                  tokens=False)


@pytest.fixture
def botcap(botcap_in_process):
    """``botcap ARGS`` in this process (tests/conftest.py): (exit code, stdout, stderr)."""
    return botcap_in_process
