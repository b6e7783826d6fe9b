"""``botcap sim replay BUNDLE``: a finite load test fed through the model, measured vs predicted.

The bundle's own arrivals (times, kinds, chats) and answer lengths (the output tokens the fake Claude
API handed out) go through the model (``replay.simulate_trace``) until its backlog drains; then the
measured and the predicted requests go through the same per-level statistics as calibration's
held-out check (``predict``): per level and kind p50, p95, throughput and error rate, and for a
streaming bot the time to first answer. Nothing is fitted here: the scenario is ``--scenario`` (e.g.
one ``botcap calibrate --out`` wrote) or the one the load used.

Claude's speed: a run may drive the fake Claude API at ``claude_time_scale`` (run.json); scenarios
describe the real API, so the replay scales Claude's latencies to the run's speed first.
"""

from __future__ import annotations

import math
from pathlib import Path

from botcap.sim.calibrate import predict
from botcap.sim.calibrate.bundles import read_bundle

from botcap.errors import BadInput
from botcap.scenario import Scenario, load_scenario

__all__ = ["replay_bundle", "at_time_scale"]


def at_time_scale(scenario: Scenario, time_scale: float) -> Scenario:
    """``scenario`` with Claude's ttft times ``time_scale`` and tokens/s divided by it (the fake's speed)."""
    if time_scale == 1.0:
        return scenario
    from botcap.sim.calibrate.core import _scaled

    doc = scenario.model_dump(mode="json")
    for m in doc["platform"]["claude"]["models"].values():
        m["ttft_s"] = _scaled(m["ttft_s"], time_scale)
        m["output_tokens_per_s"] = min(m["output_tokens_per_s"] / time_scale, 100_000.0)
    return load_scenario(data=doc)


def _first_reply_delays(b) -> dict[str, list[float]] | None:
    """Streaming kinds of a black-box bundle: taken → first text at its quietest level, from the same
    samples as calibration's (``structure.own_times``: without the waits for a handler or a work limit
    that the model adds itself)."""
    if not b.blackbox:
        return None
    from botcap.sim.calibrate.structure import _service_rows, infer_structure, own_times
    from botcap.sim.calibrate.timeline import timeline

    rows = _service_rows(own_times(timeline(b), infer_structure(b)), b, None)
    out = {}
    for kind, g in rows.groupby("kind"):
        if (g["first_reply"] < g["completed"] - 1e-3).mean() > 0.5:
            d = g["first_reply_delay_s"].to_numpy(dtype=float)
            out[str(kind)] = [float(x) for x in d if math.isfinite(x)]
    return out or None


def replay_bundle(path: str | Path, *, scenario_file: str | Path | None = None, replications: int = 3,
                  seed: int = 1) -> dict:
    """The ``botcap sim replay --json`` object (see docs/calibration.md)."""
    if not 1 <= replications <= 100:
        raise BadInput(f"--replications: must be in 1..100 (got {replications})")
    b = read_bundle(path)
    scenario = load_scenario(scenario_file) if scenario_file is not None else b.scenario
    kinds = b.requests["kind"].astype(str)
    missing = sorted(set(kinds) - set(scenario.workload.kinds))
    if len(missing) == kinds.nunique():
        raise BadInput(f"--scenario: none of the bundle's kinds ({', '.join(sorted(set(kinds)))}) is a "
                       f"kind of the scenario ({', '.join(scenario.workload.kinds)})")
    replay_sc = at_time_scale(scenario, b.time_scale)
    levels = predict.predict_levels([b], set(), lambda _: replay_sc, replications=replications, seed=seed,
                                    first_reply=_first_reply_delays(b))
    for lv in levels:
        lv.pop("held_out", None)
    return {
        "bundle": str(b.path), "scenario": str(scenario_file) if scenario_file else "the bundle's own",
        "blackbox": b.blackbox, "claude_time_scale": b.time_scale, "replications": replications,
        "seed": seed, "requests": int(len(kinds)),
        "not_replayed": {k: int((kinds == k).sum()) for k in missing},
        "levels": levels,
    }
