"""The circuit breaker (closed, open, half-open) that guards the bot's Claude and MCP clients, once.

Closed: calls pass; ``failure_threshold`` consecutive failures open it (a success resets the count;
no sliding window: the seed bot's breaker and the common libraries' default count consecutive
failures). Open: ``allow`` says no for ``cool_down_s``. Then it is half-open: up to
``half_open_probes`` trial calls are let through while the others still fail fast; as many successes
close it, one failure opens it again for another cool-down. A trial abandoned without an outcome
(cancelled) frees its place (``abandon``).

What one failure is, ``counts``:

* ``"calls"`` (the default, and the decision for Claude): the breaker wraps the SDK call, whose retries
  happen inside it, as in a bot that writes ``await breaker.call(client.messages.create(...))``; one
  call that failed after its retries is one failure, and the breaker is asked once per call;
* ``"attempts"``: every attempt is asked for and counted (a bot that retries outside its breaker).

Former copies disagreed: the sim counted calls, the staging bot attempts; the staging bot's late
failure while open pushed the re-opening further. Now a failure recorded while open changes nothing
(it was already open), a success recorded while open or half-open is evidence of health and counts as
a probe's success. Pure and synchronous: every method takes the caller's ``now``.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["Breaker", "CLOSED", "OPEN", "HALF_OPEN"]

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


class Breaker:
    __slots__ = ("failure_threshold", "cool_down_s", "half_open_probes", "counts", "state", "failures",
                 "opened_at", "opened_count", "_probes_out", "_probe_successes", "_on_open")

    def __init__(self, failure_threshold: int, cool_down_s: float, *, half_open_probes: int = 1,
                 counts: str = "calls", on_open: Callable[[float], None] | None = None):
        if not isinstance(failure_threshold, int) or failure_threshold < 1:
            raise ValueError(f'"failure_threshold" must be an integer >= 1 (got {failure_threshold!r})')
        if not cool_down_s >= 0:
            raise ValueError(f'"cool_down_s" must be >= 0 (got {cool_down_s!r})')
        if not isinstance(half_open_probes, int) or half_open_probes < 1:
            raise ValueError(f'"half_open_probes" must be an integer >= 1 (got {half_open_probes!r})')
        if counts not in ("calls", "attempts"):
            raise ValueError(f'"counts" must be "calls" or "attempts" (got {counts!r})')
        self.failure_threshold, self.cool_down_s = failure_threshold, float(cool_down_s)
        self.half_open_probes, self.counts = half_open_probes, counts
        self.state, self.failures, self.opened_at, self.opened_count = CLOSED, 0, -1.0, 0
        self._probes_out = self._probe_successes = 0
        self._on_open = on_open  # called with the time it opens (the sim counts open time with it)

    def state_at(self, now: float) -> str:
        """The state a caller arriving at ``now`` meets (open past its cool-down reads half-open)."""
        if self.state == OPEN and now >= self.opened_at + self.cool_down_s:
            return HALF_OPEN
        return self.state

    def allow(self, now: float) -> bool:
        """May a call (or attempt, see ``counts``) go out at ``now``? Half-open: only the probes."""
        state = self.state
        if state == CLOSED:
            return True
        if state == OPEN:
            if now < self.opened_at + self.cool_down_s:
                return False
            self.state, self._probes_out, self._probe_successes = HALF_OPEN, 0, 0
        if self._probes_out + self._probe_successes < self.half_open_probes:
            self._probes_out += 1
            return True
        return False

    def record(self, now: float, ok: bool) -> None:
        """The outcome of a call (or attempt) that ``allow`` let through."""
        state = self.state
        if ok:
            if state == CLOSED:
                self.failures = 0
                return
            if state == HALF_OPEN and self._probes_out:
                self._probes_out -= 1
            self._probe_successes += 1
            if state == OPEN or self._probe_successes >= self.half_open_probes:
                self.state, self.failures = CLOSED, 0
                self._probes_out = self._probe_successes = 0
            return
        if state == OPEN:
            return
        self.failures += 1
        if state == HALF_OPEN or self.failures >= self.failure_threshold:
            self._open(now)

    def abandon(self) -> None:
        """A probe ended without an outcome (cancelled): the next caller may be the probe."""
        if self.state == HALF_OPEN and self._probes_out:
            self._probes_out -= 1

    def _open(self, now: float) -> None:
        self.state, self.opened_at, self.failures = OPEN, now, 0
        self._probes_out = self._probe_successes = 0
        self.opened_count += 1
        if self._on_open is not None:
            self._on_open(now)
