"""Helpers of the hostile-input suite: botcap called in-process, and the invariants every case checks.

Every bad input must give: the stated exit code, one line on stderr naming the key/flag/file, no
traceback, nothing on stdout, and no change to the files around it. ``Cli.run`` calls
``botcap.cli.main`` with ``argv`` (no subprocess: the suite stays fast); an exception escaping it
is a failure of the test, as a traceback would be for a user.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from botcap.cli import main

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MMC = REPO / "sim" / "scenarios" / "mmc.yaml"
CI_GATES = REPO / "loadtest" / "gates" / "ci.yaml"
BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


@dataclass
class Result:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


class Cli:
    def __init__(self, capsys):
        self.capsys = capsys

    def run(self, *args) -> Result:
        self.capsys.readouterr()
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:   # exit 1 of a gate, as `python -m botcap.cli` would exit
            code = e.code if isinstance(e.code, int) else 1
        captured = self.capsys.readouterr()
        return Result(code, captured.out, captured.err)

    def bad(self, *args, code: int = 2, names: str | tuple[str, ...] = ()) -> Result:
        """Run; assert exit ``code``, exactly one problem line naming each of ``names``, no traceback."""
        r = self.run(*args)
        assert r.code == code, (r.code, r.err, r.out[:500])
        assert "Traceback" not in r.err + r.out
        problems = [line for line in r.lines if not line.startswith("warning:")]
        assert len(problems) == 1, problems
        assert len(problems[0]) < 400, problems[0][:500]   # a huge value is never echoed whole
        for name in (names,) if isinstance(names, str) else names:
            assert name in problems[0], (name, problems[0])
        if code == 2:
            assert r.out == "", r.out[:300]
        return r


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (hidden ones too) with its content: 'nothing changed' is equality."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------
# RunBundles, written by hand so that each field can be broken on purpose
def request_rows(n: int = 20, *, failed: int = 1) -> pd.DataFrame:
    t = 1_700_000_000.0
    lat = np.linspace(0.1, 2.0, n)
    rows = pd.DataFrame({
        "kind": ["command"] * (n // 2) + ["chat_simple"] * (n - n // 2),
        "sent_at": t + np.arange(n, dtype=float), "posted_at": t + np.arange(n, dtype=float),
        "replied_at": t + np.arange(n, dtype=float) + lat, "latency_s": lat, "ok": [True] * n,
        "error": [None] * n, "level": np.zeros(n, dtype=int), "chat_id": np.arange(n), "message_id": 1,
        "worker": "w"})
    for i in range(failed):
        rows.loc[i, ["ok", "error", "latency_s", "replied_at"]] = [False, "timeout", np.nan, np.nan]
    rows["ok"] = rows["ok"].astype(bool)
    return rows


def write_bundle(path: Path, *, rows: pd.DataFrame | None = None, run: dict | None = None,
                 run_text: str | bytes | None = None) -> Path:
    """A complete, valid bundle unless ``rows``/``run``/``run_text`` break it."""
    path.mkdir(parents=True, exist_ok=True)
    rows = request_rows() if rows is None else rows
    rows.to_parquet(path / "requests.parquet", index=False)
    doc = {"complete": True, "reason": None, "duration_s": 20.0,
           "counts": {"requests": int(len(rows)), "dropped": 0}}
    doc.update(run or {})
    if run_text is None:
        (path / "run.json").write_text(json.dumps(doc))
    elif isinstance(run_text, bytes):
        (path / "run.json").write_bytes(run_text)
    else:
        (path / "run.json").write_text(run_text)
    return path


def gates_file(folder: Path, *lines: str) -> Path:
    p = folder / "gates.yaml"
    p.write_text("thresholds:\n" + "".join(f'  - "{line}"\n' for line in lines))
    return p


def make_fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path
