"""``python -m botcap.loadtest.fakes.telegram``: serve the fake Bot API until SIGTERM/SIGINT.

Once listening it prints one JSON line, ``{"url": "http://127.0.0.1:PORT"}``, so that a supervisor
started with ``--port 0`` learns the port. It binds loopback only unless ``--allow-non-loopback`` is
given: the fake has no authentication and its control routes would otherwise be reachable.
Bad input exits 2 with one line on stderr (the project's exit-code policy).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from aiohttp import web
from botcap.loadtest.fakes.telegram.app import create_app
from botcap.loadtest.fakes.telegram.config import TelegramFakeConfig
from botcap.loadtest.net import is_loopback_host
from pydantic import ValidationError

from botcap.errors import EXIT_BAD_INPUT, BadInput


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m botcap.loadtest.fakes.telegram",
                                description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = any free port (printed on stdout)")
    p.add_argument("--scenario", metavar="FILE", help="scenario YAML (default: the embedded default)")
    p.add_argument("--send-rate-per-s", type=float, help="bot-wide sendMessage limit")
    p.add_argument("--send-burst", type=float, help="bot-wide bucket size")
    p.add_argument("--per-chat-rate-per-s", type=float, help="per-chat limit (overrides the scenario)")
    p.add_argument("--per-chat-burst", type=float, help="per-chat bucket size")
    p.add_argument("--latency-s", type=float, default=0.0, help="added to every Bot API call")
    p.add_argument("--allow-non-loopback", action="store_true", help="allow binding a non-loopback --host")
    p.add_argument("--webhook-rewrite", metavar="URL", default=None,
                   help="deliver a webhook set at a public URL to this loopback base + the URL's path "
                        "(e.g. http://127.0.0.1:8080); without it such a webhook is accepted, not delivered")
    return p.parse_args(argv)


def build_config(args: argparse.Namespace) -> TelegramFakeConfig:
    from botcap.scenario import load_scenario

    overrides = {key: value for key, value in {
        "send_rate_per_s": args.send_rate_per_s, "send_burst": args.send_burst,
        "per_chat_rate_per_s": args.per_chat_rate_per_s, "per_chat_burst": args.per_chat_burst,
        "webhook_rewrite": args.webhook_rewrite,
    }.items() if value is not None}
    if args.send_rate_per_s is not None and args.send_burst is None:
        overrides["send_burst"] = max(1.0, args.send_rate_per_s)
    try:
        return TelegramFakeConfig.from_scenario(load_scenario(args.scenario), latency_s=args.latency_s,
                                                **overrides)
    except ValidationError as e:
        raise BadInput([f"--{'-'.join(str(x) for x in err['loc']).replace('_', '-')}: "
                        f"{err['msg'].removeprefix('Value error, ')} "
                        f"(got {err.get('input')!r})" for err in e.errors()]) from None


async def serve(config: TelegramFakeConfig, host: str, port: int) -> None:
    runner = web.AppRunner(create_app(config), access_log=None, shutdown_timeout=2.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()  # the real port when --port 0
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    print(json.dumps({"url": f"http://{shown}:{bound[1]}"}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        if not is_loopback_host(args.host) and not args.allow_non_loopback:
            raise BadInput(f"--host: {args.host!r} is not a loopback address; the fake has no authentication "
                           "(pass --allow-non-loopback to bind it anyway)")
        if not 0 <= args.port <= 65535:
            raise BadInput(f"--port: must be 0..65535 (got {args.port})")
        config = build_config(args)
    except BadInput as e:
        print("\n".join(e.lines), file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        asyncio.run(serve(config, args.host, args.port))
    except OSError as e:
        print(f"--port: cannot listen on {args.host}:{args.port} ({e.strerror or e})", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
