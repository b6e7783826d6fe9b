"""``botcap sim run --out`` streams its rows and writes the same files as from the table in memory.

Why: ``--out`` of a 1M-DAU day must not hold the day's 10M-row table, and a user must not be able to
tell: requests.parquet (rows, order, dtypes, pandas metadata), timeseries.parquet, summary.json and the
plots are compared with those written from the in-memory run of the same seed, with row groups small
enough that a chunk spans several of the streamed file's groups.
"""

from __future__ import annotations

import json

import pandas as pd
import pyarrow.parquet as pq
import pytest
from botcap.sim import rowstream
from botcap.sim import runner as runner_module
from botcap.sim.outdir import rows_folder, write_out_dir
from botcap.sim.runner import run
from botcap.sim.summary import summarize

from botcap.scenario import load_scenario

FILES = ("requests.parquet", "timeseries.parquet", "summary.json", "latency_cdf.png", "queues.png",
         "digests_per_minute.png")


@pytest.mark.parametrize("overrides, replications", [
    (["workload.dau=1000", "horizon.start=09:50"], 2),   # the 10:00 digests, two replications pooled
    (["workload.dau=3000", "horizon.start=17:50", "scheduler.lock=none"], 1),
])
def test_out_of_a_streamed_run_holds_the_same_files(tmp_path, monkeypatch, overrides, replications):
    monkeypatch.setattr(rowstream, "CHUNK_ROWS", 150)  # many chunks, each over several row groups
    monkeypatch.setattr(rowstream, "FLUSH_EVERY_S", 120.0)
    sc = load_scenario(None, overrides)
    plain = run(sc, seed=5, replications=replications, hours=0.5)
    write_out_dir(plain, summarize(plain), tmp_path / "plain")
    with rows_folder(tmp_path / "streamed") as rows_dir:
        streamed = run(sc, seed=5, replications=replications, hours=0.5, rows_dir=rows_dir)
        write_out_dir(streamed, summarize(streamed), tmp_path / "streamed")
        assert all(r._requests is None for r in streamed.replications)  # never read back whole
    assert not rows_dir.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plain", "streamed"]  # nothing left beside
    a, b = tmp_path / "plain", tmp_path / "streamed"
    rows = pd.read_parquet(b / "requests.parquet")
    assert len(rows) > 400 and pq.ParquetFile(b / "requests.parquet").num_row_groups > 2
    pd.testing.assert_frame_equal(pd.read_parquet(a / "requests.parquet"), rows)
    assert pq.read_schema(a / "requests.parquet").equals(pq.read_schema(b / "requests.parquet"),
                                                         check_metadata=True)
    assert json.loads((a / "summary.json").read_text()) == json.loads((b / "summary.json").read_text())
    for name in FILES[1:]:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_sim_run_out_streams_through_a_folder_it_removes(tmp_path, monkeypatch):
    """The CLI's --out: the run streams to a folder beside DIR, gone afterwards; the rows in
    requests.parquet are those the summary counts (users) plus the digest sends."""
    from typer.testing import CliRunner

    from botcap.cli import app

    folders = []
    real = runner_module.run

    def spy(*args, **kwargs):
        folders.append(kwargs.get("rows_dir"))
        assert kwargs["rows_dir"].is_dir() and kwargs["rows_dir"].parent == tmp_path / "res"
        return real(*args, **kwargs)

    monkeypatch.setattr(runner_module, "run", spy)
    out = tmp_path / "res" / "day"
    r = CliRunner().invoke(app, ["sim", "run", "--set", "workload.dau=300", "--hours", "0.25", "--out",
                                 str(out), "--json"])
    assert r.exit_code == 0, r.output
    assert len(folders) == 1 and not folders[0].exists()
    assert [p.name for p in (tmp_path / "res").iterdir()] == ["day"]
    rows = pd.read_parquet(out / "requests.parquet")
    summary = json.loads((out / "summary.json").read_text())
    assert len(rows) == summary["requests"]["arrived"] + int(rows["is_digest"].sum())
