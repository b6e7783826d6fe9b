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
from botcap.sim.db import EARLY_DB_CANCELLED
from botcap.sim.record import Request
from botcap.sim.resources import DelayedSemaphore, Semaphore, timeout_at
from botcap.sim.workload import KindPlan

__all__ = ["Node"]


class Node:
    """An instance (``index`` 0..instances-1) or the separate scheduler worker (``index`` = instances,
    no update handlers). ``scheduler`` is the digest job concurrency where the scheduler runs.

    The components are per-process objects (``db`` pool, ``claude`` client with its semaphore and breaker,
    ``mcp`` client) or the shared Telegram API; any may be None when no kind uses it.
    """

    early_deliveries = True  # off (tests): every delivery waits on its own timeout; the same results

    def __init__(self, env: simpy.Environment, index: int, *, handlers: int | None, cores: int,
                 scheduler_concurrency: int | None = None, db=None, claude=None, mcp=None, telegram=None,
                 redis_rtt_s: float = 0.0):
        self.env, self.index = env, index
        self.handlers = DelayedSemaphore(env, "handlers", handlers) if handlers else None
        self.scheduler = Semaphore(env, "scheduler", scheduler_concurrency) if scheduler_concurrency else None
        self.cpu = Semaphore(env, "cpu", cores)
        self.db, self.claude, self.mcp, self.telegram = db, claude, mcp, telegram
        self.redis_rtt_s = redis_rtt_s
        self._early: _Early | None = None  # a delivery folded into its CPU time (see handle)

    def settle(self) -> None:
        """Take up an early delivery whose arrival has passed, and its DB stage once begun (before the
        handler, CPU and pool gauges are read)."""
        early = self._early
        if early is not None and self.env._now >= early.t_s:  # env._now: see sim.resources
            self._start_early()
        if self.db is not None and self.db._early is not None:
            self.db.settle()

    def handle(self, req: Request, plan: KindPlan, slot: Semaphore | None = None, lazy_end: bool = False,
               deliver_s: float = 0.0):
        """The handler: wait for a handler slot, run the stages, release the slot; returns the time it is
        done. A digest job comes in holding its scheduler ``slot`` instead (released here in the same way).

        ``deliver_s``: the update is still on its way and reaches this process that much later (webhook).
        When, at delivery, the CPU is idle and a handler slot free with nobody queued, the delivery and
        the CPU time are one timeout (an early delivery, ``_Early``): the slot and the core are taken
        after the fact at arrival (``_start_early``) when anyone next uses or reads them, and whoever
        wants one of them before the arrival cancels it (an interrupt: the update then arrives and queues
        as any other). If the pool has a free open connection too (``DbPool.fold_early``), the DB stage
        that follows the CPU time is in the same timeout, under the same rules (a pool slot wanted before
        the stage begins cancels that part; a query queuing during it interrupts it, as in
        ``DbPool.queries``). The CPU and query times are drawn at delivery either way, so early or not,
        the same results: one event per request instead of three.

        ``lazy_end`` (a delivered update whose caller waits anyway, e.g. a user's think time): the last
        reply's round trip is not waited for. ``done_s`` is when its answer is back, the handler slot is
        given back then (``DelayedSemaphore.release_at``), and that time is returned before it is reached;
        the caller folds it into its own next timeout, one event fewer per request.

        The stages (CPU, DB queries, MCP calls, the Claude call, the replies) are written out here rather
        than in a generator of their own: every resume of a request passes through each nested
        generator, so one level less is paid on every event of every request.
        """
        env = self.env
        delivered = slot is None
        if delivered:
            slot = self.handlers
        service_s = -1.0  # not drawn yet
        holds = None  # the DB stage's hold times, when drawn at delivery
        early = None
        error = None  # the DB stage's outcome, when run within an early delivery
        if deliver_s:
            service_s = plan.service_s()
            n = plan.db_queries
            if n > 1 and not self.db.server.pgbouncer:  # queries held as one (DbPool.queries): drawn
                holds = self.db.draw(n)                    # now, early or not
            cpu, handlers = self.cpu, self.handlers
            now = env._now
            t_s = now + deliver_s
            if (self.early_deliveries and self._early is None and not cpu.in_use and not cpu.queue_len
                    and not handlers.queue_len and handlers.in_use < handlers.capacity):
                early = self._early = _Early(env._active_proc, t_s, req, service_s, holds)
                wake = early.t_c
                if holds is not None and self.db.fold_early(early):
                    early.db = True
                    end = wake
                    for h in holds:
                        end += h
                    wake += end - wake  # where DbPool.queries' timeout from t_c would end
                while True:
                    try:
                        # timeout_at(env, wake), its common case inline: once per request
                        yield env.timeout(wake - now) if now + (wake - now) == wake else timeout_at(env, wake)
                        interrupted = False
                        break
                    except simpy.Interrupt as stop:
                        now = env._now
                        if stop.cause is EARLY_CANCELLED:  # the slot or the core was wanted before arrival
                            early, wake = None, t_s
                        elif stop.cause is EARLY_DB_CANCELLED:  # a pool slot was wanted before the DB stage
                            wake = early.t_c
                        else:  # a query queued for the pool during the DB stage: go on query by query
                            interrupted = True
                            break
            else:
                yield env.timeout(deliver_s)
        if early is not None:  # arrived at t_s and ran its CPU time (and its DB stage, or part of it)
            if self._early is early:
                self._start_early()
            if early.db:  # the core was given back at t_c (_start_early)
                db = self.db
                if db._early is early:  # nobody used the pool since t0: its slot is taken and given back now
                    db._early = None
                    db.slots.held_between(early.t_c, env._now)
                    for h in holds:
                        req.service_db_s += h
                    error = ""
                else:
                    db._folded.pop(early.process, None)
                    done = db.ended(holds, early.t_c) if interrupted else n
                    for h in holds[:done]:
                        req.service_db_s += h
                    if done == n:
                        if db._early is not None:
                            db.settle()
                        db.slots.release()
                        error = ""
                    else:
                        error = yield from db.rest(req, holds, early.t_c, done)
            else:
                req.service_cpu_s = service_s
                self.cpu.release()
        else:
            if self._early is not None:
                self._claim()
            req.instance = self.index
            if delivered:
                t0 = env._now
                ev = slot.acquire()
                if ev is not None:
                    yield ev
                    req.wait_handler_s = env._now - t0
            # CPU
            if service_s < 0.0:
                service_s = plan.service_s()
            if self._early is not None:  # one may have begun while this one waited for a handler slot
                self._claim()
            ev = self.cpu.acquire()
            if ev is not None:
                t0 = env._now
                yield ev
                req.wait_cpu_s = env._now - t0
            yield env.timeout(service_s)
            req.service_cpu_s = service_s
            self.cpu.release()
        # DB, MCP, Claude, replies (a failed DB stage ends the handler without a reply)
        if error is None:
            error = ""
            if plan.db_queries:
                error = yield from self.db.queries(req, plan.db_queries, holds)
        if error:
            req.error = error
        else:
            if plan.mcp_calls:
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
                if sends > 1:
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

        if self._early is not None:
            self.settle()
        slot.release()
        req.done_s = env._now
        if not req.error:
            req.ok = True
        return req.done_s

    def _claim(self) -> None:
        """Someone takes a handler slot or the core: an early delivery that has arrived takes its own first;
        one still on its way is cancelled (it would have found them taken), its DB stage with it."""
        early = self._early
        if self.env._now >= early.t_s:
            self._start_early()
        else:
            self._early = None
            if early.db:
                if self.db._early is early:
                    self.db._early = None
                early.db = False
            early.process.interrupt(EARLY_CANCELLED)

    def _start_early(self) -> None:
        """The early delivery takes, at its arrival time, the handler slot and the core it was sure of. If
        its DB stage is folded too, the core is given back at t_c if that has passed; if not, the stage
        cannot stay folded (nothing would give the core back at t_c): it is cancelled."""
        early, self._early = self._early, None
        early.req.instance = self.index
        self.handlers.acquire_since(early.t_s)
        if not early.db:
            self.cpu.acquire_since(early.t_s)
        elif self.env._now >= early.t_c:
            self.cpu.held_between(early.t_s, early.t_c)
            early.req.service_cpu_s = early.service_s
        else:
            self.cpu.acquire_since(early.t_s)
            self.db.cancel_early(early)


EARLY_CANCELLED = "early delivery cancelled"  # the interrupt's cause (see Node.handle)


class _Early:
    """A delivery folded into its CPU time (``Node.handle``): the process to interrupt if it is cancelled,
    its arrival time ``t_s``, its request, its CPU time, when that ends (``t_c``), the hold times of its
    DB stage, and whether that stage is folded in as well (``db``, see ``DbPool.fold_early``)."""

    __slots__ = ("process", "t_s", "req", "service_s", "t_c", "holds", "db")

    def __init__(self, process: simpy.Process, t_s: float, req: Request, service_s: float,
                 holds: list[float] | None):
        self.process, self.t_s, self.req, self.service_s = process, t_s, req, service_s
        self.t_c = t_s + service_s
        self.holds, self.db = holds, False
