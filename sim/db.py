"""PostgreSQL as the bot sees it: an asyncpg-like pool per process over the server's connection cap.

Pool (asyncpg semantics): ``min_size`` connections are opened at start, more are opened lazily up to
``max_size`` when every open one is busy; ``acquire`` waits FIFO up to ``acquire_timeout_s`` (error
"db_acquire_timeout"). Opening a connection takes three DB round trips (TCP, TLS, startup/auth).
Without a pooler every open pool connection is a server connection: opening one beyond
``max_connections`` fails at once with "too_many_connections", as Postgres answers
(``TooManyConnectionsError`` in asyncpg); the pool slot is given back. With ``pooler: pgbouncer``
(transaction pooling) the pools hold cheap client connections and each query queues for one of
``pooler_server_connections`` server connections (capped by ``max_connections``).
A query holds its connection for one round trip plus ``query_s``. Idle connections are never closed
(asyncpg's max_inactive_connection_lifetime of 300 s is not modelled: an upper bound on open ones).
"""

from __future__ import annotations

import simpy
from botcap.sim.record import Request
from botcap.sim.resources import Gauge, Semaphore

__all__ = ["DbServer", "DbPool", "OPEN_RTTS", "EARLY_DB_CANCELLED"]

OPEN_RTTS = 3
EARLY_DB_CANCELLED = "early DB stage cancelled"  # the interrupt's cause (see DbPool.fold_early)


class DbServer:
    """The server side: open connections (no pooler) or PgBouncer's server pool, and the query time."""

    def __init__(self, env: simpy.Environment, *, max_connections: int, pooler: str,
                 pooler_server_connections: int, rtt_s: float, query_s, counters: dict):
        self.env, self.rtt_s, self.query_s, self.counters = env, rtt_s, query_s, counters
        self.pgbouncer = pooler == "pgbouncer"
        if self.pgbouncer:
            self.connections = Semaphore(env, "db_server", min(pooler_server_connections, max_connections))
        else:
            self.connections = Gauge(env, "db_server", max_connections)

    def open(self) -> bool:
        """A new client connection: False when Postgres refuses it (too many connections)."""
        if self.pgbouncer:
            return True
        c = self.connections
        if c.in_use >= c.capacity:
            self.counters["too_many_connections"] += 1
            return False
        c.add(1)
        return True


