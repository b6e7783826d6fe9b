"""What users send, drawn up front: per-kind samplers and the user-message arrival plan.

Everything random about *demand* is drawn here, vectorised, before the SimPy run starts, so that the
hot path only indexes arrays. Supply-side randomness (query times, latencies) lives with each
component. Clock: simulated t = 0 is ``horizon.start`` on the wall clock; the diurnal profile and
digest times are wall-clock hours.
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from botcap.sim.arrivals import session_starts_s

from botcap.sampling import Sampler, sample
from botcap.scenario import KindSpec, Scenario, hhmm_to_s
from botcap.scenario.dists import Constant

__all__ = ["draws", "KindPlan", "Sessions", "OpenArrivals", "kind_plans", "with_output_tokens", "rng_for",
           "user_arrivals", "DAY_S"]

DAY_S = 86_400.0


def rng_for(seed: int, component: str) -> np.random.Generator:
    """An independent stream per component: adding draws in one never shifts another's."""
    return np.random.default_rng([seed, zlib.crc32(component.encode())])


def draws(dist, rng: np.random.Generator, block: int = 4096) -> Callable[[], float]:
    """``botcap.sampling.Sampler`` for the SimPy hot path: the same draws in the same order, pre-drawn in
    blocks and handed out as Python floats. The sampler is the ``__next__`` of an iterator over the
    blocks, a C method: calling it costs no Python frame (a ``__call__`` popping from a list cost ~3x as
    much). A constant draws nothing from ``rng``, as ``sample`` does not."""
    if isinstance(dist, int | float | Constant):
        return itertools.repeat(float(sample(dist, rng))).__next__

    def blocks():
        while True:
            yield np.asarray(sample(dist, rng, block), dtype=float).tolist()

    return itertools.chain.from_iterable(blocks()).__next__


@dataclass(frozen=True)
class KindPlan:
    """One kind of message with its samplers ready (``tokens`` are None without a model)."""

    name: str
    service_s: Callable[[], float] | Sampler
    db_queries: int
    model: str | None
    input_tokens: Callable[[], float] | Sampler | None
    output_tokens: Callable[[], float] | Sampler | None
    max_tokens: int
    mcp_calls: int
    telegram_sends: int


def _plan(name: str, spec: KindSpec, rng: np.random.Generator) -> KindPlan:
    return KindPlan(
        name=name, service_s=draws(spec.service_s, rng), db_queries=spec.db_queries, model=spec.model,
        input_tokens=draws(spec.input_tokens, rng) if spec.model else None,
        output_tokens=draws(spec.output_tokens, rng) if spec.model else None,
        max_tokens=spec.max_tokens, mcp_calls=spec.mcp_calls, telegram_sends=spec.telegram_sends)


def with_output_tokens(plans: dict[str, KindPlan], given: dict[str, list[float]]) -> dict[str, KindPlan]:
    """``plans`` whose answer lengths are first the ``given`` ones per kind, in order, then the kind's own
    draws. Why: replaying a measured trace, the model should get the work each request brought (its
    answer length, which the fake Claude API drew), so that measured and predicted differ by the
    model's timing, not by the luck of fresh draws; a kind's Claude calls start in about arrival order
    (FIFO semaphore), which is the order given. A kind absent from ``given`` keeps its plan."""
    out = dict(plans)
    for name, values in given.items():
        plan = plans.get(name)
        if plan is None or plan.output_tokens is None or not values:
            continue
        drawn = iter(plan.output_tokens, None)  # the kind's sampler, called on once the given run out
        out[name] = replace(plan, output_tokens=itertools.chain(map(float, values), drawn).__next__)
    return out


def kind_plans(scenario: Scenario, seed: int) -> dict[str, KindPlan]:
    """A plan per kind in the mix, plus "digest" (one Claude call, one send) when digests are on."""
    wl = scenario.workload
    plans = {name: _plan(name, wl.kinds[name], rng_for(seed, f"kind:{name}")) for name in wl.mix}
    d = wl.digests
    if d.subscribers_share > 0:
        spec = KindSpec(service_s=d.service_s, db_queries=d.db_queries, model=d.model,
                        input_tokens=d.input_tokens, output_tokens=d.output_tokens,
                        max_tokens=d.max_tokens, telegram_sends=1)
        plans["digest"] = _plan("digest", spec, rng_for(seed, "kind:digest"))
    return plans


@dataclass(frozen=True)
class OpenArrivals:
    """Poisson mode: independent messages at a constant rate (an open queue, for theory checks); also a
    measured trace (``botcap.sim.calibrate.replay``), which may bring each kind's answer lengths in arrival
    order (``output_tokens``: the work each request brought, see ``with_output_tokens``)."""

    t_s: np.ndarray
    kinds: np.ndarray       # index into ``names``
    chat_ids: np.ndarray
    names: tuple[str, ...]
    output_tokens: dict[str, list[float]] | None = None


@dataclass(frozen=True)
class Sessions:
    """Diurnal mode: sessions (one user each) of ``n_messages`` messages, each sent after the previous
    reply plus a think time; ``first`` indexes the session's first message in ``kinds``/``think_s``."""

    start_s: np.ndarray
    n_messages: np.ndarray
    first: np.ndarray
    chat_ids: np.ndarray
    kinds: np.ndarray
    think_s: np.ndarray
    names: tuple[str, ...]


def _kinds(scenario: Scenario, rng: np.random.Generator, n: int) -> tuple[np.ndarray, tuple[str, ...]]:
    names = tuple(scenario.workload.mix)
    p = np.array([scenario.workload.mix[k] for k in names])
    return rng.choice(len(names), size=n, p=p / p.sum()).astype(np.int32), names


def user_arrivals(scenario: Scenario, seed: int, horizon_s: float) -> OpenArrivals | Sessions:
    """The user-message plan over [0, horizon_s)."""
    wl = scenario.workload
    rng = rng_for(seed, "arrivals")
    if wl.arrivals.process == "poisson":
        rate = wl.arrivals.rate_per_s
        n = int(rng.poisson(rate * horizon_s))
        t_s = np.sort(rng.uniform(0.0, horizon_s, n))
        kinds, names = _kinds(scenario, rng, n)
        return OpenArrivals(t_s, kinds, rng.integers(0, wl.dau, n), names)
    start_clock_s = hhmm_to_s(scenario.horizon.start)
    days = math.ceil((start_clock_s + horizon_s) / DAY_S)
    clock_s = session_starts_s(wl.arrivals.hourly_weights, wl.dau * wl.sessions_per_user, rng, days=days)
    start_s = clock_s[(clock_s >= start_clock_s) & (clock_s < start_clock_s + horizon_s)] - start_clock_s
    n_sessions = len(start_s)
    # geometric: every message is the session's last with the same probability; mean = messages_per_session
    n_messages = rng.geometric(1.0 / wl.messages_per_session, n_sessions).astype(np.int64)
    first = np.concatenate(([0], np.cumsum(n_messages)[:-1])).astype(np.int64)
    total = int(n_messages.sum())
    kinds, names = _kinds(scenario, rng, total)
    think_s = np.asarray(sample(wl.think_time_s, rng_for(seed, "think"), total), dtype=float)
    return Sessions(start_s, n_messages, first, rng.integers(0, wl.dau, n_sessions), kinds, think_s, names)
