"""The measurement's pure parts: messages per kind and --mix, linking Claude calls to requests, windows
and throughput, the one-line verdict, and garbage on every new flag (exit 2, one line, nothing run)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from botcap.loadtest.harness.external import mark_windows, with_mix
from botcap.loadtest.harness.profiles import resolve
from botcap.loadtest.harness.timeline import join, match_check, verdict
from botcap.loadtest.users.messages import free_text, message_for, parse_mix
from pydantic import ValidationError

from botcap.cli import main
from botcap.errors import BadInput
from botcap.scenario import load_scenario
from botcap.scenario.model import KindMessage

# ------------------------------------------------------------------------------------ messages


def test_reference_kinds_send_the_reference_text_and_others_free_text():
    assert message_for("command", None, 3, "#rab12cd").text == "/notes #rab12cd"
    assert message_for("chat_deep", None, 3, "#rab12cd").text.startswith("/deep compare")
    other = message_for("ask", None, 3, "#rab12cd")
    assert other.type == "text" and not other.text.startswith("/") and other.text.endswith(" #rab12cd")
    spec = KindMessage(type="text", chars=120)
    assert len(message_for("ask", spec, 9, "#r00ff00").text) == 120 + len(" #r00ff00")
    press = message_for("menu", KindMessage(type="callback", text="page:2"), 1, "#r00ff00")
    assert (press.type, press.text) == ("callback", "page:2#r00ff00")
    command = message_for("x", KindMessage(type="command", text="/start {n}"), 7, "#r0a0b0c")
    assert command.text == "/start 7 #r0a0b0c"


@pytest.mark.parametrize("chars", [1, 5, 59, 60, 500, 4000])
def test_free_text_has_the_asked_length_and_is_never_a_command(chars):
    for n in range(5):
        text = free_text(chars, n)
        assert 1 <= len(text) <= chars and not text.startswith("/")
    assert len(free_text(chars, 1)) >= min(chars, 10) - 1


def test_kind_message_refuses_shapes_that_cannot_be_sent():
    with pytest.raises(ValidationError, match="must start with /"):
        KindMessage(type="command", text="notes")
    with pytest.raises(ValidationError, match="callback data"):
        KindMessage(type="callback")
    with pytest.raises(ValidationError, match="callback data"):
        KindMessage(type="callback", text="x" * 45)
    with pytest.raises(ValidationError):
        KindMessage(type="sticker")
    with pytest.raises(ValidationError):
        KindMessage(chars=0)


def test_parse_mix_normalises_and_reads_messages():
    shares, messages = parse_mix("chat=3:text 120, help=1:/help me,menu=0:callback m:1", {})
    assert shares == {"chat": 0.75, "help": 0.25}
    assert messages == {"chat": {"type": "text", "chars": 120},
                        "help": {"type": "command", "text": "/help me"},
                        "menu": {"type": "callback", "text": "m:1"}}
    assert parse_mix("a=1:hello there", {})[1] == {"a": {"type": "text", "text": "hello there"}}


@pytest.mark.parametrize("garbage, says", [
    ("", "at least one kind"), ("chat", "KIND=SHARE"), ("=1", "KIND=SHARE"),
    ("chat=x", "share must be a number"),
    ("chat=-1", "share must be >= 0"), ("chat=nan", "share must be >= 0"), ("chat=inf", "share must be >= 0"),
    ("chat=0", "at least one kind"), ("chat=1:text 0", "1..4000"), ("chat=1:text 99999", "1..4000"),
    ("chat=1:callback", "callback needs its data"),
    ("menu=1:callback " + "x" * 45, "callback data of 1..44 bytes"),
    ("chat=1:" + "y" * 4001, "at most 4000 characters"),
])
def test_parse_mix_garbage_names_the_entry(garbage, says):
    with pytest.raises(ValueError, match=says) as e:
        parse_mix(garbage, {})
    assert str(e.value).startswith("--mix:") and "\n" not in str(e.value)


def test_with_mix_adds_kinds_and_keeps_the_scenario_valid():
    base = load_scenario()
    s = with_mix(base, "chat=0.6:text 80,command=0.4,help=0:/help")
    assert dict(s.workload.mix) == {"chat": 0.6, "command": 0.4}
    assert s.workload.kinds["chat"].message.chars == 80 and s.workload.kinds["command"].message is None
    assert s.workload.kinds["chat"].model == base.workload.kinds["chat_simple"].model is not None
    assert "help" not in s.workload.kinds  # a share of 0 adds nothing
    s = with_mix(base, "start=1:/start")
    assert s.workload.kinds["start"].model == base.workload.kinds["command"].model
    with pytest.raises(BadInput, match="^--mix: 'chat=1:text 0'"):
        with_mix(load_scenario(), "chat=1:text 0")


# ------------------------------------------------------------------------------------ linking


def _requests() -> pd.DataFrame:
    return pd.DataFrame({
        "request_id": ["#ra1", "#ra2", "#ra3"], "chat_id": [1, 2, 3], "message_id": [1, 1, 1],
        "posted_at": [0.0, 0.0, 10.0], "completed_at": [5.0, 6.0, np.nan], "ok": [True, True, False],
        "error": [None, None, "timeout"], "kind": ["a", "a", "a"], "sent_at": [0.0, 0.0, 10.0]})


def _tlog() -> pd.DataFrame:
    rows = [(0.5, "take", 1, 1), (4.0, "take", 2, 1), (4.5, "take", 1, 1),  # a redelivery: the first counts
            (4.9, "send", 1, 2), (5.9, "send", 2, 2), (11.0, "take", 3, 1)]
    df = pd.DataFrame([{"at": at, "event": ev, "method": "m", "via": "getUpdates" if ev == "take" else None,
                        "update_id": None, "chat_id": c, "message_id": m, "text_len": None,
                        "http_status": 200, "done_at": at} for at, ev, c, m in rows])
    refused = {**df.iloc[3].to_dict(), "at": 4.85, "message_id": None, "http_status": 429}  # put no text
    return pd.concat([df, pd.DataFrame([refused])], ignore_index=True).sort_values("at", ignore_index=True)


def test_join_links_by_marker_then_by_the_one_request_open_at_the_call():
    req = _requests()
    calls = pd.DataFrame({
        "arrived_at": [1.0, 2.0, 4.2, 4.3, 12.0, 20.0], "ended_at": [1.5, 3.0, 4.8, 4.4, 13.0, 21.0],
        "marker": ["#ra1", "#ra1", None, "#rzz999", None, "#ra3"], "status": [529, 200, 200, 200, 200, 200],
        "request_id": [None] * 6, "link": ["none"] * 6})
    linking = join(req, _tlog(), calls, direct_webhook=False)
    assert list(req["taken_at"]) == [0.5, 4.0, 11.0]
    # 4.2 falls inside requests 1 and 2: chat 1 is written 0.1 s after the call ends, chat 2 only 1.1 s
    # after (chat_time -> request 1); 4.3 carries a marker of another run (none); 12.0 falls inside request 3
    # alone (still open)
    assert list(calls["link"]) == ["marker", "marker", "chat_time", "none", "chat_time", "marker"]
    assert linking == {"marker": 3, "chat_time": 2, "none": 1}
    assert [r if isinstance(r, str) else None for r in calls["request_id"]] == [
        "#ra1", "#ra1", "#ra1", None, "#ra3", "#ra3"]
    assert list(req["claude_attempts"]) == [3, 0, 2] and list(req["claude_calls"]) == [2, 0, 2]
    assert req.loc[0, "claude_s"] == pytest.approx(2.1) and req.loc[0, "first_claude_at"] == 1.0
    assert req.loc[0, "last_claude_end_at"] == 4.8 and np.isnan(req.loc[1, "first_claude_at"])


def test_chat_time_refuses_a_close_call():
    req = _requests()
    tlog = _tlog()
    # chat 1 is written 0.05 s after the call ends (a refused send), chat 2 0.08 s after: too close to tell
    tlog.loc[(tlog["chat_id"] == 2) & (tlog["event"] == "send"), "at"] = 4.88
    calls = pd.DataFrame({"arrived_at": [4.2], "ended_at": [4.8], "marker": [None], "status": [200],
                          "request_id": [None], "link": ["none"]})
    assert join(req, tlog, calls, direct_webhook=False) == {"marker": 0, "chat_time": 0, "none": 1}


def test_join_with_direct_webhook_takes_the_post_time_and_without_calls_links_nothing():
    req = _requests()
    assert join(req, None, None, direct_webhook=True) == {"marker": 0, "chat_time": 0, "none": 0}
    assert list(req["taken_at"]) == [0.0, 0.0, 10.0] and (req["claude_calls"] == 0).all()


def test_verdict_lines():
    req = _requests()
    check = match_check(req, _tlog(), "next_message", direct_webhook=False)
    assert check == {"requests": 3, "takes_seen": 4, "sends_seen": 2, "matched": 2,
                     "reply_match": "next_message"}
    assert verdict(check, req, 0.5) is None
    assert verdict(check, req, 0.1) == (
        "1 of 3 requests failed (> --max-error-rate 0.1): 2 sends seen, 2 matched; mostly timeout "
        "(raise --reply-timeout, or the bot is saturated)")
    none = req.assign(ok=False, error="timeout")
    assert verdict({**check, "matched": 0, "reply_match": "reply_to"}, none, 0.5) == (
        "3 of 3 requests failed (> --max-error-rate 0.5): 2 sends seen, 0 matched: "
        "try --reply-match next_message")
    assert verdict({**check, "matched": 0, "takes_seen": 0}, none, 0.5, " (hint)").endswith(
        "the bot took none of the 3 updates (hint)")
    assert "put no text" in verdict({**check, "matched": 0, "sends_seen": 0}, none, 0.5)
    assert verdict({**check, "requests": 0}, none.iloc[:0], 0.5).startswith("no request was sent")


def test_windows_count_only_replies_inside_the_level():
    p = resolve("ci", arrivals="1@10,2@10")
    req = pd.DataFrame({"level": [0, 0, 1, 1], "sent_at": [100.0, 109.0, 111.0, 119.5],
                        "schedule_start_at": [100.0] * 4, "completed_at": [101.0, 112.0, 113.0, np.nan],
                        "ok": [True, True, True, False]})
    mark_windows(p, req)
    assert list(req["window_start_at"]) == [100.0, 100.0, 110.0, 110.0]
    assert list(req["window_end_at"]) == [110.0, 110.0, 120.0, 120.0]
    assert list(req["in_window"]) == [True, False, True, False]


# ------------------------------------------------------------------------------------ flags


@pytest.mark.parametrize("flags, line", [
    (["--reply-match", "nope"], "--reply-match: must be one of next_message, reply_to, stream (got 'nope')"),
    (["--reply-timeout", "0"], "--reply-timeout: must be > 0 and <= 3600 seconds (got 0.0)"),
    (["--reply-timeout", "nan"], "--reply-timeout: must be > 0 and <= 3600 seconds (got nan)"),
    (["--max-error-rate", "1.5"], "--max-error-rate: must be between 0 and 1 (got 1.5)"),
    (["--stream-quiet", "-1"], "--stream-quiet: must be > 0 and <= 60 seconds (got -1.0)"),
    (["--mix", "chat"], "--mix: 'chat' is not KIND=SHARE[:MESSAGE] (e.g. 'chat=1:text 80')"),
    (["--arrivals", "fast"], "--arrivals: arrival schedule: 'fast' is not RATE@SECONDS or R0-R1@SECONDS "
                             "(e.g. '10@60' or '2-20@120')"),
    (["--arrivals", "0@5"], "--arrivals: the schedule brings no arrival (got '0@5')"),
    (["--arrivals", "1@5", "--rate", "2"],
     "--arrivals: give the schedule alone (not with --rate or --duration)"),
    (["--warmup", "-3"], "--warmup: must be between 0 and 3600 seconds (got -3.0)"),
    (["--bot-pid", "999999999"], "--bot-pid: no process 999999999 on this machine"),
])
def test_garbage_flags_exit_2_with_one_line_and_write_nothing(tmp_path, capsys, flags, line):
    out = tmp_path / "run"
    code = main(["loadtest", "run", "--out", str(out), *flags])   # refused before any stack starts
    assert code == 2
    assert capsys.readouterr().err.strip().splitlines() == [line]
    assert not out.exists()
