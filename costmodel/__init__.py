"""Unit economics per tier, break-even, mitigations, capacity cross-check, sensitivity and uncertainty.

Library first: ``run_cost(scenario) -> CostResult`` (plain data); ``botcap cost`` is a thin shell.
Names are loaded on first use (PEP 562) so that importing the ``botcap`` CLI, which imports
``botcap.costmodel.cli``, does not pay for numpy/scipy/genai-prices in every other command.
"""

from __future__ import annotations

import importlib

__all__ = ["run_cost", "CostResult", "load_price_book", "PriceBook", "PriceSource", "ModelPrice"]
_HOME = {"run_cost": "botcap.costmodel.result", "CostResult": "botcap.costmodel.result",
         "load_price_book": "botcap.costmodel.prices", "PriceBook": "botcap.costmodel.prices",
         "PriceSource": "botcap.costmodel.prices", "ModelPrice": "botcap.costmodel.prices"}


def __getattr__(name: str):
    if name in _HOME:
        return getattr(importlib.import_module(_HOME[name]), name)
    raise AttributeError(f"module 'costmodel' has no attribute {name!r}")
