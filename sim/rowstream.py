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

import functools
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from botcap.sim.record import FIELDS

__all__ = ["RowStream", "RowFile", "read_rows", "write_pooled", "FLUSH_EVERY_S", "SEQ"]

FLUSH_EVERY_S = 600.0  # simulated seconds between flushes: rows in memory ~ 10 minutes of arrivals
CHUNK_ROWS = 1 << 20   # rows per row group of write_pooled (~0.3 GB of a chunk's columns in memory)
SEQ = "seq"            # the row's position in the in-memory table (dropped by read_rows)
_STRINGS = ("kind", "error")


class RowStream:
    """The engine's side: ``flush(requests, now)`` moves the finished requests of the shared list into
    the file (the list keeps the rest, in order); ``close(requests)`` writes what is left."""

    def __init__(self, path: str | os.PathLike, columns):
        self.path = Path(path)
        self._columns = columns      # list[Request] -> {name: array} (botcap.sim.engine._columns)
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
        schema = _schema()
        columns = self._columns(requests) if requests else {}
        arrays = [pa.array(columns[name] if requests else [], type=schema.field(name).type)
                  for name in FIELDS] + [pa.array(seq, type=pa.int64())]
        table = pa.Table.from_arrays(arrays, schema=schema)
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, table.schema)
        self._writer.write_table(table)
        self.rows_written += len(requests)


@functools.cache
def _schema() -> pa.Schema:
    from botcap.sim.engine import _BOOL_COLUMNS, _INT_COLUMNS

    return pa.schema([(name, pa.string() if name in _STRINGS else pa.int64() if name in _INT_COLUMNS
                       else pa.bool_() if name in _BOOL_COLUMNS else pa.float64()) for name in FIELDS]
                     + [(SEQ, pa.int64())])


class RowFile:
    """A streamed file read back a few columns at a time, in the in-memory table's order.

    Why: the summary of a 1M-DAU day needs a handful of columns of the user rows (and the digest rows),
    never the whole 10M-row table with copies of it; the row order (``seq``) is sorted once per file."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._file = pq.ParquetFile(self.path)
        self.num_rows = self._file.metadata.num_rows
        self._order: np.ndarray | None = None
        meta = self._file.metadata
        self._group_start = np.cumsum([0] + [meta.row_group(g).num_rows for g in range(meta.num_row_groups)])

    @property
    def order(self) -> np.ndarray:
        if self._order is None:
            seq = self._file.read(columns=[SEQ]).column(SEQ).to_numpy()
            self._order = np.argsort(seq, kind="stable")
        return self._order

    def read(self, columns: list[str] | None = None, keep: np.ndarray | None = None) -> pd.DataFrame:
        """``columns`` (default: all of ``FIELDS``) of the rows where ``keep`` (a mask in table order;
        default: every row), with the in-memory path's dtypes (``kind``/``error`` categorical). Read
        column by column, so that the peak is the result plus one column, not two copies of it."""
        names = list(FIELDS) if columns is None else list(columns)
        order = self.order if keep is None else self.order[keep]
        out = {}
        for name in names:  # one column of the file in memory at a time, beside the table being built
            col = self._file.read(columns=[name]).column(name)
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


    def categories(self, name: str) -> list[str]:
        """The sorted distinct values of string column ``name`` over the whole file: the categories the
        in-memory table's column has (``pd.Categorical`` of every row, before the warm-up cut)."""
        col = self._file.read(columns=[name]).column(name)
        return sorted(pc.unique(col).to_pylist())

    def take(self, rows: np.ndarray, categories: dict[str, list[str]]) -> pd.DataFrame:
        """Every ``FIELDS`` column of the file's rows ``rows`` (indices into the file, in the order given),
        string columns categorical with ``categories``. Reads only the row groups holding them: rows
        are written in flush order, so a stretch of the table's order lies in a few neighbouring
        groups (a chunk of ``write_pooled`` costs a chunk's memory, not the file's)."""
        at = np.searchsorted(self._group_start, rows, side="right") - 1  # each row's group
        groups = np.unique(at)
        sizes = self._group_start[groups + 1] - self._group_start[groups]
        first = np.concatenate([[0], np.cumsum(sizes)[:-1]])  # each group's first row in the table read
        pos = rows - self._group_start[at] + first[np.searchsorted(groups, at)]
        part = self._file.read_row_groups(groups.tolist(), columns=list(FIELDS)).take(pa.array(pos))
        out = {}
        for name in FIELDS:
            col = part.column(name)
            if name in _STRINGS:
                out[name] = pd.Categorical(col.to_numpy(zero_copy_only=False), categories=categories[name])
            else:
                out[name] = col.to_numpy()
        return pd.DataFrame(out, copy=False)


def write_pooled(reps, path: str | os.PathLike, chunk_rows: int | None = None) -> int:
    """``SimResult.requests`` of streamed replications (``Replication.rows_file``) written to the parquet
    file ``path`` as ``DataFrame.to_parquet(path, index=False)`` writes it (same columns, dtypes, pandas
    metadata, rows in order: the warm-up cut, a ``replication`` column, replication after replication),
    ``chunk_rows`` rows at a time: ``botcap sim run --out`` of a 1M-DAU day without its whole table in
    memory. Returns the rows written. ``kind``/``error`` stay categorical when every replication has
    the same categories, else plain strings (what ``pd.concat`` makes of them)."""
    chunk_rows = chunk_rows or CHUNK_ROWS
    files = [RowFile(r.rows_file) for r in reps]
    cats = {name: [f.categories(name) for f in files] for name in _STRINGS}
    mixed = [name for name, cs in cats.items() if any(c != cs[0] for c in cs)] if len(reps) > 1 else []
    writer, written = None, 0
    try:
        for r, f, i in zip(reps, files, range(len(files)), strict=True):
            arrival = f.read(["arrival_s"])["arrival_s"].to_numpy()
            kept = f.order[arrival >= r.warmup_s]  # file rows in the table's order, after the warm-up cut
            del arrival
            for start in range(0, len(kept), chunk_rows):
                df = f.take(kept[start:start + chunk_rows], {name: cats[name][i] for name in _STRINGS})
                df["replication"] = r.index
                for name in mixed:
                    df[name] = df[name].astype(str).astype(object)
                table = pa.Table.from_pandas(df, preserve_index=False)
                if writer is None:
                    writer = pq.ParquetWriter(path, table.schema)
                writer.write_table(table)
                written += len(df)
    finally:
        if writer is not None:
            writer.close()
    return written


def read_rows(path: str | os.PathLike, columns: list[str] | None = None) -> pd.DataFrame:
    """The streamed table in the in-memory path's order and dtypes (``kind``/``error`` categorical)."""
    return RowFile(path).read(columns)
