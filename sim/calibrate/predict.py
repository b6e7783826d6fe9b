"""Validation: measured vs predicted throughput and latency per load level, and the saturation point.

Each bundle's arrival trace is replayed through the calibrated model (``replay.simulate_trace``) with
``replications`` independent seeds; measured and predicted requests then go through the *same*
per-level statistics, so that a difference is the model's, not the bookkeeping's:

* a level's steady window is [start + warmup_s, end) (``bundles.Level``);
* only requests *sent* in the window count, answered or not (``unanswered``: still without a reply
  when the run ended, reported per level and kind, never dropped);
* latency percentiles: over every request sent in the window, failed and unanswered ones included as
  censored (+inf): a p95 is finite only when at least 95% were answered (latency = reply received -
  intended send, as the load generator measures it; the model's latency gets the generator's own
  posting lag added, which it does not model);
* throughput: requests sent in the window and answered before its end, per second (the generator's
  ``in_window``): replies that arrive after the load ended do not count. Past the knee an open
  workload's backlog grows and this falls below the arrival rate, which is the knee;
* streaming bots: ``first_p50_s``/``first_p95_s`` are the same percentiles of the time to the first
  visible text (``first_reply_at``), beside those of completion;
* a simulated request counts as failed when its reply would come after the client's reply timeout.

Predicted figures are the mean over replications, with a Student-t 95% band across them.
Errors are relative, ``|predicted - measured| / measured``; beside each kind's measured p50/p95 a
bootstrap 95% interval (``measured_ci95``) says how far the measurement alone is from exact. Kinds with
fewer than ``MIN_KIND_N`` (50) measured completions at a level are reported but left out of
``max_holdout_error`` (their p95 is noise).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from botcap.sim.calibrate.bundles import Level, RunBundle
from botcap.sim.calibrate.join import joined
from botcap.sim.calibrate.replay import simulate_trace
from botcap.sim.metrics import t_interval
from botcap.sim.runner import replication_seeds

from botcap.scenario import Scenario

__all__ = ["MIN_KIND_N", "predict_levels", "saturation", "max_errors", "measured_frame", "level_stats",
           "host_cpu", "busy_host_notes", "OTHER_WORK_CORES"]

MIN_KIND_N = 50
BUSY_HOST_SHARE = 0.9     # of the machine's cores in use during a level: its timings include CPU waits
OTHER_WORK_CORES = 0.25   # cores of another job's CPU during a level, past which its timings follow that job
STATS = ("throughput_per_s", "p50_s", "p95_s")
FIRST = ("first_p50_s", "first_p95_s")     # streaming bots: time to the first visible text
ERROR_KEYS = {"throughput_per_s": "throughput", "p50_s": "p50", "p95_s": "p95",
              "first_p50_s": "first_p50", "first_p95_s": "first_p95"}


def _reply_timeout_s(b: RunBundle) -> float:
    value = (b.run.get("profile_settings") or {}).get("reply_timeout_s")
    return float(value) if isinstance(value, int | float) and value > 0 else math.inf


def measured_frame(b: RunBundle) -> pd.DataFrame:
    """kind, sent (Unix s), replied (Unix s or NaN), latency_s, ok: one row per request of the bundle."""
    r = b.requests
    replied = pd.to_numeric(r["replied_at"], errors="coerce").to_numpy(dtype=float)
    sent = r["sent_at"].to_numpy(dtype=float)
    out = pd.DataFrame({"kind": r["kind"].astype(str).to_numpy(), "sent": sent, "replied": replied,
                        "latency_s": replied - sent, "ok": r["ok"].astype(bool).to_numpy()})
    if "first_reply_at" in r:
        first = pd.to_numeric(r["first_reply_at"], errors="coerce").to_numpy(dtype=float)
        out["first_latency_s"] = first - sent
    return out


def _trace(b: RunBundle, kinds) -> tuple[pd.DataFrame, float]:
    r = b.requests
    posted = pd.to_numeric(r["posted_at"], errors="coerce") if "posted_at" in r else r["sent_at"]
    posted = posted.fillna(r["sent_at"]).to_numpy(dtype=float)
    t_ref = float(np.nanmin(posted))
    keep = r["kind"].astype(str).isin(list(kinds)).to_numpy()
    if b.stages is None:     # black box: the answer lengths the fake Claude API handed out
        from botcap.sim.calibrate.timeline import timeline

        tokens = timeline(b)["output_tokens"].to_numpy(dtype=float)
    elif "claude_output_tokens" in b.stages:
        tokens = joined(r, b.stages)["st_claude_output_tokens"].to_numpy()
    else:
        tokens = np.nan
    trace = pd.DataFrame({"t_s": posted - t_ref, "kind": r["kind"].astype(str).to_numpy(),
                          "chat_id": (r["chat_id"].fillna(0).astype(np.int64).to_numpy() if "chat_id" in r
                                      else np.arange(len(r))), "row": np.arange(len(r)),
                          "output_tokens": tokens})[keep]
    return trace.reset_index(drop=True), t_ref


def predicted_frame(b: RunBundle, scenario: Scenario, seed: int,
                    first_reply: dict[str, list[float]] | None = None) -> pd.DataFrame:
    """The bundle's trace through the model: the same columns as ``measured_frame`` (scenario kinds only).

    ``first_reply`` (streaming kinds: measured delays from taking an update to its first visible text at
    low load): the model has no stage for an early placeholder, so the time to first answer is the
    model's own wait until the handler runs (ingress, handler slot, the resource ``service_s`` holds)
    plus one of these delays, drawn with the replication's seed."""
    trace, t_ref = _trace(b, scenario.workload.kinds)
    sim = simulate_trace(scenario, trace[["t_s", "kind", "chat_id", "output_tokens"]], seed)
    src = trace.iloc[sim["trace_row"].to_numpy()]
    rows = src["row"].to_numpy()
    sent = b.requests["sent_at"].to_numpy(dtype=float)[rows]
    lag = (t_ref + src["t_s"].to_numpy()) - sent
    done = sim["done_s"].to_numpy(dtype=float)
    latency = done - sim["arrival_s"].to_numpy(dtype=float) + lag
    ok = sim["ok"].astype(bool).to_numpy() & (latency <= _reply_timeout_s(b))
    frame = pd.DataFrame({"kind": src["kind"].to_numpy(), "sent": sent, "replied": sent + latency,
                          "latency_s": latency, "ok": ok})
    for stage, cols in SIM_STAGES.items():
        frame[stage] = sim[list(cols)].sum(axis=1).to_numpy(dtype=float)
    if first_reply:
        rng = np.random.default_rng([seed, 11])
        waits = sim[["wait_webhook_s", "wait_handler_s", "wait_cpu_s"]].sum(axis=1).to_numpy(dtype=float)
        ingress = scenario.platform.network_rtt_s.telegram / 2 if scenario.platform.mode == "webhook" else 0.0
        first = np.full(len(frame), np.nan)
        kinds = frame["kind"].to_numpy()
        for kind, delays in first_reply.items():
            at = kinds == kind
            if at.any() and delays:
                first[at] = waits[at] + ingress + rng.choice(np.asarray(delays), size=int(at.sum())) + lag[at]
        frame["first_latency_s"] = np.where(ok, first, np.nan)
    return frame


