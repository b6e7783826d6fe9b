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

from sim.record import Request
from sim.resources import Gauge, Semaphore

__all__ = ["DbServer", "DbPool", "OPEN_RTTS"]

OPEN_RTTS = 3


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
        for _ in range(min(min_size, max_size)):
            if server.open():
                self.opened += 1

    def query(self, req: Request):
        """One query: acquire, (open a connection,) run, release. Returns "" or an error reason."""
        env, slots, server = self.env, self.slots, self.server
        t0 = env.now
        ev = slots.acquire(self.acquire_timeout_s)
        if ev is not None:
            granted = yield ev
            req.wait_db_pool_s += env.now - t0
            if not granted:
                self.counters["acquire_timeouts"] += 1
                return "db_acquire_timeout"
        if slots.in_use > self.opened + self.opening:  # every open connection is busy: open one more
            if not server.open():
                slots.release()
                return "too_many_connections"
            self.opening += 1
            open_s = OPEN_RTTS * server.rtt_s
            yield env.timeout(open_s)
            req.service_db_s += open_s
            self.opening -= 1
            self.opened += 1
        hold_s = server.rtt_s + server.query_s()
        if server.pgbouncer:
            conns = server.connections
            t1 = env.now
            ev = conns.acquire()
            if ev is not None:
                yield ev
                req.wait_db_server_s += env.now - t1
            yield env.timeout(hold_s)
            conns.release()
        else:
            yield env.timeout(hold_s)
        req.service_db_s += hold_s
        slots.release()
        return ""
