"""Rows streamed to parquet during the run (botcap.sim.rowstream) give the very results of the in-memory path.

Why: a 1M-DAU day only fits in memory when finished requests leave it while the run goes on; the
optimised path is only worth having if it changes nothing, so every test here compares it with the
plain path on the same seed: the same rows in the same order and dtypes, the same counters, the same
summary (JSON text, so NaN == NaN), and few requests left in memory after each flush.
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from botcap.sim import engine, rowstream, summary_rows
from botcap.sim.engine import simulate
from botcap.sim.record import FIELDS
from botcap.sim.runner import Replication, SimResult, run
from botcap.sim.summary import SUMMARY_COLUMNS, summarize

from botcap.errors import BadInput
from botcap.scenario import load_scenario


def _summary(sc, raw, *, from_file: bool = False) -> str:
    """The run's summary: of its table in memory, or ``from_file`` of its streamed file as
    ``botcap.sim.runner`` builds a streamed replication (the table itself never read back)."""
    if from_file:
        rep = Replication(0, 7, None, raw.simulated_s, raw.warmup_s, raw.counters, raw.timeseries,
                          rows_file=raw.rows_file)
    else:
        keep = raw.requests["arrival_s"] >= raw.warmup_s
        rep = Replication(0, 7, raw.requests[keep].reset_index(drop=True), raw.simulated_s, raw.warmup_s,
                          raw.counters, raw.timeseries)
    out = json.dumps(summarize(SimResult(sc, 7, [rep])), sort_keys=True, default=str)
    if from_file:
        assert rep._requests is None  # summarised from the file's columns, not from a read-back table
    return out


@pytest.fixture
def reads(monkeypatch) -> list[list[str]]:
    """The columns of each read of a streamed file (``RowFile.read``)."""
    seen: list[list[str]] = []
    real = rowstream.RowFile.read

    def spy(self, columns=None, keep=None):
        seen.append(list(FIELDS) if columns is None else list(columns))
        return real(self, columns, keep)

    monkeypatch.setattr(rowstream.RowFile, "read", spy)
    return seen


# 09:40-11:40 at 10K DAU: the 10:00 digest rush on every instance (lock queries, duplicates' books),
# user sessions and requests still in flight at the end (marked unfinished)
RUSH = ["workload.dau=5000", "horizon.start=09:40"]


@pytest.mark.parametrize("overrides, flush_every_s", [
    (RUSH, 600.0),
    (RUSH, 30.0),  # a flush every 30 simulated s: many requests finish at or just after a flush instant
    (["workload.dau=3000", "horizon.start=17:50", "platform.mode=polling"], 60.0),
    (["workload.dau=8000", "horizon.start=09:55", "scheduler.lock=none", "platform.instances=3"], 300.0),
])
def test_streamed_rows_counters_and_summary_equal_the_in_memory_run(tmp_path, monkeypatch, reads, overrides,
                                                                     flush_every_s):
    sc = load_scenario(None, overrides)
    plain = simulate(sc, 7, hours=1)
    monkeypatch.setattr(engine, "FLUSH_EVERY_S", flush_every_s)
    path = tmp_path / "rows.parquet"
    streamed = simulate(sc, 7, hours=1, rows_to=path)
    # the summary straight from the file equals the in-memory one, and reads at most 9 columns at a time
    assert _summary(sc, streamed, from_file=True) == _summary(sc, plain)
    assert reads and max(len(c) for c in reads) <= len(summary_rows.DIGEST_COLUMNS) < len(FIELDS) / 3
    assert len(plain.requests) > 1000
    pd.testing.assert_frame_equal(plain.requests, streamed.requests)  # order, values and dtypes
    assert plain.counters == streamed.counters
    pd.testing.assert_frame_equal(plain.timeseries, streamed.timeseries)
    assert _summary(sc, plain) == _summary(sc, streamed)
    # the file holds every row once, with its position in the in-memory table
    file = pq.read_table(path)
    assert file.num_rows == len(plain.requests)
    assert sorted(file.column(rowstream.SEQ).to_pylist()) == list(range(len(plain.requests)))
    assert set(file.column_names) == set(FIELDS) | {rowstream.SEQ}
    # the summary's columns alone give the same summary (what a 1M-DAU day reads back)
    few = simulate(sc, 7, hours=1, rows_to=tmp_path / "few.parquet", row_columns=SUMMARY_COLUMNS)
    assert list(few.requests.columns) == SUMMARY_COLUMNS
    assert _summary(sc, few) == _summary(sc, plain)
    assert not few.rows_file.samefile(path)


def test_only_requests_in_flight_stay_in_memory(tmp_path, monkeypatch):
    """After each flush the list holds the unfinished requests only: a small share of a 3-hour run's rows,
    and none of them done before the flush instant."""
    left: list[int] = []
    real_flush = rowstream.RowStream.flush

    def spy(self, requests, now, everything=False):
        real_flush(self, requests, now, everything)
        if not everything:
            assert all(not r.done_s < now for r in requests)
            left.append(len(requests))

    monkeypatch.setattr(rowstream.RowStream, "flush", spy)
    sc = load_scenario(None, ["workload.dau=5000", "horizon.start=17:00"])
    raw = simulate(sc, 3, hours=3, rows_to=tmp_path / "rows.parquet")
    assert len(left) == 3 * 3600 // 600 - 1  # one per simulated 10 minutes before the end
    assert max(left) < 0.05 * len(raw.requests), (max(left), len(raw.requests))


def test_a_run_without_rows_writes_a_valid_empty_file(tmp_path):
    sc = load_scenario(None, ["workload.dau=1", "workload.digests.subscribers_share=0"])
    raw = simulate(sc, 1, hours=0.5, rows_to=tmp_path / "rows.parquet")
    plain = simulate(sc, 1, hours=0.5)
    assert len(plain.requests) == len(raw.requests)
    assert pq.read_table(tmp_path / "rows.parquet").num_rows == len(raw.requests)
    assert _summary(sc, raw, from_file=True) == _summary(sc, plain)


def test_runner_streams_each_replication_with_the_same_result(tmp_path):
    sc = load_scenario(None, ["workload.dau=2000", "horizon.start=09:50"])
    plain = run(sc, seed=5, replications=2, hours=0.5)
    streamed = run(sc, seed=5, replications=2, hours=0.5, rows_dir=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["requests-0.parquet", "requests-1.parquet"]
    # summarised from the files (pooled and per replication for ci95), the tables never read back
    assert json.dumps(summarize(plain), sort_keys=True, default=str) == \
        json.dumps(summarize(streamed), sort_keys=True, default=str)
    assert all(r._requests is None for r in streamed.replications)
    pd.testing.assert_frame_equal(plain.requests, streamed.requests)  # read back when asked for


@pytest.mark.parametrize("make, words", [
    (lambda p: p / "missing", "must be an existing folder"),
    (lambda p: (p / "file.txt").write_text("mine") and p / "file.txt", "must be an existing folder"),
    (lambda p: (p / "requests-1.parquet").write_text("mine") and p, "already holds requests-1.parquet"),
])
def test_runner_refuses_a_rows_dir_it_cannot_use_before_running(tmp_path, make, words):
    sc = load_scenario(None, ["workload.dau=2000"])
    target = make(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    with pytest.raises(BadInput, match=words):
        run(sc, seed=5, replications=2, hours=0.5, rows_dir=target)
    assert sorted(tmp_path.rglob("*")) == before  # nothing written, nothing of the user's touched
    for f in tmp_path.iterdir():
        if f.is_file():
            assert f.read_text() == "mine"


def test_the_run_gc_threshold_changes_no_result_and_is_restored(monkeypatch):
    """``engine.GC_YOUNG_THRESHOLD`` (fewer young collections during a run: 1M DAU) is for speed only: the
    same rows, counters and time series as with CPython's default threshold, which is back afterwards."""
    import gc

    before = gc.get_threshold()
    sc = load_scenario(None, ["workload.dau=3000", "horizon.start=09:50"])
    fast = simulate(sc, 3, hours=0.5)
    assert gc.get_threshold() == before
    monkeypatch.setattr(engine, "GC_YOUNG_THRESHOLD", before[0])
    plain = simulate(sc, 3, hours=0.5)
    assert len(plain.requests) > 500
    pd.testing.assert_frame_equal(plain.requests, fast.requests)
    assert plain.counters == fast.counters
    pd.testing.assert_frame_equal(plain.timeseries, fast.timeseries)
