"""``--out DIR``: requests.parquet, timeseries.parquet, summary.json and the plots, all or nothing.

Why a temporary directory and a rename: a run that fails or is interrupted halfway must not leave a
folder that looks complete (a half-written parquet, a summary without plots). Everything is
written into a hidden sibling of DIR, then renamed into place; an existing DIR is replaced only
once the new one is complete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from botcap.cliutil import dumps
from botcap.errors import BadInput
from sim.plots import write_plots

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
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        result.requests.to_parquet(tmp / "requests.parquet", index=False)
        result.timeseries.to_parquet(tmp / "timeseries.parquet", index=False)
        (tmp / "summary.json").write_text(dumps(summary) + "\n", encoding="utf-8")
        write_plots(result, tmp)
        os.chmod(tmp, 0o755)  # mkdtemp makes it 0700; a results folder is an ordinary folder
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            old.rmdir()
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return out
