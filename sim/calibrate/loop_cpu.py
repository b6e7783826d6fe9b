"""A black-box bot's event loop as the model's one core, busy for the bot's measured CPU per update.

Why: a bot whose structure shows no limit (no semaphore, no pool, a loop that moved during Claude
calls) still has one: its process runs its Python on one core (one event loop, one GIL). The model
holds its ``cpu`` resource (``platform.cpu_cores_per_instance``) for each kind's ``service_s``, the
time outside Claude; but a streaming bot spends most of its CPU *during* the Claude call, handling
each chunk of the stream and sending ``editMessageText`` (one run: 16 ms of process CPU per update
against ~6 ms of its placeholder and last edit outside the call), CPU no fitted stage holds, so the
model's loop never filled and its throughput ceiling was the fakes' send limit, not the bot's.

With the bot's process CPU measured (``botcap loadtest run --bot-pid``, run.json ``bot_cpu_s``) and no
other limit seen, the calibration makes the loop one core and its service times hold the measured CPU
per update on average, so that the ceiling ``1 / CPU per update`` is the model's too:

* CPU beyond the fitted time outside Claude (``ratio = CPU / sum of fitted service means > 1``): the
  excess per Claude-calling update is added to those kinds' ``service_s`` (at the start of their
  handler: the model has no stage during the call, so the loop is charged before it; the latency this
  adds is the CPU per update minus the time outside Claude, a few ms against a call of hundreds);
* less CPU than that time (``LOOP_WALL_MIN <= ratio <= 1``: part of it was waiting, e.g. a send's round
  trip): every kind's ``service_s`` is scaled by ``ratio`` (the loop is held only for its CPU; the
  latency loses that wait, under half the time outside Claude);
* ``ratio < LOOP_WALL_MIN``: the time outside Claude is mostly waiting (an HTTP call, a query) that a
  core would wrongly serialise; nothing is changed and a note says so.

What this approximates: the bot's CPU is one average over the whole run (run.json has no per-level
CPU), including its idle polling and the past-the-knee level, where a contended host makes each
update cost more; the CPU of one kind is not told from another's (shared in proportion).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from botcap.sim.calibrate.cpu_charge import shifted
from botcap.sim.calibrate.fit import Fit
from botcap.sim.calibrate.patch import set_key

from botcap.scenario.dists import Empirical

__all__ = ["charge_loop_cpu", "LOOP_WALL_MIN"]

LOOP_WALL_MIN = 0.5


def _scaled(dist, factor: float):
    """``dist`` with every value times ``factor`` (its cv kept)."""
    if isinstance(dist, Empirical):
        return Empirical(dist="empirical", samples=[x * factor for x in dist.samples])
    return dist.model_copy(update={"mean": dist.mean * factor})


def _limit_seen(s: dict) -> str | None:
    for key, label in (("updates_in_flight", "updates in flight"), ("claude_in_flight", "Claude calls"),
                       ("work_outside_claude", "work outside Claude")):
        if s[key].get("seen") and s[key].get("limit") is not None:
            return f"{label} {s[key]['limit']}"
    return None


def charge_loop_cpu(fits, bundles, tl: pd.DataFrame) -> None:
    """``fits`` (``blackbox.BlackboxFits``) with the loop as one core when the CPU allows (module doc)."""
    cpus = [b.run.get("bot_cpu_s") for b in bundles]
    if not all(isinstance(c, int | float) and math.isfinite(c) and c > 0 for c in cpus):
        return
    cpu_s = float(sum(cpus))
    counts = tl.loc[np.isfinite(tl["taken"].to_numpy(dtype=float)), "kind"].value_counts()
    each_ms = 1000 * cpu_s / max(int(counts.sum()), 1)
    head = f"bot CPU {cpu_s:.2f} s over {int(counts.sum())} updates ({each_ms:.2f} ms each)"
    limit = _limit_seen(fits.structure)
    if limit is not None:
        fits.notes.append(f"{head}: not charged (the limit seen, {limit}, is the model's)")
        return
    kinds = {k: fits.fits[f"kinds.{k}.service_s"] for k in counts.index
             if f"kinds.{k}.service_s" in fits.fits}
    wall = float(sum(counts[k] * f.dist.mean for k, f in kinds.items()))
    if not kinds or wall <= 0:
        return
    ratio = cpu_s / wall
    if ratio < LOOP_WALL_MIN:
        fits.notes.append(f"{head}: {100 * ratio:.0f}% of the fitted time outside Claude; that time is "
                          "mostly waiting, which one core would serialise: the loop is not made a core")
        return
    spec = fits.patch["workload"]["kinds"]
    claude = [k for k in kinds if spec.get(k, {}).get("model")]
    if ratio > 1 and claude:
        extra = (cpu_s - wall) / float(sum(counts[k] for k in claude))
        new = {k: shifted(kinds[k].dist, extra) for k in claude}
        how = f"+ {1000 * extra:.2f} ms per update of the Claude kinds (the CPU during their calls)"
    else:
        new = {k: _scaled(f.dist, ratio) for k, f in kinds.items()}
        how = f"x {ratio:.2f} (the loop is held only for the CPU of that time)"
    for k, dist in new.items():
        f = kinds[k]
        fits.fits[f.stage] = Fit(f.stage, dist, f.n, {**f.gof, "loop_cpu_note": how}, f.candidates)
        spec[k]["service_s"] = fits.fits[f.stage].scenario_value()
    set_key(fits.patch, "platform.cpu_cores_per_instance", 1)
    fits.assumed[:] = [a for a in fits.assumed if a["key"] != "platform.cpu_cores_per_instance"]
    fits.notes.append(f"platform.cpu_cores_per_instance = 1: {head}, no other limit seen: the bot's event "
                      f"loop is one core, its service_s {how}, so the loop's ceiling ~{1000 / each_ms:.0f}/s "
                      "is the model's")
