"""Result folders written all or nothing: every command's ``--out DIR`` goes through ``atomic_dir``.

Why a temporary sibling and a rename: a run that fails or is interrupted halfway must not leave a
folder that looks complete (a half-written parquet, a summary without plots). Files are written into
a hidden sibling of DIR, which is renamed into place only when the block ends without an error; an
existing DIR is replaced only then.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_dir"]


@contextmanager
def atomic_dir(out: Path) -> Iterator[Path]:
    """Yield a temporary folder to write into; on success it becomes ``out`` (replacing an old one)."""
    out = Path(out)
    parent = out.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a results folder is an ordinary folder
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=parent))
            old.rmdir()
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
