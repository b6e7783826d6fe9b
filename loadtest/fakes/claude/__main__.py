"""``python -m botcap.loadtest.fakes.claude``: serve the fake until SIGTERM/SIGINT.

Once listening it prints one JSON line ``{"url": "http://127.0.0.1:PORT"}`` on stdout, so that a
supervisor can start it on port 0 and read where it is. It refuses a non-loopback ``--host`` unless
``--allow-non-loopback`` is given: a fake that answers for Anthropic must not be reachable by accident.
Bad input (unreadable or invalid scenario, bad host) exits 2 with one line on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys

from botcap.loadtest.fakes.claude.config import ClaudeFakeConfig
from botcap.loadtest.fakes.claude.server import start
from botcap.loadtest.net import is_loopback_host

from botcap.errors import EXIT_BAD_INPUT, BadInput
from botcap.scenario import load_scenario


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m botcap.loadtest.fakes.claude",
                                description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 = a free port (printed on stdout)")
    p.add_argument("--scenario", default=None, help="scenario YAML (default: the embedded default)")
    p.add_argument("--time-scale", type=float, default=1.0, help="multiplies every latency; 0 = instant")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--allow-non-loopback", action="store_true", help="allow a --host other than loopback")
    return p


async def _serve(config: ClaudeFakeConfig, host: str, port: int) -> None:
    runner, url = await start(config, host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"url": url}), flush=True)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if not is_loopback_host(args.host) and not args.allow_non_loopback:
            raise BadInput(f"--host: {args.host} is not a loopback address "
                           "(pass --allow-non-loopback to serve on it)")
        if not 0 <= args.port <= 65535:
            raise BadInput(f"--port: must be 0..65535 (got {args.port})")
        if args.time_scale < 0:
            raise BadInput(f"--time-scale: must be >= 0 (got {args.time_scale})")
        config = ClaudeFakeConfig.from_scenario(load_scenario(args.scenario), time_scale=args.time_scale,
                                                seed=args.seed)
    except BadInput as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        asyncio.run(_serve(config, args.host, args.port))
    except OSError as exc:  # e.g. the port is taken
        print(f"--port: cannot listen on {args.host}:{args.port} ({exc.strerror or exc})", file=sys.stderr)
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
