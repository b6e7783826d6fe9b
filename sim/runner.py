"""Replications of one scenario: seeds, an optional executor (Dask), the warm-up cut, pooling.

Why apart from the engine: ``botcap.sim.engine.simulate`` runs one replication and knows nothing of
confidence intervals; everything that turns several runs into one result (independent seeds, the
warm-up cut, a pooled table) lives here, so the summary, the CLI and the capacity search share it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from botcap.sim.metrics import cut_warmup

from botcap.errors import BadInput
from botcap.scenario import Scenario

__all__ = ["Replication", "SimResult", "replication_seeds", "check_options", "run"]

MAX_HOURS = 744.0          # the schema's horizon.hours limit (31 days)
MAX_REPLICATIONS = 1000    # the schema's horizon.replications limit

# progress(done_fraction, label): done_fraction over the whole run in [0, 1]
Progress = Callable[[float, str], None]


class Replication:
    """One replication's results after the warm-up cut (rows with arrival_s >= warmup_s).

    A streamed replication (``rows_file``: its ``botcap.sim.rowstream`` parquet file, every row of the
    run) reads ``requests`` back from the file on first use only; ``botcap.sim.summary`` reads the
    file a few columns at a time instead, so that a 1M-DAU day is summarised without its whole table."""

    def __init__(self, index: int, seed: int, requests: pd.DataFrame | None, simulated_s: float,
                 warmup_s: float, counters: dict, timeseries: pd.DataFrame,
                 rows_file: str | os.PathLike | None = None):
        if requests is None and rows_file is None:
            raise ValueError("a Replication needs its requests or the rows_file they were streamed to")
        self.index, self.seed = index, seed
        self._requests = requests
        self.simulated_s, self.warmup_s = simulated_s, warmup_s
        self.counters, self.timeseries = counters, timeseries
        self.rows_file = None if rows_file is None else Path(rows_file)

    @property
    def requests(self) -> pd.DataFrame:
        if self._requests is None:
            from botcap.sim.rowstream import read_rows

            self._requests = cut_warmup(read_rows(self.rows_file), self.warmup_s).reset_index(drop=True)
        return self._requests

    @property
    def measured_s(self) -> float:
        """Simulated seconds after the warm-up: the denominator of every rate."""
        return max(self.simulated_s - self.warmup_s, 0.0)

    def __repr__(self) -> str:
        return (f"Replication(index={self.index}, seed={self.seed}, simulated_s={self.simulated_s}, "
                f"warmup_s={self.warmup_s}, rows_file={self.rows_file})")


@dataclass(frozen=True)
class SimResult:
    """All replications of a run, in replication order, with the scenario and base seed used."""

    scenario: Scenario
    seed: int
    replications: list[Replication] = field(default_factory=list)

    @cached_property
    def requests(self) -> pd.DataFrame:
        """Every replication's rows after the warm-up, pooled, with a ``replication`` column."""
        if len(self.replications) == 1:  # no copy of the table (assign, then concat, made two: 1M DAU)
            r = self.replications[0]
            one = r.requests.copy(deep=False)
            one["replication"] = r.index
            one.index = pd.RangeIndex(len(one))
            return one
        frames = [r.requests.assign(replication=r.index) for r in self.replications]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @cached_property
    def timeseries(self) -> pd.DataFrame:
        frames = [r.timeseries.assign(replication=r.index) for r in self.replications]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()

    @property
    def measured_s(self) -> float:
        return sum(r.measured_s for r in self.replications)


def replication_seeds(seed: int, replications: int) -> list[int]:
    """Independent seeds for each replication, derived from one base seed by numpy's SeedSequence.

    Why not seed, seed+1, …: SeedSequence.spawn guarantees statistically independent streams, and
    replication i's seed does not depend on how many replications are run (a 3-run result contains
    the 1-run result as its first replication).
    """
    children = np.random.SeedSequence(seed).spawn(replications)
    return [int(c.generate_state(1, np.uint64)[0] >> 1) for c in children]  # < 2**63, as the schema


def check_options(scenario: Scenario, *, seed: int | None = None, replications: int | None = None,
                  hours: float | None = None, workers: int = 1) -> None:
    """Reject run options that cannot work, before anything runs (BadInput: one line per problem)."""
    problems = []
    if seed is not None and not 0 <= seed <= 2**63 - 1:
        problems.append(f"--seed: must be in 0..{2**63 - 1} (got {seed})")
    if replications is not None and not 1 <= replications <= MAX_REPLICATIONS:
        problems.append(f"--replications: must be in 1..{MAX_REPLICATIONS} (got {replications})")
    if hours is not None:
        if not (math.isfinite(hours) and 0 < hours <= MAX_HOURS):
            problems.append(f"--hours: must be > 0 and <= {MAX_HOURS:g} (got {hours:g})")
        elif hours * 3600.0 <= scenario.horizon.warmup_s:
            problems.append(f"--hours: must be longer than horizon.warmup_s = "
                            f"{scenario.horizon.warmup_s:g} s (got {hours:g} h)")
    if not 1 <= workers <= 1024:
        problems.append(f"--workers: must be in 1..1024 (got {workers})")
    if problems:
        raise BadInput(problems)


