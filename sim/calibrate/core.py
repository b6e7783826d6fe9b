"""``calibrate(run_dirs, ...)``: the library call behind ``botcap calibrate`` (the CLI only prints).

1. Read and check the bundles (``bundles``): complete, one platform.
2. Split the load levels: ``holdout`` rates are only predicted, the others are fitted on. Default:
   with 4 or more levels every second level by rate is held out (the lowest is always fitted: the
   service times come from the quietest levels), so that a plain run validates itself.
3. Fit the stage timings of the fitted levels (``stages``) and patch them into the scenario the runs
   used. Platform facts (instances, mode, pools, semaphores, limits) come from run.json, never from
   the user: the calibrated scenario's ``platform`` is the measured one.
4. Replay every bundle's arrivals through the calibrated model (``predict``): per level measured vs
   predicted, the largest held-out error, the saturation point; the USL beside it (``usl``).
5. The output scenario: ``--scenario FILE`` (or the runs' scenario) with the measured platform, the
   fits and a ``calibration`` section; written only when every step above succeeded.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

from botcap.sim.calibrate import predict, usl
from botcap.sim.calibrate.bundles import Level, RunBundle, read_bundles
from botcap.sim.calibrate.ladders import ladder_stability
from botcap.sim.calibrate.stability import bootstrap, resample
from botcap.sim.calibrate.stages import (
    MAX_TOKENS_PER_S,
    StageFits,
    apply_patch,
    charge_unmodelled_cpu,
    fit_stages,
    stage_rows,
)
from botcap.sim.calibrate.writer import write_scenario

from botcap.errors import BadInput
from botcap.scenario import Scenario, load_scenario, read_document

__all__ = ["Calibrated", "calibrate", "parse_holdout"]


@dataclass
class Calibrated:
    report: dict            # the `botcap calibrate --json` object (docs/calibration.md)
    document: dict          # the calibrated scenario as plain data
    scenario: Scenario
    bundles: list[RunBundle]
    fits: StageFits


def parse_holdout(text: str | None) -> list[float] | None:
    """``"1,3,5"`` → rates; ``"none"`` → []; None → the default split."""
    if text is None:
        return None
    if text.strip().lower() in ("none", ""):
        return []
    try:
        rates = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise BadInput(f"--holdout: {text!r} is not a comma-separated list of arrival rates "
                       "(e.g. 1,3,5) or 'none'") from None
    if any(not (math.isfinite(r) and r > 0) for r in rates):
        raise BadInput(f"--holdout: rates must be > 0 (got {text!r})")
    return rates


def _split(levels: list[Level], holdout: list[float] | None) -> set[tuple[str, int]]:
    if holdout is None:
        rates = sorted({lv.rate_per_s for lv in levels})
        held_rates = rates[1::2] if len(rates) >= 4 else []
    else:
        available = sorted({lv.rate_per_s for lv in levels})
        missing = [r for r in holdout if not any(math.isclose(r, a, rel_tol=1e-6) for a in available)]
        if missing:
            raise BadInput(f"--holdout: no load level at {', '.join(f'{r:g}' for r in missing)}/s "
                           f"(levels: {', '.join(f'{a:g}' for a in available)})")
        held_rates = holdout
    held = {(lv.bundle, lv.index) for lv in levels
            if any(math.isclose(lv.rate_per_s, r, rel_tol=1e-6) for r in held_rates)}
    if len(held) == len(levels):
        raise BadInput("--holdout: every load level is held out; at least one must be fitted")
    return held


def _scaled(value, factor: float):
    """A scenario distribution (a number or a ``{dist: ...}`` mapping) with its scale times ``factor``."""
    if isinstance(value, int | float):
        return value * factor
    out = dict(value)
    if out.get("dist") == "empirical":
        out["samples"] = [x * factor for x in out["samples"]]
    else:
        out["mean"] = out["mean"] * factor
    return out


def _unscale_claude(doc: dict, patch: dict, time_scale: float) -> str:
    """Claude's fitted latencies at the real API's speed, in place; returns the note saying so.

    Why: a run may drive the fake Claude API at ``claude_time_scale`` (0.25 = four times faster) to get
    more requests per load level in the same wall time. The replay validates the model at that speed;
    the scenario written for planning must describe the real API, so time to first token is divided by
    the scale and tokens/s multiplied by it (only Claude is scaled by the fake; DB, MCP, Telegram and
    CPU times are the stack's own and stay as fitted)."""
    models = ((patch.get("platform") or {}).get("claude") or {}).get("models") or {}
    for key, fitted in models.items():
        m = doc["platform"]["claude"]["models"][key]
        if "ttft_s" in fitted:
            m["ttft_s"] = _scaled(m["ttft_s"], 1.0 / time_scale)
        if "output_tokens_per_s" in fitted:
            m["output_tokens_per_s"] = min(m["output_tokens_per_s"] * time_scale, MAX_TOKENS_PER_S)
    return (f"claude: the runs drove the fake Claude API at x{time_scale:g} of its latency; the written "
            f"scenario has the fitted ttft_s / {time_scale:g} and output_tokens_per_s x {time_scale:g} "
            f"(the real API's speed); the held-out check replayed the x{time_scale:g} fits")


def _measured_platform(b: RunBundle) -> dict:
    platform = dict((b.run.get("scenario") or b.scenario.model_dump(mode="json"))["platform"])
    platform.update(instances=b.instances, mode=b.mode)
    return platform


def _fit(bundles: list[RunBundle], fit_levels: list[Level], run_sc: Scenario, rng=None, first=None):
    """Stage fits (the reference bot's own timings) or black-box fits (the fakes' timelines); with
    ``rng``, fitted on a bootstrap resample of the rows (``stability``)."""
    kinds = {b.blackbox for b in bundles}
    if len(kinds) > 1:
        raise BadInput("RUN_DIR: some bundles have the bot's stage timings (stages.parquet) and some do not: "
                       "calibrate one kind of bundle at a time")
    if bundles[0].blackbox:
        from botcap.sim.calibrate.blackbox import fit_blackbox

        return fit_blackbox(bundles, fit_levels, run_sc, rng=rng,
                            structure=getattr(first, "structure", None))
    rows = stage_rows(bundles, fit_levels)
    if rng is not None:
        rows = resample(rows, ["level_rate", "kind"], rng)
    fits = fit_stages(rows, run_sc)
    charge_unmodelled_cpu(fits, bundles, run_sc)
    return fits


def calibrate(run_dirs, *, scenario_file: str | Path | None = None, holdout: list[float] | None = None,
              out: str | Path | None = None, replications: int = 3, seed: int = 1,
              bootstrap_draws: int = 0) -> Calibrated:
    """Fit, validate and (with ``out``) write the calibrated scenario; BadInput on unusable input."""
    if not 1 <= replications <= 100:
        raise BadInput(f"--replications: must be in 1..100 (got {replications})")
    bootstrap(None, bootstrap_draws, seed, None, [])   # checks the count before any work
    bundles = read_bundles(run_dirs)
    user_doc = read_document(scenario_file) if scenario_file is not None else None
    levels = [lv for b in bundles for lv in b.levels]
    held = _split(levels, holdout)
    fit_levels = [lv for lv in levels if (lv.bundle, lv.index) not in held]
    run_sc = bundles[0].scenario
    fits = _fit(bundles, fit_levels, run_sc)

    run_doc = run_sc.model_dump(mode="json")
    run_doc["platform"] = _measured_platform(bundles[0])

    def replay_scenario(f) -> Scenario:
        """The scenario a fit is validated with: the run's own, at its platform, with the fit applied."""
        return load_scenario(data=apply_patch(run_doc, f.patch))

    replay_sc = replay_scenario(fits)
    levels_out = predict.predict_levels(bundles, held, lambda b: replay_sc, replications=replications,
                                        seed=seed, first_reply=getattr(fits, "first_reply", None))
    max_err = predict.max_errors(levels_out)

    def refit(rng):
        f = _fit(bundles, fit_levels, run_sc, rng=rng, first=fits)
        return f, replay_scenario(f)

    stability = bootstrap(bundles, bootstrap_draws, seed, refit, levels_out)
    if len(bundles) >= 2:   # each ladder alone, and replayed by the others' fits (``ladders``)
        stability["ladders"] = ladder_stability(bundles, fit_levels, lambda b, lvs: _fit([b], lvs, run_sc),
                                                replay_scenario, replications=replications, seed=seed)
    sat = predict.saturation(levels_out, replay_sc.slo)
    usl_fit = usl.fit_usl([lv["measured"]["concurrency"] for lv in levels_out],
                          [lv["measured"]["throughput_per_s"] for lv in levels_out])
    usl_fit["disagreements"] = usl.compare(levels_out, usl_fit)

    doc = (load_scenario(data=user_doc) if user_doc else run_sc).model_dump(mode="json")
    doc["platform"] = _measured_platform(bundles[0])
    doc = apply_patch(doc, fits.patch)
    notes = list(fits.notes) + predict.busy_host_notes(bundles, levels_out)
    if bundles[0].time_scale != 1.0:
        notes.append(_unscale_claude(doc, fits.patch, bundles[0].time_scale))
    doc["calibration"] = {
        "runs": [b.name for b in bundles],
        "created_utc": dt.datetime.now(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "fitted_rates_per_s": sorted({lv.rate_per_s for lv in fit_levels}),
        "held_out_rates_per_s": sorted({lv.rate_per_s for lv in levels if (lv.bundle, lv.index) in held}),
        "max_holdout_error": ({k: (v if math.isfinite(v) else None) for k, v in max_err.items()
                               if k != "levels"} if held else None),
        "claude_time_scale": bundles[0].time_scale,
        # a black box: every value assumed rather than seen goes into the scenario's own notes
        "notes": notes + [f"assumed {a['key']} = {a['value']}: {a['why']}"
                          for a in getattr(fits, "assumed", [])],
    }
    scenario = load_scenario(data=doc)
    report = {
        "runs": [b.name for b in bundles],
        "scenario_out": str(out) if out is not None else None,
        "fits": fits.to_json(),
        "levels": levels_out,
        "max_holdout_error": max_err,
        "saturation": sat,
        "usl": usl_fit,
        "notes": notes,
        "replications": replications,
        "blackbox": bundles[0].blackbox,
        "fitted_levels_max_error": predict.max_errors([{**lv, "held_out": not lv["held_out"]}
                                                       for lv in levels_out]),
        "stability": stability,
    }
    if bundles[0].blackbox:   # what was read from the timelines, and every value assumed instead
        report["structure"] = fits.structure
        report["assumed"] = fits.assumed
    if out is not None:
        write_scenario(doc, out)
    return Calibrated(report=report, document=doc, scenario=scenario, bundles=bundles, fits=fits)
