"""Item 6 and 5 of issue 11: a fit reproduces its own fitted levels and says how stable it is (bootstrap);
``botcap sim replay`` feeds a bundle through the model until it drains; level statistics count only
requests sent in the window, with failures censored."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from botcap.sim.calibrate import calibrate
from botcap.sim.calibrate.bundles import Level
from botcap.sim.calibrate.predict import level_stats
from botcap.sim.calibrate.stability import resample
from botcap.sim.calibrate.stages import quietest


@pytest.fixture(scope="module")
def boot(ladder_bundle):
    return calibrate([ladder_bundle], holdout=[1, 3, 5], replications=2, seed=5, bootstrap_draws=8).report


def test_reference_fit_reproduces_its_own_fitted_levels(boot):
    # the synthetic staging bot behaves exactly like its scenario, so a fit must give its own fitted
    # levels back (the second ladder missed its own 2/s level by 50%): below the knee (0.5, 2/s)
    # within the held-out targets, p50/p95 10% (gaps under 5 ms aside) and throughput 5%; at the knee
    # (4/s: a command's p95 is 15 s there, in a queue behind the Claude kinds) within 20%
    fl = boot["fitted_levels_max_error"]
    assert fl["levels"] == 3 and fl["throughput"] < 0.05
    for lv in boot["levels"]:
        if lv["held_out"]:
            continue
        rel = 0.10 if lv["rate_per_s"] < 4 else 0.20
        for kind, k in lv["by_kind"].items():
            for key in ("p50_s", "p95_s"):
                m, p = k["measured"][key], k["predicted"][key]
                if k["counted"]:
                    assert abs(p - m) <= max(rel * m, 0.005), (lv["rate_per_s"], kind, key, m, p)


def test_webhook_sends_are_counted_once(boot):
    # the second ladder listed an empirical telegram.send_s beside a service_s that held the sends
    # already: the fit keeps only the bare round trip (a constant the fold took off before the model adds
    # it back), and a command's predicted mean below the knee is its measured one: the truth's 10 ms
    # send counted twice would put it ~40% high (35 ms for ~25 ms)
    fits = boot["fits"]
    assert "telegram.send_s" not in fits and fits["telegram.rtt_s"]["dist"] == "constant"
    assert fits["telegram.rtt_s"]["params"]["mean"] == pytest.approx(0.01, rel=0.05)
    for lv in boot["levels"]:
        if lv["rate_per_s"] <= 3:
            k = lv["by_kind"]["command"]
            m, p = k["measured"]["mean_s"], k["predicted"]["mean_s"]
            assert p == pytest.approx(m, rel=0.10), (lv["rate_per_s"], p, m)


def test_calibrate_prints_the_stability_it_saw(ladder_bundle, botcap):
    code, out, err = botcap("calibrate", str(ladder_bundle), "--holdout", "1,3,5", "--replications", "1",
                            "--bootstrap", "3")
    assert code == 0, err
    line = next(ln for ln in out.splitlines() if ln.startswith("stability"))
    assert line.startswith("stability (3 bootstrap draws): predicted p95 within +-"), line


def test_bootstrap_gives_intervals_around_the_fits_and_predictions(boot):
    st = boot["stability"]
    assert st["draws"] == 8
    mean_ci = st["fits"]["kinds.command.service_s"]["mean"]
    fitted = boot["fits"]["kinds.command.service_s"]["params"]["mean"]
    assert mean_ci[0] < mean_ci[1]
    assert mean_ci[0] <= fitted * 1.05 and fitted * 0.95 <= mean_ci[1]
    assert 0.004 * 0.85 < mean_ci[0] and mean_ci[1] < 0.004 * 1.15           # the truth's 4 ms, +-15%
    entries = [e for e in st["p95_s"] if e["kind"] == "command"]
    assert len(entries) == 6
    inside = [lo <= e["measured"] * 1.25 and e["measured"] * 0.75 <= hi
              for e in entries for lo, hi in [e["predicted_ci95"]]]
    assert sum(inside) >= 5
    assert 0 < st["max_p95_halfwidth"] < 1


def test_bootstrap_count_is_checked_before_any_work(ladder_bundle, botcap, tmp_path):
    for bad in ("-1", "201", "lots"):
        code, out, err = botcap("calibrate", str(ladder_bundle), "--bootstrap", bad, "--out",
                                str(tmp_path / "x.yaml"))
        assert code == 2 and "bootstrap" in err.lower() and not out
        assert not (tmp_path / "x.yaml").exists()


def test_resample_keeps_group_sizes_and_draws_with_replacement():
    df = pd.DataFrame({"kind": ["a"] * 50 + ["b"] * 10, "v": np.arange(60)})
    out = resample(df, ["kind"], np.random.default_rng(1))
    assert (out["kind"].value_counts() == df["kind"].value_counts()).all()
    assert out.loc[out["kind"] == "b", "v"].between(50, 59).all()
    assert out["v"].nunique() < 60                  # some rows twice: with replacement


def test_quietest_takes_whole_levels_from_the_lowest_rate_up():
    rows = pd.DataFrame({"kind": "c", "level_rate": np.repeat([1.0, 2.0, 8.0, 12.0], 100),
                         "below_knee": np.repeat([True, True, True, False], 100)})
    assert set(quietest(rows, 150)["level_rate"]) == {1.0, 2.0}
    assert set(quietest(rows, 100)["level_rate"]) == {1.0}
    assert set(quietest(rows, 10_000)["level_rate"]) == {1.0, 2.0, 8.0}      # never past the knee


def test_level_stats_count_only_the_window_and_censor_failures():
    lv = Level("b", 0, 10.0, start_s=100.0, duration_s=10.0, warmup_s=0.0)
    sent = np.array([95.0, 101, 102, 103, 104, 105, 106, 107, 108, 109, 109.5])
    lat = np.array([0.5, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1])
    ok = np.array([True] * 9 + [False, True])
    f = pd.DataFrame({"kind": "c", "sent": sent, "latency_s": lat, "ok": ok,
                      "replied": np.where(ok, sent + lat, np.nan)})
    s = level_stats(f, lv)
    # sent 95 (before the window) does not count though it is answered inside it; 109.5 is answered
    # after the window's end: sent in it, so in the percentiles, not in the throughput
    assert s["sent"] == 10 and s["unanswered"] == 1
    assert s["throughput_per_s"] == pytest.approx(8 / 10)
    assert s["p95_s"] == math.inf                    # 1 of 10 failed: the p95 is censored
    assert s["p50_s"] == pytest.approx(1.0)
    assert s["error_rate"] == pytest.approx(0.1)


def test_sim_replay_json_and_table(ladder_bundle, botcap):
    code, out, err = botcap("sim", "replay", str(ladder_bundle), "--replications", "2", "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["requests"] > 1000 and r["not_replayed"] == {} and r["blackbox"] is False
    assert len(r["levels"]) == 6
    for lv in r["levels"]:
        assert set(lv["by_kind"]) == {"command", "chat_simple", "chat_deep"}
        for k in lv["by_kind"].values():
            assert {"p50_s", "p95_s", "throughput_per_s", "error_rate", "unanswered"} <= set(k["predicted"])
        # the bundle's own scenario is its truth: the replay predicts it (every level, past the knee too)
        thr = lv["measured"]["throughput_per_s"]
        assert lv["predicted"]["throughput_per_s"] == pytest.approx(thr, rel=0.1)
        m, p = lv["measured"]["unanswered"], lv["predicted"]["unanswered"]   # failed without a reply
        assert abs(p - m) <= max(0.25 * m, 5)
    code, out, err = botcap("sim", "replay", str(ladder_bundle), "--replications", "1")
    assert code == 0 and "measured vs predicted" in out


def test_sim_replay_with_a_calibrated_scenario(ladder_bundle, tmp_path, botcap):
    out = tmp_path / "cal.yaml"
    calibrate([ladder_bundle], out=out, replications=1)
    code, text, err = botcap("sim", "replay", str(ladder_bundle), "--scenario", str(out), "--json",
                             "--replications", "1")
    assert code == 0, err
    r = json.loads(text)
    assert r["scenario"] == str(out)
    low = r["levels"][0]["by_kind"]["command"]
    assert low["predicted"]["p50_s"] == pytest.approx(low["measured"]["p50_s"], rel=0.15)


def test_sim_replay_refuses_garbage(ladder_bundle, tmp_path, botcap):
    cases = [
        (["sim", "replay", str(tmp_path / "nope")], "no such run folder"),
        (["sim", "replay", str(ladder_bundle), "--replications", "0"], "--replications: must be in 1..100"),
        (["sim", "replay", str(ladder_bundle), "--scenario", str(tmp_path / "none.yaml")], "no such file"),
    ]
    other = tmp_path / "other.yaml"
    other.write_text("workload:\n  mix: {x: 1.0}\n  kinds:\n    x: {service_s: 0.01}\n"
                     "slo:\n  p95_s: {x: 1.0}\n")
    cases.append((["sim", "replay", str(ladder_bundle), "--scenario", str(other)],
                  "none of the bundle's kinds"))
    notdir = tmp_path / "file"
    notdir.write_text("x")
    cases.append((["sim", "replay", str(notdir)], "no such run folder"))
    for args, message in cases:
        code, out, err = botcap(*args)
        assert code == 2, (args, err)
        assert message in err and "Traceback" not in err and not out, (args, err)


def test_replay_runs_until_the_backlog_drains():
    # one update at a time, ~0.1 s each: 2000 arrivals in 10 s leave ~200 s of backlog, more than the
    # first 120 s tail: the replay lengthens its horizon until every request is answered
    from pathlib import Path

    from botcap.sim.calibrate.replay import TAIL_S, simulate_trace

    from botcap.scenario import load_scenario

    sc = load_scenario(Path(__file__).parent / "blackbox_sync.yaml")
    trace = pd.DataFrame({"t_s": np.linspace(0, 10, 2000), "kind": "chat", "chat_id": np.arange(2000)})
    sim = simulate_trace(sc, trace, seed=1)
    assert len(sim) == 2000
    assert sim["done_s"].notna().all() and sim["ok"].all()
    assert sim["done_s"].max() > 10 + TAIL_S


def test_two_ladders_are_each_fitted_alone_and_replayed_by_the_others_fit(ladder_bundle, truth,
                                                                          tmp_path_factory, botcap):
    """Given two ladders, calibrate pools them for its fit and also fits each alone and replays the
    other through that fit (``stability.ladders``): the spread between runs that one run's bootstrap
    cannot see. Two synthetic ladders of one scenario differ only by their seeds: stage means within
    15% of each other, and each fit predicts the other ladder's throughput within 5% and p50 within
    10%."""
    from botcap.sim.calibrate.synthetic import write_synthetic_bundle

    levels = [(0.5, 120), (1, 120), (2, 120), (3, 120), (4, 120), (5, 120)]   # conftest's LADDER
    other = write_synthetic_bundle(truth, levels, tmp_path_factory.mktemp("syn") / "other", seed=8,
                                   warmup_s=20)
    lad = calibrate([ladder_bundle, other], replications=2, seed=1).report["stability"]["ladders"]
    assert lad["ladders"] == 2 and "why" not in lad
    assert {(c["fit"], c["replayed"]) for c in lad["cross"]} == {(str(ladder_bundle), str(other)),
                                                                 (str(other), str(ladder_bundle))}
    service = {k: v for k, v in lad["spread"].items() if k.endswith(".service_s")}
    assert len(service) >= 3 and max(service.values()) < 0.15, lad["spread"]
    assert all(set(v) == {str(ladder_bundle), str(other)} for v in lad["fits"].values())
    assert lad["max_cross_error"]["throughput"] < 0.05 and lad["max_cross_error"]["p50"] < 0.10, lad

    code, out, _ = botcap("calibrate", str(ladder_bundle), str(other), "--replications", "1")
    assert code == 0 and "stability (2 ladders, each fitted alone)" in " ".join(out.split())
    one = calibrate([ladder_bundle], replications=1).report["stability"]
    assert "ladders" not in one                       # one ladder: nothing to compare it with
