"""Which stage rows of the reference bot are service samples: the fitted levels' rows, the quietest first.

``stage_rows`` joins each update's stage timings with its load level (rate, below the knee or not, and
for webhook runs the time outside the handler); ``quietest`` is the one sample policy every stage fit
uses (see its docstring: samples under load hold queueing the model adds itself).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from botcap.sim.calibrate.bundles import Level, RunBundle
from botcap.sim.calibrate.join import joined, outside_handler_s
from botcap.sim.calibrate.predict import measured_frame

__all__ = ["stage_rows", "quietest", "SERVICE_TARGET", "KNEE_SHARE", "TIMED"]

SERVICE_TARGET = 150       # per kind: stage samples gathered from the quietest levels upward (``quietest``)
KNEE_SHARE = 0.9           # a level is below the knee when replies/s >= this share of its arrival rate
TIMED = ("db_acquire_s", "db_query_s", "claude_semaphore_wait_s", "claude_call_s", "mcp_s", "telegram_send_s")


def _outside_by_stage_row(b: RunBundle) -> pd.Series:
    """Per stage row (by index label): the update's time outside the handler; webhook runs only (a
    polling bot's updates wait for the next getUpdates round, which the model's poller has itself)."""
    if b.mode != "webhook":
        return pd.Series(dtype=float)
    j = joined(b.requests, b.stages)
    keep = (j["st_index"] >= 0).to_numpy()
    values = outside_handler_s(j)[keep].to_numpy(dtype=float)
    return pd.Series(values, index=j.loc[keep, "st_index"].to_numpy())


def _below_knee(measured: pd.DataFrame, lv: Level) -> bool:
    """Whether the bot kept up with ``lv``: replies received in the steady window per second >= 90% of
    the arrival rate. (Not ``level_stats``' throughput, which counts only requests sent in the window
    and answered in it: a level's last seconds of second-long answers would look like a knee.)"""
    t0, t1 = lv.steady_start_s, lv.end_s
    done = measured["ok"] & (measured["replied"] >= t0) & (measured["replied"] < t1)
    return float(done.sum()) / (t1 - t0) >= KNEE_SHARE * lv.rate_per_s


def stage_rows(bundles: list[RunBundle], levels: list[Level]) -> pd.DataFrame:
    """Stage rows whose update started inside one of ``levels`` (with its rate in ``level_rate``, and in
    ``outside_s`` its time outside the handler where known, see ``_outside_by_stage_row``)."""
    frames = []
    for b in bundles:
        st = b.stages
        t = st["started_at_unix_s"].to_numpy(dtype=float)
        outside = _outside_by_stage_row(b)
        measured = measured_frame(b)
        for lv in levels:
            if lv.bundle != b.name:
                continue
            mask = (t >= lv.start_s) & (t < lv.end_s)
            if mask.any():
                frames.append(st[mask].assign(level_rate=lv.rate_per_s, bundle=b.name,
                                              outside_s=outside.reindex(st.index[mask]).to_numpy(),
                                              below_knee=_below_knee(measured, lv)))
    if not frames:
        return pd.DataFrame(columns=[*TIMED, "kind", "handler_s", "ok", "claude_attempts", "level_rate",
                                     "outside_s", "below_knee"])
    return pd.concat(frames, ignore_index=True)


def quietest(good: pd.DataFrame, target: int = SERVICE_TARGET, *, by_kind: bool = True) -> pd.DataFrame:
    """Per kind (``by_kind``; else all kinds together, for the stages one distribution serves), the rows
    of the quietest fitted levels (below the knee when any is), lowest rate first, whole levels, until
    ``target`` rows: the one sample policy of every stage fit.

    Why: a stage time is a service time only when nothing queued inside it. Under load the bot's timers
    also hold its event loop's wait (a DB query whose answer waits for the loop, a send resumed late):
    a command's per-query DB time was 1.0 ms at 2/s and 3.8 ms at 20/s in one ladder. The model adds
    that wait itself (its ``cpu`` queue, pools, semaphores), so samples taken under load count it twice,
    and a fit pooled evenly over levels then missed its own quietest level (command p50 14 ms predicted
    for 8.7 ms measured at 2/s): the issue's double counting."""
    if not len(good):
        return good
    if "below_knee" in good and good["below_knee"].astype(bool).any():
        good = good[good["below_knee"].astype(bool)]
    keep = []
    for _, k_rows in (good.groupby("kind", sort=False) if by_kind else [("all", good)]):
        n = 0
        for rate in sorted(k_rows["level_rate"].unique()):
            level = k_rows[k_rows["level_rate"] == rate]
            keep.append(level.index)
            n += len(level)
            if n >= target:
                break
    return good.loc[np.sort(np.concatenate(keep))] if keep else good
