"""Joining generator requests to the bot's stage rows, folding the time outside the handler into the
service time, and replaying measured answer lengths through the model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from botcap.sim.calibrate.bundles import read_bundles
from botcap.sim.calibrate.join import joined, outside_handler_s
from botcap.sim.calibrate.replay import simulate_trace
from botcap.sim.calibrate.stages import fit_stages, stage_rows


def test_join_matches_the_kth_update_of_a_chat_and_computes_the_time_outside_the_handler():
    requests = pd.DataFrame({"kind": ["command", "note", "command"], "chat_id": [7, 7, 8],
                             "sent_at": [100.0, 110.0, 100.5], "posted_at": [100.001, 110.001, 100.501],
                             "replied_at": [100.020, 110.050, np.nan]})
    # stage rows in another order; chat 7's second update started later than its first
    stages = pd.DataFrame({"chat_id": [7, 8, 7], "kind": ["note", "command", "command"],
                           "started_at_unix_s": [110.004, 100.504, 100.005],
                           "handler_s": [0.040, 0.010, 0.012],
                           "handler_wait_s": [0.001, 0.0, 0.0], "claude_output_tokens": [0, 0, 0],
                           "ok": [True, True, True]})
    j = joined(requests, stages)
    assert j["st_index"].tolist() == [2, 0, 1]
    assert j["st_handler_s"].tolist() == [0.012, 0.040, 0.010]
    out = outside_handler_s(j)
    assert out[0] == pytest.approx(0.019 - 0.012)
    assert out[1] == pytest.approx(0.049 - 0.001 - 0.040)
    assert np.isnan(out[2])                                     # no reply: nothing to say


def test_replayed_answer_lengths_are_the_ones_each_request_gets(truth):
    # a quiet trace (one request every 30 s): Claude calls start in arrival order
    n = 40
    rng = np.random.default_rng(5)
    kinds = np.where(np.arange(n) % 2 == 0, "chat_simple", "chat_deep")
    tokens = rng.integers(50, 900, n).astype(float)
    trace = pd.DataFrame({"t_s": np.arange(n) * 30.0, "kind": kinds, "chat_id": np.arange(n) + 10,
                          "output_tokens": tokens})
    sim = simulate_trace(truth, trace, seed=2)
    got = sim["claude_output_tokens"].to_numpy(dtype=float)
    want = tokens[sim["trace_row"].to_numpy()]
    assert np.array_equal(got, want)                           # all under max_tokens
    # and without them the model draws its own (the same trace, different lengths)
    drawn = simulate_trace(truth, trace.drop(columns=["output_tokens"]), seed=2)
    assert not np.array_equal(drawn["claude_output_tokens"].to_numpy(dtype=float), want)


def test_webhook_service_time_takes_in_the_time_outside_the_handler(ladder_bundle, truth, tmp_path):
    # the synthetic bot is the model: outside the handler = webhook half RTT, the reply = one RTT, so the
    # fold gives back the true CPU time; a bot slower outside its handler gets a larger service time
    b = read_bundles([ladder_bundle])[0]
    low = [lv for lv in b.levels if lv.rate_per_s <= 1]
    fits = fit_stages(stage_rows([b], low), truth)
    assert fits.fits["kinds.command.service_s"].dist.mean == pytest.approx(0.004, rel=0.1)
    assert any("time outside the handler" in n for n in fits.notes)
    slow = b.requests.assign(replied_at=b.requests["replied_at"] + 0.003)   # 3 ms more on the way out
    b.requests = slow
    fits_slow = fit_stages(stage_rows([b], low), truth)
    assert fits_slow.fits["kinds.command.service_s"].dist.mean == pytest.approx(0.007, rel=0.1)


def test_levels_past_the_knee_are_told_apart(ladder_bundle):
    # the synthetic platform answers at most ~3 requests/s: at 4 and 5/s its replies per second fall
    # short of the arrival rate by more than 10% (3.1 and 2.9/s); at 3/s it still keeps up (2.8/s)
    from botcap.sim.calibrate.predict import measured_frame
    from botcap.sim.calibrate.stage_rows import _below_knee

    b = read_bundles([ladder_bundle])[0]
    assert [_below_knee(measured_frame(b), lv) for lv in b.levels] == [True, True, True, True, False, False]


def test_a_run_at_a_claude_time_scale_writes_the_real_api_speed(ladder_bundle, tmp_path):
    # the fake Claude ran 4x faster: the replay checks the x0.25 fits, the written scenario is at x1
    import json
    import shutil

    from botcap.sim.calibrate import calibrate

    fast = tmp_path / "fast"
    shutil.copytree(ladder_bundle, fast)
    run = json.loads((fast / "run.json").read_text())
    run["claude_time_scale"] = 0.25
    (fast / "run.json").write_text(json.dumps(run))
    base = calibrate([ladder_bundle], holdout=[1], replications=1)
    scaled = calibrate([fast], holdout=[1], replications=1)
    for model in ("haiku", "sonnet"):
        b, s = (r.scenario.platform.claude.models[model] for r in (base, scaled))
        assert s.output_tokens_per_s == pytest.approx(b.output_tokens_per_s * 0.25)
        assert s.ttft_s.mean == pytest.approx(b.ttft_s.mean / 0.25, rel=1e-9)
    assert scaled.scenario.calibration.claude_time_scale == 0.25
    assert any("x0.25" in n for n in scaled.report["notes"])
    # the held-out check itself ran on the fitted (fast) values: same errors as the unscaled run
    assert scaled.report["max_holdout_error"] == base.report["max_holdout_error"]


def test_per_query_samples_keep_the_spread_of_a_kinds_query_sums(truth):
    # chat_deep runs 4 queries: per-update sums / 4 are means of 4; their spread is scaled back by 2
    from botcap.sim.calibrate.stage_db import _single_query_samples

    rng = np.random.default_rng(3)
    sums = 0.004 + rng.uniform(-0.001, 0.001, 2000)
    good = pd.DataFrame({"kind": "chat_deep", "db_query_s": sums})
    one = _single_query_samples(good, truth)
    assert one.mean() == pytest.approx((sums / 4).mean(), rel=1e-9)
    assert one.std() == pytest.approx((sums / 4).std() * 2, rel=1e-9)


def test_the_bots_cpu_beyond_the_fitted_stages_is_charged_to_the_claude_kinds(ladder_bundle, truth):
    from botcap.sim.calibrate.stages import charge_unmodelled_cpu

    b = read_bundles([ladder_bundle])[0]
    low = [lv for lv in b.levels if lv.rate_per_s <= 1]
    plain = fit_stages(stage_rows([b], low), truth)
    charge_unmodelled_cpu(plain, [b], truth)               # synthetic: no process CPU -> as fitted
    assert not any("process CPU" in n for n in plain.notes)
    fits = fit_stages(stage_rows([b], low), truth)
    means = {k: fits.fits[f"kinds.{k}.service_s"].dist.mean for k in ("command", "chat_simple", "chat_deep")}
    counts = b.stages["kind"].value_counts()
    modelled = sum(counts[k] * m for k, m in means.items())
    calls = int((b.stages["claude_call_s"] > 0).sum())
    b.run["cpu"] = {"processes": {"bot-1": {"cpu_s": modelled + calls * 0.006}, "locust": {"cpu_s": 99.0}}}
    charge_unmodelled_cpu(fits, [b], truth)
    after = {k: fits.fits[f"kinds.{k}.service_s"].dist.mean for k in means}
    assert after["command"] == means["command"]                                 # no Claude call
    for k in ("chat_simple", "chat_deep"):
        assert after[k] == pytest.approx(means[k] + 0.006, rel=1e-6)
        written = fits.patch["workload"]["kinds"][k]["service_s"]
        assert written == fits.fits[f"kinds.{k}.service_s"].scenario_value()
