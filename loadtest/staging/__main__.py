"""``python -m loadtest.staging --config FILE --instance NAME [--role bot|scheduler]``: one staging process.

Started by ``StagingStack``; asks the kernel to SIGTERM it when its parent dies (PR_SET_PDEATHSIG), so
that a killed stack leaves no orphan bots behind.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import logging
import os
import signal
import sys
from pathlib import Path

from botcap.errors import EXIT_BAD_INPUT, BadInput


def _die_with_parent() -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)   # PR_SET_PDEATHSIG
    except OSError:
        return
    if os.getppid() == 1:   # the parent already died before prctl took effect
        sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m loadtest.staging")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--instance", required=True)
    p.add_argument("--role", choices=("bot", "scheduler"), default="bot")
    p.add_argument("--port", type=int, default=0, help="this process's own port (0 = any free)")
    args = p.parse_args(argv)
    _die_with_parent()
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format=f"%(asctime)s {args.instance} %(name)s %(levelname)s %(message)s")
    from loadtest.staging.app import run
    from loadtest.staging.config import BotConfig
    try:
        asyncio.run(run(BotConfig.read(args.config), args.instance, args.role, args.port))
    except BadInput as e:
        sys.stderr.write("\n".join(e.lines) + "\n")
        return EXIT_BAD_INPUT
    return 0


if __name__ == "__main__":
    sys.exit(main())
