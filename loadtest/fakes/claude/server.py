"""Run the fake: on the current event loop (``start``) or in a background thread (``running``).

The thread form lets synchronous code — a test using ``anthropic.Anthropic``, a notebook — talk to a
real HTTP server on loopback without a subprocess; the CLI (``__main__``) uses ``start``.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from aiohttp import web
from botcap.loadtest.fakes.claude.app import STATE, FakeClaude, create_app
from botcap.loadtest.fakes.claude.config import ClaudeFakeConfig


async def start(config: ClaudeFakeConfig, host: str = "127.0.0.1",
                port: int = 0) -> tuple[web.AppRunner, str]:
    """Serve the fake on ``host:port`` (0 = any free port); returns the runner and the base URL."""
    runner = web.AppRunner(create_app(config), access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound = site._server.sockets[0].getsockname()  # the real port when 0 was asked for
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    return runner, f"http://{shown}:{bound[1]}"


class RunningFake:
    """A fake served from a background thread: its ``url`` and its in-process state (``fake``)."""

    def __init__(self, url: str, fake: FakeClaude, loop: asyncio.AbstractEventLoop):
        self.url, self.fake, self.loop = url, fake, loop


@contextmanager
def running(config: ClaudeFakeConfig, host: str = "127.0.0.1") -> Iterator[RunningFake]:
    """The fake served on a free loopback port from a daemon thread until the block ends."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    holder: dict = {}

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            runner, url = loop.run_until_complete(start(config, host, 0))
            holder.update(runner=runner, url=url)
        except BaseException as exc:  # surface a bind failure to the caller
            holder["error"] = exc
            ready.set()
            return
        ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, name="fake-claude", daemon=True)
    thread.start()
    ready.wait(30)
    if "error" in holder:
        raise holder["error"]
    runner = holder["runner"]
    try:
        yield RunningFake(holder["url"], runner.app[STATE], loop)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(30)
