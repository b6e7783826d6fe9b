"""The capacity gate's metrics: what the measured build would carry on the scenario's own platform.

Why: a latency gate at CI load (3 arrivals/s) passes a change that doubles the handler's time as long
as the CI load still fits; this one fits the run's stage times with the calibration code (all load
levels of the bundle are fitted, none held out), puts them into the scenario the run used, on that
scenario's own platform (its instances, pools, semaphores: production, not the CI stack), and asks the
model two questions: the largest DAU meeting the SLO (``predicted_capacity_dau``, bisection with
common seeds) and the p95 per kind at the scenario's DAU (``predicted_p95_s{kind=...}``, censored:
failures count as +inf). Both are simulated on ``WINDOW_HOURS`` starting ``warmup`` before the
scenario's busiest hour, so that a gate stays under a minute. The answer is the same for the same
bundle (fixed seed). No data is never a pass: when no DAU meets the SLO the capacity is 0.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

__all__ = ["PREDICTED", "predicted_metrics", "WINDOW_HOURS", "SEED"]

PREDICTED = ("predicted_capacity_dau", "predicted_p95_s")
WINDOW_HOURS = 0.5          # 10 min of warm-up (the scenario's) then the busiest hour's first 20 min
SEED = 12
REL_TOL = 0.05


def _scenario_from_bundle(run_dir: Path):
    """The run's scenario with its fitted stage times (the calibration code), on its own platform."""
    from botcap.sim.calibrate.bundles import read_bundles
    from botcap.sim.calibrate.core import _fit, _unscale_claude
    from botcap.sim.calibrate.stages import apply_patch

    from botcap.scenario import load_scenario

    bundles = read_bundles([run_dir])
    levels = [lv for b in bundles for lv in b.levels]
    run_sc = bundles[0].scenario
    fits = _fit(bundles, levels, run_sc)
    doc = apply_patch(run_sc.model_dump(mode="json"), fits.patch)
    if bundles[0].time_scale != 1.0:
        _unscale_claude(doc, fits.patch, bundles[0].time_scale)
    weights = run_sc.workload.arrivals.hourly_weights
    busiest_h = max(range(24), key=lambda h: weights[h])
    start_s = (busiest_h * 3600.0 - run_sc.horizon.warmup_s) % 86_400.0
    doc["horizon"].update(start=f"{int(start_s // 3600):02d}:{int(start_s % 3600 // 60):02d}",
                          hours=max(WINDOW_HOURS, (run_sc.horizon.warmup_s + 600) / 3600), replications=1)
    doc.pop("calibration", None)
    sc = load_scenario(data=doc)
    return sc


def predicted_metrics(run_dir: Path) -> dict[str, float]:
    """{"predicted_capacity_dau": DAU, "predicted_p95_s{kind=K}": s} for the gate (NaN = no data).

    Computed once per bundle and process (keyed by its files' sizes and times): a bundle that is both
    a run and another run's baseline is simulated once."""
    p = Path(run_dir).resolve()
    key = (str(p), *((f.stat().st_mtime_ns, f.stat().st_size) for f in sorted(p.glob("*.parquet"))))
    return dict(_predicted(key))


@lru_cache(maxsize=8)
def _predicted(key: tuple) -> tuple:
    from botcap.sim.capacity import find_capacity
    from botcap.sim.runner import run
    from botcap.sim.summary import summarize

    sc = _scenario_from_bundle(Path(key[0]))
    out: dict[str, float] = {}
    s = summarize(run(sc, seed=SEED, replications=1))
    lat = s.get("latency_censored_by_kind_s") or s["latency_by_kind_s"]
    for kind, d in lat.items():
        p95 = d.get("p95")
        out[f"predicted_p95_s{{kind={kind}}}"] = math.inf if p95 is None else float(p95)
    found = find_capacity(sc, knob="workload.dau", seed=SEED, replications=1, rel_tol=REL_TOL)
    out["predicted_capacity_dau"] = float(found["capacity"] or 0)
    return tuple(out.items())
