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

Which CPU: the bot's CPU over the *fitted* levels (run.json ``levels[i].bot_cpu_s``, each level from
its start to the next one's), per update taken in them: a held-out level's CPU is never read. A
bundle without per-level CPU (recorded before it was) gives its whole run's, held-out levels included,
and the note says so. What this approximates: a level's CPU includes the bot's idle polling, and past
the knee a contended host makes each update cost more; the CPU of one kind is not told from another's
(shared in proportion).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from botcap.sim.calibrate.cpu_charge import scaled, shifted
from botcap.sim.calibrate.fit import Fit
from botcap.sim.calibrate.patch import set_key

from botcap.errors import BadInput

__all__ = ["charge_loop_cpu", "bot_cpu", "LOOP_WALL_MIN"]

LOOP_WALL_MIN = 0.5


def _limit_seen(s: dict) -> str | None:
    for key, label in (("updates_in_flight", "updates in flight"), ("claude_in_flight", "Claude calls"),
                       ("work_outside_claude", "work outside Claude")):
        if s[key].get("seen") and s[key].get("limit") is not None:
            return f"{label} {s[key]['limit']}"
    return None


def _positive(x) -> bool:
    return isinstance(x, int | float) and math.isfinite(x) and x > 0


def bot_cpu(bundles, fit_levels, tl: pd.DataFrame) -> tuple[float, pd.Series, str] | None:
    """The bot's CPU seconds, the updates taken per kind and where both came from: the fitted levels
    when every bundle has per-level CPU, else the whole runs; None without ``--bot-pid``'s figure."""
    taken = tl[np.isfinite(tl["taken"].to_numpy(dtype=float))]
    per_level = all(isinstance(lv.get("bot_cpu_s"), int | float) and math.isfinite(lv["bot_cpu_s"])
                    for b in bundles for lv in b.run.get("levels") or [{}])
    if per_level:
        cpu_s, rows = 0.0, []
        for b in bundles:
            fitted = {lv.index for lv in fit_levels if lv.bundle == b.name}
            cpu_s += sum(float(lv["bot_cpu_s"]) for lv in b.run["levels"] if lv.get("level") in fitted)
            if not math.isfinite(cpu_s):
                raise BadInput(f"{b.path / 'run.json'}: levels.*.bot_cpu_s: must be CPU seconds the "
                               "levels could hold (they add up to more than any float)")
            mine = taken["bundle"] == b.name if "bundle" in taken else np.ones(len(taken), bool)
            rows.append(taken[mine & taken["level"].isin(fitted)])
        counts = pd.concat(rows)["kind"].value_counts() if rows else pd.Series(dtype=int)
        return (cpu_s, counts, "its fitted levels") if _positive(cpu_s) and counts.sum() else None
    cpus = [b.run.get("bot_cpu_s") for b in bundles]
    if not all(_positive(c) for c in cpus):
        return None
    return float(sum(cpus)), taken["kind"].value_counts(), "the whole run (no per-level CPU in run.json)"


def charge_loop_cpu(fits, bundles, tl: pd.DataFrame, fit_levels=()) -> None:
    """``fits`` (``blackbox.BlackboxFits``) with the loop as one core when the CPU allows (module doc)."""
    seen = bot_cpu(bundles, fit_levels, tl)
    if seen is None:
        return
    cpu_s, counts, where = seen
    each_ms = 1000 * cpu_s / max(int(counts.sum()), 1)
    head = f"bot CPU {cpu_s:.2f} s over {int(counts.sum())} updates of {where} ({each_ms:.2f} ms each)"
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
        new = {k: scaled(f.dist, ratio) for k, f in kinds.items()}
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
