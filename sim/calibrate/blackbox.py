"""Calibrate a bot botcap did not write: its inferred structure and fitted times → scenario keys.

The bundle has no bot-side timings; ``structure`` reads the limits from the fakes' timelines and
``timeline`` the per-request phases. The mapping onto the scenario (``botcap/scenario/model.py``):

* ``platform.mode``: the delivery seen; ``platform.instances``: 1 (one process per token is what the
  fakes can tell apart; assumed, listed).
* ``platform.handlers_per_instance``: 1 when the event loop stood still during Claude calls (a
  synchronous client in async handlers), else the schema's ceiling (no limit seen).
* ``platform.claude.concurrency_per_instance``: the Claude limit when it was binding, else the ceiling.
* ``platform.cpu_cores_per_instance``: the model's resource for the bot's own time outside Claude
  (``service_s`` holds it): the Little's-law limit when the knee shows one, else the ceiling. Why this
  field: the model has one per-kind stage before Claude that holds a resource of N units; a black box
  cannot tell CPU from a DB pool wait, so that stage carries the whole time outside Claude and N is
  the limit that time ran under.
* ``workload.kinds.K.service_s``: per request, time before the first Claude call plus time from the
  last call to the reply (no Claude call: taken to reply), minus the model's own reply round trip;
  ``db_queries`` and ``mcp_calls`` become 0 (inside that time: not visible from outside, listed).
* ``workload.kinds.K.model``/``input_tokens``/``output_tokens``: from the Claude calls linked to the
  kind's requests (the model id the bot asked for; a kind with Claude in under half its requests has none).
* ``platform.claude.models.M``: streamed calls give ``ttft_s`` (first byte - arrival) and tokens/s
  (output tokens over first byte → end); unstreamed calls a least-squares line ``call_s = a + tokens/tps``.
* ``platform.claude.retry``: attempts and spacing when retries were seen, else the scenario's (listed).
* ``platform.network_rtt_s``: telegram ``ASSUMED_RTT_S`` (a loopback round trip; not visible: the
  fake sees a send arrive, not when its answer reached the bot), claude/db/mcp 0 (inside measured times).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from botcap.sim.calibrate.fit import MIN_SAMPLES, Fit, fit_positive
from botcap.sim.calibrate.patch import set_key as _set
from botcap.sim.calibrate.structure import UNLIMITED, infer_structure
from botcap.sim.calibrate.timeline import claude_calls, timeline

from botcap.errors import BadInput

__all__ = ["BlackboxFits", "fit_blackbox", "ASSUMED_RTT_S", "check_calibratable"]

ASSUMED_RTT_S = 0.001


@dataclass
class BlackboxFits:
    """The fits, the scenario patch, the structure read, and every value assumed rather than seen."""

    fits: dict[str, Fit] = field(default_factory=dict)
    regressions: dict[str, dict] = field(default_factory=dict)
    patch: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    assumed: list[dict] = field(default_factory=list)     # {"key", "value", "why"}
    structure: dict = field(default_factory=dict)
    first_reply: dict[str, list[float]] = field(default_factory=dict)   # streaming kinds: taken -> first text

    def to_json(self) -> dict:
        out = {name: f.to_json() for name, f in self.fits.items()}
        out.update(self.regressions)
        return out

    def assume(self, key: str, value, why: str) -> None:
        self.assumed.append({"key": key, "value": value, "why": why})


def check_calibratable(bundles) -> None:
    """BadInput (exit 2) with the reason when black-box bundles cannot be calibrated."""
    rates = {lv.rate_per_s for b in bundles for lv in b.levels}
    if len(rates) < 2:
        raise BadInput(f"{bundles[0].path}: a single load level ({', '.join(f'{r:g}/s' for r in rates)}): "
                       "a black-box calibration needs a ladder of at least 2 rates (e.g. --arrivals "
                       "1@30,2@30,4@30,6@30,8@30) to see the bot's limits")
    for b in bundles:
        tl = timeline(b)
        if not tl["ok"].any():
            raise BadInput(f"{b.path}: no request was answered: nothing to calibrate (check --reply-match)")
        calls = b.claude_calls
        if calls is not None and len(calls):
            linked = calls["request_id"].notna() & (calls.get("link", "marker") != "none")
            if not linked.any():
                raise BadInput(f"{b.path / 'claude_calls.parquet'}: {len(calls)} Claude calls, none linked "
                               "to a request (no marker in the prompts, no chat/time match): nothing to "
                               "calibrate")


def _model_keys(base, calls: pd.DataFrame, fits: BlackboxFits) -> dict[str, str]:
    """API model id → scenario model key (a new key, copied from the first model, for an unknown id)."""
    models = base.platform.claude.models
    by_api = {m.api_model: k for k, m in models.items()}
    out = {}
    for api in sorted(calls["model"].dropna().astype(str).unique()) if len(calls) else []:
        key = by_api.get(api) or (api if api in models else None)
        if key is None:
            key = api
            first = next(iter(models.values())).model_dump(mode="json")
            _set(fits.patch, f"platform.claude.models.{key}", {**first, "api_model": api})
            fits.notes.append(f"claude.models.{key}: the bot asked for {api!r}, not a model of the scenario: "
                              "added with the fitted latencies")
        out[api] = key
    return out


def _claude_model(fits: BlackboxFits, key: str, calls: pd.DataFrame, n_min: int) -> None:
    calls = calls[calls["ok"] & (calls["output_tokens"] > 0)]
    if len(calls) < n_min:
        fits.notes.append(f"claude.{key}: {len(calls)} successful calls, too few to fit; kept the scenario's")
        return
    arr = calls["arrived_at"].to_numpy(dtype=float)
    first = pd.to_numeric(calls["first_byte_at"], errors="coerce").to_numpy(dtype=float)
    end = calls["ended_at"].to_numpy(dtype=float)
    tokens = calls["output_tokens"].to_numpy(dtype=float)
    flag = calls["stream"].astype(bool).to_numpy() if "stream" in calls else np.ones(len(calls), dtype=bool)
    streamed = flag & np.isfinite(first) & (end - first > 1e-4)
    stage = f"claude.{key}.ttft_s"
    if streamed.mean() > 0.5:
        gen = (end - first)[streamed]
        tps = float(tokens[streamed].sum() / gen.sum())
        ttft = (first - arr)[streamed]
        how = "streamed calls: ttft = first byte - arrival; tokens/s = output tokens / (end - first byte)"
    else:
        call = end - arr
        if np.ptp(tokens) == 0:
            tps, ttft = 100_000.0, call
            fits.assume(f"platform.claude.models.{key}.output_tokens_per_s", tps,
                        "every answer had the same length: the whole call is fitted as ttft_s")
        else:
            slope, intercept = np.polyfit(tokens, call, 1)
            tps = float(min(1 / slope, 100_000.0)) if slope > 0 else 100_000.0
            ttft = call - tokens / tps
        how = "unstreamed calls: least squares call_s = ttft + output_tokens / tokens_per_s"
    f = fit_positive(stage, ttft, min_samples=n_min)
    fits.fits[stage] = f
    fits.regressions[f"claude.{key}.output_tokens_per_s"] = {"dist": "ratio", "params": {"tokens_per_s": tps},
                                                            "gof": {"statistic": "calls", "value": len(calls),
                                                                    "method": how},
                                                            "n": int(len(calls))}
    _set(fits.patch, f"platform.claude.models.{key}.ttft_s", f.scenario_value())
    _set(fits.patch, f"platform.claude.models.{key}.output_tokens_per_s", float(min(tps, 100_000.0)))


def _limits(fits: BlackboxFits, s: dict) -> None:
    for key, value, seen, why in (
        ("handlers_per_instance", s["updates_in_flight"]["limit"], s["updates_in_flight"]["seen"],
         s["updates_in_flight"]["why"]),
        ("claude.concurrency_per_instance", s["claude_in_flight"]["limit"], s["claude_in_flight"]["seen"],
         f"most Claude calls in flight {s['claude_in_flight'].get('max', 0)}, "
         f"{100 * s['claude_in_flight'].get('share_at_max', 0):.0f}% of the busiest level at it"),
        ("cpu_cores_per_instance", s["work_outside_claude"]["limit"], s["work_outside_claude"]["seen"],
         f"Little's law past the knee: {s['work_outside_claude']['little_outside_claude']:.2f} updates' "
         "work outside Claude at once"),
    ):
        if seen and value is not None:
            _set(fits.patch, f"platform.{key}", int(value))
            fits.notes.append(f"platform.{key} = {value}: {why}")
        else:
            _set(fits.patch, f"platform.{key}", UNLIMITED[key])
            reason = why if s["saturated"] else "no load level past the knee: a limit cannot show"
            if key == "cpu_cores_per_instance" and s["work_outside_claude"].get("why"):
                reason = s["work_outside_claude"]["why"]
                fits.notes.append(f"{reason}: the model has no limit for it")
            fits.assume(f"platform.{key}", UNLIMITED[key], f"no limit seen ({reason})")


def _retry(fits: BlackboxFits, s: dict, base) -> None:
    r = s["retries"]
    retry = base.platform.claude.retry
    if r["seen"]:
        sp = r["spacing_s"]
        _set(fits.patch, "platform.claude.retry.max_attempts", max(int(r["max_attempts_seen"]), 1))
        _set(fits.patch, "platform.claude.retry.backoff_s", max(sp["median"], 1e-3))
        _set(fits.patch, "platform.claude.retry.max_backoff_s", max(sp["max"], sp["median"], 1e-3))
        _set(fits.patch, "platform.claude.retry.jitter", bool(sp["cv"] > 0.2))
        fits.notes.append(f"claude.retry: {r['retried']} retries seen, spacing median {sp['median']:.3g} s "
                          f"(max {sp['max']:.3g} s), at most {r['max_attempts_seen']} attempts per request")
    else:
        fits.assume("platform.claude.retry", retry.model_dump(mode="json"),
                    f"no retry seen ({r['failed_calls']} failed calls): the scenario's policy is kept")


def _held_excess(fits: BlackboxFits, s: dict, good: pd.DataFrame, tl: pd.DataFrame, limit: int, *,
                 with_claude: bool = False) -> float:
    """Seconds per update by which the low-load time outside Claude exceeds what the work limit held at
    the knee (Little's law: ``limit / completions_per_s`` per update, at the busiest fitted level's kind
    mix); 0 when it does not. Why: the model holds its resource for the whole ``service_s``, but part of
    that time runs beside the limit (the framework's dispatch, an HTTP client's connect, the reply
    after Claude), and a shared host's stalls lengthen low-load samples; both show as a knee predicted
    too low (one run: 9.7/s for 12/s measured, the service fits 0.133 s and 0.216 s against the bot's
    0.1 s and 0.2 s queries). The knee's own throughput says how long the limit was held, so the excess
    is taken off every sample of every kind alike (a constant per update: what runs beside the limit
    does not scale with the query).

    ``with_claude`` (a one-at-a-time bot, ``limit`` 1): the whole update holds the loop, its Claude call
    too, so the knee's ``1 / completions_per_s`` is compared with service + Claude. Why: on a loaded host
    the low-load gaps between one reply and the next Claude call stretch (one ladder at the fake's x0.05:
    56 ms outside Claude at 2/s, 27 ms by the knee's 6.75/s), and the model's ceiling came out 5.8/s."""
    x = s["work_outside_claude"].get("completions_per_s")
    top = max(s["levels"], key=lambda lv: lv["rate_per_s"])
    mix = tl[tl["level"] == top["level"]]["kind"].value_counts(normalize=True) if "level" in top else None
    if mix is None or not len(mix) or not x or not math.isfinite(x) or not top.get("past_knee"):
        return 0.0
    means = (good["pre_s"] + good["post_s"]).groupby(good["kind"]).mean() - ASSUMED_RTT_S
    held = means + (good["claude_s"].fillna(0).groupby(good["kind"]).mean() if with_claude else 0.0)
    s_mix = float(sum(share * held.get(kind, 0.0) for kind, share in mix.items()))
    excess = s_mix - limit / x
    if not math.isfinite(excess) or excess <= 0:
        return 0.0
    excess = min(excess, 0.5 * float(means.min()))   # never more than half the shortest kind's time
    fits.notes.append(f"kinds.*.service_s: {1000 * excess:.1f} ms per update taken off: at the knee "
                      f"({x:.3g}/s) the limit of {limit} was held {1000 * limit / x:.1f} ms per update "
                      f"(Little's law), the low-load samples show {1000 * s_mix:.1f} ms at that kind mix")
    return excess


def fit_blackbox(bundles, fit_levels, base, *, min_samples: int = MIN_SAMPLES, rng=None,
                 structure: dict | None = None) -> BlackboxFits:
    """Everything ``calibrate`` needs from black-box bundles (one platform; the first bundle's structure).
    With ``rng``: times and Claude calls resampled with replacement (``stability``), and ``structure``
    the one already read (the limits are not resampled)."""
    check_calibratable(bundles)
    fits = BlackboxFits()
    s = structure or infer_structure(bundles[0], [lv for lv in fit_levels if lv.bundle == bundles[0].name])
    fits.structure = s
    _set(fits.patch, "platform.mode", s["mode"]["value"])
    _set(fits.patch, "platform.instances", 1)
    fits.assume("platform.instances", 1, "one bot process: the fakes see one token, not its processes")
    _limits(fits, s)
    _retry(fits, s, base)
    _set(fits.patch, "platform.network_rtt_s", {"telegram": ASSUMED_RTT_S, "claude": 0.0, "db": 0.0,
                                                "mcp": 0.0, "redis": base.platform.network_rtt_s.redis})
    fits.assume("platform.network_rtt_s.telegram", ASSUMED_RTT_S,
                "a loopback round trip: the fake sees a send arrive, not its answer reach the bot")

    tl = pd.concat([timeline(b).assign(bundle=b.name) for b in bundles], ignore_index=True)
    calls = pd.concat([claude_calls(b) for b in bundles], ignore_index=True)
    if rng is not None:
        from botcap.sim.calibrate.stability import resample

        calls = resample(calls, ["model"], rng)
    keys = _model_keys(base, calls, fits)

    from botcap.sim.calibrate.structure import _service_rows, own_times

    work_limit = s["work_outside_claude"]["limit"] if s["work_outside_claude"].get("seen") else None

    def own(b):   # the time each update's own work took: no wait for a limit the model adds itself
        return own_times(timeline(b), s)

    if work_limit:
        fits.notes.append(f"kinds.*.service_s: from updates that found fewer than {work_limit} others' work "
                          "outside Claude open when taken (the rest may have waited for the limit)")
    good = pd.concat([_service_rows(own(b), b,
                                    [lv for lv in fit_levels if lv.bundle == b.name])
                      for b in bundles], ignore_index=True)
    if rng is not None:
        good = resample(good, ["kind", "level"], rng)
    # Claude's latencies from the fitted levels below the knee (every one: more calls than the quietest
    # level's): past it the fake and the bot share a saturated machine, and a call's first byte and
    # stream come later (ttft mean 0.15 s over a whole ladder, 0.05 s below its knee, one streaming bot)
    below = pd.concat([_service_rows(timeline(b), b, [lv for lv in fit_levels if lv.bundle == b.name],
                                     target=10**9) for b in bundles], ignore_index=True)
    quiet = calls[calls["request_id"].astype(str).isin(set(below["request_id"].astype(str)))]
    for api, key in keys.items():
        mine = quiet[quiet["model"].astype(str) == api]
        if len(mine) < min_samples:
            mine = calls[calls["model"].astype(str) == api]
        _claude_model(fits, key, mine, min_samples)
    linked = calls[calls["ok"] & calls["request_id"].notna()]
    kind_of = dict(zip(tl["request_id"], tl["kind"], strict=False))
    serial = s["updates_in_flight"].get("limit") == 1
    held_excess = (_held_excess(fits, s, good, tl, work_limit) if work_limit else
                   _held_excess(fits, s, good, tl, 1, with_claude=True) if serial else 0.0)
    for kind in base.workload.kinds:
        rows = good[good["kind"] == kind]
        if not (tl["kind"] == kind).any():
            continue
        if len(rows) < min_samples:
            raise BadInput(f"kinds.{kind}: {len(rows)} answered requests in the fitted levels below the "
                           f"knee; at least {min_samples} needed (lengthen the lowest load levels)")
        work = (rows["pre_s"] + rows["post_s"]).to_numpy(dtype=float) - ASSUMED_RTT_S - held_excess
        f = fit_positive(f"kinds.{kind}.service_s", np.clip(work, 1e-6, None), min_samples=min_samples)
        fits.fits[f.stage] = f
        spec = {"service_s": f.scenario_value(), "db_queries": 0, "mcp_calls": 0, "telegram_sends": 1}
        kcalls = linked[linked["request_id"].astype(str).map(kind_of) == kind]
        if rows["has_claude"].mean() >= 0.5 and len(kcalls):
            api = kcalls["model"].astype(str).mode().iloc[0]
            spec["model"] = keys[api]
            for col in ("input_tokens", "output_tokens"):
                tok = kcalls.groupby(kcalls["request_id"].astype(str))[col].sum().to_numpy(dtype=float)
                tf = fit_positive(f"kinds.{kind}.{col}", np.clip(tok, 1, None), min_samples=min_samples)
                fits.fits[tf.stage] = tf
                spec[col] = tf.scenario_value()
            if rows["claude_calls"].mean() > 1.05:
                fits.notes.append(f"kinds.{kind}: {rows['claude_calls'].mean():.2f} Claude calls per "
                                  "request; the model makes one, with the request's summed answer length")
        else:
            spec["model"] = None
        if (rows["first_reply"] < rows["completed"] - 1e-3).mean() > 0.5:
            delay = rows["first_reply_delay_s"].to_numpy(dtype=float)
            fits.first_reply[kind] = [float(x) for x in delay[np.isfinite(delay)]]
            fits.notes.append(f"kinds.{kind}: streams its answer (first text "
                              f"{1000 * np.nanmean(delay):.1f} ms after the take at low load); time to first "
                              "answer is predicted as the model's "
                              "wait for a handler plus that measured delay")
        _set(fits.patch, f"workload.kinds.{kind}", spec)
    fits.assume("workload.kinds.*.db_queries", 0, "the bot's DB (if any) is not visible: inside service_s")
    fits.assume("workload.kinds.*.mcp_calls", 0, "MCP calls (if any) are not visible: inside service_s")
    from botcap.sim.calibrate.loop_cpu import charge_loop_cpu

    charge_loop_cpu(fits, bundles, tl, fit_levels)   # the event loop as one core, when no other limit seen
    return fits