# stage (as the bot times it) -> the model's per-request columns that make it up
SIM_STAGES = {
    "cpu_s": ("wait_cpu_s", "service_cpu_s"),
    "db_acquire_s": ("wait_db_pool_s", "wait_db_server_s"), "db_query_s": ("service_db_s",),
    "claude_semaphore_wait_s": ("wait_claude_semaphore_s",), "claude_call_s": ("service_claude_s",),
    "mcp_s": ("service_mcp_s",), "telegram_send_s": ("service_telegram_s", "wait_telegram_send_s"),
}
TIMED = tuple(s for s in SIM_STAGES if s != "cpu_s")


def stage_means(b: RunBundle, lv: Level, pred: list[pd.DataFrame]) -> dict:
    """Mean seconds per update in each stage, measured (the bot's timings of updates started in the
    steady window; cpu = handler minus the timed stages) vs predicted (requests sent in the window):
    where the model misses, this says which stage it gets wrong."""
    st = b.stages
    t = st["started_at_unix_s"].to_numpy(dtype=float)
    rows = st[(t >= lv.steady_start_s) & (t < lv.end_s)]
    meas = {s: float(rows[s].mean()) if len(rows) else math.nan for s in TIMED}
    residual = rows["handler_s"] - rows[list(TIMED)].sum(axis=1)
    meas["cpu_s"] = float(residual.mean()) if len(rows) else math.nan
    out = {}
    for stage in SIM_STAGES:
        vals = [float(f.loc[(f["sent"] >= lv.steady_start_s) & (f["sent"] < lv.end_s), stage].mean())
                for f in pred]
        p = float(np.nanmean(vals)) if vals else math.nan
        out[stage] = {"measured_mean_s": meas[stage], "predicted_mean_s": p, "error": _rel(p, meas[stage])}
    return out


