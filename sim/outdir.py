"""``--out DIR``: requests.parquet, timeseries.parquet, summary.json and the plots, all or nothing.

Through the one output layer, ``botcap.outdir``: the folder is checked before the simulation runs
(``check_out_dir``), written atomically, never replaces a folder botcap did not write, and a re-run
into botcap's own folder replaces only botcap's files.
"""

from __future__ import annotations

from pathlib import Path

from botcap.sim.plots import write_plots

from botcap.cliutil import dumps
from botcap.outdir import atomic_dir, check_out_dir

__all__ = ["OUT_FILES", "check_out_dir", "write_out_dir"]

OUT_FILES = ("requests.parquet", "timeseries.parquet", "summary.json")


def write_out_dir(result, summary: dict, out: Path) -> Path:
    """Write every output file of a run into ``out`` atomically (see the module docstring)."""
    out = Path(out)
    with atomic_dir(out, command="sim run") as tmp:
        result.requests.to_parquet(tmp / "requests.parquet", index=False)
        result.timeseries.to_parquet(tmp / "timeseries.parquet", index=False)
        (tmp / "summary.json").write_text(dumps(summary) + "\n", encoding="utf-8")
        write_plots(result, tmp)
    return out
