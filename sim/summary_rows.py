"""Where the summary reads a run's per-request rows from: the pooled table in memory, or the files a
streamed run wrote, a few columns at a time.

Why a module of its own: ``botcap.sim.summary`` computes the figures; this decides how rows reach it.
Both sources answer the same four questions (user rows, one user column, whether a column exists,
digest rows) with the same rows in the same order, so the summary of a streamed 1M-DAU day is the
in-memory one to the bit (tests/scale/) without holding its 10M-row table.
"""

from __future__ import annotations

import pandas as pd
from botcap.sim import metrics as m
from botcap.sim.record import FIELDS

__all__ = ["FrameRows", "FileRows", "pooled_rows", "USER_COLUMNS", "DIGEST_COLUMNS"]


class FrameRows:
    """The pooled rows of replications held in memory: one DataFrame."""

    def __init__(self, pooled: pd.DataFrame):
        if "is_digest" not in pooled:  # no replication, or no rows at all
            pooled = pd.DataFrame(columns=list(FIELDS))
        self.pooled = pooled

    def users(self) -> pd.DataFrame:
        return m.user_rows(self.pooled)

    def has(self, name: str) -> bool:
        return name in self.pooled

    def user_column(self, users: pd.DataFrame, name: str) -> pd.Series | None:
        return users.get(name)

    def digests(self) -> pd.DataFrame:
        return m.digest_rows(self.pooled, duplicates=False)


# what the summary reads of every user row at once (the wait columns are read one at a time) and of
# the digest rows (few: one per subscriber and day)
USER_COLUMNS = ["kind", "instance", "ok", "error", "arrival_s", "done_s"]
DIGEST_COLUMNS = ["kind", "is_digest", "is_duplicate", "arrival_s", "done_s", "ok", "error",
                  "preferred_s", "planned_s"]


class FileRows:
    """The pooled rows of streamed replications (``Replication.rows_file``), read from their files a
    few columns at a time: the same rows in the same order as ``FrameRows`` of the pooled table (warm-up
    cut, replication after replication, each in its in-memory order), hence the same figures, to the
    bit (tests/scale/), without ever holding the whole table (a 1M-DAU day: 10M rows)."""

    def __init__(self, reps):
        from botcap.sim.rowstream import RowFile

        self.files, self.users_keep, self.digests_keep = [], [], []
        for r in reps:
            f = RowFile(r.rows_file)
            flags = f.read(["arrival_s", "is_digest", "is_duplicate"])
            kept = flags["arrival_s"].to_numpy() >= r.warmup_s  # botcap.sim.metrics.cut_warmup
            digest = flags["is_digest"].to_numpy(dtype=bool)
            self.files.append(f)
            self.users_keep.append(kept & ~digest)
            self.digests_keep.append(kept & digest & ~flags["is_duplicate"].to_numpy(dtype=bool))
            del flags

    def _read(self, columns: list[str], keeps: list) -> pd.DataFrame:
        frames = [f.read(columns, keep) for f, keep in zip(self.files, keeps, strict=True)]
        if len(frames) == 1:
            return frames[0]
        return pd.concat(frames, ignore_index=True)  # as SimResult.requests pools them (dtypes too)

    def users(self) -> pd.DataFrame:
        return self._read(USER_COLUMNS, self.users_keep)

    def has(self, name: str) -> bool:
        return name in FIELDS  # a streamed file has every column

    def user_column(self, users: pd.DataFrame, name: str) -> pd.Series | None:
        return self._read([name], self.users_keep)[name]

    def digests(self) -> pd.DataFrame:
        return self._read(DIGEST_COLUMNS, self.digests_keep)


def pooled_rows(reps, frame):
    """The rows of ``reps`` as the summary reads them: from their streamed files when every replication
    has one, else the pooled DataFrame ``frame()`` (``SimResult.requests``)."""
    if reps and all(getattr(r, "rows_file", None) is not None for r in reps):
        return FileRows(reps)
    return FrameRows(frame())
