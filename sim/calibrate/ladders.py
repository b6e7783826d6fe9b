"""How stable is a calibration across ladders? Each ladder fitted alone, and replayed by the others' fits.

Why: ``--bootstrap`` resamples one run's requests, so its intervals hold that run's sampling, not the
drift between runs of the same bot on the same machine (six quiet ladders of the reference bot: 9 of
~150 stage pairs had bootstrap intervals apart, e.g. a simple chat's service 7.97 and 9.24 ms, while
every prediction agreed). Given two or more ladders, ``botcap calibrate`` (which pools them for its
fit) also fits each ladder on its own fitted levels and replays every *other* ladder, all its levels,
through that fit: the spread of each stage's mean across ladders, and how well one ladder's fit
predicts another, are the stability the user can expect from one ladder (issue 11, item 6)."""

from __future__ import annotations

import math

from botcap.sim.calibrate import predict

from botcap.errors import BadInput

__all__ = ["ladder_stability"]


def ladder_stability(bundles, fit_levels, fit_one, scenario_of, *, replications: int, seed: int) -> dict:
    """``fit_one(bundle, its fit levels)`` → fits; ``scenario_of(fits)`` → the replay scenario.

    Returns ``{ladders, fits {stage: {bundle: mean}}, spread {stage: (max - min) / mean of the means},
    cross [{fit, replayed, max_error {throughput, p50, p95}}], max_cross_error}`` or, when a ladder
    cannot be fitted alone (e.g. one level), ``{ladders, why}``."""
    fits, scenarios = {}, {}
    for b in bundles:
        mine = [lv for lv in fit_levels if lv.bundle == b.name]
        try:
            f = fit_one(b, mine)
        except BadInput as e:
            return {"ladders": len(bundles), "why": f"{b.name} cannot be fitted alone: {e.lines[0]}"}
        fits[b.name], scenarios[b.name] = f, scenario_of(f)
    means: dict[str, dict[str, float]] = {}
    for name, f in fits.items():
        for stage, entry in f.to_json().items():
            mean = entry.get("params", {}).get("mean")
            if isinstance(mean, int | float) and math.isfinite(mean):
                means.setdefault(stage, {})[name] = float(mean)
    spread = {stage: (max(v.values()) - min(v.values())) / (sum(v.values()) / len(v))
              for stage, v in means.items() if len(v) == len(fits) and sum(v.values()) > 0}
    cross = []
    for fitted in bundles:
        for other in bundles:
            if other is fitted:
                continue
            levels = predict.predict_levels([other], {(other.name, lv.index) for lv in other.levels},
                                            lambda _, sc=scenarios[fitted.name]: sc,
                                            replications=replications, seed=seed,
                                            first_reply=getattr(fits[fitted.name], "first_reply", None))
            err = predict.max_errors(levels)
            cross.append({"fit": fitted.name, "replayed": other.name,
                          "max_error": {k: err[k] for k in ("throughput", "p50", "p95")}})
    worst = {k: max((c["max_error"][k] for c in cross if math.isfinite(c["max_error"][k])), default=math.nan)
             for k in ("throughput", "p50", "p95")}
    return {"ladders": len(bundles), "fits": means, "spread": spread, "cross": cross,
            "max_cross_error": worst}
