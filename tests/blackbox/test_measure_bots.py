"""Black-box measurement of three bots botcap did not shape (tests/fixtures/bots), end to end.

Real processes throughout: the fake Telegram and Claude APIs, the bot (python-telegram-bot, aiogram on
aiohttp with asyncpg, plain aiohttp + anthropic streaming), Locust. Each run is bounded (a schedule
of a few seconds at the fake Claude's time scale 0.1) and asserts what the issue asks: every request
answered and matched under the default reply-match, the fake-side timeline's structure (takes, Claude
calls linked by marker, a stream's first answer before its completion), and the one-line failures.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import pandas as pd
import pytest
from blackbox_helpers import bot, fakes, run_ladder, token_for
from botcap.loadtest.harness.locust_procs import free_port

pytestmark = pytest.mark.services


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


def test_ptb_sync_bot_free_text_polling(tmp_path):
    """python-telegram-bot, long polling, reply_text() without a quote, the synchronous anthropic client:
    every request matched by next_message, every Claude call linked by its marker, never two calls at
    once (the blocking client), and a forgotten --bot-token refused with one line."""
    with fakes(tmp_path) as f, bot("ptb_sync_claude", f, tmp_path) as b:
        r = run_ladder(tmp_path / "run", f, b, arrivals="2@4,4@4",
                       mix="chat=0.75:text 60,joke=0.25:joke please")
        assert r.code == 0, r.stderr[-2000:]
        req, tlog, calls = _frames(r.out)
        assert len(req) == 24 and req["ok"].all(), req[["ok", "error"]].value_counts()
        assert (req["reply_match"] == "next_message").all() and (req["reply_method"] == "sendMessage").all()
        assert (req["taken_at"] >= req["posted_at"]).all() and (req["taken_at"] <= req["completed_at"]).all()
        takes = tlog[tlog["event"] == "take"]
        assert set(takes["via"]) == {"getUpdates"} and len(takes) >= len(req)
        assert len(calls) == len(req) and set(calls["request_id"]) == set(req["request_id"])
        # the fixed prompt carries no marker: linked by the chat the bot wrote to right after the call
        by_kind = calls.merge(req[["request_id", "kind"]], on="request_id").groupby("kind")["link"]
        assert set(by_kind.get_group("chat")) == {"marker"}
        assert set(by_kind.get_group("joke")) == {"chat_time"}
        assert (req["claude_calls"] == 1).all() and (req["claude_attempts"] == 1).all()
        assert (req["first_claude_at"] >= req["taken_at"]).all()
        assert (req["last_claude_end_at"] <= req["completed_at"]).all()
        assert _max_overlap(calls["arrived_at"], calls["ended_at"]) == 1
        run = r.run
        assert run["target"] == "external" and run["profile"] is None
        assert run["known"]["delivery"] == "polling" and run["claude_time_scale"] == pytest.approx(0.1)
        jokes = int((req["kind"] == "joke").sum())
        assert 0 < jokes < 24 and run["linking"] == {"marker": 24 - jokes, "chat_time": jokes, "none": 0}
        assert run["bot_cpu_s"] > 0 and sum(run["unanswered"].values()) == 0
        for level in run["levels"]:  # throughput counts only what was answered inside the window
            assert level["answered_in_window"] + level["late"] + level["unanswered"] == level["sent"]
            assert level["throughput_per_s"] == pytest.approx(level["answered_in_window"] / 4)

        forgot = run_ladder(tmp_path / "forgot", f, None, arrivals="2@2", token=token_for(123))
        assert forgot.code == 2
        assert forgot.stderr.strip().splitlines() == [
            f"--bot-token: nobody polls bot 123 at {f.telegram_url}, but bot 777001 does: pass that bot's "
            "token (--bot-token 777001:…)"]


def test_aiogram_webhook_bot_public_url_rewritten(tmp_path):
    """aiogram's webhook pattern (setWebhook at start with a public https URL, as echo_bot_webhook.py):
    the fake accepts it and delivers to the loopback rewrite; message.answer() (no reply_to) is matched
    by next_message; the takes carry the webhook's answer; reply_to mode fails with the one line."""
    port = free_port()
    with fakes(tmp_path, webhook_rewrite=f"http://127.0.0.1:{port}") as f, \
            bot("aiogram_webhook_answer", f, tmp_path, port=port,
                env={"BOT_WEBHOOK_BASE": "https://bot.example.com"}) as b:
        r = run_ladder(tmp_path / "run", f, b, arrivals="5@4",
                       mix="chat=0.7:text 40,count=0.3:/count")
        assert r.code == 0, r.stderr[-2000:]
        req, tlog, calls = _frames(r.out)
        assert len(req) == 20 and req["ok"].all()
        takes = tlog[tlog["event"] == "take"]
        assert set(takes["via"]) == {"webhook"} and (takes["http_status"] == 200).all()
        assert (takes["done_at"] >= takes["at"]).all()
        chat, count = req[req["kind"] == "chat"], req[req["kind"] == "count"]
        assert len(chat) and len(count)
        assert (chat["claude_calls"] == 1).all() and (count["claude_attempts"] == 0).all()
        assert (calls["link"] == "marker").all()
        assert r.run["known"]["delivery"] == "webhook"
        assert r.run["known"]["webhook_url"] == "https://bot.example.com/tg/hook"

        wrong = run_ladder(tmp_path / "wrong", f, b, arrivals="3@2", mix="chat=1:text 40",
                           extra=["--reply-match", "reply_to", "--reply-timeout", "1.5"])
        assert wrong.code == 1
        assert wrong.stderr.strip() == ("6 of 6 requests failed (> --max-error-rate 0.5): 6 sends seen, 0 "
                                        "matched: try --reply-match next_message")
        assert wrong.run["complete"] is True and wrong.run["unanswered"] == {"0": 6}


