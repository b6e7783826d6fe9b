"""Distributions as they are written in a scenario: plain data, no sampling here.

A bare number means a constant. Otherwise ``{dist: exponential|lognormal|gamma, mean, cv}`` or
``{dist: empirical, samples: [...]}`` (calibration writes the latter). Sampling lives in
``botcap.sampling`` so that the scenario stays declarative.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, model_validator

from botcap.scenario.base import Spec

DIST_NAMES = ("constant", "exponential", "lognormal", "gamma", "empirical")


class _Dist(Spec):
    """Strict like every section (``Spec``): unknown keys, ``inf``/``nan`` and true/false are errors."""


class Constant(_Dist):
    dist: Literal["constant"] = "constant"
    mean: float = Field(gt=0, description="the value itself")

    @property
    def cv(self) -> float:
        return 0.0


class Exponential(_Dist):
    dist: Literal["exponential"]
    mean: float = Field(gt=0)

    @property
    def cv(self) -> float:
        return 1.0


class Lognormal(_Dist):
    dist: Literal["lognormal"]
    mean: float = Field(gt=0)
    cv: float = Field(gt=0, le=100, description="standard deviation / mean")


class Gamma(_Dist):
    dist: Literal["gamma"]
    mean: float = Field(gt=0)
    cv: float = Field(gt=0, le=100, description="standard deviation / mean")


class Empirical(_Dist):
    dist: Literal["empirical"]
    samples: list[Annotated[float, Field(ge=0)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _positive_mean(self) -> Empirical:
        if sum(self.samples) <= 0:
            raise ValueError("samples must have a positive mean")
        return self

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples)

    @property
    def cv(self) -> float:
        m = self.mean
        var = sum((x - m) ** 2 for x in self.samples) / len(self.samples)
        return var**0.5 / m


def _bare_number_is_constant(value):
    if isinstance(value, bool):
        return value  # let validation reject it with a clear message
    if isinstance(value, int | float):
        return {"dist": "constant", "mean": value}
    if isinstance(value, dict) and "dist" not in value:
        raise ValueError(f"a distribution needs 'dist' (one of {', '.join(DIST_NAMES)}) or a bare number")
    return value


Dist = Annotated[
    Constant | Exponential | Lognormal | Gamma | Empirical,
    Field(discriminator="dist"),
    BeforeValidator(_bare_number_is_constant),
]
"""Any scenario distribution; a bare number is a constant."""
