"""The MCP-like lookup of ``/deep``: a stand-in remote tool call behind its own circuit breaker.

Decision: the lookup is *not* a database query. In production the deep-chat tool is a remote MCP
server (another team's service over the network); what matters for capacity is its latency, its
failure rate and the breaker that protects the bot from it — all three are scenario parameters
(``platform.mcp``). So the call sleeps for a latency drawn from ``mcp.latency_s`` and fails with
probability ``mcp.failure_rate``; a real query would instead load the bot's own DB pool, which the
real tool does not. When it fails or its breaker is open, /deep still answers, without the context.
"""

from __future__ import annotations

import asyncio

import numpy as np
from botcap.loadtest.staging.breaker import BreakerOpen, CircuitBreaker
from botcap.loadtest.staging.timings import timed

from botcap.sampling import Sampler
from botcap.scenario import Scenario


class McpLookup:
    def __init__(self, scenario: Scenario, seed: int | None = None):
        m = scenario.platform.mcp
        rng = np.random.default_rng(seed)
        self._latency = Sampler(m.latency_s, rng)
        self._uniform = rng.random
        self.failure_rate = m.failure_rate
        self.breaker = CircuitBreaker("mcp", m.breaker.failure_threshold, m.breaker.cooldown_s)

    async def lookup(self, query: str) -> str | None:
        """Context for the query, or None when the tool failed or its breaker is open (never raises)."""
        try:
            self.breaker.before_call()
        except BreakerOpen:
            return None
        with timed("mcp"):
            try:
                await asyncio.sleep(self._latency())
            except asyncio.CancelledError:
                self.breaker.release_trial()
                raise
            if self._uniform() < self.failure_rate:
                self.breaker.on_failure()
                return None
        self.breaker.on_success()
        return f"[lookup: {len(query.split())} terms matched]"
