"""Open-workload arrival schedules and the scenario's message mix (pure: no Locust, no I/O).

A schedule is a list of segments ``RATE@SECONDS`` (constant rate) or ``R0-R1@SECONDS`` (rate ramping
linearly from R0 to R1), e.g. ``"2@20,2-10@30,10@20"``. Each segment is a load *level*: its index is
recorded with every request it produces (the calibration ladder is a list of constant levels).

Arrivals in a segment are a Poisson process conditioned on its count: ``N = round(∫ rate dt)``
arrival times drawn independently from the rate's shape and sorted (the order statistics of a
Poisson process given N). Inter-arrival times are exponential as for any Poisson process, but the
achieved rate equals the target exactly, so that a run measures whether the generator and the bot
keep up, not the luck of the draw.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

_NUM = r"\d+(?:\.\d+)?"
_SEGMENT = re.compile(rf"^\s*(?P<r0>{_NUM})(?:\s*-\s*(?P<r1>{_NUM}))?\s*@\s*(?P<d>{_NUM})\s*$")


@dataclass(frozen=True)
class Segment:
    rate0: float
    rate1: float
    duration_s: float

    @property
    def expected(self) -> float:
        return (self.rate0 + self.rate1) / 2 * self.duration_s

    def times(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` sorted arrival offsets in [0, duration) distributed like the rate (inverse CDF)."""
        u = np.sort(rng.random(n))
        d, a, b = self.duration_s, self.rate0, self.rate1
        if math.isclose(a, b):
            return u * d
        # F(t) = (a t + (b - a) t^2 / (2 d)) / M;  solve (b-a)/(2d) t^2 + a t - u M = 0
        k = (b - a) / (2 * d)
        m = u * self.expected
        return (-a + np.sqrt(a * a + 4 * k * m)) / (2 * k)


def parse_schedule(text: str) -> list[Segment]:
    """``"5@30,5-20@60"`` → segments; ValueError naming the bad segment and the expected form."""
    segments = []
    for part in text.split(","):
        m = _SEGMENT.match(part)
        if not m:
            raise ValueError(f"arrival schedule: {part.strip()!r} is not RATE@SECONDS or R0-R1@SECONDS "
                             f"(e.g. '10@60' or '2-20@120')")
        r0 = float(m["r0"])
        r1 = float(m["r1"]) if m["r1"] is not None else r0
        d = float(m["d"])
        if d <= 0:
            raise ValueError(f"arrival schedule: {part.strip()!r}: duration must be > 0")
        segments.append(Segment(r0, r1, d))
    return segments


def format_schedule(segments: list[Segment]) -> str:
    return ",".join(f"{s.rate0:g}@{s.duration_s:g}" if s.rate0 == s.rate1
                    else f"{s.rate0:g}-{s.rate1:g}@{s.duration_s:g}" for s in segments)


def scaled(segments: list[Segment], share: float) -> list[Segment]:
    """This generator's part of the schedule when ``1/share`` generators split it."""
    return [Segment(s.rate0 * share, s.rate1 * share, s.duration_s) for s in segments]


def arrivals(segments: list[Segment], rng: np.random.Generator) -> Iterator[tuple[float, int]]:
    """(offset from schedule start, level) for every arrival, in time order."""
    start = 0.0
    for level, seg in enumerate(segments):
        n = int(round(seg.expected))
        for t in seg.times(n, rng):
            yield start + float(t), level
        start += seg.duration_s


def total_duration(segments: list[Segment]) -> float:
    return sum(s.duration_s for s in segments)


class KindPicker:
    """Draws message kinds by the scenario's mix (shares need not be normalised)."""

    def __init__(self, mix: dict[str, float], rng: np.random.Generator):
        kinds = [k for k, w in mix.items() if w > 0]
        if not kinds:
            raise ValueError("mix: at least one kind needs a share > 0")
        weights = np.array([mix[k] for k in kinds], dtype=float)
        self._kinds, self._cum, self._rng = kinds, np.cumsum(weights / weights.sum()), rng

    def __call__(self) -> str:
        i = int(np.searchsorted(self._cum, self._rng.random(), side="right"))
        return self._kinds[min(i, len(self._kinds) - 1)]