def level_stats(f: pd.DataFrame, lv: Level) -> dict:
    """Throughput, p50/p95 and error rate of one level's steady window, overall and per kind."""
    t0, t1 = lv.steady_start_s, lv.end_s
    span = t1 - t0
    in_w = f[(f["sent"] >= t0) & (f["sent"] < t1)]
    first = "first_latency_s" in f and bool(f["first_latency_s"].notna().any())

    def one(rows: pd.DataFrame) -> dict:
        ok = rows["ok"].to_numpy(dtype=bool)
        lat = rows.loc[ok, "latency_s"].to_numpy(dtype=float)
        censored = np.where(ok, rows["latency_s"].to_numpy(dtype=float), np.inf)   # failures stay inside
        p50, p95 = _quantiles(censored)
        replied = rows["replied"].to_numpy(dtype=float)
        out = {"throughput_per_s": float((ok & (replied < t1)).sum()) / span, "p50_s": float(p50),
               "p95_s": float(p95), "mean_s": float(lat.mean()) if lat.size else math.nan, "n": int(lat.size),
               "sent": int(len(rows)), "unanswered": int((~np.isfinite(replied)).sum()),
               "error_rate": float((~ok).mean()) if len(rows) else math.nan}
        if first:
            fl = rows["first_latency_s"].to_numpy(dtype=float)
            fl = np.where(np.isfinite(fl), fl, np.inf)
            if np.isfinite(fl).any() and fl.size:
                q50, q95 = _quantiles(fl)
                out.update(first_p50_s=q50, first_p95_s=q95)
        return out

    out = one(in_w)
    out["by_kind"] = {str(k): one(rows) for k, rows in in_w.groupby("kind", sort=True)}
    return out


def _quantiles(a: np.ndarray) -> tuple[float, float]:
    """p50, p95; with censored (+inf) values the order statistic (no interpolation towards inf)."""
    if not a.size:
        return math.nan, math.nan
    q = np.quantile(a, [0.5, 0.95], method="linear" if np.isfinite(a).all() else "inverted_cdf")
    return float(q[0]), float(q[1])


def _percentile_ci(f: pd.DataFrame, lv: Level, kind: str, *, draws: int = 1000) -> dict:
    """Bootstrap 95% intervals of the measured p50 and p95 of ``kind`` in ``lv``'s window (fixed seed).

    Why: a held-out error is only as sharp as the measurement it is compared with; a p95 of ~100
    millisecond-scale latencies on a shared machine moves by +-15-60% between resamples, so the report
    shows how much of an error the measurement alone could explain."""
    rows = f[(f["sent"] >= lv.steady_start_s) & (f["sent"] < lv.end_s) & (f["kind"] == kind) & f["ok"]]
    lat = rows["latency_s"].to_numpy(dtype=float)
    if lat.size < 2:
        return {"p50_s": [math.nan, math.nan], "p95_s": [math.nan, math.nan]}
    rng = np.random.default_rng(lat.size)
    boot = np.quantile(rng.choice(lat, size=(draws, lat.size)), [0.5, 0.95], axis=1)
    lo, hi = np.quantile(boot, [0.025, 0.975], axis=1)
    return {"p50_s": [float(lo[0]), float(hi[0])], "p95_s": [float(lo[1]), float(hi[1])]}


def host_cpu(b: RunBundle, level: int) -> dict:
    """The machine's CPU during ``level``, in cores (run.json ``levels[i]``): ``host_busy_cores`` and
    ``other_work_cores`` (the part no process of the run used); None where the bundle did not record it."""
    for lv in b.run.get("levels") or []:
        if lv.get("level") == level:
            return {key: float(lv[key]) if isinstance(lv.get(key), int | float) else None
                    for key in ("host_busy_cores", "other_work_cores")}
    return {"host_busy_cores": None, "other_work_cores": None}


