"""The prompt cache: which prefixes were seen recently, per API key, as Anthropic's prompt caching does.

A request's ``cache_control`` breakpoints name prefixes. The longest breakpoint prefix still alive
is read from the cache (``cache_read_input_tokens``) and its lifetime refreshed; the prefixes of the
later breakpoints are written (``cache_creation_input_tokens``, split into 5-minute and 1-hour TTLs);
the tokens after the last breakpoint are plain ``input_tokens``. A prefix shorter than the model's
minimum cacheable length is neither read nor written, without an error, as documented.

Simplification: the real API also finds hits up to 20 blocks before a breakpoint; this one checks
only at the breakpoints themselves, which is what a bot that marks a stable system prompt gets.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from botcap.loadtest.fakes.claude.prompt import Prompt


@dataclass(slots=True, frozen=True)
class CacheUsage:
    """How a prompt's input tokens split between the cache and plain input."""

    input_tokens: int
    cache_read: int = 0
    cache_write_5m: int = 0
    cache_write_1h: int = 0

    @property
    def cache_write(self) -> int:
        return self.cache_write_5m + self.cache_write_1h


class PromptCache:
    """Prefix digest -> expiry time, scoped by API key (an organisation's cache is its own)."""

    def __init__(self, ttl_5m_s: float, ttl_1h_s: float, clock=time.monotonic):
        self.ttl = {"5m": ttl_5m_s, "1h": ttl_1h_s}
        self.clock = clock
        self._expiry: dict[tuple[str, bytes], float] = {}
        self._writes = 0

    def reset(self) -> None:
        self._expiry.clear()

    def __len__(self) -> int:
        return len(self._expiry)

    def plan(self, key: str, prompt: Prompt, min_tokens: int) -> tuple[CacheUsage, int]:
        """The usage split and the index of the breakpoint read (-1: none); nothing is changed."""
        total = prompt.input_tokens
        usable = [bp for bp in prompt.breakpoints if bp.tokens >= min_tokens]
        if not usable:
            return CacheUsage(input_tokens=total), -1
        now = self.clock()
        hit = -1
        for i in range(len(usable) - 1, -1, -1):
            expiry = self._expiry.get((key, usable[i].digest))
            if expiry is not None and expiry > now:
                hit = i
                break
        read = usable[hit].tokens if hit >= 0 else 0
        writes = {"5m": 0, "1h": 0}
        start = read
        for bp in usable[hit + 1:]:
            writes[bp.ttl] += bp.tokens - start
            start = bp.tokens
        return CacheUsage(input_tokens=total - start, cache_read=read, cache_write_5m=writes["5m"],
                          cache_write_1h=writes["1h"]), hit

    def commit(self, key: str, prompt: Prompt, min_tokens: int, hit: int) -> None:
        """Refresh the prefix read and store every later one (called once the request is admitted)."""
        usable = [bp for bp in prompt.breakpoints if bp.tokens >= min_tokens]
        if not usable:
            return
        now = self.clock()
        for bp in usable[max(hit, 0):]:
            self._expiry[(key, bp.digest)] = now + self.ttl[bp.ttl]
        self._writes += 1
        if self._writes % 10_000 == 0:
            self._expiry = {k: t for k, t in self._expiry.items() if t > now}
