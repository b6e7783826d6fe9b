"""One replication of the platform model: build the components from a scenario, run SimPy, return raw data.

The engine only produces raw material (``RawRun``): every request's timeline, counters and resource
time-integrals. Summaries, warm-up cuts of the request table, confidence intervals and plots belong to
``botcap.sim.runner``/``botcap.sim.summary``.
Counters of events and time-integrals are taken over [warmup_s, end] by
snapshotting them at warm-up and subtracting (no per-event "are we warm yet?" checks); peaks cover the
whole run.
"""

from __future__ import annotations

import copy
import gc
import operator
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import simpy
from botcap.sim.build import BuiltPlatform, build_platform
from botcap.sim.record import FIELDS, Request
from botcap.sim.resources import timeout_at
from botcap.sim.rowstream import FLUSH_EVERY_S, RowStream, read_rows
from botcap.sim.workload import OpenArrivals, Sessions, kind_plans, user_arrivals, with_output_tokens

from botcap.scenario import Scenario

__all__ = ["RawRun", "simulate", "SAMPLE_EVERY_S"]

SAMPLE_EVERY_S = 60.0
FREEZE_EVERY_S = 60.0
# The young-generation threshold of the garbage collector during a run (CPython's default: 700 net new
# tracked objects). Between two freezes (``_gc_freeze``) a 1M-DAU day adds objects that live on (the
# 10:00 backlog of digest jobs, sessions, requests in flight): at 700 each young collection walks them
# again and promotes them, and generation-2 collections follow (4.3 of 19.5 CPU s of 24 simulated
# minutes from 09:50, 0.1 s with this). Few young collections instead; peak memory the same (the model
# makes almost no reference cycles: refcounting frees its garbage). No model state depends on it.
GC_YOUNG_THRESHOLD = 100_000


class RawRun:
    """The raw output of one replication (see the module docstring for the counting windows).

    ``counters["resources"][NAME]``: ``capacity`` summed over the processes that own one (0 = unbounded,
    e.g. ``telegram_send``, whose "queue" is sends sleeping out a 429's retry_after), ``busy_s`` and
    ``queue_s`` integrals over [warmup_s, end], ``peak_in_use``/``peak_queue`` summed over processes.
    ``requests``: the per-request table; of a streamed run (``rows_file``) read back from the file on
    first use only (the summary reads the file a few columns at a time instead: 1M DAU).
    """

    def __init__(self, requests: pd.DataFrame | None, simulated_s: float, warmup_s: float, counters: dict,
                 timeseries: pd.DataFrame, rows_file: Path | None = None,
                 row_columns: list[str] | None = None):
        self._requests = requests
        self.simulated_s, self.warmup_s = simulated_s, warmup_s
        self.counters, self.timeseries = counters, timeseries
        self.rows_file, self.row_columns = rows_file, row_columns

    @property
    def requests(self) -> pd.DataFrame:
        if self._requests is None:
            self._requests = read_rows(self.rows_file, self.row_columns)
        return self._requests


def simulate(scenario: Scenario, seed: int, *, hours: float | None = None,
             progress: Callable[[float], None] | None = None,
             arrivals: OpenArrivals | Sessions | None = None,
             rows_to: str | os.PathLike | None = None, row_columns: list[str] | None = None) -> RawRun:
    """One replication. ``hours`` overrides scenario.horizon.hours; ``progress(sim_time_s)`` is called
    about every simulated minute. ``arrivals`` is a given user-message plan (e.g. a measured trace as
    ``OpenArrivals``, its ``names`` kinds of the scenario's mix) instead of the one drawn from the
    scenario; arrivals at or after the horizon are never reached.

    ``rows_to`` (a parquet path): finished requests leave memory for that file every
    ``botcap.sim.rowstream.FLUSH_EVERY_S`` simulated seconds, so that memory during the run holds only
    the requests in flight (a 1M-DAU day); ``requests`` is then read back from it when first asked for,
    the same table as without (tests/scale/), or only its ``row_columns``. The file stays, with a
    ``seq`` column (the row's position): ``botcap.sim.summary`` reads it a few columns at a time."""
    horizon_s = (scenario.horizon.hours if hours is None else hours) * 3600.0
    warmup_s = min(scenario.horizon.warmup_s, horizon_s)
    env = simpy.Environment()
    plans = kind_plans(scenario, seed)
    if isinstance(arrivals, OpenArrivals) and arrivals.output_tokens:
        plans = with_output_tokens(plans, arrivals.output_tokens)  # a trace's answer lengths
    platform = build_platform(env, scenario, seed, plans, horizon_s)
    requests: list[Request] = platform.requests
    if arrivals is None:
        arrivals = user_arrivals(scenario, seed, horizon_s)
    if isinstance(arrivals, OpenArrivals):
        env.process(_open_arrivals(env, platform, plans, arrivals, requests))
    else:
        _sessions(env, platform, plans, arrivals, requests)
    samples: list[tuple] = []
    env.process(_sampler(env, platform, samples, progress))
    snapshot: dict = {}
    env.process(_at_warmup(env, warmup_s, platform, snapshot))
    env.process(_gc_freeze(env))
    stream = None
    if rows_to is not None:
        stream = RowStream(rows_to, _columns)
        env.process(_flusher(env, stream, requests))
    threshold = gc.get_threshold()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *threshold[1:])  # see GC_YOUNG_THRESHOLD
    try:
        env.run(until=horizon_s)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
    platform.settle()
    if not snapshot:  # warm-up as long as the horizon: an empty window
        _take_snapshot(platform, snapshot)
    for req in requests:
        if req.done_s != req.done_s and not req.error:  # NaN: still in flight at the end
            req.error = "unfinished"
    counters = _counters(platform, snapshot)
    timeseries = pd.DataFrame(samples, columns=["t_s", "resource", "in_use", "queue_len"])
    if stream is not None:
        stream.close(requests)
        requests.clear()
        # the run's objects (the day's arrival plan, the processes: cycles, hence collect) go before the
        # table comes back: the peak is the larger of the two, not their sum
        del platform, env, arrivals, plans, requests
        gc.collect()
        return RawRun(None, horizon_s, warmup_s, counters, timeseries, rows_file=Path(rows_to),
                      row_columns=row_columns)
    return RawRun(_frame(requests), horizon_s, warmup_s, counters, timeseries)