def busy_host_notes(bundles: list[RunBundle], levels: list[dict],
                    share: float = BUSY_HOST_SHARE) -> list[str]:
    """A note per level measured while the machine was nearly full (``share`` of its cores or more) or
    while other work took more than ``OTHER_WORK_CORES``.

    Why: on one machine the bot, the fakes and the load generator share the cores; past that share each
    waits for a core now and then, which the bot's measured timings hold and a model of the bot does
    not (the model's own CPU is the bot's, one core per instance). Levels past the knee usually are;
    below it, such a level says the load itself took the machine. Another job's work is worse: its load
    comes and goes with nothing in the run, and the timings follow it (the fixture bots' held-out misses
    near the knee all came beside other test suites)."""
    cores = {b.name: (b.run.get("cpu") or {}).get("cores") or (b.run.get("host") or {}).get("cpus")
             for b in bundles}
    out = []
    for lv in levels:
        busy, other, n = lv.get("host_busy_cores"), lv.get("other_work_cores"), cores.get(lv["bundle"])
        where = f"{lv['bundle']} at {lv['rate_per_s']:g}/s"
        if isinstance(other, float) and other > OTHER_WORK_CORES:
            out.append(f"{where}: other work (no process of the run) took {other:.2f} cores: the timings "
                       "there follow that work too; measure again on a quiet machine")
        elif isinstance(busy, float) and isinstance(n, int) and n > 0 and busy >= share * n:
            out.append(f"{where}: the machine was {busy:.2f} of its {n} cores busy (host_busy_cores): the "
                       "bot, the fakes and the load generator waited for a core there, which the measured "
                       "timings hold and the model does not")
    return out


def _rel(pred: float, meas: float) -> float:
    if not (math.isfinite(pred) and math.isfinite(meas)) or meas == 0:
        return math.nan
    return abs(pred - meas) / abs(meas)


def _combine(reps: list[dict]) -> tuple[dict, dict]:
    """Mean over replications and a 95% band per statistic."""
    mean, band = {}, {}
    keys = [*STATS, "mean_s", "error_rate", *(k for k in FIRST if any(k in r for r in reps))]
    for key in keys:
        vals = [r.get(key, math.nan) for r in reps]
        if any(v == math.inf for v in vals):   # censored in a replication: the mean is censored too
            mean[key], band[key] = math.inf, [math.inf, math.inf]
            continue
        vals = [v for v in vals if math.isfinite(v)]
        mean[key] = float(np.mean(vals)) if vals else math.nan
        band[key] = t_interval(vals) if len(vals) > 1 else [mean[key], mean[key]]
    for key in ("n", "sent", "unanswered"):
        mean[key] = int(round(np.mean([r.get(key, 0) for r in reps])))
    return mean, band


def _pick(d: dict) -> dict:
    return {k: d[k] for k in (*STATS, "mean_s", "error_rate", "n", "sent", "unanswered", *FIRST) if k in d}


def _errors(pred: dict, meas: dict) -> dict:
    return {name: _rel(pred.get(key, math.nan), meas.get(key, math.nan)) for key, name in ERROR_KEYS.items()
            if key in pred or key in meas or key in STATS}


