"""Finished requests streamed out of memory to a parquet file in chunks, and read back in the same order.

Why: a simulated day keeps one ``Request`` object per message (~0.5 KB each with its floats); at 1M DAU
that is tens of millions of objects, more memory than the machine has. With a stream the engine hands
every finished request (``done_s`` before the clock: nothing writes to it any more, see
``botcap.sim.instance.Node.handle`` and ``botcap.sim.ingress``) to a ``pyarrow.parquet.ParquetWriter``
every ``FLUSH_EVERY_S`` simulated seconds, keeping only those still in flight. Each row carries its
position in the order the in-memory run would have listed it (``seq``: requests are appended in
creation order, flushed ones leave the list and the rest keep their positions), so ``read_rows`` gives
back the very table the in-memory path builds: same rows, same order, same dtypes (tests/scale/).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from botcap.sim.record import FIELDS

__all__ = ["RowStream", "read_rows", "FLUSH_EVERY_S", "SEQ"]

FLUSH_EVERY_S = 600.0  # simulated seconds between flushes: rows in memory ~ 10 minutes of arrivals
SEQ = "seq"            # the row's position in the in-memory table (dropped by read_rows)
_STRINGS = ("kind", "error")


class RowStream:
    """The engine's side: ``flush(requests, now)`` moves the finished requests of the shared list into
    the file (the list keeps the rest, in order); ``close(requests)`` writes what is left."""

    def __init__(self, path: str | os.PathLike, frame):
        self.path = Path(path)
        self._frame = frame          # list[Request] -> DataFrame (botcap.sim.engine._frame)
        self._writer: pq.ParquetWriter | None = None
        self._pending_seq: list[int] = []  # positions of the requests still in the list, in list order
        self._seen = 0                     # requests ever appended to the list
        self.rows_written = 0

    def flush(self, requests: list, now: float, everything: bool = False) -> None:
        old = len(self._pending_seq)
        n = len(requests)
        seqs = self._pending_seq + list(range(self._seen, self._seen + n - old))
        self._seen += n - old
        if everything:
            finished = np.ones(n, dtype=bool)
        else:
            done_s = np.fromiter((r.done_s for r in requests), dtype=np.float64, count=n)
            finished = done_s < now  # NaN (not done) compares False
        if finished.any():
            keep = ~finished
            seq = np.asarray(seqs, dtype=np.int64)
            out = [r for r, f in zip(requests, finished.tolist(), strict=True) if f]
            rest = [r for r, k in zip(requests, keep.tolist(), strict=True) if k]
            self._write(out, seq[finished])
            requests[:] = rest  # in place: the platform and the arrival processes append to this list
            self._pending_seq = seq[keep].tolist()
        else:
            self._pending_seq = seqs

    def close(self, requests: list) -> None:
        """Write every request still listed (the engine has marked the unfinished ones) and close."""
        self.flush(requests, np.inf, everything=True)
        if self._writer is None:  # no row at all: still a valid, empty file
            self._write([], np.empty(0, dtype=np.int64))
        self._writer.close()

    def _write(self, requests: list, seq: np.ndarray) -> None:
        df = self._frame(requests)
        for name in _STRINGS:
            df[name] = df[name].astype(str)
        df[SEQ] = seq
        table = pa.Table.from_pandas(df, schema=_schema(), preserve_index=False)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)
        self.rows_written += len(requests)


def _schema() -> pa.Schema:
    from botcap.sim.engine import _BOOL_COLUMNS, _INT_COLUMNS

    return pa.schema([(name, pa.string() if name in _STRINGS else pa.int64() if name in _INT_COLUMNS
                       else pa.bool_() if name in _BOOL_COLUMNS else pa.float64()) for name in FIELDS]
                     + [(SEQ, pa.int64())])


def read_rows(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """The streamed table in the in-memory path's order and dtypes (``kind``/``error`` categorical).
    Read column by column, so that the peak is the table plus one column, not two copies of it."""
    names = list(FIELDS) if columns is None else list(columns)
    file = pq.ParquetFile(path)
    order = np.argsort(file.read(columns=[SEQ]).column(SEQ).to_numpy(), kind="stable")
    out = {}
    for name in names:  # one column of the file in memory at a time, beside the table being built
        col = file.read(columns=[name]).column(name)
        if name in _STRINGS:  # as pd.Categorical(values) does: the distinct values, sorted, as categories
            coded = col.combine_chunks().dictionary_encode()
            words = coded.dictionary.to_pylist()
            cats = sorted(words)
            remap = np.array([cats.index(w) for w in words], dtype=np.int64)
            codes = remap[coded.indices.to_numpy()] if len(words) else np.empty(0, dtype=np.int64)
            out[name] = pd.Categorical.from_codes(codes[order], categories=cats)
        else:
            out[name] = col.to_numpy()[order]
        del col
    return pd.DataFrame(out, copy=False)
