"""python-telegram-bot, long polling, the synchronous ``anthropic`` client inside its async handler
(tests/fixtures/bots/ptb_sync_claude.py), measured and calibrated black box (issue 11).

One ladder for the module (``ptb``): 5 levels, one past the knee (the bot answers one update at a
time: its ceiling is one Claude call after another, ~3.6/s with the fake Claude API at x0.1 of its
latency), 12-16 s each (12-56 requests). (At x0.05 the ceiling doubles and each level would need half
the time, but the bot's own ~15-50 ms between a reply and its next call, stretched by a loaded host,
then weighs twice as much: one such ladder missed its knee by 14% before ``_held_excess``.) The
held-out tolerance is the issue's 10%, or the measured percentile's own bootstrap 95% interval
(``check_held_out``). The measurement tests read the same bundle; the side runs (a forgotten token,
jokes linked by chat and time) use the same fakes and bot.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest
from blackbox_helpers import check_held_out, held_out_checked, ladder, run_ladder, token_for

pytestmark = [pytest.mark.services, pytest.mark.slow]

ARRIVALS = "1@12,2@16,2.5@12,3@14,7@6"
HOLDOUT = [2, 3]


@pytest.fixture(scope="module")
def ptb(tmp_path_factory):
    with ladder(tmp_path_factory.mktemp("ptb"), "ptb_sync_claude", arrivals=ARRIVALS,
                mix="chat=1:text 60") as lad:
        yield lad


def _frames(out):
    return (pd.read_parquet(out / "requests.parquet"), pd.read_parquet(out / "telegram_log.parquet"),
            pd.read_parquet(out / "claude_calls.parquet"))


def _max_overlap(starts, ends) -> int:
    """Most intervals open at once (a +1 at each start, -1 at each end, ends first at ties)."""
    events = sorted([(e, -1) for e in ends] + [(s, 1) for s in starts])
    level = peak = 0
    for _, step in events:
        level += step
        peak = max(peak, level)
    return peak


def test_every_request_is_matched_by_next_message_and_its_call_linked_by_marker(ptb):
    """reply_text() in a private chat quotes nothing: matched by next_message; every Claude call linked
    by its marker; never two calls at once (the blocking client); throughput counts only replies inside
    each level's window; below the knee every request answered."""
    req, tlog, calls = _frames(ptb.run.out)
    run = ptb.run.run
    assert (req["reply_match"] == "next_message").all()
    assert (req.loc[req["ok"], "reply_method"] == "sendMessage").all()
    ok = req[req["ok"]]
    assert (ok["taken_at"] >= ok["posted_at"]).all() and (ok["taken_at"] <= ok["completed_at"]).all()
    takes = tlog[tlog["event"] == "take"]
    assert set(takes["via"]) == {"getUpdates"}
    linked = calls[calls["request_id"].notna()]
    assert (linked["link"] == "marker").all() and set(linked["request_id"]) <= set(req["request_id"])
    assert (ok["claude_calls"] == 1).all() and (ok["claude_attempts"] == 1).all()
    assert (ok["first_claude_at"] >= ok["taken_at"]).all()
    assert (ok["last_claude_end_at"] <= ok["completed_at"]).all()
    assert _max_overlap(calls["arrived_at"], calls["ended_at"]) == 1
    assert run["target"] == "external" and run["profile"] is None
    assert run["known"]["delivery"] == "polling" and run["claude_time_scale"] == pytest.approx(0.1)
    assert run["bot_cpu_s"] > 0
    # the bot's CPU per level adds up to the run's (the locust start-up before the first level aside),
    # and more updates take more of it: past the knee the bot works flat out, below it idles in between
    per_level = [lv["bot_cpu_s"] for lv in run["levels"]]
    assert sum(per_level) == pytest.approx(run["bot_cpu_s"], rel=0.05, abs=0.1)
    taken = req[req["taken_at"].notna()].groupby("level").size()
    cpu_per_s = [lv["bot_cpu_s"] / lv["duration_s"] for lv in run["levels"]]
    assert cpu_per_s[0] < cpu_per_s[-1] and taken[0] < taken[len(per_level) - 1]
    assert all(0 < lv["host_busy_cores"] <= run["cpu"]["cores"] for lv in run["levels"])
    for level in run["levels"]:   # throughput counts only what was answered inside the window
        assert level["answered_in_window"] + level["late"] + level["unanswered"] == level["sent"]
        assert level["throughput_per_s"] == pytest.approx(level["answered_in_window"] / level["duration_s"])
    assert run["levels"][0]["unanswered"] == 0 and run["levels"][0]["answered_in_window"] > 0


def test_a_fixed_prompt_is_linked_by_chat_and_time_and_a_forgotten_token_is_refused(ptb):
    """A "joke" prompt carries no marker: linked by the chat the bot wrote to right after the call;
    a forgotten --bot-token is refused with one line."""
    f, b = ptb.fakes, ptb.bot
    r = run_ladder(ptb.tmp / "jokes", f, b, arrivals="3@3", mix="chat=0.5:text 60,joke=0.5:joke please")
    assert r.code == 0, r.stderr[-2000:]
    req, _, calls = _frames(r.out)
    assert len(req) == 9 and req["ok"].all()
    by_kind = calls.merge(req[["request_id", "kind"]], on="request_id").groupby("kind")["link"]
    assert set(by_kind.get_group("chat")) == {"marker"} and set(by_kind.get_group("joke")) == {"chat_time"}
    jokes = int((req["kind"] == "joke").sum())
    assert r.run["linking"] == {"marker": 9 - jokes, "chat_time": jokes, "none": 0}

    forgot = run_ladder(ptb.tmp / "forgot", f, None, arrivals="2@2", token=token_for(123))
    assert forgot.code == 2
    assert forgot.stderr.strip().splitlines() == [
        f"--bot-token: nobody polls bot 123 at {f.telegram_url}, but bot 777001 does: pass that bot's "
        "token (--bot-token 777001:…)"]


def test_calibrate_ptb_sync_bot(ptb, capsys, botcap_in_process):
    """One Claude call at a time (the synchronous client blocks the loop): handlers 1, Claude 1.

    Asserted (``check_held_out`` through ``held_out_checked``): at 2/s and 3/s (~85% of the bot's
    one-call-at-a-time capacity) throughput within 5%, p50 and p95 within 10% or intervals that overlap.
    Quiet machine (other work 0.01 cores), two ladders: every held-out figure within 1.5%
    (measured/predicted: 2/s p50 0.299/0.301 s, p95 0.730/0.736; 3/s p50 0.439/0.442, p95 0.767/0.777);
    a third beside two busy loops (other work 1.96 cores) within 2%. The misses of earlier sessions (3/s p95
    -12..+27%) came while other test suites shared the machine (load 7-11): such a ladder is measured
    again, and fails as "machine too busy" if it still is, never as a verdict.
    """
    r, _ = held_out_checked(ptb, "ptb_sync_claude", HOLDOUT, check_held_out, capsys)
    s = r["structure"]
    assert s["mode"]["value"] == "polling"
    assert s["updates_in_flight"]["limit"] == 1 and s["claude_in_flight"]["limit"] == 1
    assert s["levels"][-1]["past_knee"] and not s["levels"][0]["past_knee"]

    single = ptb.tmp / "single"   # a bundle that cannot be calibrated: one level
    shutil.copytree(ptb.run.out, single)
    doc = json.loads((single / "run.json").read_text())
    doc["levels"] = doc["levels"][:1]
    (single / "run.json").write_text(json.dumps(doc))
    code, out, err = botcap_in_process("calibrate", str(single))
    assert code == 2 and "a single load level" in err and not out

