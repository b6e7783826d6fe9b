"""The scenario schema: a declarative, frozen description of the platform and its users."""

from botcap.scenario.dists import Constant, Dist, Empirical, Exponential, Gamma, Lognormal
from botcap.scenario.loader import apply_set, default_document, format_errors, load_scenario, read_document
from botcap.scenario.model import DIURNAL_PROFILES, KindSpec, Scenario, hhmm_to_s

__all__ = [
    "Scenario", "KindSpec", "Dist", "Constant", "Exponential", "Lognormal", "Gamma", "Empirical",
    "load_scenario", "read_document", "default_document", "apply_set", "format_errors",
    "DIURNAL_PROFILES", "hhmm_to_s",
]
