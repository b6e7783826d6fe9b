"""The aiohttp application: Telegram's ``/bot<token>/<method>`` routes plus the fake's control routes.

The Bot API handler is the hot path (the benchmark drives thousands of sendMessage per second through
it), so it avoids middlewares and pydantic: plain dicts in, ``json.dumps`` out.
"""

from __future__ import annotations

import asyncio
import json
import time

from aiohttp import web
from botcap.loadtest.fakes.telegram.config import TelegramFakeConfig
from botcap.loadtest.fakes.telegram.control import FAKE_KEY, add_control_routes
from botcap.loadtest.fakes.telegram.errors import NOT_FOUND, ApiError
from botcap.loadtest.fakes.telegram.methods import Described, call_method
from botcap.loadtest.fakes.telegram.params import read_request_params
from botcap.loadtest.fakes.telegram.state import FakeTelegram

JSON = "application/json"


def _json(body: dict, status: int = 200) -> web.Response:
    return web.Response(body=json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode(),
                        status=status, content_type=JSON)


async def bot_api(request: web.Request) -> web.Response:
    """One Bot API call: ``{"ok": true, "result": …}`` or Telegram's error object with its status."""
    arrived_at = time.time()
    fake: FakeTelegram = request.app[FAKE_KEY]
    try:
        bot = fake.bot(request.match_info["token"])
        params = await read_request_params(request)
        latency = fake.config.latency_s
        if latency:
            await asyncio.sleep(latency)
        result = await call_method(fake, bot, request.match_info["method"], params, arrived_at)
    except ApiError as e:
        return _json(e.body(), status=e.error_code)
    if isinstance(result, Described):
        return _json({"ok": True, "result": result.result, "description": result.description})
    return _json({"ok": True, "result": result})


async def not_found(request: web.Request) -> web.Response:
    """Anything else gets Telegram's JSON 404 (aiogram cannot decode aiohttp's plain-text one)."""
    return _json(NOT_FOUND.body(), status=404)


def create_app(config: TelegramFakeConfig | None = None) -> web.Application:
    """The fake Telegram Bot API as an aiohttp app (run it with ``web.AppRunner`` or ``web.run_app``)."""
    app = web.Application(client_max_size=50 * 1024 * 1024)
    fake = FakeTelegram(config or TelegramFakeConfig())
    app[FAKE_KEY] = fake
    add_control_routes(app)
    app.router.add_route("*", "/bot{token}/{method}", bot_api)
    app.router.add_route("*", "/{tail:.*}", not_found)

    async def on_shutdown(app: web.Application) -> None:
        await fake.reset()  # wakes long polls, waits and streams so that shutdown is quick

    async def on_cleanup(app: web.Application) -> None:
        await fake.close()

    app.on_shutdown.append(on_shutdown)
    app.on_cleanup.append(on_cleanup)
    return app
