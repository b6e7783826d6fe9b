"""How stable is a calibration? A bootstrap over the requests it was fitted on.

Why: two calibration ladders of the same bot on the same machine gave a command p95 of 19 ms and 33 ms for
the same measured 15 ms (issue 11). Part of such a spread is the fit's own sampling noise: a few hundred
millisecond-scale samples per kind, with heavy tails. Here each draw resamples the fitting rows with
replacement (within each kind and load level: the reference bot's stage rows, or a black box's per-request
times and Claude calls), refits, and replays every bundle once with the draw's own seed (so the interval
holds the model's sampling noise as well as the fit's: with common seeds, one ladder's intervals missed
its own 3-replication predictions). The 2.5-97.5% quantiles over the draws are the 95% interval of each
fitted mean and of each predicted p95 per level and kind. These intervals hold one run's sampling, not
the drift between runs: a second ladder of the same bot on the same quiet machine may fall outside them
(six ladders of the reference bot: 9 of ~150 stage pairs apart, every prediction within target);
``ladders.py`` measures that spread when calibrate is given two ladders or more. The structure of a black
box (its limits) is read once and not resampled."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from botcap.sim.calibrate import predict
from botcap.sim.runner import replication_seeds

from botcap.errors import BadInput

__all__ = ["resample", "bootstrap", "MAX_DRAWS"]

MAX_DRAWS = 200


def resample(df: pd.DataFrame, by: list[str], rng: np.random.Generator) -> pd.DataFrame:
    """``df``'s rows drawn with replacement within each group of ``by`` (group sizes kept)."""
    if not len(df):
        return df
    keys = [c for c in by if c in df.columns]
    if not keys:
        return df.iloc[rng.integers(0, len(df), len(df))]
    parts = [g.index.to_numpy()[rng.integers(0, len(g), len(g))] for _, g in df.groupby(keys, sort=False)]
    return df.loc[np.concatenate(parts)].reset_index(drop=True)


def _interval(values: list[float]) -> list[float]:
    a = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if a.size < 2:
        return [math.nan, math.nan]
    lo, hi = np.quantile(a, [0.025, 0.975])
    return [float(lo), float(hi)]


def bootstrap(bundles, draws: int, seed: int, refit, levels_out: list[dict]) -> dict:
    """``refit(rng)`` → (fits with ``to_json()``, the replay scenario) for one resampled draw.

    Returns the ``stability`` object of ``botcap calibrate --json`` (docs/calibration.md)."""
    if not 0 <= draws <= MAX_DRAWS:
        raise BadInput(f"--bootstrap: must be in 0..{MAX_DRAWS} draws (got {draws})")
    if draws == 0 or bundles is None:
        return {"draws": 0}
    fit_values: dict[str, dict[str, list[float]]] = {}
    p95: dict[tuple, list[float]] = {}
    replay_seeds = replication_seeds(seed + 7919, draws)
    for d in range(draws):
        replay_seed = replay_seeds[d]
        rng = np.random.default_rng([seed, 1009, d])
        fits, scenario = refit(rng)
        for name, f in fits.to_json().items():
            params = f.get("params", {})
            for key in ("mean", "cv", "tokens_per_s"):
                if isinstance(params.get(key), int | float):
                    fit_values.setdefault(name, {}).setdefault(key, []).append(float(params[key]))
        for b in bundles:
            frame = predict.predicted_frame(b, scenario, replay_seed)
            for lv in b.levels:
                stats = predict.level_stats(frame, lv)
                for kind, k in stats["by_kind"].items():
                    p95.setdefault((b.name, lv.index, kind), []).append(k["p95_s"])
    out = {"draws": draws,
           "method": "bootstrap over the fitted requests (within kind and level), refit, one replay per draw "
                     "with its own seed",
           "fits": {name: {key: _interval(v) for key, v in keys.items()}
                    for name, keys in fit_values.items()},
           "p95_s": []}
    for lv in levels_out:
        for kind, k in lv["by_kind"].items():
            vals = p95.get((lv["bundle"], lv["level"], kind), [])
            ci = _interval(vals)
            out["p95_s"].append({"rate_per_s": lv["rate_per_s"], "kind": kind, "held_out": lv["held_out"],
                                 "predicted": k["predicted"]["p95_s"], "predicted_ci95": ci,
                                 "measured": k["measured"]["p95_s"],
                                 "measured_ci95": k.get("measured_ci95", {}).get("p95_s",
                                                                                 [math.nan, math.nan])})
    widths = [(e["predicted_ci95"][1] - e["predicted_ci95"][0]) / 2 / e["predicted"] for e in out["p95_s"]
              if all(map(math.isfinite, e["predicted_ci95"])) and math.isfinite(e["predicted"])
              and e["predicted"] > 0]
    out["max_p95_halfwidth"] = float(max(widths)) if widths else math.nan
    return out
