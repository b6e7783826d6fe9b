"""What every botcap command shares: the scenario argument, --set, --json output.

Kept apart from ``botcap.cli`` so that each package's thin CLI module (sim/cli.py, costmodel/cli.py,
loadtest/cli.py) can use it without importing the others.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from botcap.scenario import Scenario, load_scenario

ScenarioFile = Annotated[
    Path | None,
    typer.Argument(help="Scenario YAML; omitted = the embedded default scenario (10K DAU).",
                   show_default=False),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a key: dotted.path=value (YAML-typed, null allowed). Repeatable."),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout (for machines).")]


def load(file: Path | None, sets: list[str] | None) -> Scenario:
    """The scenario a command works on (raises BadInput; the CLI turns that into exit 2)."""
    return load_scenario(file, sets or [])


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return _jsonable(obj.item())
    return obj


def dumps(obj: Any) -> str:
    """Strict JSON (NaN/inf become null) that any consumer can parse."""
    return json.dumps(_jsonable(obj), indent=2, allow_nan=False)


def emit_json(obj: Any) -> None:
    sys.stdout.write(dumps(obj) + "\n")


def model_warnings(scenario: Scenario) -> list[str]:
    """Warnings about the scenario's Claude models (legacy/retiring: replacement and price change),
    each written to stderr as one ``warning:`` line; the caller also puts them in its JSON."""
    from botcap.costmodel.model_facts import model_warnings as find

    lines = find(scenario)
    for line in lines:
        sys.stderr.write(f"warning: {line}\n")
    return lines
