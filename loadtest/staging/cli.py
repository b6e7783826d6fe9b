"""The `botcap` commands of loadtest/staging/ (thin: parse options, call the library, print)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this part's commands to the root `botcap` app."""
