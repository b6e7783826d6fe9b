"""``python -m botcap.loadtest.staging --config FILE --instance NAME[:ROLE] [--instance ...]``:
staging processes.

Started by ``StagingStack``. Importing aiogram, anthropic and pydantic costs ~10 s of CPU per process
on a busy 2-core machine, so with several ``--instance`` this launcher imports once and then forks one
process per instance (a zygote): N real, separate processes (own event loop, own pool, own PID) for
the price of one import. Each prints its own JSON ready line. The launcher waits for its children and
forwards SIGTERM/SIGINT to them; every process asks the kernel to SIGTERM it when its parent dies
(PR_SET_PDEATHSIG), so that a killed stack leaves no orphans.
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

CHILD_GRACE_S = 7   # after forwarding SIGTERM; under StagingStack's 10 s before it SIGKILLs the launcher


def _die_with_parent(parent: int, sig: int = signal.SIGTERM) -> None:
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, sig)   # PR_SET_PDEATHSIG
    except OSError:
        return
    if os.getppid() != parent:   # the parent died before prctl took effect
        os._exit(0)


def _run_one(config, name: str, role: str, port: int) -> int:
    from botcap.loadtest.staging.app import run
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format=f"%(asctime)s {name} %(name)s %(levelname)s %(message)s")
    logging.getLogger("botcap").setLevel(logging.INFO)   # our own start/stop lines; aiogram's per-update
                                                          # INFO lines would cost CPU under load
    try:
        asyncio.run(run(config, name, role, port))
    except BadInput as e:
        sys.stderr.write("\n".join(e.lines) + "\n")
        return EXIT_BAD_INPUT
    return 0


def _fork_all(config, specs: list[tuple[str, str]]) -> int:
    me = os.getpid()
    children: dict[int, str] = {}
    for name, role in specs:
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            # the launcher only dies before its children if it was killed: then no grace, go at once
            _die_with_parent(me, signal.SIGKILL)
            code = 1
            try:
                code = _run_one(config, name, role, 0)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        children[pid] = name

    def send(signum) -> None:
        for pid in children:
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def forward(signum, _frame):
        send(signum)
        signal.signal(signal.SIGALRM, lambda *_: send(signal.SIGKILL))
        signal.alarm(CHILD_GRACE_S)            # whatever has not stopped by then is killed

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    worst = 0
    while children:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            break
        children.pop(pid, None)
        worst = max(worst, os.waitstatus_to_exitcode(status) if status else 0)
    return worst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m botcap.loadtest.staging")
    p.add_argument("--config", type=Path, required=True)
    p.add_argument("--instance", action="append", required=True, metavar="NAME[:ROLE]",
                   help="an instance to run (ROLE: bot, the default, or scheduler); repeat for several")
    p.add_argument("--port", type=int, default=0, help="own port of a single instance (0 = any free)")
    args = p.parse_args(argv)
    _die_with_parent(os.getppid())
    specs = [(s.split(":")[0], (s.split(":") + ["bot"])[1]) for s in args.instance]
    for name, role in specs:
        if role not in ("bot", "scheduler"):
            p.error(f"--instance {name}:{role}: role must be bot or scheduler")
    from botcap.loadtest.staging.config import BotConfig
    config = BotConfig.read(args.config)
    try:
        config.check_endpoints()
    except BadInput as e:
        sys.stderr.write("\n".join(e.lines) + "\n")
        return EXIT_BAD_INPUT
    import botcap.loadtest.staging.app  # noqa: F401 - the expensive imports, done once before forking
    if len(specs) == 1:
        return _run_one(config, specs[0][0], specs[0][1], args.port)
    return _fork_all(config, specs)


if __name__ == "__main__":
    sys.exit(main())
