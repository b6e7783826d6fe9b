"""The sim's hot path inlines the bucket admission (marked INLINED FOR PERFORMANCE in sim/claude.py and
sim/telegram.py); here it is fed random traffic side by side with ``botcap.policy.take_all`` on a mirror
set of buckets, and must answer the same and leave the same levels after every request."""

from __future__ import annotations

import numpy as np
import pytest
import simpy
from botcap.sim.build import new_counters
from botcap.sim.claude import HTTP_429, OK, ClaudeApi
from botcap.sim.telegram import TelegramApi

from botcap.policy import TokenBucket, per_minute, retry_after_s, take_all
from botcap.scenario import load_scenario


def _counters():
    return new_counters([])["claude"]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_claude_api_admission_equals_the_policy(seed):
    sets = ["rate_limits.rpm=50", "rate_limits.itpm=40000", "rate_limits.otpm=8000",
            "faults.overloaded_rate=0"]
    claude = load_scenario(sets=[f"platform.claude.{s}" for s in sets]).platform.claude
    env = simpy.Environment()
    api = ClaudeApi(env, claude, rtt_s=0.0, outages_s=[], rng=np.random.default_rng(seed),
                    counters=_counters())
    lim = claude.rate_limits
    mirror = (per_minute(lim.rpm), per_minute(lim.itpm), per_minute(lim.otpm))
    rng = np.random.default_rng(seed)
    t, refused, oversize = 0.0, 0, 0
    for _ in range(3000):
        t += float(rng.exponential(0.4))
        env.run(until=t)
        inp = int(rng.integers(1, 2500)) if rng.random() > 0.01 else 50_000  # a few never fit
        max_tokens = int(rng.integers(1, 900))
        status, retry_after = api.admit(inp, max_tokens)
        wait = take_all(t, mirror, (1, inp, max_tokens))
        expected = (OK, 0.0) if wait == 0.0 else (HTTP_429, float(retry_after_s(wait)))
        assert (status, retry_after) == expected
        if status == OK and rng.random() < 0.8:  # most finish; the reservation is corrected
            out = int(rng.integers(0, max_tokens + 1))
            api.true_up_output(max_tokens, out)
            mirror[2].give_back(t, max_tokens - out)
        refused += status == HTTP_429
        oversize += inp == 50_000
        for mine, theirs in zip(api.buckets, mirror, strict=True):
            assert (mine.level, mine.stamp_s) == pytest.approx((theirs.level, theirs.stamp_s))
    assert 300 < refused < 2700 and oversize > 10  # both branches were exercised


def test_telegram_send_admission_equals_the_policy():
    env = simpy.Environment()
    tg = TelegramApi(env, send_rate_per_s=5.0, per_chat_rate_per_s=0.5, rtt_s=0.0, counters={"http_429": 0})
    bot = TokenBucket(5.0, 5.0)
    chats: dict[int, TokenBucket] = {}
    rng = np.random.default_rng(7)
    t, refused = 0.0, 0
    for _ in range(4000):
        t += float(rng.exponential(0.15))
        env.run(until=t)
        chat_id = int(rng.integers(0, 12))
        chat = chats.setdefault(chat_id, TokenBucket(1.0, 0.5, t))
        assert tg._wait_s(chat_id, t) == pytest.approx(take_all(t, (bot, chat), (1, 1)))
        assert (tg.bot.level, tg.chats[chat_id].level) == pytest.approx((bot.level, chat.level))
        refused += bot.level < 1 or chat.level < 1
    assert refused > 100
