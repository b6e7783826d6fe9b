"""One staging process: a bot instance (webhook or polling) or the separate digest scheduler.

Webhook mode: aiogram's ``SimpleRequestHandler`` with the secret token, ``handle_in_background``
taken explicitly from ``platform.telegram.webhook_handle_in_background`` (True, aiogram's default:
the webhook answers 200 at once and the update is handled in a task, so Telegram's max_connections
does not bound the work in flight and a failed handler is never redelivered; False: the HTTP answer
waits for the handler, so max_connections is the concurrency cap and a 5xx makes Telegram redeliver).

Several instances share one webhook URL: each listens on the same port with SO_REUSEPORT and the
kernel spreads incoming connections over them (no proxy process to start, supervise or saturate; the
cost is that balancing is per connection, not per request). Each instance also listens on a port of
its own, so that /metrics, /healthz and /_control/clock reach one known instance.

Polling mode, one instance: aiogram's ``Dispatcher.start_polling`` with ``tasks_concurrency_limit =
handlers_per_instance``; several instances: ``polling.FanoutPoller`` (one getUpdates leader, a Redis
queue), because the Bot API answers 409 Conflict to a second concurrent getUpdates.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
import time
from pathlib import Path

import redis.asyncio as aioredis
from aiogram import BaseMiddleware, Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.fsm.storage.base import DefaultKeyBuilder
from aiogram.fsm.storage.redis import RedisStorage
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web
from botcap.loadtest.staging.claude_client import ClaudeClient
from botcap.loadtest.staging.clock import SharedClock
from botcap.loadtest.staging.config import BotConfig
from botcap.loadtest.staging.db import Db, create_pool
from botcap.loadtest.staging.handlers import Deps, router
from botcap.loadtest.staging.mcp import McpLookup
from botcap.loadtest.staging.polling import FanoutPoller
from botcap.loadtest.staging.scheduler import DigestSender
from botcap.loadtest.staging.timings import BREAKER, IN_USE, StageLog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger("botcap.staging")
SHUTDOWN_TIMEOUT_S = 6.0      # under the launcher's 7 s and the stack's 10 s grace


class BurnCpu(BaseMiddleware):
    """``BotConfig.handler_cpu_s`` of CPU burned on the event loop inside every update's handler slot."""

    def __init__(self, cpu_s: float):
        self.cpu_s = cpu_s

    async def __call__(self, handler, event, data):
        end = time.process_time() + self.cpu_s
        while time.process_time() < end:
            pass
        return await handler(event, data)


class StageMiddleware(BaseMiddleware):
    """Opens one stage record per update, around everything aiogram does with it (FSM, filters, handler).

    With ``slots`` (webhook mode) it also caps the handlers in flight at ``handlers_per_instance`` — the
    resource the model calls the instance's handler pool; the wait for a slot is ``handler_wait_s``
    and is not part of ``handler_s``. Polling has its own cap (aiogram's or the fan-out's).
    """

    def __init__(self, stages: StageLog, slots: asyncio.Semaphore | None = None):
        self.stages = stages
        self.slots = slots

    async def __call__(self, handler, event, data):
        if self.slots is None:
            return await self._handle(handler, event, data, 0.0)
        t_wait = time.perf_counter()
        async with self.slots:
            return await self._handle(handler, event, data, time.perf_counter() - t_wait)

    async def _handle(self, handler, event, data, waited_s: float):
        chat = event.message.chat.id if getattr(event, "message", None) else None
        rec, token, t0 = self.stages.begin(event.update_id, "unknown", chat)
        rec.handler_wait_s = waited_s
        try:
            return await handler(event, data)
        except Exception as e:
            rec.ok, rec.error = False, f"{type(e).__name__}: {e}"[:300]
            raise
        finally:
            self.stages.finish(rec, token, t0)


def make_bot(config: BotConfig) -> Bot:
    session = AiohttpSession(api=TelegramAPIServer.from_base(config.telegram_api_url))
    return Bot(config.bot_token, session=session)