class DbPool:
    """One process's asyncpg pool."""

    def __init__(self, env: simpy.Environment, server: DbServer, *, max_size: int, min_size: int,
                 acquire_timeout_s: float):
        self.env, self.server = env, server
        self.slots = Semaphore(env, "db_pool", max_size)
        self.acquire_timeout_s = acquire_timeout_s
        self.counters = server.counters
        self.opened = self.opening = 0
        # processes holding several queries as one (queries()), in arrival order: interrupts are deterministic
        self._folded: dict[simpy.Process, None] = {}
        self._early = None  # an early delivery's DB stage not taken up yet (see fold_early)
        for _ in range(min(min_size, max_size)):
            if server.open():
                self.opened += 1

    def query(self, req: Request):
        """One query: acquire, (open a connection,) run, release. Returns "" or an error reason."""
        error = yield from self._acquire(req)
        if error:
            return error
        server = self.server
        hold_s = server.rtt_s + server.query_s()
        if server.pgbouncer:
            conns = server.connections
            t1 = self.env._now  # env._now: see sim.resources
            ev = conns.acquire()
            if ev is not None:
                yield ev
                req.wait_db_server_s += self.env._now - t1
            yield self.env.timeout(hold_s)
            conns.release()
        else:
            yield self.env.timeout(hold_s)
        req.service_db_s += hold_s
        self._give_back()
        return ""

    def query_then(self, req: Request, done) -> None:
        """``query()`` as plain calls, for a caller that only needs its outcome: ``done(error)`` is called
        when the query ends ("" or the error reason). Without a pooler no process exists meanwhile, only
        the events the query waits on (the digest lock: 4 of 5 instances lose each digest's lock query,
        and their whole job is that query)."""
        env, slots = self.env, self.slots
        if self.server.pgbouncer:  # a queue for server connections as well: run query() as a process
            def run():
                done((yield from self.query(req)))

            env.process(run())
            return
        if self._early is not None:
            self._claim_early()
        t0 = env._now
        ev = slots.acquire(self.acquire_timeout_s)
        if ev is None:
            self._hold_then(req, done)
            return
        self._interrupt_folded()

        def granted(e: simpy.Event) -> None:
            req.wait_db_pool_s += env._now - t0
            if e.value:
                self._hold_then(req, done)
            else:
                self.counters["acquire_timeouts"] += 1
                done("db_acquire_timeout")

        ev.callbacks.append(granted)

    def _hold_then(self, req: Request, done) -> None:
        """``query_then`` holding a pool slot: (open a connection,) hold it for the query, release."""
        env, server = self.env, self.server

        def run(_e=None) -> None:
            hold_s = server.rtt_s + server.query_s()

            def end(_e) -> None:
                req.service_db_s += hold_s
                self._give_back()
                done("")

            env.timeout(hold_s).callbacks.append(end)

        if self.slots.in_use <= self.opened + self.opening:
            run()
            return
        if not server.open():  # every open connection is busy: open one more
            self._give_back()
            done("too_many_connections")
            return
        self.opening += 1
        open_s = OPEN_RTTS * server.rtt_s

        def opened(_e) -> None:
            req.service_db_s += open_s
            self.opening -= 1
            self.opened += 1
            run()

        env.timeout(open_s).callbacks.append(opened)

    def draw(self, n: int) -> list[float]:
        """The hold times of ``n`` queries (round trip + query time), drawn now."""
        rtt_s, query_s = self.server.rtt_s, self.server.query_s
        holds = []
        for _ in range(n):
            holds.append(rtt_s + query_s())
        return holds

    def queries(self, req: Request, n: int, holds: list[float] | None = None):
        """``n`` queries one after another (a handler's DB stage). Returns "" or the first error.

        Between two queries the connection goes back to the pool and is taken again at the same instant,
        which nobody can observe unless a query is queued for this pool then. So, without a pooler, the
        queries are held as one timeout (one event instead of n) while the queue is empty; a query that
        queues meanwhile interrupts the holders, which go on query by query from their next boundary.
        The hold times are ``holds`` (a delivered update's, drawn at delivery: see ``Node.handle``) or
        drawn when the stage has its slot (a different draw order, the same distribution).
        """
        if n == 1 or self.server.pgbouncer:
            for _ in range(n):
                error = yield from self.query(req)
                if error:
                    return error
            return ""
        env, slots = self.env, self.slots
        if self._early is not None:
            self._claim_early()
        t0 = env._now
        ev = slots.acquire(self.acquire_timeout_s)
        if ev is not None or slots.in_use > self.opened + self.opening:  # not a free open connection
            error = yield from self._acquired(req, ev, t0)
            if error:
                return error
        if holds is None:
            holds = self.draw(n)
        start = end = env._now
        for h in holds:
            end += h
        done = 0  # queries whose end has passed
        if not slots.queue_len:
            me = env._active_proc
            folded = self._folded
            folded[me] = None
            try:
                yield env.timeout(end - env._now)
                done = n
            except simpy.Interrupt:
                done = self.ended(holds, start)
            folded.pop(me, None)
            for h in holds[:done]:
                req.service_db_s += h
            if done == n:
                if self._early is not None:
                    self.settle()
                slots.release()
                return ""
        return (yield from self.rest(req, holds, start, done))

    def ended(self, holds: list[float], start: float) -> int:
        """How many of the queries held one after another from ``start`` have ended by now."""
        now, end, done = self.env._now, start, 0
        for h in holds:
            end += h
            if end > now:
                break
            done += 1
        return done

    def rest(self, req: Request, holds: list[float], start: float, done: int):
        """Queries held one after another from ``start``, ``done`` of them over, the slot still held: the
        rest query by query (back to the pool and take it again at each boundary), then release."""
        env = self.env
        end = start
        for h in holds[:done + 1]:
            end += h
        for i in range(done, len(holds)):
            if i > done:  # back to the pool and take it again, as n separate queries do
                self._give_back()
                error = yield from self._acquire(req)
                if error:
                    return error
                end = env._now + holds[i]
            yield env.timeout(end - env._now)
            req.service_db_s += holds[i]
        self._give_back()
        return ""

    # ------------------------------------------------------------------ an early delivery's DB stage
    def fold_early(self, early) -> bool:
        """At an update's delivery (``Node.handle``): can its DB stage, due at ``early.t_c``, be held in the
        same timeout as its delivery and CPU time? Only if a slot with an open connection is free now
        with nobody queued, and no other early stage is pending here: then, unless someone takes a slot
        before ``t_c`` (which cancels it, ``_claim_early``), the stage gets its slot at ``t_c`` without
        waiting, and it is taken after the fact (``_start_early``) when the pool is next used or read."""
        slots = self.slots
        if (self._early is not None or self.server.pgbouncer or len(early.holds) < 2 or slots.queue_len
                or slots.in_use >= slots.capacity or slots.in_use >= self.opened + self.opening):
            return False
        self._early = early
        return True

    def settle(self) -> None:
        """Take up an early DB stage that has begun (before this pool's slots are given back or read)."""
        early = self._early
        if early is not None and self.env._now >= early.t_c:
            self._start_early()

    def cancel_early(self, early) -> None:
        """The early stage will not begin as planned: its holder wakes now and runs it itself."""
        if self._early is early:
            self._early = None
        early.db = False
        early.process.interrupt(EARLY_DB_CANCELLED)

    def _claim_early(self) -> None:
        """Someone takes a slot: an early stage that has begun takes its own first; one not begun yet is
        cancelled (its slot might not be free at ``t_c`` any more)."""
        early = self._early
        if self.env._now >= early.t_c:
            self._start_early()
        else:
            self.cancel_early(early)

    def _start_early(self) -> None:
        early, self._early = self._early, None
        self.slots.acquire_since(early.t_c)
        self._folded[early.process] = None  # a query queuing from now on interrupts it, as queries() does

    def _give_back(self) -> None:
        if self._early is not None:
            self.settle()
        self.slots.release()

    def _acquire(self, req: Request):
        """A pool slot with an open connection: "" or an error reason (the slot is not held then)."""
        if self._early is not None:
            self._claim_early()
        t0 = self.env._now
        return self._acquired(req, self.slots.acquire(self.acquire_timeout_s), t0)

    def _acquired(self, req: Request, ev: simpy.Event | None, t0: float):
        """``_acquire`` once the pool has answered ``slots.acquire()`` at ``t0`` with ``ev``."""
        env, slots, server = self.env, self.slots, self.server
        if ev is not None:
            self._interrupt_folded()
            granted = yield ev
            req.wait_db_pool_s += env._now - t0
            if not granted:
                self.counters["acquire_timeouts"] += 1
                return "db_acquire_timeout"
        if slots.in_use > self.opened + self.opening:  # every open connection is busy: open one more
            if not server.open():
                self._give_back()
                return "too_many_connections"
            self.opening += 1
            open_s = OPEN_RTTS * server.rtt_s
            yield env.timeout(open_s)
            req.service_db_s += open_s
            self.opening -= 1
            self.opened += 1
        return ""

    def _interrupt_folded(self) -> None:
        """Someone queues for the pool: holders of folded queries must give back at each boundary."""
        for holder in self._folded:
            holder.interrupt("db pool queue")
        self._folded.clear()
