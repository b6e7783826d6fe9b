"""The `botcap` commands of loadtest/staging/ (thin: parse options, call the library, print)."""

from __future__ import annotations

import signal
import tempfile
import threading
from pathlib import Path
from typing import Annotated

import typer

from botcap.cliutil import JsonFlag, SetOption, emit_json, load
from botcap.errors import BadInput


def register(app: typer.Typer) -> None:
    """Add this part's commands to the root `botcap` app."""
    staging = typer.Typer(no_args_is_help=True, help="The staging stack: fakes + reference bot instances.")
    app.add_typer(staging, name="staging")

    @staging.command("up")
    def up(
        instances: Annotated[int | None, typer.Option(help="bot instances (default: the scenario's)")] = None,
        mode: Annotated[str | None, typer.Option(help="webhook or polling (default: platform.mode)")] = None,
        scenario: Annotated[Path | None, typer.Option(help="scenario YAML (default: embedded)")] = None,
        set_: SetOption = None,
        workdir: Annotated[Path | None, typer.Option(help="logs, stage timings (default: temp)")] = None,
        claude_time_scale: Annotated[float, typer.Option(help="fake Claude latency multiplier")] = 1.0,
        telegram_api_url: Annotated[str | None, typer.Option(
            help="use this Bot API instead of starting the fake")] = None,
        claude_api_url: Annotated[str | None, typer.Option(
            help="use this Messages API instead of starting the fake")] = None,
        bot_token: Annotated[str | None, typer.Option(help="token for --telegram-api-url")] = None,
        allow_non_loopback: Annotated[list[str] | None, typer.Option(
            "--allow-non-loopback", metavar="HOST",
            help="allow this non-loopback API host (repeatable); refused otherwise")] = None,
        json_: JsonFlag = False,
    ) -> None:
        """Start the fakes and N bot instances, print their URLs, run until Ctrl-C or SIGTERM."""
        from botcap.loadtest.harness.flags import LIMITS
        from botcap.loadtest.staging.stack import StagingStack

        sc = load(scenario, set_)
        n = instances if instances is not None else sc.platform.instances
        chosen = mode or sc.platform.mode
        if chosen not in ("webhook", "polling"):
            raise BadInput(f"--mode: must be webhook or polling (got {chosen!r})")
        lo, hi = LIMITS["instances"]
        if not lo <= n <= hi:  # each instance is a process with its own DB pool: bounded on one machine
            raise BadInput(f"--instances: must be {lo}..{hi} bot processes on this machine (got {n})")
        folder = workdir or Path(tempfile.mkdtemp(prefix="botcap-staging-"))
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, lambda *_: stop.set())
        stack = StagingStack(scenario=sc, instances=n, mode=chosen, workdir=folder,
                             claude_time_scale=claude_time_scale, allow_non_loopback=allow_non_loopback or [],
                             telegram_api_url=telegram_api_url, claude_api_url=claude_api_url,
                             bot_token=bot_token)
        try:
            info = stack.start()
            if json_:
                emit_json(info.to_json())
            else:
                typer.echo(f"staging stack up ({info.mode}, {len(info.instance_urls)} instance(s)); "
                           "Ctrl-C to stop")
                typer.echo(f"  telegram API   {info.telegram_api_url}  (token {info.bot_token})")
                typer.echo(f"  claude API     {info.claude_api_url}")
                if info.webhook_url:
                    typer.echo(f"  webhook        {info.webhook_url}")
                for url in info.instance_urls:
                    typer.echo(f"  instance       {url}  (/metrics, /healthz)")
                typer.echo(f"  scheduler      {info.scheduler_url}/_control/clock")
                typer.echo(f"  stage timings  {info.stages_dir}")
            while not stop.wait(0.5):
                pass
        finally:
            stack.stop()
        if not json_:
            typer.echo("staging stack stopped")