def _check_rows_dir(folder: Path, n: int) -> None:
    """Before anything runs: a folder to write to, and no earlier file of the user's written over."""
    if not folder.is_dir():
        raise BadInput(f"rows_dir: must be an existing folder (got {str(folder)!r})")
    if not os.access(folder, os.W_OK):
        raise BadInput(f"rows_dir: must be a folder this process can write (got {str(folder)!r})")
    taken = [f"requests-{i}.parquet" for i in range(n) if (folder / f"requests-{i}.parquet").exists()]
    if taken:
        raise BadInput(f"rows_dir: already holds {taken[0]} (a folder without requests-<i>.parquet files, "
                       f"got {str(folder)!r})")


def _one(scenario: Scenario, index: int, seed: int, hours: float | None,
         progress: Callable[[float], None] | None = None, rows_dir: str | None = None) -> Replication:
    """One replication via the engine (``progress`` receives the simulated clock in seconds)."""
    from botcap.sim.engine import simulate  # imported here: worker processes import it themselves

    path = None if rows_dir is None else Path(rows_dir) / f"requests-{index}.parquet"
    stream = {} if path is None else {"rows_to": path}
    raw = simulate(scenario, seed, hours=hours, progress=progress, **stream)
    rows = None if path is not None else cut_warmup(raw.requests, raw.warmup_s).reset_index(drop=True)
    return Replication(index=index, seed=seed, requests=rows, simulated_s=float(raw.simulated_s),
                       warmup_s=float(raw.warmup_s), counters=raw.counters, timeseries=raw.timeseries,
                       rows_file=path)


def run(scenario: Scenario, *, seed: int | None = None, replications: int | None = None,
        hours: float | None = None, workers: int = 1, progress: Progress | None = None,
        executor: Executor | None = None, rows_dir: str | os.PathLike | None = None) -> SimResult:
    """Run ``replications`` (default: the scenario's) independent replications and pool them.

    ``seed`` (default: scenario.seed) is the base from which each replication's seed is derived.
    With an ``executor`` (``botcap.sim.cluster.dask_executor``: a Dask cluster) the replications are
    its tasks; ``workers`` > 1 without one starts a local Dask cluster of that many processes for
    this run. Results are identical to a sequential run (each replication depends only on its own
    seed); progress then advances per finished replication instead of per simulated minute.
    ``rows_dir`` (an existing folder the workers can write): each replication streams its finished
    requests to ``requests-<index>.parquet`` there during the run (``botcap.sim.rowstream``: memory
    holds only the requests in flight until the end), with the same results.
    """
    check_options(scenario, seed=seed, replications=replications, hours=hours, workers=workers)
    base = scenario.seed if seed is None else seed
    n = scenario.horizon.replications if replications is None else replications
    seeds = replication_seeds(base, n)
    horizon_s = (scenario.horizon.hours if hours is None else hours) * 3600.0
    report = progress or (lambda fraction, label: None)
    rows = None if rows_dir is None else str(rows_dir)
    if rows is not None:
        _check_rows_dir(Path(rows), n)
    done: list[Replication] = []
    if executor is None and workers > 1 and n > 1:
        from botcap.sim.cluster import dask_executor

        with dask_executor(workers=min(workers, n)) as local:
            return run(scenario, seed=seed, replications=replications, hours=hours, progress=progress,
                       executor=local, rows_dir=rows_dir)
    if executor is None or n == 1:
        for i, s in enumerate(seeds):
            label = f"replication {i + 1}/{n}"

            def step(sim_time_s: float, i: int = i, label: str = label) -> None:
                report((i + min(max(sim_time_s / horizon_s, 0.0), 1.0)) / n, label)

            report(i / n, label)
            done.append(_one(scenario, i, s, hours, step, rows))
    else:
        futures = [executor.submit(_one, scenario, i, s, hours, None, rows) for i, s in enumerate(seeds)]
        report(0.0, f"{n} replications on the cluster")
        try:
            for k, future in enumerate(as_completed(futures), start=1):
                done.append(future.result())
                report(k / n, f"replication {k}/{n} done")
        finally:
            for future in futures:
                future.cancel()
        done.sort(key=lambda r: r.index)
    report(1.0, "done")
    return SimResult(scenario=scenario, seed=base, replications=done)
