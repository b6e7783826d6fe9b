"""Injected faults: 529 overloaded at a rate, 500s at a rate, outage windows, latency spikes.

Set from the config at start and changed at run time through ``POST /_fake/faults``, so that a
test or a calibration run can open a 529 storm for ten seconds and watch the bot's breaker.
Random draws come from one seeded generator in pre-drawn blocks (the hot path pays an index bump).
"""

from __future__ import annotations

import time

import numpy as np
from botcap.loadtest.fakes.claude.config import FaultSpec


class Uniforms:
    """Pre-drawn U(0, 1) numbers from a seeded generator."""

    __slots__ = ("_rng", "_buf", "_i")

    def __init__(self, rng: np.random.Generator):
        self._rng = rng
        self._buf = rng.random(4096).tolist()
        self._i = 0

    def __call__(self) -> float:
        if self._i >= len(self._buf):
            self._buf = self._rng.random(4096).tolist()
            self._i = 0
        v = self._buf[self._i]
        self._i += 1
        return v


class Faults:
    """The fault state now; ``decide()`` says which error (if any) a request gets."""

    def __init__(self, spec: FaultSpec, rng: np.random.Generator, clock=time.monotonic, wall=time.time):
        self.clock, self.wall = clock, wall
        self._uniform = Uniforms(rng)
        self.configured = spec
        self.reset()

    def reset(self) -> None:
        spec = self.configured
        self.overloaded_rate = spec.overloaded_rate
        self.error_500_rate = spec.error_500_rate
        self.outage_until = 0.0
        self.spike_extra_s = 0.0
        self.spike_until = 0.0

    def update(self, change: dict) -> None:
        """Apply a ``/_fake/faults`` body (already validated); durations count from now."""
        now = self.clock()
        if "overloaded_rate" in change:
            self.overloaded_rate = change["overloaded_rate"]
        if "error_500_rate" in change:
            self.error_500_rate = change["error_500_rate"]
        if "outage_s" in change:
            self.outage_until = now + change["outage_s"]
        if "latency_spike" in change:
            spike = change["latency_spike"]
            self.spike_extra_s = spike["extra_s"]
            self.spike_until = now + spike["duration_s"]

    def in_outage(self) -> bool:
        if self.outage_until > self.clock():
            return True
        if not self.configured.outages:
            return False
        of_day = self.wall() % 86_400
        return any(o.start_s <= of_day < o.start_s + o.duration_s
                   or o.start_s <= of_day + 86_400 < o.start_s + o.duration_s
                   for o in self.configured.outages)

    def decide(self) -> int:
        """529, 500 or 0 (no fault) for one request."""
        if self.in_outage():
            return 529
        if self.overloaded_rate and self._uniform() < self.overloaded_rate:
            return 529
        if self.error_500_rate and self._uniform() < self.error_500_rate:
            return 500
        return 0

    def extra_latency_s(self) -> float:
        """Unscaled seconds added to a request by a latency spike in effect now."""
        return self.spike_extra_s if self.spike_until > self.clock() else 0.0

    def snapshot(self) -> dict:
        now = self.clock()
        return {"overloaded_rate": self.overloaded_rate, "error_500_rate": self.error_500_rate,
                "outage_remaining_s": max(0.0, self.outage_until - now),
                "latency_spike": {"extra_s": self.spike_extra_s,
                                  "remaining_s": max(0.0, self.spike_until - now)}}


def validate_change(body) -> dict:
    """The ``/_fake/faults`` body checked; raises ValueError naming the bad key and value."""
    if not isinstance(body, dict):
        raise ValueError("body: a JSON object is required")
    known = {"overloaded_rate", "error_500_rate", "outage_s", "latency_spike"}
    for key in body:
        if key not in known:
            raise ValueError(f"{key}: unknown fault (allowed: {', '.join(sorted(known))})")
    out: dict = {}
    for key in ("overloaded_rate", "error_500_rate"):
        if key in body:
            v = body[key]
            if not _number(v) or not 0 <= v <= 1:
                raise ValueError(f"{key}: must be a number in [0, 1] (got {v!r})")
            out[key] = float(v)
    if "outage_s" in body:
        v = body["outage_s"]
        if not _number(v) or v < 0:
            raise ValueError(f"outage_s: must be a number >= 0 (got {v!r})")
        out["outage_s"] = float(v)
    if "latency_spike" in body:
        spike = body["latency_spike"]
        if not isinstance(spike, dict) or set(spike) != {"extra_s", "duration_s"}:
            raise ValueError(f"latency_spike: must be {{extra_s, duration_s}} (got {spike!r})")
        for k in ("extra_s", "duration_s"):
            if not _number(spike[k]) or spike[k] < 0:
                raise ValueError(f"latency_spike.{k}: must be a number >= 0 (got {spike[k]!r})")
        out["latency_spike"] = {k: float(spike[k]) for k in ("extra_s", "duration_s")}
    return out


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
