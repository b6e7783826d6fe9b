"""``--out DIR``: requests.parquet, timeseries.parquet, summary.json and the plots, all or nothing.

Through the one output layer, ``botcap.outdir``: the folder is checked before the simulation runs
(``check_out_dir``), written atomically, never replaces a folder botcap did not write, and a re-run
into botcap's own folder replaces only botcap's files.

A run with ``--out`` streams its rows (``rows_folder``: ``botcap.sim.runner.run(rows_dir=...)``): memory
holds only the requests in flight, and ``requests.parquet`` is written from the streamed files a chunk
at a time (``botcap.sim.rowstream.write_pooled``), the same file as from the table in memory
(tests/scale/): a 1M-DAU day with ``--out`` never holds its 10M-row table.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
from botcap.sim.plots import write_plots

from botcap.cliutil import dumps
from botcap.outdir import atomic_dir, check_out_dir

__all__ = ["OUT_FILES", "check_out_dir", "write_out_dir", "rows_folder"]

OUT_FILES = ("requests.parquet", "timeseries.parquet", "summary.json")
# what botcap.sim.plots reads of the per-request table (user rows' latency per kind, digest sends)
PLOT_COLUMNS = ["kind", "is_digest", "is_duplicate", "arrival_s", "done_s", "ok"]


@contextmanager
def rows_folder(out: str | Path | None) -> Iterator[Path | None]:
    """A hidden folder beside ``out`` for the run's streamed rows (None without ``out``), removed after:
    beside it so that a day's rows go to the disk the results go to, not to a small /tmp."""
    if out is None:
        yield None
        return
    out = Path(out).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f".{out.name}.rows-", dir=out.parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_out_dir(result, summary: dict, out: Path) -> Path:
    """Write every output file of a run into ``out`` atomically (see the module docstring)."""
    out = Path(out)
    streamed = bool(result.replications) and all(r.rows_file is not None for r in result.replications)
    with atomic_dir(out, command="sim run") as tmp:
        if not streamed or not _write_streamed(result, tmp / "requests.parquet"):
            result.requests.to_parquet(tmp / "requests.parquet", index=False)
        result.timeseries.to_parquet(tmp / "timeseries.parquet", index=False)
        (tmp / "summary.json").write_text(dumps(summary) + "\n", encoding="utf-8")
        write_plots(_plot_view(result) if streamed else result, tmp)
    return out


def _write_streamed(result, path: Path) -> bool:
    """requests.parquet from the streamed files; False when there is no row (then from the table)."""
    from botcap.sim.rowstream import write_pooled

    if write_pooled(result.replications, path):
        return True
    path.unlink(missing_ok=True)
    return False


def _plot_view(result) -> SimpleNamespace:
    """``result`` as ``write_plots`` reads it, with only the columns it reads of the pooled rows."""
    from botcap.sim.rowstream import RowFile

    frames = []
    for r in result.replications:
        f = RowFile(r.rows_file)
        keep = f.read(["arrival_s"])["arrival_s"].to_numpy() >= r.warmup_s  # the warm-up cut
        frames.append(f.read(PLOT_COLUMNS, np.asarray(keep)))
    rows = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return SimpleNamespace(scenario=result.scenario, replications=result.replications, requests=rows)
