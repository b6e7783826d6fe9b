"""The MCP tool server as one process's client sees it: latency, failures and the seed bot's breaker.

A call takes one round trip plus ``latency_s``; it fails with ``failure_rate`` (known at its end). While
the breaker is open the call fails fast ("mcp_breaker_open"). Either failure ends the MCP stage: the
handler skips Claude and sends a graceful reply.
"""

from __future__ import annotations

import numpy as np
import simpy
from botcap.sim.record import Request
from botcap.sim.workload import draws

from botcap.policy import CLOSED, Breaker

__all__ = ["McpClient"]


class McpClient:
    def __init__(self, env: simpy.Environment, mcp, *, rtt_s: float, rng: np.random.Generator,
                 counters: dict, horizon_s: float):
        self.env, self.rtt_s, self.counters = env, rtt_s, counters
        self.latency_s = draws(mcp.latency_s, rng)
        self.failure_rate = mcp.failure_rate
        self._rng = rng
        cooldown = mcp.breaker.cooldown_s

        self.open_intervals_s: list[tuple[float, float]] = []  # per process: wall clock (sim.build)

        def opened(now: float) -> None:
            counters["breaker_open_s"] += min(cooldown, max(0.0, horizon_s - now))
            self.open_intervals_s.append((now, min(now + cooldown, horizon_s)))  # failing fast

        self.breaker = Breaker(mcp.breaker.failure_threshold, cooldown, on_open=opened)

    def call(self, req: Request):
        env, breaker = self.env, self.breaker
        # closed: allow() is True, no call; env._now: see sim.resources
        if breaker.state != CLOSED and not breaker.allow(env._now):
            return "mcp_breaker_open"
        self.counters["calls"] += 1
        s = self.rtt_s + self.latency_s()
        yield env.timeout(s)
        req.service_mcp_s += s
        if self.failure_rate and self._rng.random() < self.failure_rate:
            self.counters["failures"] += 1
            breaker.record(env._now, False)
            return "mcp_failed"
        if breaker.state != CLOSED or breaker.failures:  # else record() would change nothing
            breaker.record(env._now, True)
        return ""
