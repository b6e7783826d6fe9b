"""``botcap sim sweep``: every point x replication a task on an executor (Dask), tidy results, resume.

Why a task per point x replication: they are independent simulations, so a cluster of any size runs
them in parallel and a task lost to an interruption costs one replication, not the sweep. Each
finished task is written at once to ``DIR/cache/<scenario hash>-<seed>.json``; a later sweep into
the same DIR reuses every task whose resolved scenario (hash of its JSON form and the window) and
seed match, so an interrupted sweep resumes where it stopped and a widened grid computes only the
new points.

Seeds: replication r of every point uses the run seed ``replication_seeds(seed, R)[r]`` (common
random numbers across points); a row is reproduced exactly by ``botcap sim run --set <the point>
--seed <its seed> --replications 1``. Values are the summary's own numbers (``sim.summary``), the
SLO verdict included (``slo.met`` 1/0), flattened to dotted metric names.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from botcap.sim.outdir import check_out_dir
from botcap.sim.runner import replication_seeds, run
from botcap.sim.summary import summarize
from scipy import stats

from botcap.cliutil import dumps
from botcap.errors import BadInput
from botcap.inputs import check_out_path
from botcap.scenario import Scenario

__all__ = ["scenario_hash", "flatten", "evaluate", "prepare_out", "run_sweep", "ci95_table", "SweepResult",
           "MARKER"]

MARKER = "sweep.json"
_SKIP = ("scenario", "seed", "replications", "calibration", "calibrated_from", "ci95", "resources")
# progress(done, total, label)
Progress = Callable[[int, int, str], None]


def scenario_hash(scenario: Scenario, hours: float | None) -> str:
    """sha256 of the resolved scenario's JSON (sorted keys) and the window: equal hash, equal task."""
    doc = {"scenario": scenario.model_dump(mode="json"), "hours": hours}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def flatten(summary: dict, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a summary as {dotted.name: float} (booleans 1/0, None = NaN)."""
    out: dict[str, float] = {}
    for key, value in summary.items():
        if not prefix and key in _SKIP:
            continue
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, name + "."))
        elif isinstance(value, bool):
            out[name] = 1.0 if value else 0.0
        elif isinstance(value, int | float):
            out[name] = float(value)
        elif value is None:
            out[name] = math.nan
    return out


def evaluate(scenario: Scenario, seed: int, hours: float | None) -> dict:
    """One task: ``sim run --seed seed --replications 1`` of the scenario, as flat metrics + verdict.

    ``task`` is what the task cost where it ran (CPU and wall seconds): CPU close to wall means the
    worker had a core to itself; wall well above CPU means it waited for one (a busy machine)."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    summary = summarize(run(scenario, seed=seed, replications=1, hours=hours))
    return {"metrics": flatten(summary), "slo": summary["slo"],
            "task": {"cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - wall0}}


def prepare_out(out: Path, *, create: bool = True) -> None:
    """DIR must be new, empty, or a sweep folder (it has sweep.json): nothing else is written over.
    ``create=False`` only checks (the CLI, before a cluster is started or reached)."""
    out = check_out_path(out)   # the input layer's path rules: not ., not /proc, /sys, /dev, writable
    if out.exists():
        if not out.is_dir():
            raise BadInput(f"--out: must be a directory or a new path (got {str(out)!r}, an existing file)")
        if any(out.iterdir()) and not (out / MARKER).is_file():
            raise BadInput(f"--out: {str(out)!r} is not empty and not a sweep folder (no {MARKER}); "
                           f"give a new or empty folder")
    if not create:
        check_out_dir(out)  # the parent must be a writable directory
        return
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInput(f"--out: cannot create {str(out)!r} ({exc.strerror})") from None


def _write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary sibling and rename: a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.partial")
    write(tmp)
    os.replace(tmp, path)


@dataclass
class SweepResult:
    points: pd.DataFrame    # point, scenario_hash, one column per swept path
    results: pd.DataFrame   # tidy: point, replication, seed, metric, value
    ci95: pd.DataFrame      # point, metric, n, mean, lo, hi
    computed: int
    reused: int
    task_cpu_s: float = 0.0     # CPU seconds of the tasks computed by this call, summed over workers
    task_wall_s: float = 0.0    # their wall seconds, summed (> task_cpu_s: workers waited for a core)

    def to_dict(self) -> dict:
        met = self.ci95[self.ci95.metric == "slo.met"].set_index("point")["mean"]
        return {"points": len(self.points), "replications": int(self.results.replication.nunique()),
                "tasks": int(self.computed + self.reused), "computed": self.computed, "reused": self.reused,
                "task_cpu_s": round(self.task_cpu_s, 3), "task_wall_s": round(self.task_wall_s, 3),
                "slo_met_share_by_point": {int(k): float(v) for k, v in met.items()}}


def run_sweep(points: list[dict], scenarios: list[Scenario], *, replications: int, seed: int,
              hours: float | None, executor: Executor | None, out: Path | None = None,
              progress: Progress | None = None, params: dict | None = None,
              plots: bool = True) -> SweepResult:
    """Run every (point, replication) not already in ``out``'s cache; return and write the tables.

    ``plots=False``: no ``plots/`` (a caller drawing its own, such as the report, whose many small
    sweeps spent most of their serial time drawing PNGs nobody opened)."""
    seeds = replication_seeds(seed, replications)
    hashes = [scenario_hash(sc, hours) for sc in scenarios]
    cache = Path(out) / "cache" if out is not None else None
    if out is not None:
        prepare_out(Path(out))
        _write(Path(out) / MARKER, lambda p: p.write_text(dumps({
            "status": "running", "points": len(points), "replications": replications, "seed": seed,
            "hours": hours, **(params or {})}) + "\n", encoding="utf-8"))
        cache.mkdir(exist_ok=True)
    rows: dict[tuple[int, int], dict] = {}
    todo = []
    cpu_s = wall_s = 0.0
    for i, (sc, h) in enumerate(zip(scenarios, hashes, strict=True)):
        for r, s in enumerate(seeds):
            hit = cache / f"{h[:32]}-{s}.json" if cache is not None else None
            if hit is not None and hit.is_file():
                try:
                    rows[i, r] = json.loads(hit.read_text(encoding="utf-8"))
                    continue
                except (OSError, ValueError):
                    pass  # a damaged cache entry is recomputed
            todo.append((i, r, sc, s, hit))
    total, reused = len(points) * replications, len(rows)
    report = progress or (lambda done, total, label: None)
    report(reused, total, f"{reused} reused, {len(todo)} to run")
    if todo:
        submit = executor.submit if executor is not None else _Inline().submit
        futures = {submit(evaluate, sc, s, hours): (i, r, s, hit) for i, r, sc, s, hit in todo}
        try:
            for future in as_completed(futures):
                i, r, s, hit = futures[future]
                value = future.result()
                rows[i, r] = value
                cpu_s += value.get("task", {}).get("cpu_s", 0.0)
                wall_s += value.get("task", {}).get("wall_s", 0.0)
                if hit is not None:
                    _write(hit, lambda p, v=value: p.write_text(dumps(v), encoding="utf-8"))
                report(len(rows), total, f"point {i} replication {r} done")
        finally:
            for future in futures:
                future.cancel()
    result = _tables(points, hashes, seeds, rows, computed=len(todo), reused=reused)
    result.task_cpu_s, result.task_wall_s = cpu_s, wall_s
    if out is not None:
        _write_out(Path(out), result, points, params or {}, replications, seed, hours, plots)
    return result


class _Inline:
    """Runs a task at once in this process (no cluster) behind the Executor's submit."""

    def submit(self, fn, *args):
        from concurrent.futures import Future

        f: Future = Future()
        try:
            f.set_result(fn(*args))
        except Exception as exc:  # noqa: BLE001 -- handed to the caller through the future
            f.set_exception(exc)
        return f


def _tables(points, hashes, seeds, rows, *, computed: int, reused: int) -> SweepResult:
    pts = pd.DataFrame([{"point": i, "scenario_hash": h, **{k: _cell(v) for k, v in p.items()}}
                        for i, (p, h) in enumerate(zip(points, hashes, strict=True))])
    tidy = pd.DataFrame([(i, r, seeds[r], metric, value) for (i, r), v in sorted(rows.items())
                         for metric, value in v["metrics"].items()],
                        columns=["point", "replication", "seed", "metric", "value"])
    tidy["seed"] = tidy["seed"].astype("uint64")
    ci95 = ci95_table(tidy)
    return SweepResult(points=pts, results=tidy, ci95=ci95, computed=computed, reused=reused)


def ci95_table(tidy: pd.DataFrame, confidence: float = 0.95) -> pd.DataFrame:
    """Per (point, metric): n finite values, their mean and the Student-t interval (NaN below two).

    The same numbers as ``botcap.sim.metrics.t_interval`` per group, computed in one grouped pass:
    a loop over groups cost ~2 s for 40 points (a t quantile per group), serial in the sweep's tail.
    """
    finite = tidy[["point", "metric"]].assign(value=tidy["value"].where(np.isfinite(tidy["value"])))
    g = finite.groupby(["point", "metric"], sort=True)["value"].agg(["count", "mean", "std"]).reset_index()
    n = g["count"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        half = stats.t.ppf(0.5 + confidence / 2, n - 1) * g["std"].to_numpy() / np.sqrt(n)
    half = np.where(n >= 2, half, np.nan)
    mean = g["mean"].to_numpy(dtype=float)
    return pd.DataFrame({"point": g["point"], "metric": g["metric"], "n": g["count"].astype(int),
                         "mean": mean, "lo": mean - half, "hi": mean + half})


def _cell(value):
    """A point's value as a parquet-friendly cell (lists, dicts and None as their YAML/JSON text)."""
    plain = isinstance(value, int | float | str) and not isinstance(value, bool)
    return value if plain else json.dumps(value)


def _write_out(out: Path, result: SweepResult, points, params, replications, seed, hours,
               plots: bool) -> None:
    _write(out / "points.parquet", lambda p: result.points.to_parquet(p, index=False))
    _write(out / "results.parquet", lambda p: result.results.to_parquet(p, index=False))
    _write(out / "ci95.parquet", lambda p: result.ci95.to_parquet(p, index=False))
    axes = list(points[0]) if points else []
    if plots:
        from botcap.sim.sweep_plots import write_sweep_plots

        pngs = write_sweep_plots(result, axes, out / "plots")
    else:
        pngs = []
    manifest = {"status": "done", "points": len(points), "replications": replications, "seed": seed,
                "hours": hours, "axes": axes, **params, **result.to_dict(),
                "files": ["points.parquet", "results.parquet", "ci95.parquet", *pngs]}
    _write(out / MARKER, lambda p: p.write_text(dumps(manifest) + "\n", encoding="utf-8"))
