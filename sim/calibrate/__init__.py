"""Calibration: fit the SimPy model's service times from RunBundles and check it on held-out load levels.

``calibrate(run_dirs, ...)`` is the library call behind ``botcap calibrate`` (``sim.calibrate.cli``).
"""

from sim.calibrate.core import Calibrated, calibrate, parse_holdout

__all__ = ["calibrate", "Calibrated", "parse_holdout"]
