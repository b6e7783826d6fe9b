"""The report's own assumed inputs (assumptions.yaml): read once, listed in the provenance section."""

from __future__ import annotations

from functools import cache
from importlib import resources

import yaml

__all__ = ["assumptions"]


@cache
def assumptions() -> dict:
    text = resources.files("botcap.report").joinpath("assumptions.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)
