"""Black-box calibration on synthetic bundles: the fakes' view of a bot that behaves exactly like a known
scenario (``synthetic_blackbox``). The structure read from the timelines must be the scenario's (its
limits), and the calibrated model must predict the held-out levels.

Three structures, one per fixture-bot shape of issue 11: a synchronous Claude client in async handlers
(one update at a time, polling), a webhook bot whose limit is a DB pool of 2 with no Claude call,
and a streaming bot (placeholder, then edits) behind a Claude semaphore of 4 and 100 handler slots.
Tolerances: p50/p95 per kind 10% (held out), throughput 5%; the pool bot's p95 at 20% (its held-out
30/s level runs the pool at ~80%: a p95 there moves ~15% between seeds of the truth itself).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from botcap.sim.calibrate import calibrate
from botcap.sim.calibrate.structure import infer_structure
from botcap.sim.calibrate.synthetic_blackbox import write_blackbox_bundle

from botcap.errors import BadInput
from botcap.scenario import load_scenario

HERE = Path(__file__).parent


def _bundle(tmp_path_factory, name: str, ladder, **kw) -> Path:
    truth = load_scenario(HERE / f"blackbox_{name}.yaml")
    out = tmp_path_factory.mktemp("bb") / name
    return write_blackbox_bundle(truth, ladder, out, seed=3, warmup_s=5, **kw)


@pytest.fixture(scope="module")
def sync_bundle(tmp_path_factory):
    return _bundle(tmp_path_factory, "sync", [(2, 40), (4, 40), (6, 40), (8, 40), (12, 40)])


@pytest.fixture(scope="module")
def pool_bundle(tmp_path_factory):
    return _bundle(tmp_path_factory, "pool", [(5, 30), (10, 30), (20, 30), (30, 30), (45, 30)])


@pytest.fixture(scope="module")
def stream_bundle(tmp_path_factory):
    return _bundle(tmp_path_factory, "stream", [(2, 30), (5, 30), (8, 30), (11, 30), (16, 30)],
                   stream_kinds=("ask",))


def _held(report: dict) -> list[dict]:
    return [lv for lv in report["levels"] if lv["held_out"]]


def _close(pred: float, meas: float, rel: float, abs_s: float = 0.005) -> bool:
    return abs(pred - meas) <= max(rel * abs(meas), abs_s)


def test_sync_bot_is_one_update_at_a_time_and_predicted(sync_bundle):
    r = calibrate([sync_bundle], replications=2).report
    s = r["structure"]
    assert s["mode"]["value"] == "polling"
    assert s["loop_blocked_by_claude"]["blocked"] and s["loop_blocked_by_claude"]["sends_inside_calls"] == 0
    assert s["updates_in_flight"]["limit"] == 1 and s["claude_in_flight"]["limit"] == 1
    assert s["saturated"] and s["levels"][-1]["past_knee"] and not s["levels"][0]["past_knee"]
    for lv in _held(r):
        assert _close(lv["predicted"]["throughput_per_s"], lv["measured"]["throughput_per_s"], 0.05)
        for k in lv["by_kind"].values():
            assert _close(k["predicted"]["p50_s"], k["measured"]["p50_s"], 0.10)
            assert _close(k["predicted"]["p95_s"], k["measured"]["p95_s"], 0.10)
    assumed = {a["key"] for a in r["assumed"]}
    assert {"platform.instances", "platform.network_rtt_s.telegram", "platform.cpu_cores_per_instance",
            "platform.claude.retry", "workload.kinds.*.db_queries"} <= assumed


def test_pool_bot_limit_is_read_from_the_knee(pool_bundle):
    r = calibrate([pool_bundle], replications=2).report
    s = r["structure"]
    assert s["mode"]["value"] == "webhook"
    assert s["work_outside_claude"]["limit"] == 2          # the pool of 2
    assert s["claude_in_flight"]["limit"] is None and s["updates_in_flight"]["limit"] is None
    assert "platform.claude.concurrency_per_instance" in {a["key"] for a in r["assumed"]}
    for lv in _held(r):
        assert _close(lv["predicted"]["throughput_per_s"], lv["measured"]["throughput_per_s"], 0.05)
        k = lv["by_kind"]["echo"]
        assert _close(k["predicted"]["p50_s"], k["measured"]["p50_s"], 0.10)
        assert _close(k["predicted"]["p95_s"], k["measured"]["p95_s"], 0.20)
    assert r["fits"]["kinds.echo.service_s"]["params"]["mean"] == pytest.approx(0.052 + 0.001, rel=0.15)


def test_a_knee_where_the_fake_refused_sends_is_telegrams_not_a_work_limit(pool_bundle, tmp_path):
    # the same timelines, but the fake answered some sends with 429: the knee is (also) Telegram's
    # bot-wide send limit, which the model has; reading a work limit there would count it twice
    import shutil

    from botcap.sim.calibrate.bundles import read_bundle

    copy = Path(shutil.copytree(pool_bundle, tmp_path / "refused"))
    run = json.loads((copy / "run.json").read_text())
    (copy / "run.json").write_text(json.dumps({**run, "telegram_stats": {"http_429_count": 7}}))
    work = infer_structure(read_bundle(copy))["work_outside_claude"]
    assert work["limit"] is None and not work["seen"]
    assert "Telegram's send limit: the fake refused 7 sends with 429" in work["why"]
    assert infer_structure(read_bundle(pool_bundle))["work_outside_claude"]["limit"] == 2


def test_streaming_bot_first_answer_and_completion_are_predicted(stream_bundle, tmp_path):
    out = tmp_path / "stream.yaml"
    result = calibrate([stream_bundle], replications=2, out=out)
    r = result.report
    s = r["structure"]
    assert s["claude_in_flight"]["limit"] == 4 and s["updates_in_flight"]["limit"] == 100
    assert result.scenario.platform.claude.concurrency_per_instance == 4
    assert result.scenario.platform.handlers_per_instance == 100
    for lv in r["levels"]:   # fitted and held out: both answers, every level, past the knee too
        k = lv["by_kind"]["ask"]
        for key in ("p50_s", "p95_s", "first_p50_s", "first_p95_s"):
            assert _close(k["predicted"][key], k["measured"][key], 0.10), (lv["rate_per_s"], key)
        assert _close(lv["predicted"]["throughput_per_s"], lv["measured"]["throughput_per_s"], 0.05)
    assert math.isfinite(r["max_holdout_error"]["first_p95"])
    text = out.read_text()
    assert "assumed platform.instances = 1" in text and "claude_time_scale" in text
    # the tokens/s and ttft of the streamed calls: the truth's (1000 tokens/s, ttft 0.1 s)
    tps = r["fits"]["claude.haiku.output_tokens_per_s"]["params"]["tokens_per_s"]
    assert tps == pytest.approx(1000, rel=0.02)
    assert r["fits"]["claude.haiku.ttft_s"]["params"]["mean"] == pytest.approx(0.1, rel=0.1)


def test_a_fit_reproduces_its_own_fitted_levels(sync_bundle, stream_bundle):
    for bundle in (sync_bundle, stream_bundle):
        r = calibrate([bundle], replications=2).report
        for lv in r["levels"]:
            if lv["held_out"]:
                continue
            for k in lv["by_kind"].values():
                # the 2/s levels have 60-80 requests, whose p95 moves ~+-15% between seeds of the truth:
                # within 10%, or inside the measurement's own bootstrap interval, or (< 100) 15%
                lo, hi = k["measured_ci95"]["p95_s"]
                pred, meas = k["predicted"]["p95_s"], k["measured"]["p95_s"]
                rel = 0.15 if k["measured"]["n"] < 100 else 0.10
                assert _close(pred, meas, rel) or lo <= pred <= hi, (lv["rate_per_s"], pred, meas)
            assert _close(lv["predicted"]["throughput_per_s"], lv["measured"]["throughput_per_s"], 0.05)


def test_uncalibratable_bundles_exit_2_with_the_reason(stream_bundle, tmp_path, botcap):
    single = tmp_path / "single"
    write_blackbox_bundle(load_scenario(HERE / "blackbox_stream.yaml"), [(4, 30)], single, seed=1)
    code, out, err = botcap("calibrate", str(single))
    assert code == 2 and "a single load level (4/s)" in err and "Traceback" not in err and not out

    unlinked = tmp_path / "unlinked"
    _copy(stream_bundle, unlinked)
    calls = pd.read_parquet(unlinked / "claude_calls.parquet")
    calls.assign(request_id=None, link="none").to_parquet(unlinked / "claude_calls.parquet")
    code, _, err = botcap("calibrate", str(unlinked))
    assert code == 2 and "none linked to a request" in err

    no_log = tmp_path / "nolog"
    _copy(stream_bundle, no_log)
    (no_log / "telegram_log.parquet").unlink()
    code, _, err = botcap("calibrate", str(no_log), "--out", str(tmp_path / "x.yaml"))
    assert code == 2 and "telegram_log.parquet: missing" in err and not (tmp_path / "x.yaml").exists()

    silent = tmp_path / "silent"
    _copy(stream_bundle, silent)
    req = pd.read_parquet(silent / "requests.parquet")
    req.assign(ok=False).to_parquet(silent / "requests.parquet")
    code, _, err = botcap("calibrate", str(silent))
    assert code == 2 and "no request was answered" in err

    old = tmp_path / "old"
    _copy(stream_bundle, old)
    req = pd.read_parquet(old / "requests.parquet")
    req.drop(columns=["taken_at"]).to_parquet(old / "requests.parquet")
    code, _, err = botcap("calibrate", str(old))
    assert code == 2 and "missing black-box columns taken_at" in err


def test_calibrate_json_lists_structure_and_assumptions(sync_bundle, botcap):
    code, out, err = botcap("calibrate", str(sync_bundle), "--replications", "1", "--bootstrap", "3",
                            "--json")
    assert code == 0, err
    r = json.loads(out)
    assert r["blackbox"] is True
    assert r["structure"]["updates_in_flight"]["limit"] == 1
    assert all({"key", "value", "why"} <= set(a) for a in r["assumed"])
    assert r["stability"]["draws"] == 3 and "kinds.chat.service_s" in r["stability"]["fits"]
    for lv in r["levels"]:
        assert {"sent", "unanswered"} <= set(lv["measured"])


def test_structure_of_an_unsaturated_ladder_says_no_limit_was_seen(tmp_path):
    truth = load_scenario(HERE / "blackbox_stream.yaml")
    b = write_blackbox_bundle(truth, [(1, 30), (2, 30)], tmp_path / "low", seed=2)
    from botcap.sim.calibrate.bundles import read_bundle

    s = infer_structure(read_bundle(b))
    assert not s["saturated"]
    assert s["claude_in_flight"]["limit"] is None and s["work_outside_claude"]["limit"] is None


def _copy(src: Path, dst: Path) -> None:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())


@pytest.mark.parametrize("cpu_per_update_s", [0.012, 0.002, 0.001])   # shifted, scaled, unchanged
def test_the_bots_measured_cpu_makes_its_event_loop_one_core(tmp_path, cpu_per_update_s):
    """No limit seen (the stream bot without its semaphore): with the bot's process CPU in run.json the
    loop becomes one core busy for that CPU per update on average (its ceiling 1 / CPU); more CPU than
    the time outside Claude is the Claude kind's (the stream's chunks and edits), less is the loop held
    only for its part; far less (time outside Claude mostly waiting) changes nothing."""
    from botcap.sim.calibrate.blackbox import fit_blackbox
    from botcap.sim.calibrate.bundles import read_bundle

    truth = load_scenario(HERE / "blackbox_stream.yaml", ["platform.claude.concurrency_per_instance=10000"])
    plain = write_blackbox_bundle(truth, [(2, 20), (5, 15), (8, 15)], tmp_path / "b", seed=3,
                                  stream_kinds=("ask",))
    n = len(pd.read_parquet(plain / "requests.parquet"))
    run = json.loads((plain / "run.json").read_text())
    before = fit_blackbox([read_bundle(plain)], read_bundle(plain).levels, truth)
    wall_s = before.fits["kinds.ask.service_s"].dist.mean   # ~2.5 ms
    assert before.patch["platform"]["cpu_cores_per_instance"] == 1024   # nothing seen, nothing measured
    (plain / "run.json").write_text(json.dumps({**run, "bot_cpu_s": n * cpu_per_update_s}))
    b = read_bundle(plain)
    fits = fit_blackbox([b], b.levels, truth)
    mean = fits.fits["kinds.ask.service_s"].dist.mean
    if cpu_per_update_s / wall_s >= 0.5:
        assert fits.patch["platform"]["cpu_cores_per_instance"] == 1
        assert mean == pytest.approx(cpu_per_update_s, rel=1e-6)
        assert fits.patch["workload"]["kinds"]["ask"]["service_s"]["mean"] == pytest.approx(mean)
        assert not any(a["key"] == "platform.cpu_cores_per_instance" for a in fits.assumed)
        assert any(note.startswith("platform.cpu_cores_per_instance = 1: bot CPU") for note in fits.notes)
    else:
        assert fits.patch["platform"]["cpu_cores_per_instance"] == 1024 and mean == wall_s
        assert any("mostly waiting" in note for note in fits.notes)


def test_the_loop_charge_reads_only_the_fitted_levels_cpu(tmp_path):
    """With per-level CPU in run.json (``levels[i].bot_cpu_s``) the loop's charge is the fitted levels'
    CPU per update taken in them: a held-out level's CPU (here ten times as much per update) is never
    read; without per-level figures the whole run's is used and the note says so."""
    from botcap.sim.calibrate.blackbox import fit_blackbox
    from botcap.sim.calibrate.bundles import read_bundle

    truth = load_scenario(HERE / "blackbox_stream.yaml", ["platform.claude.concurrency_per_instance=10000"])
    plain = write_blackbox_bundle(truth, [(2, 20), (5, 15), (8, 15)], tmp_path / "b", seed=3,
                                  stream_kinds=("ask",))
    req = pd.read_parquet(plain / "requests.parquet")
    per_level = req.groupby("level").size()
    run = json.loads((plain / "run.json").read_text())
    each = {0: 0.012, 1: 0.12, 2: 0.012}          # level 1 is held out
    for lv in run["levels"]:
        lv["bot_cpu_s"] = float(per_level[lv["level"]] * each[lv["level"]])
    run["bot_cpu_s"] = sum(lv["bot_cpu_s"] for lv in run["levels"])
    (plain / "run.json").write_text(json.dumps(run))
    b = read_bundle(plain)
    fitted = [lv for lv in b.levels if lv.index != 1]
    fits = fit_blackbox([b], fitted, truth)
    assert fits.patch["platform"]["cpu_cores_per_instance"] == 1
    assert fits.fits["kinds.ask.service_s"].dist.mean == pytest.approx(0.012, rel=1e-6)
    assert any("updates of its fitted levels" in note for note in fits.notes)

    for lv in run["levels"]:                      # valid numbers each, but no CPU time when added up
        lv["bot_cpu_s"] = 1e308
    (plain / "run.json").write_text(json.dumps(run))
    b = read_bundle(plain)
    with pytest.raises(BadInput, match=r"levels\.\*\.bot_cpu_s: must be CPU seconds"):
        fit_blackbox([b], b.levels, truth)

    for lv in run["levels"]:                      # an older bundle: one figure for the whole run
        del lv["bot_cpu_s"]
    (plain / "run.json").write_text(json.dumps(run))
    b = read_bundle(plain)
    fits = fit_blackbox([b], [lv for lv in b.levels if lv.index != 1], truth)
    whole = run["bot_cpu_s"] / len(req)
    assert fits.fits["kinds.ask.service_s"].dist.mean == pytest.approx(whole, rel=1e-6)
    assert any("the whole run (no per-level CPU" in note for note in fits.notes)


