"""Shared by the sweep tests: the M/M/c scenario, a 2-worker local Dask cluster, the CLI as a process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from botcap.sim.cluster import dask_executor

from botcap.scenario import load_scenario

sys.path.insert(0, str(Path(__file__).parent))  # sweep_helpers, beside this file

from sweep_helpers import MMC  # noqa: E402


@pytest.fixture(scope="session")
def cluster():
    """A real local Dask cluster with 2 single-threaded worker processes, shared by the suite's tests."""
    with dask_executor(workers=2) as executor:
        yield executor


@pytest.fixture(scope="session")
def mmc():
    return load_scenario(MMC)

