"""One bot process: its handler cap, its event loop's CPU, and the chain of stages a message runs through.

A handler slot is held for the request's whole life (CPU + every I/O wait), as an aiogram task is. Only
``service_s`` needs a core: asyncio runs one coroutine at a time, so ``cpu_cores_per_instance`` = 1
serialises handler CPU per process. The stage order follows the seed bot: route and read (CPU, DB),
an optional MCP lookup, the Claude call, the reply. A failed DB stage ends the handler without a reply
(an unhandled exception); a failed MCP or Claude stage still sends a graceful reply, so ``done_s`` is
when that reply went out and ``ok`` is False with the reason in ``error``.
"""

from __future__ import annotations

import simpy

from sim.record import Request
from sim.resources import DelayedSemaphore, Semaphore
from sim.workload import KindPlan

__all__ = ["Node"]


class Node:
    """An instance (``index`` 0..instances-1) or the separate scheduler worker (``index`` = instances,
    no update handlers). ``scheduler`` is the digest job concurrency where the scheduler runs.

    The components are per-process objects (``db`` pool, ``claude`` client with its semaphore and breaker,
    ``mcp`` client) or the shared Telegram API; any may be None when no kind uses it.
    """

    def __init__(self, env: simpy.Environment, index: int, *, handlers: int | None, cores: int,
                 scheduler_concurrency: int | None = None, db=None, claude=None, mcp=None, telegram=None,
                 redis_rtt_s: float = 0.0):
        self.env, self.index = env, index
        self.handlers = DelayedSemaphore(env, "handlers", handlers) if handlers else None
        self.scheduler = Semaphore(env, "scheduler", scheduler_concurrency) if scheduler_concurrency else None
        self.cpu = Semaphore(env, "cpu", cores)
        self.db, self.claude, self.mcp, self.telegram = db, claude, mcp, telegram
        self.redis_rtt_s = redis_rtt_s

    def handle(self, req: Request, plan: KindPlan, slot: Semaphore | None = None, lazy_end: bool = False):
        """The handler: wait for a handler slot, run the stages, release the slot; returns the time it is
        done. A digest job comes in holding its scheduler ``slot`` instead (released here in the same way).

        ``lazy_end`` (a delivered update whose caller waits anyway, e.g. a user's think time): the last
        reply's round trip is not waited for. ``done_s`` is when its answer is back, the handler slot is
        given back then (``DelayedSemaphore.release_at``), and that time is returned before it is reached;
        the caller folds it into its own next timeout, one event fewer per request.

        The stages (CPU, DB queries, MCP calls, the Claude call, the replies) are written out here rather
        than in a generator of their own: every resume of a request passes through each nested
        generator, so one level less is paid on every event of every request.
        """
        env = self.env
        req.instance = self.index
        delivered = slot is None
        if delivered:
            slot = self.handlers
            t0 = env.now
            ev = slot.acquire()
            if ev is not None:
                yield ev
                req.wait_handler_s = env.now - t0

        # CPU
        service_s = plan.service_s()
        ev = self.cpu.acquire()
        if ev is not None:
            t0 = env.now
            yield ev
            req.wait_cpu_s = env.now - t0
        yield env.timeout(service_s)
        req.service_cpu_s = service_s
        self.cpu.release()
        # DB, MCP, Claude, replies (a failed DB stage ends the handler without a reply)
        error = ""
        if plan.db_queries:
            error = yield from self.db.queries(req, plan.db_queries)
        if error:
            req.error = error
        else:
            for _ in range(plan.mcp_calls):
                error = yield from self.mcp.call(req)
                if error:
                    req.error = error
                    break
            if plan.model is not None and not req.error:
                error = yield from self.claude.call(req, plan)
                if error:
                    req.error = error
            sends = plan.telegram_sends
            if lazy_end and sends and delivered:
                for _ in range(sends - 1):
                    yield from self.telegram.send(req)
                done = self.telegram.send_now(req)
                if done is not None:
                    slot.release_at(done)
                    req.done_s = done
                    if not req.error:
                        req.ok = True
                    return done
                yield from self.telegram.send(req)
            else:
                for _ in range(sends):
                    yield from self.telegram.send(req)

        slot.release()
        req.done_s = env.now
        if not req.error:
            req.ok = True
        return req.done_s