def predict_levels(bundles: list[RunBundle], held_out: set[tuple[str, int]], scenario_for, *,
                   replications: int = 3, seed: int = 1,
                   first_reply: dict[str, list[float]] | None = None) -> list[dict]:
    """One contract ``levels`` entry per level of every bundle, in bundle then level order.

    ``scenario_for(bundle)`` gives the calibrated scenario to replay that bundle with (its platform);
    ``first_reply``: see ``predicted_frame`` (streaming kinds of a black-box bot).
    """
    out = []
    seeds = replication_seeds(seed, replications)
    for b in bundles:
        scenario = scenario_for(b)
        meas_f = measured_frame(b)
        pred_fs = [predicted_frame(b, scenario, s, first_reply) for s in seeds]
        for lv in b.levels:
            meas = level_stats(meas_f, lv)
            reps = [level_stats(pf, lv) for pf in pred_fs]
            pred, band = _combine(reps)
            entry = {"rate_per_s": lv.rate_per_s, "held_out": (b.name, lv.index) in held_out,
                     "bundle": b.name, "level": lv.index, "window_s": [lv.steady_start_s, lv.end_s],
                     **host_cpu(b, lv.index),
                     "measured": _pick(meas), "predicted": pred, "band95": band,
                     "error": _errors(pred, meas), "by_kind": {},
                     "stages": stage_means(b, lv, pred_fs) if b.stages is not None else {}}
            # Little's law: mean number of requests in the system, the "concurrency" USL is fitted on
            entry["measured"]["concurrency"] = meas["throughput_per_s"] * meas["mean_s"]
            entry["predicted"]["concurrency"] = pred["throughput_per_s"] * pred["mean_s"]
            for kind, m in meas["by_kind"].items():
                kreps = [r["by_kind"].get(kind) for r in reps]
                kreps = [k for k in kreps if k is not None]
                if not kreps:
                    continue
                kp, kb = _combine(kreps)
                entry["by_kind"][kind] = {"measured": _pick(m), "predicted": kp, "band95": kb,
                                          "measured_ci95": _percentile_ci(meas_f, lv, kind),
                                          "error": _errors(kp, m), "counted": m["n"] >= MIN_KIND_N}
            out.append(entry)
    return out


def max_errors(levels: list[dict]) -> dict:
    """Largest relative error over held-out levels: throughput overall, p50/p95 per kind (counted kinds)."""
    held = [lv for lv in levels if lv["held_out"]]
    out = {"throughput": math.nan, "p50": math.nan, "p95": math.nan, "levels": len(held)}
    thr = [lv["error"]["throughput"] for lv in held if math.isfinite(lv["error"]["throughput"])]
    if thr:
        out["throughput"] = max(thr)
    streaming = any("first_p95" in k["error"] for lv in held for k in lv["by_kind"].values())
    for key in ("p50", "p95", *(("first_p50", "first_p95") if streaming else ())):
        vals = [k["error"].get(key, math.nan) for lv in held for k in lv["by_kind"].values()
                if k["counted"] and math.isfinite(k["error"].get(key, math.nan))]
        if vals:
            out[key] = max(vals)
    return out


def _score(stats: dict, slo) -> float:
    """max over kinds of p95 / limit, and error rate / allowed: <= 1 means the SLO holds at that level."""
    worst = 0.0
    for kind, limit in slo.p95_s.items():
        k = stats["by_kind"].get(kind)
        if k is None or k["n"] == 0:
            continue
        worst = max(worst, k["p95_s"] / limit)
    if slo.max_error_rate > 0 and math.isfinite(stats["error_rate"]):
        worst = max(worst, stats["error_rate"] / slo.max_error_rate)
    return worst


def saturation(levels: list[dict], slo) -> dict:
    """Largest arrival rate meeting the SLO, measured and predicted, interpolated between levels.

    Each level gets a score (see ``_score``); the rate where the score crosses 1 between the last level
    meeting the SLO and the next one is interpolated linearly. ``None`` when even the lowest level fails;
    when every level meets it, the highest rate is given with ``reached: false``.
    """
    out = {}
    for side in ("measured", "predicted"):
        pts = []
        for lv in sorted(levels, key=lambda x: x["rate_per_s"]):
            kinds = {k: v[side] for k, v in lv["by_kind"].items()}
            score = _score({"by_kind": kinds, "error_rate": lv[side]["error_rate"]}, slo)
            pts.append((lv["rate_per_s"], score))
        out[f"{side}_rate_per_s"], out[f"{side}_reached"] = _crossing(pts)
    out["error"] = _rel(out["predicted_rate_per_s"] or math.nan, out["measured_rate_per_s"] or math.nan)
    return out


def _crossing(pts: list[tuple[float, float]]) -> tuple[float | None, bool]:
    if not pts or pts[0][1] > 1:
        return None, True
    for (r0, s0), (r1, s1) in zip(pts, pts[1:], strict=False):
        if s1 > 1:
            return float(r0 + (r1 - r0) * (1 - s0) / (s1 - s0)) if s1 != s0 else float(r0), True
    return float(pts[-1][0]), False
