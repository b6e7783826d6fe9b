"""Sweep and optimize figures for issue 12 (not a test): Dask speed-up and the optimizer's wall time.

    .venv/bin/python benchmarks/sweep_bench.py                  # sweep 40 x 2 on 1 and 2 workers
    .venv/bin/python benchmarks/sweep_bench.py --rounds 2       # 1, 2, 2, 1 workers: drift cancels
    .venv/bin/python benchmarks/sweep_bench.py --optimize       # + `sim optimize` at 10K DAU
    .venv/bin/python benchmarks/sweep_bench.py --points 10 --json

sweep: the default scenario, a 1-hour window (09:30, 10 min warm-up), ``--points`` points of a grid
over platform.instances x platform.claude.concurrency_per_instance x ``--replications``, run by
``botcap.sim.sweep.run_sweep`` into a fresh folder (no cache; parquet, plots and the cache files are
written, as a user's sweep writes them) on a local Dask cluster of 1 and of 2 workers, in one
invocation. Target: 2 workers >= 1.8x faster than 1.

What the clock does NOT include, because a sweep on a running cluster does not pay it: starting the
cluster (worker processes are spawned: a fresh interpreter each) and each worker's first imports of
botcap.sim, numpy, pandas, simpy (~2 s of CPU each). Both are paid before the clock starts: the cluster
is started, then one short simulation runs on every worker (the warm-up, checked to have reached every
worker); both are printed. This process's first sweep tail (matplotlib's fonts, parquet: ~3 s once per
process, which would fall in the first run's clock only) is paid by a one-point sweep before any run.

Why the CPU figures: the machine is shared. Each task reports its CPU and wall seconds on its worker;
wall / CPU near 1 means the worker had a core, well above 1 means it waited for one (other load), and
the workers' busy share (task CPU / (workers x sweep wall)) says how much of the cluster's time the
tasks used. On a quiet machine both runs show wall/CPU ~1 and the speed-up is what the sweep gets; on a
busy one compare those before reading the ratio. ``--rounds 2`` runs 1, 2, 2, 1 workers and pools the
walls, so load that rises or falls during the benchmark weighs on both sizes alike.

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

TARGET_SPEEDUP = 1.8


def _points(n: int) -> list[dict]:
    instances = [2, 3, 4, 5, 6, 8, 10, 12]
    concurrency = [5, 10, 20, 40, 80]
    grid = [{"platform.instances": i, "platform.claude.concurrency_per_instance": c}
            for i in instances for c in concurrency]
    return grid[:n]


def _warm(scenario) -> int:
    """On a worker: the imports and a 12-minute simulation (mostly warm-up), then hold the worker a
    moment so that the next warm-up task goes to another one. Returns the worker's pid."""
    from botcap.sim.sweep import evaluate

    evaluate(scenario, 1, 0.2)
    time.sleep(1.0)
    return os.getpid()


def sweep_once(workers: int, n_points: int, replications: int) -> dict:
    """One sweep on a fresh local cluster of ``workers``: its wall time and the tasks' CPU."""
    from botcap.sim.cluster import dask_executor
    from botcap.sim.space import resolve_points
    from botcap.sim.sweep import run_sweep

    from botcap.scenario import load_scenario

    base = load_scenario(None, ["horizon.start=09:30"])
    points = _points(n_points)
    scenarios = resolve_points(base, points)
    t0 = time.perf_counter()
    with dask_executor(workers=workers) as ex, tempfile.TemporaryDirectory() as tmp:
        started_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        pids = {f.result() for f in [ex.submit(_warm, scenarios[0]) for _ in range(workers)]}
        warm_s = time.perf_counter() - t1
        if len(pids) != workers:
            print(f"warning: the warm-up reached {len(pids)} of {workers} workers", file=sys.stderr)
        last_done = []
        load_before = os.getloadavg()[0]
        t2 = time.perf_counter()
        result = run_sweep(points, scenarios, replications=replications, seed=1, hours=1.0, executor=ex,
                           out=Path(tmp) / "sweep",
                           progress=lambda done, total, label: last_done.append(time.perf_counter()))
        wall = time.perf_counter() - t2
        load_after = os.getloadavg()[0]
    tasks = result.computed
    return {"workers": workers, "wall_s": wall, "tasks": tasks, "task_cpu_s": result.task_cpu_s,
            "task_wall_s": result.task_wall_s, "cpu_per_task_s": result.task_cpu_s / tasks,
            "wall_over_cpu": result.task_wall_s / result.task_cpu_s,
            "busy_share": result.task_cpu_s / (workers * wall),
            "tail_s": t2 + wall - last_done[-1],   # tables, parquet and plots after the last task
            "cluster_start_s": started_s, "warm_up_s": warm_s, "warmed_workers": len(pids),
            "load_1min": [load_before, load_after]}


