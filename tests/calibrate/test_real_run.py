"""A real, short calibration run: staging stack + Locust ladder (3 levels, 52 s) -> botcap calibrate.

About 1.3 minutes per ladder (stack start, 52 s of load, last replies, calibration); two ladders
(item 6 of issue 11: a second ladder gives the same fit). It checks the whole path
on real bundles: every kind and stage is fitted from the bot's own timings, the held-out middle level
is predicted, the calibrated scenario is written (the fitted 4/s and 10/s levels: ~40 updates of each
of the rarest kinds, 15% of the mix, over the 30 a fit needs). The first test does not assert the
accuracy targets on its one held-out level (14-22 s holds give ~10-50 requests per kind per level, too
few for a 10% p95 alone); the second asserts them on a whole second ladder, with the measured
interval as the fallback for the rarest kinds.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from botcap.loadtest.harness.profiles import PROFILES
from botcap.loadtest.harness.run import RunOptions, run_load
from botcap.sim.calibrate import calibrate
from botcap.sim.calibrate.predict import OTHER_WORK_CORES
from botcap.sim.calibrate.replay_bundle import replay_bundle

pytestmark = pytest.mark.services


def _ladder(tmp_path_factory, seed: int):
    profile = replace(PROFILES["calibration"], arrivals="4@16,6@14,10@22", claude_time_scale=0.1, warmup_s=2,
                      reply_timeout_s=30)
    out = tmp_path_factory.mktemp("real") / "bundle"
    run = run_load(RunOptions(profile=profile, out=out, live=False, seed=seed))
    assert run["complete"], run.get("reason")
    return out


@pytest.fixture(scope="module")
def real_bundle(tmp_path_factory):
    return _ladder(tmp_path_factory, 11)


def test_real_bundle_calibrates_and_predicts_the_held_out_level(real_bundle, tmp_path):
    out = tmp_path / "calibrated.yaml"
    result = calibrate([real_bundle], holdout=[6], out=out, replications=2, seed=1)
    r = result.report
    for kind in ("command", "note", "chat_simple", "chat_deep"):
        assert f"kinds.{kind}.service_s" in r["fits"]
    for stage in ("db.query_s", "claude.haiku.ttft_s", "claude.sonnet.ttft_s", "mcp.latency_s"):
        assert stage in r["fits"]
    # the fake MCP sleeps the scenario's lognormal(0.3 s, cv 0.5): the fit sees it through the bot
    assert r["fits"]["mcp.latency_s"]["params"]["mean"] == pytest.approx(0.3, rel=0.25)
    held = [lv for lv in r["levels"] if lv["held_out"]]
    assert [lv["rate_per_s"] for lv in held] == [6]
    assert held[0]["error"]["throughput"] < 0.10         # below the knee: replies/s = arrivals/s
    assert 0 < held[0]["predicted"]["p95_s"] < 30
    assert result.scenario.calibration.runs == [str(real_bundle)]
    assert out.read_text().startswith("# Calibrated by")


def _overlap(a, b) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]


def _predicts(rep: dict) -> list[str]:
    """Per level and kind of a replay: p50, and p95 where at least 20 requests make one (below that it is
    their largest: one slow note of 28 ms among 12), within 10% (gaps under 5 ms aside) or the measured
    bootstrap 95% interval overlapping the model's band; throughput within 5%. Returns what passed on
    the intervals; asserts the rest."""
    fallback = []
    for lv in rep["levels"]:
        m_thr, p_thr = lv["measured"]["throughput_per_s"], lv["predicted"]["throughput_per_s"]
        assert abs(p_thr - m_thr) <= 0.05 * m_thr, (lv["rate_per_s"], m_thr, p_thr)
        for kind, k in lv["by_kind"].items():
            for key in ("p50_s", "p95_s") if k["measured"]["n"] >= 20 else ("p50_s",):
                m, p = k["measured"][key], k["predicted"][key]
                if abs(p - m) <= max(0.10 * m, 0.005):
                    continue
                assert _overlap(k["measured_ci95"][key], k["band95"][key]), \
                    (lv["rate_per_s"], kind, key, m, p)
                fallback.append(f"{lv['rate_per_s']:g}/s {kind} {key} {p:.4f} for {m:.4f}")
    return fallback


def test_a_second_ladder_on_the_same_code_gives_the_same_fit(real_bundle, tmp_path_factory, tmp_path,
                                                             capsys):
    """Issue 11, item 6: two calibration ladders of the reference bot on the same code and machine gave
    a command p95 of 19 ms and then 33 ms for the same 15 ms measured, the second fit carrying an extra
    ``telegram.send_s``. Here a second ladder (same profile, another seed) must give the same stages,
    and each fit must predict the *other* ladder, every level of it held out, within the held-out
    targets (p50/p95 10% or 5 ms, else overlapping intervals; throughput 5%), and its own fitted
    levels' throughput within 5%. Each stage's mean must lie inside the other's bootstrap interval
    (``--bootstrap 40``) or within 25% or 1.5 ms of it: the bootstrap resamples one run's requests and
    is narrower than the spread between runs (six quiet ladders, seeds 11-16: 9 of ~150 stage pairs had
    intervals apart, e.g. the simple chat's service 7.97 and 9.24 ms, a note's 2.04 and 3.08 ms, the
    Telegram round trip 0.77 and 0.97 ms), while a doubled send puts a command's mean ~40% high.

    Six quiet ladders, 30 cross-predictions: 550 of 550 level/kind percentiles within 10% or 5 ms,
    throughput within 1.5%. A miss beside other work (run.json ``cpu.other_work_cores`` over 0.25
    cores) measures the busier ladder again; still busy, the test fails as "machine too busy", never
    as a verdict."""
    bundles = [real_bundle, _ladder(tmp_path_factory, 12)]
    for attempt in (1, 2):
        try:
            _same_fit(*bundles, tmp_path / f"try{attempt}", capsys)
            return
        except AssertionError:
            other = [_other_work(b) for b in bundles]
            if max(other) <= BUSY_OTHERS_CORES:
                raise
            if attempt == 2:
                pytest.fail(f"machine too busy: other work took {max(other):.2f} cores during a ladder "
                            f"measured again (over {BUSY_OTHERS_CORES}): no verdict on the fits")
            busiest = other.index(max(other))
            with capsys.disabled():
                print(f"\n  (missed beside {other[busiest]:.2f} cores of other work: measuring that ladder "
                      "again)")
            bundles[busiest] = _ladder(tmp_path_factory, 13)


BUSY_OTHERS_CORES = OTHER_WORK_CORES   # another job's CPU during a ladder (calibrate notes it past this)


def _other_work(bundle) -> float:
    return float(json.loads((bundle / "run.json").read_text())["cpu"]["other_work_cores"])


def _same_fit(first, second, tmp: Path, capsys) -> None:
    """The assertions of the test above on two ladders."""
    tmp.mkdir()
    fits = {}
    reports = {}
    for name, bundle in (("a", first), ("b", second)):
        fits[name] = tmp / f"{name}.yaml"
        reports[name] = calibrate([bundle], holdout=[6], out=fits[name], replications=2, seed=1,
                                  bootstrap_draws=40).report
    a, b = reports["a"], reports["b"]
    assert set(a["fits"]) == set(b["fits"])
    for name in a["fits"]:
        ma, mb = a["fits"][name]["params"].get("mean"), b["fits"][name]["params"].get("mean")
        ia, ib = (r["stability"]["fits"].get(name, {}).get("mean") for r in (a, b))
        if ma is None or ia is None or ib is None:
            continue
        assert _overlap(ia, ib) or abs(ma - mb) <= max(0.25 * max(ma, mb), 0.0015), (name, ma, ia, mb, ib)
    fallback = []
    for bundle, fit in ((first, fits["b"]), (second, fits["a"])):
        fallback += _predicts(replay_bundle(bundle, scenario_file=fit, replications=10, seed=1))
    with capsys.disabled():
        print("".join(f"\n  (interval) {x}" for x in fallback))
    for r in (a, b):
        assert r["fitted_levels_max_error"]["throughput"] < 0.05, r["fitted_levels_max_error"]
    # calibrate given both ladders reports the same comparison itself (stability.ladders)
    lad = calibrate([first, second], replications=2, seed=1).report["stability"]["ladders"]
    assert len(lad["cross"]) == 2 and lad["max_cross_error"]["throughput"] < 0.05, lad["max_cross_error"]
    assert set(lad["fits"]) == set(a["fits"]) - {k for k, f in a["fits"].items() if "mean" not in f["params"]}
