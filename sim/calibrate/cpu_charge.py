"""The reference bot's process CPU that no fitted stage holds, charged to its Claude kinds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botcap.sim.calibrate.bundles import RunBundle
from botcap.sim.calibrate.fit import Fit
from botcap.sim.calibrate.patch import set_key as _set

from botcap.scenario import Scenario
from botcap.scenario.dists import Empirical

if TYPE_CHECKING:
    from botcap.sim.calibrate.stages import StageFits

__all__ = ["charge_unmodelled_cpu", "scaled", "shifted"]


def shifted(dist, extra_s: float):
    """``dist`` moved right by ``extra_s`` seconds, its spread kept."""
    if isinstance(dist, Empirical):
        return Empirical(dist="empirical", samples=[x + extra_s for x in dist.samples])
    if dist.dist == "constant":
        return dist.model_copy(update={"mean": dist.mean + extra_s})
    mean = dist.mean + extra_s
    return dist.model_copy(update={"mean": mean, "cv": dist.cv * dist.mean / mean})


def scaled(dist, factor: float):
    """``dist`` with every value times ``factor``, its cv kept (``core._scaled`` does the same to a
    scenario's mapping form, before it is a model object)."""
    if isinstance(dist, Empirical):
        return Empirical(dist="empirical", samples=[x * factor for x in dist.samples])
    return dist.model_copy(update={"mean": dist.mean * factor})


def charge_unmodelled_cpu(out: StageFits, bundles: list[RunBundle], base: Scenario) -> None:
    """Give the Claude kinds' ``service_s`` the bot's CPU that no fitted stage holds, per Claude call.

    Why: the model's event loop (``cpu`` resource) is busy only for ``service_s``, but the bot's
    process spends about twice that (run.json's process CPU: ~5 ms per update against ~2.5 ms of
    fitted service on the staging stack), most of it streaming Claude's answers (the SDK handles every
    server-sent event on the event loop). Near the knee that busy loop is what delays the millisecond
    kinds: without it the model missed a note's p95 at 14/s by 12-13% in two runs, with it by 1-3%.
    The measured excess, ``(bot CPU - sum over updates of the fitted service means) / Claude calls``,
    is charged to the kinds that call Claude, at the start of their handler (their Claude call is
    hundreds of milliseconds; a few more are below the noise). Runs without process CPU in run.json
    (synthetic bundles, a user's own bot) are left as fitted."""
    cpu_s, calls, modelled = 0.0, 0, 0.0
    for b in bundles:
        procs = (b.run.get("cpu") or {}).get("processes") or {}
        bots = [v.get("cpu_s") for k, v in procs.items() if k.startswith("bot-") and isinstance(v, dict)]
        if not bots or not all(isinstance(x, int | float) for x in bots):
            return
        cpu_s += float(sum(bots))
        st = b.stages
        calls += int((st["claude_call_s"].fillna(0) > 0).sum())
        for kind, n in st["kind"].value_counts().items():
            f = out.fits.get(f"kinds.{kind}.service_s")
            if f is not None:
                modelled += int(n) * float(f.dist.mean)
    if calls == 0 or cpu_s <= modelled:
        return
    extra_s = (cpu_s - modelled) / calls
    for kind, spec in base.workload.kinds.items():
        f = out.fits.get(f"kinds.{kind}.service_s")
        if spec.model is None or f is None:
            continue
        gof = {**f.gof, "shifted_s": extra_s, "shift_note": "bot CPU beyond the fitted stages"}
        out.fits[f.stage] = Fit(f.stage, shifted(f.dist, extra_s), f.n, gof, f.candidates)
        _set(out.patch, f"workload.kinds.{kind}.service_s", out.fits[f.stage].scenario_value())
    out.notes.append(f"kinds.(Claude kinds).service_s: + {1000 * extra_s:.2f} ms per Claude call, the bot's "
                     f"process CPU ({cpu_s:.1f} s) beyond the fitted service times ({modelled:.1f} s)")
