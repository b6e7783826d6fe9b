"""Counters the fake keeps about itself (``GET /_fake/stats``): what it was asked and what it answered.

A load-test harness compares these with the bot's own view (a 429 the bot never saw is a retry it
swallowed), and a test reads them instead of guessing from timings.
"""

from __future__ import annotations

from collections import Counter


class Stats:
    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.disconnects = 0
        self.by_status: Counter[int] = Counter()
        self.tokens: dict[str, dict[str, int]] = {}

    def begin(self) -> None:
        self.requests += 1
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def end(self, status: int) -> None:
        self.in_flight -= 1
        self.by_status[status] += 1

    def add_tokens(self, model_key: str, input_tokens: int, output_tokens: int, cache_read: int,
                   cache_write: int) -> None:
        t = self.tokens.get(model_key)
        if t is None:
            t = self.tokens[model_key] = {"requests": 0, "input": 0, "output": 0, "cache_read": 0,
                                          "cache_write": 0}
        t["requests"] += 1
        t["input"] += input_tokens
        t["output"] += output_tokens
        t["cache_read"] += cache_read
        t["cache_write"] += cache_write

    def snapshot(self) -> dict:
        return {"requests": self.requests, "in_flight": self.in_flight, "max_in_flight": self.max_in_flight,
                "client_disconnects": self.disconnects,
                "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
                "tokens": {k: dict(v) for k, v in self.tokens.items()}}
