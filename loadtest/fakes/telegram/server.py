"""Run the fake inside the current event loop (tests, the staging harness): ``async with running(cfg)``.

The subprocess entry point (``python -m botcap.loadtest.fakes.telegram``) is for isolation and benchmarks;
in-process is for tests that also want to look at the fake's state directly.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiohttp import web
from botcap.loadtest.fakes.telegram.app import create_app
from botcap.loadtest.fakes.telegram.config import TelegramFakeConfig
from botcap.loadtest.fakes.telegram.control import FAKE_KEY
from botcap.loadtest.fakes.telegram.state import FakeTelegram


@dataclass
class RunningFake:
    url: str
    app: web.Application

    @property
    def fake(self) -> FakeTelegram:
        return self.app[FAKE_KEY]


@asynccontextmanager
async def running(config: TelegramFakeConfig | None = None, host: str = "127.0.0.1",
                  port: int = 0) -> AsyncIterator[RunningFake]:
    """Serve the fake on ``host:port`` (0 = a free port) for the duration of the block."""
    app = create_app(config or TelegramFakeConfig())
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = site._server.sockets[0].getsockname()
    try:
        yield RunningFake(url=f"http://{host}:{bound[1]}", app=app)
    finally:
        await runner.cleanup()
