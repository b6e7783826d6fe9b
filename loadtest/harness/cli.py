"""The `botcap` commands of loadtest/harness/ (thin: parse options, call the library, print).

Never imports Locust: ``loadtest run`` starts Locust as its own processes (gevent monkey-patching).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from botcap.loadtest.users.telegram import DEFAULT_TOKEN

from botcap.cliutil import JsonFlag, emit_json
from botcap.errors import EXIT_GATE_FAILED

GatesFile = Annotated[Path, typer.Argument(help="Gates YAML: a 'thresholds' list of strings.")]
RunDir = Annotated[Path, typer.Argument(help="A RunBundle folder written by 'botcap loadtest run'.")]
BaselineOpt = Annotated[Path | None, typer.Option("--baseline", help="Baseline RunBundle for relative "
                                                   "thresholds ('throughput_per_s > 0.9 * baseline').")]


def gate_command(gates: GatesFile, run_dir: RunDir, baseline: BaselineOpt = None,
                 json_: JsonFlag = False) -> None:
    """Check a RunBundle against thresholds: exit 0 all hold, 1 any fails (or bundle incomplete)."""
    from botcap.loadtest.harness.gate import evaluate, load_gates

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
    from botcap.loadtest.harness.gate import render
    from rich.console import Console

    console = Console()
    console.print(render(result))
    for problem in result["problems"]:
        console.print(f"[bold red]fail closed:[/] {problem}")
    console.print("[green]gate passed[/]" if result["passed"] else "[bold red]gate FAILED[/]")


loadtest_app = typer.Typer(no_args_is_help=True, help="Load tests against a staging bot (Locust).")


@loadtest_app.command("run")
def run_command(
    profile: Annotated[str, typer.Option(help="smoke (<= 60 s), ci (<= 3 min) or calibration (<= 15 min).")]
    = "smoke",
    target: Annotated[str | None, typer.Option(help="Your bot's webhook URL (no staging stack is started); "
                                                    "needs --telegram-url and --bot-token.")] = None,
    telegram_url: Annotated[str | None, typer.Option(
        help="The fake Telegram API your bot uses (python -m botcap.loadtest.fakes.telegram). "
             "Without --target "
             "updates go into its queue: for a long-polling bot, or a webhook the fake calls.")] = None,
    bot_token: Annotated[str, typer.Option(help="With --target: your bot's token at the fake.")] \
        = DEFAULT_TOKEN,
    secret: Annotated[str | None, typer.Option(help="With --target: the webhook's secret token.")] = None,
    users: Annotated[int | None, typer.Option(help="Closed workload of N chatting users.")] = None,
    rate: Annotated[float | None, typer.Option(help="Open workload: R arrivals/s (Poisson).")] = None,
    duration: Annotated[float | None, typer.Option(help="Seconds of load.")] = None,
    workers: Annotated[int, typer.Option(help="Locust master + N local worker processes.")] = 0,
    instances: Annotated[int, typer.Option(help="Staging bot instances.")] = 1,
    mode: Annotated[str, typer.Option(help="Staging bot mode: webhook or polling.")] = "webhook",
    scenario: Annotated[Path | None, typer.Option(help="Scenario YAML (default: the embedded one).")] = None,
    out: Annotated[Path | None, typer.Option(help="RunBundle folder (default: runs/<profile>-<time>).")]
    = None,
    gate: Annotated[Path | None, typer.Option(help="Gate the run with this gates file (exit 1 on fail).")]
    = None,
    baseline: BaselineOpt = None,
    seed: Annotated[int | None, typer.Option(help="Seed of arrivals and the fakes.")] = None,
    json_: JsonFlag = False,
) -> None:
    """Run Locust headless against the staging stack (or --target) and write a RunBundle."""
    import datetime as dt

    from botcap.loadtest.harness.profiles import resolve
    from botcap.loadtest.harness.run import RunOptions, run_load

    from botcap.cliutil import load
    from botcap.errors import BadInput

    thresholds = None
    if gate is not None:  # a malformed gates file is exit 2 before any load is offered
        from botcap.loadtest.harness.gate import load_gates
        thresholds = load_gates(gate)
    if target and not telegram_url:
        raise BadInput("--telegram-url: required with --target (the fake Telegram API your bot uses)")
    if mode not in ("webhook", "polling"):
        raise BadInput(f"--mode: must be webhook or polling (got {mode!r})")
    p = resolve(profile, users=users, rate=rate, duration_s=duration, workers=workers)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = out or Path("runs") / f"{p.name}-{stamp}"
    opts = RunOptions(profile=p, out=out, scenario=load(scenario, None), target=target or None,
                      telegram_url=telegram_url, bot_token=bot_token, webhook_secret=secret,
                      workers=workers, instances=instances, mode=mode, live=not json_, seed=seed,
                      external_bot=bool(telegram_url))
    run = run_load(opts)
    result = None
    if thresholds is not None:
        from botcap.loadtest.harness.gate import evaluate
        result = evaluate(thresholds, out, baseline)
    if json_:
        emit_json({"out": str(out), "complete": run["complete"], "reason": run.get("reason"),
                   "counts": run.get("counts"), "summary": run.get("summary"), "gate": result})
    else:
        typer.echo(f"RunBundle: {out}  complete: {run['complete']}" +
                   (f" ({run.get('reason')})" if not run["complete"] else ""))
        typer.echo(f"requests: {run.get('counts')}")
        if result is not None:
            _print_gate(result, False)
    if str(run.get("reason") or "").startswith("interrupted"):
        raise SystemExit(130)
    if result is not None and not result["passed"]:
        gate_failed()
    if result is None and not run["complete"]:
        gate_failed()


def register(app: typer.Typer) -> None:
    """Add this part's commands to the root `botcap` app: `gate` and `loadtest run`."""
    app.command("gate")(gate_command)
    app.add_typer(loadtest_app, name="loadtest")
