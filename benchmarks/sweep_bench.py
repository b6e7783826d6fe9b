"""Sweep and optimize figures for issue 12 (not a test): Dask speed-up and the optimizer's wall time.

    /tmp/v1/bin/python benchmarks/sweep_bench.py                 # sweep 40 x 2 on 1 and 2 workers
    /tmp/v1/bin/python benchmarks/sweep_bench.py --optimize      # + `sim optimize` at 10K DAU
    /tmp/v1/bin/python benchmarks/sweep_bench.py --points 10 --json

sweep: the default scenario, a 1-hour window (09:30, 10 min warm-up), ``--points`` points of a grid
over platform.instances x platform.claude.concurrency_per_instance x 2 replications, run by
``botcap.sim.sweep.run_sweep`` on a local Dask cluster of 1 and then 2 workers (each cluster started
before the clock starts, no cache: a fresh folder per run). Target: 2 workers >= 1.8x faster than 1.
The ratio is measured in one invocation, so both runs share the machine's other load; say what it was.

optimize: ``botcap.sim.optimize.optimize`` on the default scenario and space at 10K DAU on 2 workers.
Target: <= 10 min on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _points(n: int) -> list[dict]:
    instances = [2, 3, 4, 5, 6, 8, 10, 12]
    concurrency = [5, 10, 20, 40, 80]
    grid = [{"platform.instances": i, "platform.claude.concurrency_per_instance": c}
            for i in instances for c in concurrency]
    return grid[:n]


def sweep_seconds(workers: int, n_points: int, replications: int) -> float:
    from botcap.sim.cluster import dask_executor
    from botcap.sim.space import resolve_points
    from botcap.sim.sweep import run_sweep

    from botcap.scenario import load_scenario

    base = load_scenario(None, ["horizon.start=09:30"])
    points = _points(n_points)
    scenarios = resolve_points(base, points)
    with dask_executor(workers=workers) as ex, tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run_sweep(points, scenarios, replications=replications, seed=1, hours=1.0, executor=ex,
                  out=Path(tmp) / "sweep")
        return time.perf_counter() - t0


def optimize_seconds(dau: int) -> dict:
    from botcap.sim.cluster import dask_executor
    from botcap.sim.optimize import optimize
    from botcap.sim.space import load_space

    from botcap.scenario import load_scenario

    with dask_executor(workers=2) as ex:
        t0 = time.perf_counter()
        r = optimize(load_scenario(None), load_space(None), dau=dau, executor=ex)
        wall = time.perf_counter() - t0
    return {"wall_s": wall, "books": r["books"], "monthly_cost_usd": r["monthly_cost_usd"],
            "winner": r["winner"]["config"] if r["winner"] else None}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=40)
    ap.add_argument("--replications", type=int, default=2)
    ap.add_argument("--optimize", action="store_true")
    ap.add_argument("--dau", type=int, default=10_000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    out: dict = {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()}
    one = sweep_seconds(1, a.points, a.replications)
    two = sweep_seconds(2, a.points, a.replications)
    out["sweep"] = {"points": a.points, "replications": a.replications, "window_hours": 1.0,
                    "one_worker_s": one, "two_workers_s": two, "speedup": one / two, "target_speedup": 1.8}
    if a.optimize:
        out["optimize"] = {**optimize_seconds(a.dau), "dau": a.dau, "target_s": 600}
    out["load_avg_at_end"] = os.getloadavg()
    if a.json:
        print(json.dumps(out, indent=2))
        return
    s = out["sweep"]
    print(f"sweep {s['points']} points x {s['replications']} replications of 1 h: 1 worker {one:.1f} s, "
          f"2 workers {two:.1f} s, speed-up {s['speedup']:.2f}x (target >= 1.8x)")
    if a.optimize:
        o = out["optimize"]
        print(f"optimize at {a.dau:,} DAU on 2 workers: {o['wall_s']:.0f} s (target <= 600 s); "
              f"{o['books']}; winner {o['winner']} at {o['monthly_cost_usd']}")
    print(f"load average at start {out['load_avg_at_start']}, at end {out['load_avg_at_end']}")


if __name__ == "__main__":
    main()
