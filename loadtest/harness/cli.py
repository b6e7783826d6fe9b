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
    arrivals: Annotated[str | None, typer.Option(
        help="Open workload of load levels RATE@SECONDS, comma-separated (e.g. '1@30,2@30,4@30').")] = None,
    warmup: Annotated[float | None, typer.Option(
        help="Seconds at the start of each level marked not steady.")] = None,
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
    reply_match: Annotated[str, typer.Option(
        help="How a reply is recognised: next_message (the bot's next text in the chat), reply_to (a "
             "reply to the user's message) or stream (first text, then edits until --stream-quiet s "
             "of silence).")] = "next_message",
    reply_timeout: Annotated[float | None, typer.Option(
        help="Seconds to wait for a reply (default: the profile's).")] = None,
    max_error_rate: Annotated[float, typer.Option(
        help="More failed requests than this share: exit 1 with the reason.")] = 0.5,
    stream_quiet: Annotated[float, typer.Option(
        help="--reply-match stream: seconds without a send/edit that end an answer.")] = 1.0,
    mix: Annotated[str | None, typer.Option(
        help="Kinds, shares and messages, e.g. 'chat=0.7:text 120,help=0.3:/help' (a bot without "
             "commands: 'chat=1:text 80').")] = None,
    claude_url: Annotated[str | None, typer.Option(
        help="External bot: the fake Claude API it uses (its calls are logged and linked).")] = None,
    bot_pid: Annotated[int | None, typer.Option(help="External bot on this machine: its PID (CPU).")] = None,
    allow_host: Annotated[str | None, typer.Option(
        help="Let --target/--telegram-url/--claude-url name this non-loopback host (exactly).")] = None,
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
    from botcap.loadtest.harness.flags import check_run_flags  # every flag, before anything starts
    from botcap.loadtest.harness.profiles import PROFILES
    check_run_flags(target=target, telegram_url=telegram_url, claude_url=claude_url, allow_host=allow_host,
                    bot_token=bot_token, secret=secret, seed=seed, baseline=baseline,
                    rate=rate, duration=duration, users=users, workers=workers,
                    instances=instances,
                    out=out, default_load_s=PROFILES[profile].load_s if profile in PROFILES else None)
    p = resolve(profile, users=users, rate=rate, duration_s=duration, workers=workers, arrivals=arrivals,
                warmup_s=warmup)
    p = _matching_flags(p, reply_match, reply_timeout, max_error_rate, stream_quiet, mix, bot_pid)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    if out is None:  # the default folder is judged by the same rules as a named one, before any load
        from botcap.outdir import check_out_dir
        out = check_out_dir(Path("runs") / f"{p.name}-{stamp}")
    opts = RunOptions(profile=p, out=out, scenario=load(scenario, None), target=target or None,
                      telegram_url=telegram_url, bot_token=bot_token, webhook_secret=secret,
                      workers=workers, instances=instances, mode=mode, live=not json_, seed=seed,
                      external_bot=bool(telegram_url), reply_match=reply_match,
                      max_error_rate=max_error_rate, stream_quiet_s=stream_quiet, claude_url=claude_url,
                      bot_pid=bot_pid, mix=mix)
    run = run_load(opts)
    result = None
    if thresholds is not None:
        from botcap.loadtest.harness.gate import evaluate
        result = evaluate(thresholds, out, baseline)
    if json_:
        emit_json({"out": str(out), "complete": run["complete"], "reason": run.get("reason"),
                   "counts": run.get("counts"), "summary": run.get("summary"), "gate": result,
                   "verdict": run.get("verdict"), "linking": run.get("linking")})
    else:
        typer.echo(f"RunBundle: {out}  complete: {run['complete']}" +
                   (f" ({run.get('reason')})" if not run["complete"] else ""))
        typer.echo(f"requests: {run.get('counts')}")
        if run.get("linking"):
            typer.echo(f"Claude calls linked: {run['linking']}")
        if result is not None:
            _print_gate(result, False)
    if str(run.get("reason") or "").startswith("interrupted"):
        raise SystemExit(130)
    if run.get("verdict"):
        typer.echo(run["verdict"], err=True)
        gate_failed()
    if result is not None and not result["passed"]:
        gate_failed()
    if result is None and not run["complete"]:
        gate_failed()


def _matching_flags(p, reply_match: str, reply_timeout: float | None, max_error_rate: float,
                    stream_quiet: float, mix: str | None, bot_pid: int | None):
    """Check the reply-matching flags (exit 2 naming the flag) and put --reply-timeout in the profile."""
    import dataclasses
    import math

    from botcap.loadtest.users.telegram import REPLY_MATCHES

    from botcap.errors import BadInput

    if reply_match not in REPLY_MATCHES:
        raise BadInput(f"--reply-match: must be one of {', '.join(REPLY_MATCHES)} (got {reply_match!r})")
    if reply_timeout is not None and not (math.isfinite(reply_timeout) and 0 < reply_timeout <= 3600):
        raise BadInput(f"--reply-timeout: must be > 0 and <= 3600 seconds (got {reply_timeout})")
    if not (math.isfinite(max_error_rate) and 0 <= max_error_rate <= 1):
        raise BadInput(f"--max-error-rate: must be between 0 and 1 (got {max_error_rate})")
    if not (math.isfinite(stream_quiet) and 0 < stream_quiet <= 60):
        raise BadInput(f"--stream-quiet: must be > 0 and <= 60 seconds (got {stream_quiet})")
    if mix is not None:
        from botcap.loadtest.users.messages import parse_mix
        try:
            parse_mix(mix, {})
        except ValueError as e:
            raise BadInput(str(e)) from None
    if bot_pid is not None:
        import psutil
        if bot_pid <= 0 or not psutil.pid_exists(bot_pid):
            raise BadInput(f"--bot-pid: no process {bot_pid} on this machine")
    if reply_timeout is not None:
        p = dataclasses.replace(p, reply_timeout_s=float(reply_timeout))
    return p


def register(app: typer.Typer) -> None:
    """Add this part's commands to the root `botcap` app: `gate` and `loadtest run`."""
    app.command("gate")(gate_command)
    app.add_typer(loadtest_app, name="loadtest")