# ---------------------------------------------------------------------------------------------- arrivals
def _open_arrivals(env, platform: BuiltPlatform, plans, arr: OpenArrivals, requests: list[Request]):
    submit = platform.ingress.submit
    kind_plans_ = [plans[name] for name in arr.names]
    t_s, kinds, chats = arr.t_s.tolist(), arr.kinds.tolist(), arr.chat_ids.tolist()
    for i, t in enumerate(t_s):
        yield env.timeout(t - env.now)
        plan = kind_plans_[kinds[i]]
        req = Request(platform.next_id(), plan.name, t, chats[i])
        requests.append(req)
        submit(req, plan)


def _sessions(env, platform: BuiltPlatform, plans, s: Sessions, requests: list[Request]) -> None:
    """Start each user's session at its start time, without a driver process: session i's start timeout
    also sets session i+1's, and it resumes the session's generator itself (``_StartedBy``), so a session
    start costs one event, not a driver's timeout plus SimPy's Initialize event."""
    kind_plans_ = [plans[name] for name in s.names]
    kinds, think = s.kinds, s.think_s  # numpy: each session takes its own slice as lists when it starts
    starts, firsts, counts, chats = s.start_s.tolist(), s.first.tolist(), s.n_messages.tolist(), \
        s.chat_ids.tolist()
    n = len(starts)

    def begin(i: int) -> None:
        start = env.timeout(starts[i] - env.now)
        if i + 1 < n:
            start.callbacks.append(lambda _e: begin(i + 1))  # before the session's first step, as a driver
        _StartedBy(env, _session(env, platform, kind_plans_, kinds, think, firsts[i], counts[i], chats[i],
                                 requests), start)

    if n:
        begin(0)


class _StartedBy(simpy.Process):
    """A SimPy process whose generator is first resumed by ``start`` (an event yet to happen), instead of by
    an Initialize event of its own right away."""

    def __init__(self, env: simpy.Environment, generator, start: simpy.Event):
        self.env, self.callbacks, self._generator = env, [], generator  # as simpy.Process.__init__ ...
        self._target = start  # ... but waiting for ``start``
        start.callbacks.append(self._resume)


def _session(env, platform: BuiltPlatform, kind_plans_, kinds, think, first, count, chat_id, requests):
    """A user's chat: each message after the previous reply plus a think time (closed within a session).

    ``kinds``/``think`` are the whole day's arrays; the session converts only its own messages to Python
    values (as lists: the same numbers), so that a 1M-DAU day does not hold 10M Python floats at once."""
    run = platform.ingress.run
    kinds, think = kinds[first:first + count].tolist(), think[first:first + count].tolist()
    last = count - 1
    for j in range(count):
        plan = kind_plans_[kinds[j]]
        # env._now: the clock without the property call (see sim.resources)
        req = Request(platform.next_id(), plan.name, env._now, chat_id)
        requests.append(req)
        done = yield from run(req, plan, True)  # the handler may still await its last reply's answer
        if j < last:
            t = done + think[j]  # timeout_at(env, t), its common case inline
            now = env._now
            yield env.timeout(t - now) if now + (t - now) == t else timeout_at(env, t)


# ------------------------------------------------------------------------------------------- bookkeeping
def _sampler(env, platform: BuiltPlatform, samples: list, progress):
    groups = platform.resource_groups()
    while True:
        now = env.now
        platform.settle()
        for name, gauges in groups.items():
            for g in gauges:
                g.settle()
            samples.append((now, name, sum(g.in_use for g in gauges), sum(g.queue_len for g in gauges)))
        if progress is not None:
            progress(now)
        yield env.timeout(SAMPLE_EVERY_S)


