"""``--out DIR``: requests.parquet, timeseries.parquet, summary.json and the plots, all or nothing.

All or nothing through ``botcap.outdir.atomic_dir``: a failed or interrupted run leaves no folder
that looks complete.
"""

from __future__ import annotations

import os
from pathlib import Path

from botcap.sim.plots import write_plots

from botcap.cliutil import dumps
from botcap.errors import BadInput
from botcap.outdir import atomic_dir

__all__ = ["OUT_FILES", "check_out_dir", "write_out_dir"]

OUT_FILES = ("requests.parquet", "timeseries.parquet", "summary.json")


def check_out_dir(out: Path) -> None:
    """Reject an --out that cannot become a results folder, before anything runs."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise BadInput(f"--out: must be a directory or a new path (got {str(out)!r}, an existing file)")
    parent = out.absolute().parent
    for p in (parent, *parent.parents):
        if p.exists():
            if not p.is_dir() or not os.access(p, os.W_OK | os.X_OK):
                raise BadInput(f"--out: cannot create a folder under {str(p)!r} (not a writable directory)")
            break


def write_out_dir(result, summary: dict, out: Path) -> Path:
    """Write every output file of a run into ``out`` atomically (see the module docstring)."""
    out = Path(out)
    check_out_dir(out)
    with atomic_dir(out) as tmp:
        result.requests.to_parquet(tmp / "requests.parquet", index=False)
        result.timeseries.to_parquet(tmp / "timeseries.parquet", index=False)
        (tmp / "summary.json").write_text(dumps(summary) + "\n", encoding="utf-8")
        write_plots(result, tmp)
    return out
