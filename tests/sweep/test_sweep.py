"""`sim sweep`: the numbers of a loop of `sim run`, on a real 2-worker Dask cluster, resumable.

The M/M/c scenario for half a simulated hour: each task is a fraction of a second.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from botcap.sim.runner import replication_seeds, run
from botcap.sim.space import grid_points, lhs_points, parse_grid, parse_ranges, resolve_points
from botcap.sim.summary import summarize
from botcap.sim.sweep import MARKER, flatten, run_sweep
from sweep_helpers import MMC, botcap

from botcap.cli import main
from botcap.errors import BadInput

HOURS = 0.5


def _sweep(mmc, out, executor, grid=("platform.instances=1,2",), reps=2, seed=7):
    points = grid_points(parse_grid(list(grid)))
    return run_sweep(points, resolve_points(mmc, points), replications=reps, seed=seed, hours=HOURS,
                     executor=executor, out=out)


def test_sweep_equals_a_loop_of_sim_run_with_the_same_seeds(mmc, cluster, tmp_path):
    result = _sweep(mmc, tmp_path / "sw", cluster)
    assert result.computed == 4 and result.reused == 0
    seeds = replication_seeds(7, 2)
    for point, instances in enumerate((1, 2)):
        sc = resolve_points(mmc, [{"platform.instances": instances}])[0]
        for r, seed in enumerate(seeds):
            expected = flatten(summarize(run(sc, seed=seed, replications=1, hours=HOURS)))
            got = result.results[(result.results.point == point) & (result.results.replication == r)]
            assert set(got.seed) == {seed}
            values = dict(zip(got.metric, got.value, strict=True))
            assert values.keys() == expected.keys()
            for metric, value in expected.items():
                assert values[metric] == value or (math.isnan(value) and math.isnan(values[metric])), metric
    # twice the servers at the same seeds: the p95 falls (rho 0.8 -> 0.4)
    p95 = result.ci95[result.ci95.metric == "latency_by_kind_s.work.p95"].set_index("point")["mean"]
    assert p95[1] < p95[0]


def test_sweep_writes_tidy_parquet_ci95_and_plots(mmc, cluster, tmp_path):
    out = tmp_path / "sw"
    result = _sweep(mmc, out, cluster)
    tidy = pd.read_parquet(out / "results.parquet")
    assert list(tidy.columns) == ["point", "replication", "seed", "metric", "value"]
    assert len(tidy) == len(result.results) and tidy.groupby(["point", "replication"]).ngroups == 4
    ci = pd.read_parquet(out / "ci95.parquet")
    row = ci[(ci.point == 0) & (ci.metric == "latency_s.p95")].iloc[0]
    vals = tidy[(tidy.point == 0) & (tidy.metric == "latency_s.p95")].value
    assert row["n"] == 2 and row["mean"] == pytest.approx(vals.mean()) and row["lo"] < row["mean"] < row["hi"]
    assert list(pd.read_parquet(out / "points.parquet")["platform.instances"]) == [1, 2]
    manifest = json.loads((out / MARKER).read_text())
    assert manifest["status"] == "done" and (out / "plots" / "platform.instances.png").stat().st_size > 0


def test_resumed_sweep_recomputes_nothing_and_an_interrupted_one_only_what_is_missing(mmc, cluster, tmp_path):
    out = tmp_path / "sw"
    first = _sweep(mmc, out, cluster)
    again = _sweep(mmc, out, executor=None)  # no cluster at all: everything must come from the cache
    assert (again.computed, again.reused) == (0, 4)
    pd.testing.assert_frame_equal(first.results, again.results)
    # an interruption after 3 of 4 tasks: the missing one is the only one recomputed
    victim = sorted((out / "cache").iterdir())[0]
    victim.unlink()
    resumed = _sweep(mmc, out, cluster)
    assert (resumed.computed, resumed.reused) == (1, 3)
    pd.testing.assert_frame_equal(first.results, resumed.results)
    # a widened grid computes only its new point
    wider = _sweep(mmc, out, cluster, grid=("platform.instances=1,2,3",))
    assert (wider.computed, wider.reused) == (2, 4)


def test_lhs_points_are_reproducible_latin_and_within_their_ranges():
    ranges = parse_ranges(["platform.instances=1..8", "workload.arrivals.rate_per_s=0.5..4"])
    a, b = lhs_points(16, ranges, seed=3), lhs_points(16, ranges, seed=3)
    assert a == b and a != lhs_points(16, ranges, seed=4)
    inst = [p["platform.instances"] for p in a]
    rate = sorted(p["workload.arrivals.rate_per_s"] for p in a)
    assert all(isinstance(v, int) and 1 <= v <= 8 for v in inst) and set(inst) == set(range(1, 9))
    # Latin: one point in each of the 16 equal strata of the float range
    assert [int((r - 0.5) / (3.5 / 16)) for r in rate] == list(range(16))


@pytest.mark.parametrize("grid, message", [
    (["platform.instances"], "--grid 'platform.instances': expected dotted.path=v1,v2"),
    (["platform.instances=1,1"], "values must be distinct"),
    (["platform.instances=1", "platform.instances=2"], "given twice"),
])
def test_bad_grids_are_named(grid, message):
    with pytest.raises(BadInput, match=message):
        parse_grid(grid)


def test_a_bad_value_at_any_point_is_reported_before_anything_runs(mmc):
    points = grid_points(parse_grid(["platform.instances=2,0,x"]))
    with pytest.raises(BadInput) as err:
        resolve_points(mmc, points)
    lines = err.value.lines
    assert len(lines) == 2 and lines[0].startswith("point 1 (platform.instances=0): platform.instances")
    assert lines[1].startswith("point 2 (platform.instances=x)")


@pytest.mark.parametrize("args, message", [
    (["--grid", "platform.instances=1,2", "--lhs", "3"], "--grid / --lhs"),
    (["--lhs", "3"], "--lhs: needs at least one --range"),
    (["--lhs", "0", "--range", "platform.instances=1..3"], "--lhs: must be in 1..100000"),
    (["--lhs", "3", "--range", "platform.instances=3..1"], "--range platform.instances: lo must be < hi"),
    (["--grid", "platform.nope=1,2"], "point 0 (platform.nope=1): "),
    (["--grid", "platform.instances=1,2", "--dask", "nowhere"], "--dask: must be a Dask scheduler address"),
    (["--grid", "platform.instances=1,2", "--replications", "0"], "--replications: must be in 1..1000"),
])
def test_cli_garbage_exits_2_with_one_line_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "new"
    code = main(["sim", "sweep", MMC, "--hours", "0.5", "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_refuses_a_folder_that_is_not_a_sweep_and_leaves_it_alone(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    code = main(["sim", "sweep", MMC, "--hours", "0.5", "--grid", "platform.instances=1,2", "--out",
                 str(tmp_path)])
    assert code == 2 and "is not empty and not a sweep folder" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_cli_sweep_runs_on_a_local_cluster(tmp_path):
    args = ["sim", "sweep", MMC, "--hours", "0.5", "--grid", "platform.handlers_per_instance=4,6",
            "--replications", "1", "--out", str(tmp_path / "sw"), "--json"]
    first = botcap(*args, "--workers", "2")
    assert first.returncode == 0, first.stderr
    doc = json.loads(first.stdout)
    assert (doc["tasks"], doc["computed"], doc["reused"]) == (2, 2, 0)
    assert doc["slo_met_share_by_point"] == {"0": 1.0, "1": 1.0}
    assert json.loads((tmp_path / "sw" / "sweep.json").read_text())["status"] == "done"


def test_ci95_table_gives_t_intervals_numbers_per_point_and_metric():
    from botcap.sim.metrics import t_interval
    from botcap.sim.sweep import ci95_table

    rng = np.random.default_rng(5)
    rows = [(p, r, m, float(rng.normal(10, 3))) for p in range(3) for r in range(4) for m in "abcd"]
    tidy = pd.DataFrame(rows, columns=["point", "replication", "metric", "value"])
    tidy.loc[tidy.metric == "b", "value"] = math.nan                       # no finite value: n 0, NaN
    tidy.loc[(tidy.metric == "c") & (tidy.replication > 0), "value"] = math.inf   # one finite: no interval
    tidy.loc[(tidy.metric == "d") & (tidy.replication == 0), "value"] = -math.inf  # three finite
    ci = ci95_table(tidy).set_index(["point", "metric"])
    assert len(ci) == 12
    for (p, m), g in tidy.groupby(["point", "metric"]):
        finite = [v for v in g.value if math.isfinite(v)]
        row = ci.loc[(p, m)]
        assert row["n"] == len(finite)
        expected = [float(np.mean(finite)) if finite else math.nan, *t_interval(finite)]
        for got, want in zip((row["mean"], row["lo"], row["hi"]), expected, strict=True):
            assert (math.isnan(got) and math.isnan(want)) or got == pytest.approx(want, rel=1e-12), (p, m)