def _warm_here() -> None:
    """This process's first sweep tail (pandas tables, parquet, matplotlib's fonts and first figure)
    costs seconds once per process: paid here by a one-point sweep run in-process, not in a clock."""
    from botcap.sim.space import resolve_points
    from botcap.sim.sweep import run_sweep

    from botcap.scenario import load_scenario

    points = _points(1)
    scenarios = resolve_points(load_scenario(None, ["horizon.start=09:30"]), points)
    with tempfile.TemporaryDirectory() as tmp:
        run_sweep(points, scenarios, replications=1, seed=1, hours=0.2, executor=None, out=Path(tmp) / "w")


def sweep_speedup(n_points: int, replications: int, rounds: int) -> dict:
    _warm_here()
    order = [1, 2, 2, 1] * (rounds // 2) + [1, 2] * (rounds % 2)
    runs = [sweep_once(w, n_points, replications) for w in order]
    wall = {w: sum(r["wall_s"] for r in runs if r["workers"] == w) for w in (1, 2)}
    # each run's wall scaled by its tasks' CPU/wall: what it would have taken had every worker had a
    # core of its own (an estimate for a busy machine, not the measured figure)
    own_core = {w: sum(r["wall_s"] / r["wall_over_cpu"] for r in runs if r["workers"] == w) for w in (1, 2)}
    return {"points": n_points, "replications": replications, "window_hours": 1.0, "order": order,
            "runs": runs, "one_worker_s": wall[1] / rounds, "two_workers_s": wall[2] / rounds,
            "speedup": wall[1] / wall[2], "target_speedup": TARGET_SPEEDUP,
            "speedup_if_own_cores_estimate": own_core[1] / own_core[2]}


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


def _line(r: dict) -> str:
    return (f"  {r['workers']} worker{'s' if r['workers'] > 1 else ' '}: {r['wall_s']:6.1f} s wall; "
            f"{r['tasks']} tasks, CPU {r['task_cpu_s']:.1f} s ({r['cpu_per_task_s']:.2f} s/task), "
            f"task wall/CPU {r['wall_over_cpu']:.2f}, workers busy {r['busy_share']:.0%}, "
            f"tail {r['tail_s']:.1f} s; not timed: cluster start {r['cluster_start_s']:.1f} s, "
            f"warm-up {r['warm_up_s']:.1f} s ({r['warmed_workers']} warmed); "
            f"load {r['load_1min'][0]:.1f} -> {r['load_1min'][1]:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=40)
    ap.add_argument("--replications", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=1, help="1: workers 1 then 2; 2: 1, 2, 2, 1; ...")
    ap.add_argument("--optimize", action="store_true")
    ap.add_argument("--dau", type=int, default=10_000)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    if not (1 <= a.points <= 40 and 1 <= a.replications <= 100 and 1 <= a.rounds <= 10):
        print("sweep_bench: --points must be in 1..40, --replications in 1..100, --rounds in 1..10",
              file=sys.stderr)
        sys.exit(2)
    out: dict = {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg()}
    out["sweep"] = sweep_speedup(a.points, a.replications, a.rounds)
    if a.optimize:
        out["optimize"] = {**optimize_seconds(a.dau), "dau": a.dau, "target_s": 600}
    out["load_avg_at_end"] = os.getloadavg()
    if a.json:
        print(json.dumps(out, indent=2))
        return
    s = out["sweep"]
    print(f"sweep {s['points']} points x {s['replications']} replications of 1 h, {a.rounds} round(s), "
          f"workers in the order {s['order']}:")
    for r in s["runs"]:
        print(_line(r))
    print(f"speed-up {s['speedup']:.2f}x (1 worker {s['one_worker_s']:.1f} s, 2 workers "
          f"{s['two_workers_s']:.1f} s; target >= {TARGET_SPEEDUP}x); had each worker had a core of its own "
          f"(walls scaled by task CPU/wall, an estimate): {s['speedup_if_own_cores_estimate']:.2f}x")
    if a.optimize:
        o = out["optimize"]
        print(f"optimize at {a.dau:,} DAU on 2 workers: {o['wall_s']:.0f} s (target <= 600 s); "
              f"{o['books']}; winner {o['winner']} at {o['monthly_cost_usd']}")
    print(f"{out['cpus']} CPUs; load average (1, 5, 15 min) at start "
          f"{tuple(round(x, 2) for x in out['load_avg_at_start'])}, at end "
          f"{tuple(round(x, 2) for x in out['load_avg_at_end'])}")


if __name__ == "__main__":
    main()