def test_streaming_bot_first_answer_and_completion(tmp_path):
    """A plain-HTTP bot that edits a placeholder as tokens stream: with --reply-match stream the first
    visible text (the placeholder) comes before completion (the last edit); the stream's calls are
    linked by marker with their first byte inside the call. The quiet period (1 s) must exceed the
    bot's longest pause between edits, here ~30 tokens at the fake's x0.1 speed, even on a busy machine."""
    with fakes(tmp_path) as f, bot("streaming_edit", f, tmp_path) as b:
        r = run_ladder(tmp_path / "run", f, b, arrivals="4@4", mix="ask=1:text 80",
                       extra=["--reply-match", "stream", "--stream-quiet", "1"])
        assert r.code == 0, r.stderr[-2000:]
        req, tlog, calls = _frames(r.out)
        assert len(req) == 16 and req["ok"].all()
        assert (req["first_reply_at"] < req["completed_at"]).all()
        assert (req["reply_method"] == "sendMessage").all()
        assert (req["first_claude_at"] > req["first_reply_at"]).all()  # the placeholder comes first
        assert (req["completed_at"] > req["first_claude_at"]).all()
        edits = tlog[tlog["event"] == "edit"]
        assert len(edits) >= 2 * len(req)
        # the answer's full text is what was last edited in
        last_edit = edits.groupby(edits["chat_id"].astype("int64"))["text_len"].last()
        assert (last_edit.reindex(req["chat_id"]).to_numpy() == req["reply_len"].to_numpy()).all()
        assert calls["stream"].all() and (calls["link"] == "marker").all()
        assert (calls["arrived_at"] < calls["first_byte_at"]).all()
        assert (calls["first_byte_at"] < calls["ended_at"]).all()
        assert r.run["reply_match"] == "stream" and r.run["stream_quiet_s"] == 1.0

        # closed workload: users chat on in their own chats, one request in flight per chat at a time
        closed = run_ladder(tmp_path / "closed", f, b, arrivals=None, mix="ask=1:text 80",
                            extra=["--profile", "smoke", "--users", "2", "--duration", "7",
                                   "--reply-match", "stream", "--stream-quiet", "1"])
        assert closed.code == 0, closed.stderr[-2000:]
        c = pd.read_parquet(closed.out / "requests.parquet").sort_values("posted_at")
        assert c["ok"].all() and c["chat_id"].nunique() == 2 and c.groupby("chat_id").size().max() >= 2
        for _, chat in c.groupby("chat_id"):
            assert (chat["posted_at"].to_numpy()[1:] >= chat["completed_at"].to_numpy()[:-1]).all()
        assert c["message_id"].groupby(c["chat_id"]).is_monotonic_increasing.all()


def test_public_webhook_without_rewrite_is_refused_with_one_line(tmp_path):
    """setWebhook with a public URL (what aiogram's echo_bot_webhook.py does at start) is accepted, as
    Telegram does, so the bot starts (the aiogram test above starts that way); without
    --webhook-rewrite the fake delivers nothing off this machine and the run refuses with one line."""
    token = token_for(555)
    with fakes(tmp_path) as f:
        body = urllib.parse.urlencode({"url": "https://bot.example.com/tg/hook"}).encode()
        with urllib.request.urlopen(f"{f.telegram_url}/bot{token}/setWebhook", data=body) as resp:
            assert json.loads(resp.read()) == {"ok": True, "result": True, "description": "Webhook was set"}
        with urllib.request.urlopen(f"{f.telegram_url}/bot{token}/getWebhookInfo") as resp:
            info = json.loads(resp.read())["result"]
        assert info["url"] == "https://bot.example.com/tg/hook" and "loopback" in info["last_error_message"]
        r = run_ladder(tmp_path / "run", f, None, arrivals="2@2", token=token)
        assert r.code == 2
        assert r.stderr.strip().splitlines() == [
            "--telegram-url: the bot set its webhook to https://bot.example.com/tg/hook, which the fake does "
            "not deliver to (not loopback): restart the fake with --webhook-rewrite http://127.0.0.1:PORT "
            "(your bot's local port)"]
        assert r.run["complete"] is False  # a new folder, marked incomplete: the gate refuses it
