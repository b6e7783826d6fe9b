"""Stage timings of the staging bot → the scenario keys the SimPy model samples from.

The bot times each stage of an update apart (``loadtest/staging/timings.py``); the model has one
distribution per stage. The mapping, and why:

* ``workload.kinds.K.service_s`` (time on the event loop): what the handler spends outside every timed
  stage, ``handler_s - (db_acquire + db_query + claude_semaphore_wait + claude_call + mcp +
  telegram_send)``, over successful updates with at most one Claude attempt (a retry's backoff sleep is
  not CPU). Webhook runs add, per update, the time outside the handler (``join.outside_handler_s``:
  the delivery to the bot and aiohttp/aiogram parsing before the handler starts, the reply's way to
  the fake) and the reply send, minus the model's own webhook half-RTT and send RTT: the handler
  residual alone (~0.5 ms) misses most of the bot's real CPU per update (4-5 ms measured by
  benchmarks/staging_bench.py), and the model's constant RTTs miss those steps' tails, which are most
  of a command's p95. One per-update sum keeps their joint distribution.
* Samples (every stage alike, ``quietest``): per kind, whole fitted levels below the knee, lowest rate
  first, until ``SERVICE_TARGET`` rows. Under load the bot's timers hold its event loop's wait (DB
  answers and sends resumed late), which the model's ``cpu`` queue, pools and semaphores add
  themselves: pooled evenly over levels (as before issue 11) a fit counted that wait twice and missed
  even its own quietest level (command p50 14 ms predicted, 8.7 ms measured at 2/s).
* The Claude kinds' ``service_s`` also carry, per Claude call, the bot's process CPU (run.json) beyond
  the fitted service times (``charge_unmodelled_cpu``): the model's event loop must be as busy as the
  bot's, whose answer streams cost ~6 ms of CPU per call that no timed stage holds.
* ``platform.db.query_s``: ``db_query_s`` divided by the kind's ``db_queries`` (the bot times the sum),
  pooled over kinds. The round trip is inside the measurement, so ``network_rtt_s.db`` becomes 0.
* ``platform.claude.models.M``: per model, over first-attempt successful calls. With per-call output
  tokens recorded (``claude_output_tokens``) a least-squares line ``call_s = a + tokens / tps`` gives
  ``output_tokens_per_s`` and ``ttft_s`` is fitted to ``call_s - tokens / tps``. Without them the whole
  call time is fitted as ``ttft_s`` and tokens/s is set to the schema's maximum (generation ~0), which
  reproduces the measured call times but cannot extrapolate to other answer lengths (flagged).
  ``network_rtt_s.claude`` becomes 0 (inside the measured call).
* ``platform.mcp.latency_s``: ``mcp_s / mcp_calls``; ``network_rtt_s.mcp`` becomes 0.
* ``platform.network_rtt_s.telegram``: the model's send is one round trip, a constant: the mean of
  sends under 1 s (a Telegram 429 makes the bot sleep out a retry_after of whole seconds, and those
  waits are the model's own ``telegram_send`` queue); in webhook runs, whose send and delivery tails
  go into ``service_s``, the 1st percentile (the bare round trip). The fitted distribution is reported
  for reference.

The fitters are split by job: ``stage_rows`` (which rows are samples), ``stage_db`` (DB, MCP),
``stage_claude``, ``cpu_charge`` (the process CPU no stage holds) and ``patch`` (the scenario keys);
here the service time, the Telegram round trip and the order they run in.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from botcap.sim.calibrate.cpu_charge import charge_unmodelled_cpu
from botcap.sim.calibrate.fit import MIN_SAMPLES, Fit, fit_positive
from botcap.sim.calibrate.patch import apply_patch
from botcap.sim.calibrate.patch import set_key as _set
from botcap.sim.calibrate.stage_claude import MAX_TOKENS_PER_S, fit_claude
from botcap.sim.calibrate.stage_db import fit_db, fit_mcp, per_call
from botcap.sim.calibrate.stage_rows import SERVICE_TARGET, TIMED, quietest, stage_rows

from botcap.errors import BadInput
from botcap.scenario import Scenario
from botcap.scenario.dists import Constant

__all__ = ["StageFits", "fit_stages", "stage_rows", "quietest", "apply_patch", "charge_unmodelled_cpu",
           "SERVICE_TARGET", "MAX_TOKENS_PER_S"]


@dataclass
class StageFits:
    """Every fit, the scenario patch they make, and notes on what could not be fitted."""

    fits: dict[str, Fit] = field(default_factory=dict)
    regressions: dict[str, dict] = field(default_factory=dict)   # "claude.M.output_tokens_per_s" -> facts
    patch: dict = field(default_factory=dict)                     # nested scenario keys -> values
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        out = {name: f.to_json() for name, f in self.fits.items()}
        out.update(self.regressions)
        return out



def fit_stages(rows: pd.DataFrame, base: Scenario, *, min_samples: int = MIN_SAMPLES) -> StageFits:
    """Fit every stage the rows allow; BadInput when a kind or stage the run used has too few samples."""
    out = StageFits()
    rows = rows.copy()
    rows["ok"] = rows["ok"].astype(bool)
    good = rows[rows["ok"] & (rows["claude_attempts"].fillna(0) <= 1)]
    per_kind = quietest(good)                   # service_s and Claude: per kind
    pooled = quietest(good, 2 * SERVICE_TARGET, by_kind=False)   # DB, MCP, Telegram: one for all kinds
    kinds = base.workload.kinds
    used = [k for k in kinds if (rows["kind"] == k).any()]
    if not used:
        raise BadInput(f"stages: no update of a scenario kind ({', '.join(kinds)}) in the fitted levels")
    folded = "outside_s" in good and bool(good["outside_s"].notna().any())
    rtt = _telegram(out, pooled, base, min_samples, bare=folded)
    _service(out, per_kind, used, min_samples, rtt_s=rtt if folded else None)
    fit_db(out, pooled, base, min_samples)
    fit_claude(out, per_kind, base, min_samples)
    fit_mcp(out, pooled, base, min_samples)
    return out


def _service(out: StageFits, good: pd.DataFrame, used: list[str], n_min: int, *,
             rtt_s: float | None = None) -> None:
    """Per kind: the handler residual, or with ``rtt_s`` (webhook runs) the residual plus the time outside
    the handler plus the send, minus what the model adds itself (half an RTT delivery, one RTT send)."""
    residual = good["handler_s"] - good[list(TIMED)].fillna(0).sum(axis=1)
    if rtt_s is not None:
        good = good[good["outside_s"].notna() & (good["telegram_send_s"] < 1.0)]
        residual = residual.loc[good.index]
        extra = good["outside_s"] + good["telegram_send_s"] - 1.5 * rtt_s
        residual = (residual + extra).clip(lower=1e-6)
        out.notes.append("kinds.*.service_s: handler residual + time outside the handler + reply send "
                         f"- 1.5 x network_rtt_s.telegram ({1000 * rtt_s:.2f} ms), per update (webhook run)")
    for kind in used:
        mask = (good["kind"] == kind).to_numpy()
        k_rows = good[mask].assign(residual=residual[mask])
        samples = k_rows["residual"].to_numpy(dtype=float)   # the quietest levels' (``quietest``)
        f = fit_positive(f"kinds.{kind}.service_s", samples, min_samples=n_min)
        out.fits[f.stage] = f
        _set(out.patch, f"workload.kinds.{kind}.service_s", f.scenario_value())



def _telegram(out: StageFits, good: pd.DataFrame, base: Scenario, n_min: int, *,
              bare: bool = False) -> float | None:
    """The model's Telegram round trip: the mean clean send, or (``bare``) its 1st percentile.

    ``bare`` (webhook runs): the sends are inside the folded ``service_s``, and the scenario keeps only
    this constant, which the fold subtracts before the model adds it back. The fits then show it as the
    constant it is (``telegram.rtt_s``), not as a send distribution: the issue's second ladder listed an
    empirical ``telegram.send_s`` (mean 5 ms, p95 13 ms) beside a ``service_s`` that already held the
    sends, which read as the sends counted twice."""
    sends = per_call(good, base, "telegram_send_s", "telegram_sends")
    clean = sends[sends < 1.0]
    if clean.size == 0:
        out.notes.append("telegram.send_s: no send measured; kept network_rtt_s.telegram")
        return None
    if bare:
        rtt = float(np.quantile(clean, 0.01))
        out.fits["telegram.rtt_s"] = Fit("telegram.rtt_s", Constant(mean=rtt), int(clean.size),
                                         {"statistic": "p01_of_sends", "value": rtt,
                                          "sends_mean_s": float(clean.mean()),
                                          "note": "the sends themselves are inside kinds.*.service_s"})
    else:
        f = fit_positive("telegram.send_s", clean, min_samples=n_min)
        out.fits[f.stage] = f
        rtt = float(clean.mean())
    _set(out.patch, "platform.network_rtt_s.telegram", rtt)
    return rtt
