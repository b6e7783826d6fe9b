"""Shared building blocks of the scenario schema: the frozen, strict base model and unit types."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

Share = Annotated[float, Field(ge=0, le=1)]
NonNegSeconds = Annotated[float, Field(ge=0)]
PosSeconds = Annotated[float, Field(gt=0)]
NonNegUsd = Annotated[float, Field(ge=0)]


class Spec(BaseModel):
    """Base of every scenario section: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)