async def run(config: BotConfig, instance: str, role: str, private_port: int = 0) -> None:
    """Run until SIGTERM/SIGINT; print one JSON line on stdout once ready."""
    config.check_endpoints()
    scenario = config.load_scenario()
    db_spec = scenario.platform.db
    pool = await create_pool(config.database_url, config.db_schema,
                             min_size=db_spec.pool_min_size_per_instance,
                             max_size=db_spec.pool_size_per_instance)
    db = Db(pool, db_spec.acquire_timeout_s)
    redis = aioredis.Redis.from_url(config.redis_url)
    await redis.ping()
    stages = StageLog(Path(config.stages_dir), instance)
    claude = ClaudeClient(scenario, config.claude_api_url, config.claude_api_key)
    bot = make_bot(config)
    clock = SharedClock(redis, config.redis_prefix)

    app = web.Application()
    mcp = McpLookup(scenario)
    state_value = {"closed": 0, "half_open": 1, "open": 2}
    BREAKER.labels("claude").set_function(lambda: state_value[claude.breaker.state])
    BREAKER.labels("mcp").set_function(lambda: state_value[mcp.breaker.state])
    IN_USE.labels("db_pool").set_function(lambda: pool.get_size() - pool.get_idle_size())
    sem_size = scenario.platform.claude.concurrency_per_instance
    IN_USE.labels("claude_semaphore").set_function(lambda: sem_size - claude.semaphore._value)

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "instance": instance, "role": role, "mode": config.mode,
                                  "breakers": {"claude": claude.breaker.state, "mcp": mcp.breaker.state},
                                  "db_pool": {"size": pool.get_size(), "idle": pool.get_idle_size()}})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", lambda r: web.Response(body=generate_latest(),
                                                          headers={"Content-Type": CONTENT_TYPE_LATEST}))

    async def set_clock(request: web.Request) -> web.Response:
        try:
            body = await request.json()
            state = await clock.set(str(body["now"]), float(body.get("speed", 1.0)), body.get("day"))
        except (KeyError, ValueError, TypeError) as e:
            return web.json_response({"ok": False, "error": str(e)}, status=400)
        return web.json_response({"ok": True, **state})

    async def get_clock(request: web.Request) -> web.Response:
        return web.json_response({"now": (await clock.now_datetime()).isoformat()})

    app.router.add_post("/_control/clock", set_clock)
    app.router.add_get("/_control/clock", get_clock)

    sender = None
    if role == "scheduler" or scenario.scheduler.placement == "every_instance":
        sender = DigestSender(scenario=scenario, db=db, claude=claude, bot=bot, clock=clock, stages=stages,
                              instance=instance, redis=redis, redis_prefix=config.redis_prefix)

    dp = None
    polling_task = None
    if role == "bot":
        storage = RedisStorage(redis, key_builder=DefaultKeyBuilder(prefix=f"{config.redis_prefix}:fsm"))
        dp = Dispatcher(storage=storage)
        dp["deps"] = Deps(scenario=scenario, db=db, claude=claude, mcp=mcp, instance=instance)
        cap = scenario.platform.handlers_per_instance
        slots = asyncio.Semaphore(cap) if config.mode == "webhook" else None
        dp.update.outer_middleware(StageMiddleware(stages, slots))
        if config.handler_cpu_s > 0:  # the knob of a slower build (capacity gate tests)
            dp.update.middleware(BurnCpu(config.handler_cpu_s))
        dp.include_router(router)
        if config.mode == "webhook":
            SimpleRequestHandler(
                dispatcher=dp, bot=bot, secret_token=config.webhook_secret or None,
                handle_in_background=scenario.platform.telegram.webhook_handle_in_background,
            ).register(app, path=config.webhook_path)

    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    own = web.TCPSite(runner, "127.0.0.1", private_port)
    await own.start()
    if role == "bot" and config.mode == "webhook":
        await web.TCPSite(runner, config.webhook_host, config.webhook_port, reuse_port=True).start()
    port = own._server.sockets[0].getsockname()[1]

    poller = None
    if role == "bot" and config.mode == "polling" and config.polling_fanout:
        await bot.delete_webhook()
        poller = FanoutPoller(bot=bot, dp=dp, redis=redis, prefix=config.redis_prefix, instance=instance,
                              concurrency=scenario.platform.handlers_per_instance,
                              batch_size=scenario.platform.polling.batch_size)
        poller.start()
    elif role == "bot" and config.mode == "polling":
        polling_task = asyncio.create_task(dp.start_polling(
            bot, handle_signals=False, close_bot_session=False,
            polling_timeout=int(min(scenario.platform.polling.long_poll_timeout_s, 10)),
            tasks_concurrency_limit=scenario.platform.handlers_per_instance))
    if sender:
        sender.start()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        if stop.is_set():        # a second signal: the graceful stop is stuck, leave now
            stages.close()
            os._exit(1)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    sys.stdout.write(json.dumps({"instance": instance, "role": role, "url": f"http://127.0.0.1:{port}",
                                 "pid": os.getpid()}) + "\n")
    sys.stdout.flush()
    await stop.wait()
    t_stop = time.perf_counter()

    def step(what: str) -> None:
        log.info("%s stopping: %s after %.2f s", instance, what, time.perf_counter() - t_stop)

    async def shutdown() -> None:
        await _shutdown(poller, polling_task, dp, sender, runner, bot, claude, db, redis, step)

    step("signal received")
    try:
        # bounded: a stop that hangs (a dependency that never answers) must not leave an immortal process
        await asyncio.wait_for(shutdown(), SHUTDOWN_TIMEOUT_S)
    except TimeoutError:
        log.error("%s: graceful stop took over %.0f s; exiting anyway", instance, SHUTDOWN_TIMEOUT_S)
        stages.close()
        os._exit(1)
    stages.close()


async def _shutdown(poller, polling_task, dp, sender, runner, bot, claude, db, redis, step) -> None:
    if poller:
        await poller.stop()
    if polling_task:
        await dp.stop_polling()
        await asyncio.wait([polling_task], timeout=5)
    if sender:
        await sender.stop()
    step("scheduler stopped")
    await runner.cleanup()
    step("http stopped")
    await bot.session.close()
    await claude.close()
    await db.close()
    step("db pool closed")
    await redis.aclose()
