"""Infer a black-box bot's structure from the fakes' timelines: delivery, concurrency limits, retries.

Nothing here is retyped by the user; everything is read from what the fake Telegram and fake Claude
APIs saw (``timeline``). Each inferred value carries its evidence, and what could not be seen is
said (``seen: false`` with the reason), so that the calibrated scenario lists its assumptions.

* **Delivery**: the ``via`` of the fake Telegram's ``take`` events (getUpdates or webhook).
* **Claude calls in flight** (``claude.concurrency_per_instance``): the most calls open at once. It is
  a *limit* only when the count sat on it (``BINDING_SHARE`` of the busiest level's window) while the
  bot was past its knee: a saturated semaphore sits at capacity, unlimited Poisson overlap only
  touches its maximum.
* **Updates in flight** (``handlers_per_instance``): a synchronous call in an async handler blocks
  the event loop, so while one update is in a Claude call nothing else of the bot moves: no reply to
  another chat goes out (a bot that handles one update at a time looks the same, and is modelled the
  same). When, over the calls, the fake saw under ``BLOCKED_SHARE`` of the sends that independent work
  would put inside them, the process handles one update at a time: the limit is 1.
* **Work outside Claude** (``cpu_cores_per_instance``: the model's resource for the bot's own time):
  past the knee, Little's law says how many updates' non-Claude work ran at once, ``X × S``, with X
  the completions per second at the busiest level and S the mean time outside Claude at low load.
  When neither Claude's limit nor a blocked loop explains the knee, that (rounded) is the limit (an
  asyncpg pool, a semaphore, the event loop's one core: which, the outside cannot tell); not when the
  fake refused sends with 429 (the knee is Telegram's send limit, which the model has).
* **Retries**: per request, a failed Claude call followed by another call; the spacing is the next
  call's arrival minus the failed call's end.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from botcap.sim.calibrate.loop_cpu import bot_cpu
from botcap.sim.calibrate.timeline import claude_calls, intervals_max, telegram_log, timeline

__all__ = ["infer_structure", "BINDING_SHARE", "BLOCKED_SHARE", "KNEE_SHARE", "UNLIMITED", "mark_unqueued",
           "own_times"]

BINDING_SHARE = 0.3     # share of the busiest level's window at the most-in-flight count: a ceiling
BLOCKED_SHARE = 0.1     # events inside Claude calls / expected: below this the loop was blocked
KNEE_SHARE = 0.9        # past the knee: under this share of a level's requests answered inside it
MIN_EXPECTED = 20       # expected sends inside calls needed before a blocked loop can be told
SHRINK_S = 0.002        # a call's own take and reply sit at its edges
LITTLE_MIN = 0.75       # a work limit is read only when the knee shows at least this many updates' work
LOOP_MIN = 0.5          # ... and a limit of 1 only when the bot's own CPU was at least this busy there
SERVICE_TARGET = 60     # per kind: service samples from the quietest levels upward (a black box cannot
                        # tell a semaphore's wait from work, so as few loaded levels as possible)
UNLIMITED = {"handlers_per_instance": 10_000, "claude.concurrency_per_instance": 10_000,
             "cpu_cores_per_instance": 1024}   # the schema's ceilings: "no limit seen"


def _level_rows(tl: pd.DataFrame, lv) -> pd.DataFrame:
    return tl[(tl["sent"] >= lv.start_s) & (tl["sent"] < lv.end_s)]


def level_load(b, tl: pd.DataFrame) -> list[dict]:
    """Per level: rate, requests sent, answered inside the window, completions/s in the window, knee."""
    out = []
    for lv in b.levels:
        rows = _level_rows(tl, lv)
        answered = rows["ok"] & (rows["completed"] < lv.end_s)
        done = tl["ok"] & (tl["completed"] >= lv.start_s) & (tl["completed"] < lv.end_s)
        n = len(rows)
        out.append({"level": lv.index, "rate_per_s": lv.rate_per_s, "sent": n,
                    "answered_in_window": int(answered.sum()),
                    "completions_per_s": float(done.sum()) / lv.duration_s,
                    "past_knee": bool(n and answered.sum() < KNEE_SHARE * n)})
    return out


def _blocked_loop(tl: pd.DataFrame, calls: pd.DataFrame, log: pd.DataFrame) -> dict:
    """Did other updates' replies go out while a Claude call was open? (see the module docstring)

    Counted: sends and edits to *other* chats strictly inside a call (2 ms in from each end), against
    what independent work would put there (each call's share of the time × the sends)."""
    ok = calls[calls["ok"] & calls["request_id"].notna()] if len(calls) else calls
    if not len(ok) or not len(log):
        return {"seen": False, "why": "no linked Claude calls or no Telegram events"}
    ev = log[log["event"].isin(["send", "edit"])]
    t = pd.to_numeric(ev["at"], errors="coerce").to_numpy(dtype=float)
    ev_chat = pd.to_numeric(ev["chat_id"], errors="coerce").to_numpy(dtype=float)
    if not t.size:
        return {"seen": False, "why": "no sends in telegram_log"}
    chat_of = dict(zip(tl["request_id"], tl["chat_id"], strict=False))
    a = pd.to_numeric(ok["arrived_at"]).to_numpy(dtype=float) + SHRINK_S
    e = pd.to_numeric(ok["ended_at"]).to_numpy(dtype=float) - SHRINK_S
    call_chat = ok["request_id"].astype(str).map(chat_of).to_numpy(dtype=float)
    keep = e > a
    a, e, call_chat = a[keep], e[keep], call_chat[keep]
    order = np.argsort(t)
    ts, cs = t[order], ev_chat[order]
    lo = np.searchsorted(ts, a, side="right")
    hi = np.searchsorted(ts, e, side="left")
    observed = 0
    for i in range(a.size):   # events of other chats inside each call
        observed += int((cs[lo[i]:hi[i]] != call_chat[i]).sum())
    span = float(ts[-1] - ts[0]) if ts.size > 1 else 0.0
    expected = float(ts.size * (e - a).sum() / span) if span > 0 else 0.0
    out = {"sends_inside_calls": observed, "expected_if_independent": expected, "calls": int(a.size)}
    if expected < MIN_EXPECTED:
        return {**out, "seen": False, "why": f"too little activity to tell (expected {expected:.1f} sends "
                                               f"inside calls, need {MIN_EXPECTED})"}
    return {**out, "seen": True, "blocked": observed < BLOCKED_SHARE * expected}


def _retries(calls: pd.DataFrame) -> dict:
    """Failed calls followed by another call of the same request: how many, how far apart."""
    linked = calls[calls["request_id"].notna()] if len(calls) else calls
    failed = int((~linked["ok"]).sum()) if len(linked) else 0
    spacing, attempts = [], []
    if len(linked):   # per request in arrival order: a failed call and the same request's next call
        g = linked.assign(rid=linked["request_id"].astype(str)).sort_values(["rid", "arrived_at"],
                                                                             kind="stable")
        rid = g["rid"].to_numpy()
        ok = g["ok"].to_numpy(dtype=bool)
        arr = g["arrived_at"].to_numpy(dtype=float)
        end = g["ended_at"].to_numpy(dtype=float)
        attempts = g.groupby("rid", sort=False).size().tolist()
        pair = (rid[1:] == rid[:-1]) & ~ok[:-1]
        spacing = (arr[1:] - end[:-1])[pair].tolist()
    statuses = {str(k): int(v) for k, v in calls["status"].value_counts().items()} if len(calls) else {}
    out = {"failed_calls": failed, "retried": len(spacing), "statuses": statuses,
           "max_attempts_seen": int(max(attempts)) if attempts else 0, "seen": bool(spacing)}
    if spacing:
        s = np.asarray(spacing)
        out.update(spacing_s={"median": float(np.median(s)), "min": float(s.min()), "max": float(s.max()),
                              "cv": float(s.std() / s.mean()) if s.mean() > 0 else 0.0})
    return out


def _loop_share(b, tl: pd.DataFrame, level, completions_per_s: float) -> float | None:
    """The bot's CPU at ``level`` (a ``Level``), in cores: its CPU per update taken there
    (``loop_cpu.bot_cpu``: run.json ``levels[i].bot_cpu_s``, or the whole run's per update) times the
    level's completions per second. None without ``--bot-pid``."""
    seen = bot_cpu([b], [level], tl)
    return None if seen is None else seen[0] / max(int(seen[1].sum()), 1) * completions_per_s


def infer_structure(b, fit_levels=None) -> dict:
    """The structure of bundle ``b``'s bot (plain data; see the module docstring)."""
    tl = timeline(b)
    calls = claude_calls(b)
    log = telegram_log(b)
    loads = level_load(b, tl)
    busiest = max(range(len(b.levels)), key=lambda i: loads[i]["rate_per_s"])
    top_lv, top = b.levels[busiest], loads[busiest]
    saturated = any(x["past_knee"] for x in loads)
    out: dict = {"levels": loads, "saturated": saturated}

    takes = log[log["event"] == "take"] if len(log) else log
    vias = takes["via"].value_counts().to_dict() if len(takes) and "via" in takes else {}
    out["mode"] = {"value": b.mode, "seen": bool(vias),
                   "takes_by_via": {str(k): int(v) for k, v in vias.items()}}

    ok_calls = calls[calls["ok"]] if len(calls) else calls
    window = (top_lv.steady_start_s, top_lv.end_s)
    if len(ok_calls):
        top_n, share = intervals_max(ok_calls["arrived_at"], ok_calls["ended_at"], window)
        all_n, _ = intervals_max(ok_calls["arrived_at"], ok_calls["ended_at"])
        binding = bool(saturated and top["past_knee"] and share >= BINDING_SHARE and top_n == all_n)
        out["claude_in_flight"] = {"max": all_n, "busiest_level_max": top_n, "share_at_max": share,
                                   "limit": all_n if binding else None, "seen": binding}
    else:
        out["claude_in_flight"] = {"max": 0, "limit": None, "seen": False}

    blocked = _blocked_loop(tl, calls, log)
    out["loop_blocked_by_claude"] = blocked
    serial = bool(blocked.get("seen") and blocked.get("blocked"))
    out["updates_in_flight"] = _updates_in_flight(tl, window, serial, top["past_knee"],
                                                  out["claude_in_flight"].get("busiest_level_max", 0))
    serial = out["updates_in_flight"]["limit"] == 1

    if serial:
        tl = serial_starts(tl)
    good = _service_rows(tl, b, fit_levels)
    s_nc = float((good["pre_s"] + good["post_s"]).mean()) if len(good) else math.nan
    s_cl = float(good["claude_s"].fillna(0).mean()) if len(good) else math.nan
    x = top["completions_per_s"]
    work = {"completions_per_s": x, "mean_outside_claude_s": s_nc, "mean_claude_s": s_cl,
            "little_outside_claude": x * s_nc if math.isfinite(s_nc) else math.nan,
            "little_claude": x * s_cl if math.isfinite(s_cl) else math.nan, "limit": None, "seen": False}
    claude_explains = out["claude_in_flight"]["limit"] is not None
    if saturated and top["past_knee"] and not serial and not claude_explains and math.isfinite(s_nc):
        c = work["little_outside_claude"]
        loop = _loop_share(b, tl, top_lv, x)
        work["bot_loop_share"] = loop    # the bot process's CPU at the knee, in cores (bot_cpu_s)
        refused = (b.run.get("telegram_stats") or {}).get("http_429_count") or 0
        if refused:
            # the fake refused sends past Telegram's bot-wide limit: that is the knee (or part of it), and
            # the model has it (platform.telegram.send_rate_per_s); a work limit read here would be the
            # send limit's queue (one streaming ladder: "2" from 29/s x 52 ms outside Claude)
            work["why"] = (f"the knee at {x:.3g}/s is Telegram's send limit: the fake refused {refused} "
                           "sends with 429 (the model has that limit itself)")
        elif c < LITTLE_MIN + 0.75 and loop is not None and loop < LOOP_MIN:
            # one update's work at a time would be the event loop, but the bot's own CPU was mostly idle:
            # the knee is the machine's (the fakes, the generator, other work sharing the cores)
            work["why"] = (f"the knee at {x:.3g}/s is not the bot's: Little's law gives {c:.2f} updates' "
                           f"work at once, but the bot's CPU was {100 * loop:.0f}% of a core "
                           "there (bot_cpu_s)")
        elif c >= LITTLE_MIN:
            work["limit"] = max(1, int(round(c)))
            work["seen"] = True
        else:   # under one update's work at once: the knee is not the bot's (the machine, the fakes...)
            work["why"] = (f"the knee at {x:.3g}/s is not explained by the bot's visible structure "
                           f"(Little's law: {c:.2f} updates' work outside Claude at once)")
    out["work_outside_claude"] = work
    out["retries"] = _retries(calls)
    out["kinds"] = {str(k): _kind_summary(g) for k, g in good.groupby("kind")}
    return out


def _updates_in_flight(tl: pd.DataFrame, window, serial: bool, past_knee: bool, claude_max: int) -> dict:
    """The handler limit: 1 when the loop stood still during Claude calls; else the most updates seen
    being worked on at once (from the first visible sign of work, the first text or the first Claude
    call, to the reply) when, past the knee, the count sat on that ceiling above Claude's own."""
    if serial:
        return {"limit": 1, "seen": True, "why": "the event loop stood still during every Claude call: one "
                                                 "update at a time per process"}
    streams = tl["first_reply"] < tl["completed"] - 1e-3
    start = np.where(streams, tl["first_reply"], np.where(tl["has_claude"], tl["first_claude"], np.nan))
    n, share = intervals_max(start, tl["completed"], window)
    out = {"busiest_level_max": n, "share_at_max": share}
    if past_knee and share >= BINDING_SHARE and n > claude_max:
        return {**out, "limit": n, "seen": True,
                "why": f"{n} updates in the bot at once past the knee, {100 * share:.0f}% of the time"}
    return {**out, "limit": None, "seen": False,
            "why": "other updates moved during Claude calls and no ceiling of updates in flight showed"}


def serial_starts(tl: pd.DataFrame) -> pd.DataFrame:
    """``tl`` with ``pre_s`` measured from when a one-at-a-time bot could start on the update: the later
    of its take and the previous update's reply (in reply order). Why: such a bot takes updates (a
    getUpdates batch, webhook POSTs) while it is still busy; the time they then wait is queueing, which
    the model adds itself (handler slot), not service."""
    out = tl.copy()
    done = out["completed"].to_numpy(dtype=float)
    order = np.argsort(np.where(np.isfinite(done), done, np.inf), kind="stable")
    prev = np.full(len(out), -np.inf)
    prev[order[1:]] = done[order[:-1]]
    arrived = out["posted"].to_numpy(dtype=float) if "posted" in out else out["taken"].to_numpy(dtype=float)
    start = np.fmax(arrived, np.where(np.isfinite(prev), prev, -np.inf))
    has = out["has_claude"].to_numpy(dtype=bool)
    out["pre_s"] = np.where(has, out["first_claude"].to_numpy(dtype=float) - start, done - start)
    out["first_reply_delay_s"] = out["first_reply"].to_numpy(dtype=float) - start
    return out


def mark_unqueued(tl: pd.DataFrame, limit: int) -> pd.DataFrame:
    """``tl`` with ``queued``: when the bot took the update, ``limit`` or more updates' work outside Claude
    (take -> first Claude call or reply; last Claude end -> reply) was already open, so this one may have
    waited for the limited resource (a pool slot, a semaphore) before its own work began.

    Why: with a work limit seen, the time outside Claude at low load still holds that wait whenever
    another update happened to hold the slots (at 5 of this limit's 13/s, a DB-pool bot's text fit
    came out 12% long: 0.126 s for 0.113 s unqueued), and the model adds that wait itself (its
    ``cpu`` queue): counted twice, the knee is predicted low and the latency high. An update that found
    a free slot did not wait, whatever else it met; which updates arrive then is independent of their
    own service time, so the kept ones are a fair sample."""
    out = tl.copy()
    has = out["has_claude"].to_numpy(dtype=bool)
    taken = out["taken"].to_numpy(dtype=float)
    completed = out["completed"].to_numpy(dtype=float)
    starts = np.concatenate([taken, np.where(has, out["last_claude_end"].to_numpy(dtype=float), np.nan)])
    ends = np.concatenate([np.where(has, out["first_claude"].to_numpy(dtype=float), completed),
                           np.where(has, completed, np.nan)])
    ok = np.isfinite(starts) & np.isfinite(ends)
    s_sorted, e_sorted = np.sort(starts[ok]), np.sort(ends[ok])
    # open at t: started strictly before t and not ended by t (the update's own interval starts at t)
    open_at = (np.searchsorted(s_sorted, taken, side="left") - np.searchsorted(e_sorted, taken, side="right"))
    out["queued"] = ~np.isfinite(taken) | (open_at >= limit)
    return out


def own_times(tl: pd.DataFrame, structure: dict) -> pd.DataFrame:
    """``tl`` as the samples of each update's own work, for the structure read (``infer_structure``): a
    one-at-a-time bot's times from when it could start (``serial_starts``); with a work limit seen, the
    updates that may have waited for it marked (``mark_unqueued``), which ``_service_rows`` then skips;
    else as measured. Why one function: every black-box sample of a service time (the fit's
    ``service_s``, the streaming kinds' delay to the first text in calibration and in ``sim replay``)
    must leave out the same waits, the ones the model adds itself."""
    if structure["updates_in_flight"].get("limit") == 1:
        return serial_starts(tl)
    work = structure["work_outside_claude"]
    if work.get("seen") and work.get("limit"):
        return mark_unqueued(tl, int(work["limit"]))
    return tl


def _service_rows(tl: pd.DataFrame, b, fit_levels, target: int = SERVICE_TARGET) -> pd.DataFrame:
    """Requests that show service times unqueued: answered, no failed Claude attempt, per kind from the
    quietest fitted levels below the knee (whole levels, lowest rate first, until ``target`` rows; the
    quietest fitted level when every one is past it). Why the quietest: samples taken under load hold
    queueing (a pool's wait, a busy event loop) that the model adds itself (``stages.quietest``)."""
    levels = [lv for lv in b.levels if fit_levels is None or any(
        f.bundle == lv.bundle and f.index == lv.index for f in fit_levels)]
    loads = {x["level"]: x for x in level_load(b, tl)}
    below = [lv for lv in levels if not loads[lv.index]["past_knee"]]
    use = sorted(below or sorted(levels, key=lambda lv: lv.rate_per_s)[:1], key=lambda lv: lv.rate_per_s)
    ok = (tl["ok"] & (tl["claude_attempts"] <= tl["claude_calls"]) & np.isfinite(tl["pre_s"])).to_numpy()
    if "queued" in tl:   # a work limit was seen: only updates that found it free (``mark_unqueued``)
        ok = ok & ~tl["queued"].to_numpy(dtype=bool)
    keep = np.zeros(len(tl), dtype=bool)
    for kind in tl["kind"].unique():
        n = 0
        for lv in use:
            in_lv = ((tl["sent"] >= lv.start_s) & (tl["sent"] < lv.end_s)).to_numpy()
            m = ok & (tl["kind"] == kind).to_numpy() & in_lv
            keep |= m
            n += int(m.sum())
            if n >= target:
                break
    return tl[keep]


def _kind_summary(g: pd.DataFrame) -> dict:
    return {"n": int(len(g)), "claude_share": float(g["has_claude"].mean()),
            "claude_calls_per_request": float(g["claude_calls"].mean()),
            "pre_s": float(g["pre_s"].mean()), "post_s": float(g["post_s"].mean()),
            "claude_s": float(g["claude_s"].fillna(0).mean()),
            "first_reply_delay_s": float(g["first_reply_delay_s"].mean()),
            "streams": bool((g["first_reply"] < g["completed"] - 1e-3).mean() > 0.5)}
