"""The `botcap` commands of loadtest/: each part registers its own (never imports Locust here)."""

from __future__ import annotations

import typer
from botcap.loadtest.harness.cli import register as register_harness
from botcap.loadtest.staging.cli import register as register_staging


def register(app: typer.Typer) -> None:
    """Add `staging`, `loadtest` and `gate` to the root `botcap` app."""
    register_staging(app)
    register_harness(app)