def _gc_freeze(env):
    """Every simulated minute, move every object alive into the garbage collector's permanent generation.

    The run keeps what it produces (a Request per message, a token bucket per chat, ...): millions of
    tracked objects at 100K DAU, which each full collection walked again (37 s of a 127 s day). Frozen,
    they are skipped; refcounting still frees them, and ``simulate`` unfreezes everything at the end,
    so any cyclic garbage frozen meanwhile is collected then. Touches no model state: same results.
    """
    while True:
        yield env.timeout(FREEZE_EVERY_S)
        gc.freeze()


def _flusher(env, stream: RowStream, requests: list):
    """Every ``FLUSH_EVERY_S``: the finished requests to the file (``botcap.sim.rowstream``)."""
    while True:
        yield env.timeout(FLUSH_EVERY_S)
        stream.flush(requests, env._now)


def _take_snapshot(platform: BuiltPlatform, snapshot: dict) -> None:
    platform.settle()
    snapshot["counters"] = copy.deepcopy(platform.counters)
    snapshot["areas"] = {name: [g.areas() for g in gauges]
                         for name, gauges in platform.resource_groups().items()}
    snapshot["t_s"] = platform.env.now


def _at_warmup(env, warmup_s: float, platform: BuiltPlatform, snapshot: dict):
    yield env.timeout(warmup_s)
    _take_snapshot(platform, snapshot)


def _minus(after, before):
    if isinstance(after, dict):
        return {k: _minus(v, before.get(k, 0) if isinstance(before, dict) else 0) for k, v in after.items()}
    return after - before


def _counters(platform: BuiltPlatform, snapshot: dict) -> dict:
    counters = _minus(platform.counters, snapshot["counters"])
    for section, extra in platform.final_counters().items():  # plan facts and peaks: whole run
        counters[section].update(extra)
    d = counters["digests"]
    total = d.pop("moved_by_s_total")
    d["moved_by_s_mean"] = total / d["moved"] if d["moved"] else 0.0
    resources = {}
    for name, gauges in platform.resource_groups().items():
        end = [g.areas() for g in gauges]
        start = snapshot["areas"][name]
        resources[name] = {
            "capacity": int(sum(g.capacity for g in gauges)),
            "busy_s": float(sum(e[0] - s[0] for e, s in zip(end, start, strict=True))),
            "queue_s": float(sum(e[1] - s[1] for e, s in zip(end, start, strict=True))),
            "peak_in_use": int(sum(g.peak_in_use for g in gauges)),
            "peak_queue": int(sum(g.peak_queue for g in gauges)),
            # per process, in build order (instances 0.., then the scheduler worker): where the sums hide
            # an imbalance (polling hands every update to instance 0)
            "busy_s_by_process": [float(e[0] - s[0]) for e, s in zip(end, start, strict=True)],
            "capacity_by_process": [int(g.capacity) for g in gauges],
        }
    counters["resources"] = resources
    return counters


_INT_COLUMNS = frozenset({"id", "instance", "chat_id", "claude_attempts", "claude_input_tokens",
                          "claude_output_tokens", "claude_cache_read_tokens", "claude_cache_write_tokens"})
_BOOL_COLUMNS = frozenset({"is_digest", "is_duplicate", "ok"})
_CATEGORY_COLUMNS = frozenset({"kind", "error"})


_FRAME_CHUNK = 1 << 14


def _frame(requests: list[Request]) -> pd.DataFrame:
    """The per-request table (``_columns``, the string columns categorical)."""
    if not requests:
        return pd.DataFrame.from_records([], columns=list(FIELDS))
    columns = _columns(requests)
    for name in _CATEGORY_COLUMNS:
        columns[name] = pd.Categorical(columns[name])
    return pd.DataFrame(columns, copy=False)  # one block per column: no consolidating copy of the table


def _columns(requests: list[Request]) -> dict[str, np.ndarray]:
    """The per-request table as one array per column (``kind``/``error`` object arrays of str), filled
    a chunk of rows at a time: each request is read once (its fields as one tuple) rather than once per
    column (31 passes over scattered objects cost ~40% more); numpy parses a chunk's tuples into a record
    array (``np.fromiter``, half the cost of transposing them in Python), whose fields are then copied into
    the columns. Only a chunk's rows exist at a time (at 100K DAU all of them, or a 2-D object array,
    would cost more memory than the requests themselves). ``botcap.sim.rowstream`` writes these arrays
    as they are (no categorical and back to strings on every flush)."""
    n = len(requests)
    row_type = np.dtype([(name, object if name in _CATEGORY_COLUMNS else np.int64 if name in _INT_COLUMNS
                          else bool if name in _BOOL_COLUMNS else np.float64) for name in FIELDS])
    columns = {name: np.empty(n, dtype=row_type[name]) for name in FIELDS}
    row = operator.attrgetter(*FIELDS)
    for start in range(0, n, _FRAME_CHUNK):
        chunk = np.fromiter(map(row, requests[start:start + _FRAME_CHUNK]), dtype=row_type)
        for name in FIELDS:
            columns[name][start:start + len(chunk)] = chunk[name]
    return columns
