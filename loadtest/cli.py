"""The `botcap` commands of loadtest/ (thin: parse options, call the library, print)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root `botcap` app."""
