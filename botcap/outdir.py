"""The one output layer: every command's ``--out DIR`` goes through ``check_out_dir`` and ``atomic_dir``.

Three promises, for every command that writes a results folder:

1. All or nothing. Files are written into a hidden sibling ``.NAME.partial-*`` and moved into DIR
   only when the block ends without an error; a failed, interrupted (Ctrl-C) or terminated (SIGTERM)
   run removes the sibling and leaves DIR as it was.
2. Never replace what botcap did not write. DIR may be new, empty, or a folder botcap wrote before
   (it holds the marker file ``.botcap-out.json`` listing botcap's files). A folder with other
   content and no marker is refused before any work starts (``check_out_dir``), and so are ``.``,
   its parents, /proc, /sys, /dev and unwritable places (``botcap.inputs.check_out_path``).
3. Re-running into botcap's own folder replaces only its own files: each new file is moved over the
   old one (``os.replace``), files of the previous run that this run did not write are removed, and a
   file the user added beside them stays. The marker is rewritten last (while moving, it lists the
   union of old and new files, so that an interruption leaves nothing unaccounted for).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from botcap.errors import BadInput
from botcap.inputs import check_out_path, clip

__all__ = ["MARKER", "atomic_dir", "check_out_dir", "owned_files"]

MARKER = ".botcap-out.json"


def owned_files(out: Path) -> set[str] | None:
    """The files botcap wrote into ``out`` (relative paths), or None if it holds no valid marker."""
    marker = Path(out) / MARKER
    try:
        if not marker.is_file() or marker.stat().st_size > 1024 * 1024:
            return None
        data = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    files = data.get("files") if isinstance(data, dict) else None
    if data.get("written_by") != "botcap" or not isinstance(files, list):
        return None
    return {f for f in files if isinstance(f, str) and _is_plain_relative(f)}


def _is_plain_relative(name: str) -> bool:
    p = Path(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and name != MARKER


def check_out_dir(out: str | Path, *, flag: str = "--out") -> Path:
    """Refuse an ``--out`` botcap may not write, before any work: see the module docstring."""
    p = check_out_path(out, flag=flag)
    if p.is_dir():
        try:
            entries = [e.name for e in os.scandir(p)]
        except OSError as e:
            raise BadInput(f"{flag}: cannot list {clip(str(out))} ({e.strerror or e})") from None
        if entries and owned_files(p) is None:
            raise BadInput(f"{flag}: {clip(str(out))} already holds files botcap did not write "
                           f"(no {MARKER}); choose a new or empty folder")
    return p


def _walk(root: Path) -> list[str]:
    return sorted(str(f.relative_to(root)) for f in root.rglob("*") if f.is_file() or f.is_symlink())


def _write_marker(folder: Path, files: list[str] | set[str], command: str) -> None:
    tmp = folder / (MARKER + ".tmp")
    tmp.write_text(json.dumps({"written_by": "botcap", "command": command, "files": sorted(files)},
                              indent=1) + "\n", encoding="utf-8")
    os.replace(tmp, folder / MARKER)


class _Terminated(SystemExit):
    """SIGTERM turned into an exception, so that ``atomic_dir`` cleans up as it does on Ctrl-C."""


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise _Terminated(128 + signal.SIGTERM)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def atomic_dir(out: str | Path, *, command: str = "", flag: str = "--out") -> Iterator[Path]:
    """Yield a temporary folder to write into; on success its files become ``out``'s (see above)."""
    out = check_out_dir(out, flag=flag)
    parent = out.parent
    parent.mkdir(parents=True, exist_ok=True)
    with _sigterm_raises():
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
        try:
            yield tmp
            _commit(tmp, out, command, flag)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _commit(tmp: Path, out: Path, command: str, flag: str) -> None:
    new = _walk(tmp)
    if MARKER in new:
        raise ValueError(f"atomic_dir: a command must not write {MARKER} itself")
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a results folder is an ordinary folder
    if not out.exists():
        _write_marker(tmp, new, command)
        try:
            tmp.rename(out)
            return
        except OSError:
            if not out.is_dir():
                raise
            os.unlink(tmp / MARKER)   # someone created it meanwhile: fall through to the merge
    check_out_dir(out, flag=flag)   # still empty or botcap's, now that the work is done
    old = owned_files(out) or set()
    foreign = [f for f in new if f not in old and (out / f).exists()]
    if foreign:
        raise BadInput(f"{flag}: {clip(str(out))}/{clip(foreign[0])} was not written by botcap; "
                       "not replaced (nothing written)")
    _write_marker(out, set(old) | set(new), command)
    for f in new:
        (out / f).parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp / f, out / f)
    for f in sorted(set(old) - set(new)):
        try:
            (out / f).unlink()
        except FileNotFoundError:
            pass
    _write_marker(out, new, command)
