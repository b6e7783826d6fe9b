"""The `botcap` commands of loadtest/harness/ (thin: parse options, call the library, print).

Never imports Locust: ``loadtest run`` starts Locust as its own processes (gevent monkey-patching).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from botcap.cliutil import JsonFlag, emit_json
from botcap.errors import EXIT_GATE_FAILED

GatesFile = Annotated[Path, typer.Argument(help="Gates YAML: a 'thresholds' list of strings.")]
RunDir = Annotated[Path, typer.Argument(help="A RunBundle folder written by 'botcap loadtest run'.")]
BaselineOpt = Annotated[Path | None, typer.Option("--baseline", help="Baseline RunBundle for relative "
                                                   "thresholds ('throughput_per_s > 0.9 * baseline').")]


def gate_command(gates: GatesFile, run_dir: RunDir, baseline: BaselineOpt = None,
                 json_: JsonFlag = False) -> None:
    """Check a RunBundle against thresholds: exit 0 all hold, 1 any fails (or bundle incomplete)."""
    from loadtest.harness.gate import evaluate, load_gates

    result = evaluate(load_gates(gates), run_dir, baseline)
    _print_gate(result, json_)
    if not result["passed"]:
        gate_failed()


def gate_failed() -> None:
    """Exit 1. SystemExit, not typer.Exit: click (standalone_mode=False) turns typer.Exit into a return
    value that ``botcap.cli.main`` drops, which would exit 0 (reported to the lead)."""
    raise SystemExit(EXIT_GATE_FAILED)


def _print_gate(result: dict, json_: bool) -> None:
    if json_:
        emit_json(result)
        return
    from rich.console import Console

    from loadtest.harness.gate import render

    console = Console()
    console.print(render(result))
    for problem in result["problems"]:
        console.print(f"[bold red]fail closed:[/] {problem}")
    console.print("[green]gate passed[/]" if result["passed"] else "[bold red]gate FAILED[/]")


def register(app: typer.Typer) -> None:
    """Add this part's commands to the root `botcap` app: `gate`."""
    app.command("gate")(gate_command)
