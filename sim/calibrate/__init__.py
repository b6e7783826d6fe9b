"""Calibration: fit the SimPy model's service times from RunBundles and check it on held-out load levels.

``calibrate(run_dirs, ...)`` is the library call behind ``botcap calibrate`` (``botcap.sim.calibrate.cli``).
Names load on first use (PEP 562): the ``botcap`` CLI imports ``botcap.sim.calibrate.cli`` for every command,
and must not pay for scipy/pandas each time.
"""

from __future__ import annotations

import importlib

__all__ = ["calibrate", "Calibrated", "parse_holdout"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module("botcap.sim.calibrate.core"), name)
    raise AttributeError(f"module 'botcap.sim.calibrate' has no attribute {name!r}")
