"""Shared building blocks of the scenario schema: the frozen, strict base model and unit types."""

from __future__ import annotations

import types
import typing
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

Share = Annotated[float, Field(ge=0, le=1)]
NonNegSeconds = Annotated[float, Field(ge=0)]
PosSeconds = Annotated[float, Field(gt=0)]
NonNegUsd = Annotated[float, Field(ge=0, le=1e12)]   # bounded: sums and products of USD stay finite


def _takes_bool(annotation) -> bool:
    """Whether a field may hold true/false itself, or holds a section that judges its own values."""
    if annotation is bool or annotation is Any:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _takes_bool(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, list, dict, tuple):
        return any(_takes_bool(a) for a in typing.get_args(annotation))
    return False


def _has_bool(value) -> bool:
    if isinstance(value, bool):
        return True
    if isinstance(value, dict):
        return any(_has_bool(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_bool(v) for v in value)
    return False


class Spec(BaseModel):
    """Base of every scenario section: unknown keys are errors, values are immutable, numbers finite.

    ``allow_inf_nan=False``: a quantity of ``.inf`` or ``.nan`` (a timeout, a price) is an error.
    ``true``/``false`` where a number is expected is an error too (pydantic would read ``instances:
    true`` as 1).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_as_number(cls, data):
        if isinstance(data, dict):
            bad = [k for k, v in data.items() if isinstance(k, str) and k in cls.model_fields
                   and _has_bool(v) and not _takes_bool(cls.model_fields[k].annotation)]
            if bad:
                raise ValueError("; ".join(f"{k}: must be a number, not true/false" for k in bad))
        return data
