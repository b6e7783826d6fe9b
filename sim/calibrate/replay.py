"""Trace-driven simulation: run the SimPy model on a measured arrival trace (times, kinds, chats).

Why a trace and not "poisson at the level's rate": a calibration ladder is one continuous run, and
past the knee a level inherits the backlog of the level before. Replaying the very arrivals the bot
received, in order, gives the model the same history, so a measured and a predicted level differ only
by what the model gets wrong (and by service-time noise), not by the luck of a fresh Poisson draw.
For the same reason the trace may carry each request's answer length (output tokens: the work the
request brought, drawn by the fake Claude API, not a timing): near the knee the Claude semaphore's
queue depends on the sum of the answer lengths, and ~100 fresh lognormal draws per kind and level
move a p95 by 20-40%. No timing of a held-out level enters the model.

The trace goes to the engine as its arrival plan (``botcap.sim.engine.simulate(..., arrivals=...)``, an
``OpenArrivals``): nothing of the engine is patched.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from botcap.sim import engine
from botcap.sim.workload import OpenArrivals

from botcap.scenario import Scenario, load_scenario

__all__ = ["simulate_trace", "replay_scenario", "TAIL_S", "MAX_TAIL_S"]

TAIL_S = 120.0          # simulated after the last arrival so that the last replies come back
MAX_TAIL_S = 24 * 3600.0   # ... lengthened x4 while a backlog is still draining, up to a day


def replay_scenario(scenario: Scenario, *, kinds: list[str], hours: float) -> Scenario:
    """``scenario`` set up for a replay: Poisson mode (no sessions), the trace's kinds in the mix,
    no digests, no warm-up cut (the trace's own level windows decide what is measured)."""
    doc = scenario.model_dump(mode="json")
    present = [k for k in kinds if k in doc["workload"]["kinds"]]
    doc["workload"]["arrivals"].update({"process": "poisson", "rate_per_s": 1.0})
    doc["workload"]["mix"] = {k: 1.0 / len(present) for k in present}
    doc["workload"]["mix"][present[-1]] = 1.0 - sum(1.0 / len(present) for _ in present[:-1])
    doc["workload"]["digests"]["subscribers_share"] = 0.0
    doc["horizon"].update({"hours": hours, "warmup_s": 0, "replications": 1})
    doc["slo"]["p95_s"] = {k: v for k, v in doc["slo"]["p95_s"].items() if k in present}
    return load_scenario(data=doc)


def _answer_lengths(trace: pd.DataFrame, order: np.ndarray) -> dict[str, list[float]] | None:
    """Per kind, the known answer lengths in arrival order (``botcap.sim.workload.with_output_tokens``)."""
    if "output_tokens" not in trace:
        return None
    tok = pd.to_numeric(trace["output_tokens"], errors="coerce").to_numpy(dtype=float)[order]
    kinds = trace["kind"].astype(str).to_numpy()[order]
    known = np.isfinite(tok) & (tok > 0)
    out = {str(k): tok[known & (kinds == k)].tolist() for k in np.unique(kinds[known])}
    return out or None


def simulate_trace(scenario: Scenario, trace: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Per-request rows (``botcap.sim.record.FIELDS``) of the model fed ``trace``.

    ``trace``: columns ``t_s`` (seconds from the trace start, >= 0), ``kind`` (kinds of the scenario)
    and optionally ``chat_id`` (Telegram's 1 message/s per chat limit needs it) and ``output_tokens``
    (the answer length the request got; NaN or 0 = unknown, drawn from the scenario). Rows keep the trace's
    order; a ``trace_row`` column gives each simulated request's row in ``trace``.
    """
    trace = trace.reset_index(drop=True)
    kinds = sorted(map(str, trace["kind"].unique()))
    unknown = [k for k in kinds if k not in scenario.workload.kinds]
    if unknown:
        raise ValueError(f"trace kinds {unknown} are not kinds of the scenario")
    t = trace["t_s"].to_numpy(dtype=float)
    order = np.argsort(t, kind="stable")
    tail_s = TAIL_S
    while True:   # until the backlog drains: no request still in the model when it stops
        df = _run(scenario, trace, t, order, kinds, seed, tail_s)
        unfinished = int((df["done_s"].isna() & df["error"].astype(str).isin(["", "unfinished"])).sum())
        if not unfinished or tail_s >= MAX_TAIL_S:
            return df
        tail_s *= 4


def _run(scenario: Scenario, trace: pd.DataFrame, t: np.ndarray, order: np.ndarray, kinds: list[str],
         seed: int, tail_s: float) -> pd.DataFrame:
    hours = (float(t.max()) + tail_s) / 3600.0 if len(t) else tail_s / 3600.0
    sc = replay_scenario(scenario, kinds=kinds, hours=hours)
    names = tuple(sc.workload.mix)
    index = {k: i for i, k in enumerate(names)}
    kind_idx = np.array([index[str(k)] for k in trace["kind"]], dtype=np.int32)[order]
    chats = (trace["chat_id"].to_numpy(dtype=np.int64) if "chat_id" in trace
             else np.arange(len(trace), dtype=np.int64))[order]
    plan = OpenArrivals(t_s=t[order], kinds=kind_idx, chat_ids=chats, names=names,
                        output_tokens=_answer_lengths(trace, order))
    raw = engine.simulate(sc, seed, arrivals=plan)
    df = raw.requests
    df = df[~df["is_digest"].astype(bool)].sort_values("id", kind="stable").reset_index(drop=True)
    df["trace_row"] = order[: len(df)]
    return df