def test_levels_measured_on_a_full_machine_are_named(tmp_path):
    """``levels[].host_busy_cores`` and ``other_work_cores`` come from run.json; a level with 90% of the
    machine's cores busy gets a note (its timings include waits for a core, which the model of the bot
    does not have), one beside over 0.25 cores of other work another; an unrecorded level is null and
    says nothing."""
    truth = load_scenario(HERE / "blackbox_stream.yaml", ["platform.claude.concurrency_per_instance=10000"])
    plain = write_blackbox_bundle(truth, [(2, 20), (5, 15), (8, 15)], tmp_path / "b", seed=3,
                                  stream_kinds=("ask",))
    run = json.loads((plain / "run.json").read_text())
    run["cpu"] = {"cores": 2}
    for lv, busy, other in zip(run["levels"], (0.4, 1.85, None), (0.6, 0.1, None), strict=True):
        if busy is not None:
            lv["host_busy_cores"], lv["other_work_cores"] = busy, other
    (plain / "run.json").write_text(json.dumps(run))
    r = calibrate([plain], replications=1).report
    assert [lv["host_busy_cores"] for lv in r["levels"]] == [0.4, 1.85, None]
    assert [lv["other_work_cores"] for lv in r["levels"]] == [0.6, 0.1, None]
    busy_notes = [n for n in r["notes"] if "cores busy" in n]
    assert len(busy_notes) == 1 and "at 5/s: the machine was 1.85 of its 2 cores busy" in busy_notes[0]
    other_notes = [n for n in r["notes"] if "other work" in n]
    assert len(other_notes) == 1 and "at 2/s: other work (no process of the run) took 0.60 cores" in \
        other_notes[0]
