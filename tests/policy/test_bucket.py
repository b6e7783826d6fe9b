"""The one token bucket: continuous refill, all-or-nothing admission, the never-fits answer, retune."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from botcap.policy import TokenBucket, per_minute, refusal_wait_s, retry_after_s, take_all


def test_refills_continuously_to_capacity_and_says_how_long_to_wait():
    b = per_minute(60)  # 1 per second
    b.take(0.0, 60)
    assert b.level_at(0.5) == pytest.approx(0.5)
    assert b.wait_s(0.5, 2) == pytest.approx(1.5)
    assert b.wait_s(0.5, 0.25) == 0.0
    assert b.level_at(1000.0) == 60  # never above the capacity
    assert b.wait_s(1000.0, 61) == math.inf  # more than it holds: never
    assert b.full_in_s(1000.0) == 0.0


def test_time_never_runs_backwards():
    b = TokenBucket(10, 1.0, now=5.0)
    b.take(5.0, 10)
    assert b.level_at(3.0) == 0.0  # an earlier "now" refills nothing
    assert b.level_at(7.0) == pytest.approx(2.0)


def test_long_run_throughput_is_the_limit_per_minute():
    b, admitted, t = per_minute(120), 0, 0.0
    while t < 600.0:
        if take_all(t, (b,), (1,)) == 0.0:
            admitted += 1
        t += 0.01  # asking at 100/s, far above 2/s
    assert admitted == pytest.approx(120 + 2 * 600, abs=2)  # the first minute's burst + the refill


def test_all_or_nothing_and_a_refused_request_fits_after_its_retry_after():
    rpm, tpm = per_minute(10), per_minute(1000)
    assert take_all(0.0, (rpm, tpm), (1, 900)) == 0.0
    assert (rpm.level, tpm.level) == (9, 100)
    wait = take_all(0.0, (rpm, tpm), (1, 500))  # rpm fits, tpm does not: nothing charged
    assert wait == pytest.approx(400 / (1000 / 60)) and (rpm.level, tpm.level) == (9, 100)
    later = retry_after_s(wait)
    assert later == 24 and take_all(later, (rpm, tpm), (1, 500)) == 0.0


def test_a_request_larger_than_a_bucket_is_told_to_wait_until_it_is_full_then_refused_again():
    b = per_minute(600)
    b.take(0.0, 300)
    wait = take_all(0.0, (b,), (700,))
    assert wait == pytest.approx(30.0)  # 300 missing at 10/s: the time until full, not "never"
    assert b.level == 300  # nothing charged
    assert take_all(30.0, (b,), (700,)) > 0  # full, and still too small
    assert retry_after_s(refusal_wait_s(30.0, (b,), (700,))) == 1  # full: retry-after 1 s


def test_give_back_is_capped_and_a_reservation_may_go_negative():
    b = per_minute(100)
    b.take(0.0, 150)
    assert b.level == -50
    b.give_back(0.0, 1000)
    assert b.level == 100


def test_retune_refills_at_the_old_rate_then_caps_at_the_new_capacity():
    b = TokenBucket(30, 30.0)
    b.take(0.0, 30)
    b.retune(0.5, 3, 1.0)  # 15 refilled at the old rate, capped at the new burst
    assert b.level == 3 and b.refill_per_s == 1.0
    b.take(0.5, 3)
    assert b.wait_s(0.5, 1) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="refill_per_s"):
        b.retune(1.0, 3, 0)


@pytest.mark.parametrize("wait,header", [(0.0, 1), (1e-12, 1), (0.2, 1), (1.0, 1), (1.0001, 2), (59.5, 60)])
def test_retry_after_is_whole_seconds_rounded_up_at_least_one(wait, header):
    assert retry_after_s(wait) == header


@pytest.mark.parametrize("bad", [(0, 1), (1, 0), (-1, 1), (math.inf, 1), (1, math.nan), (math.nan, 1)])
def test_bad_limits_name_the_fields(bad):
    with pytest.raises(ValueError, match='"capacity" and "refill_per_s"'):
        TokenBucket(*bad)


def test_retry_after_of_never_is_refused():
    with pytest.raises(ValueError, match="wait_s"):
        retry_after_s(math.inf)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 5), st.floats(0, 150)), min_size=1, max_size=60))
def test_level_stays_within_capacity_and_admission_matches_wait(steps):
    b, t = per_minute(100), 0.0
    for dt, amount in steps:
        t += dt
        before = b.level_at(t)
        wait = b.wait_s(t, amount)
        got = take_all(t, (b,), (amount,))
        assert (got == 0.0) == (wait == 0.0)
        assert b.level <= b.capacity
        assert b.level == (before - amount if got == 0.0 else before)
        assert got == 0.0 or got > 0


@pytest.mark.parametrize("send,per_chat", [(30.0, 1.0), (0.5, 0.25), (200.0, 3.5)])
def test_the_model_and_the_fake_telegram_size_their_send_buckets_alike(send, per_chat):
    import simpy
    from botcap.loadtest.fakes.telegram.config import TelegramFakeConfig
    from botcap.sim.telegram import TelegramApi

    from botcap.scenario import load_scenario

    scenario = load_scenario(sets=[f"platform.telegram.send_rate_per_s={send}",
                                   f"platform.telegram.per_chat_rate_per_s={per_chat}"])
    fake = TelegramFakeConfig.from_scenario(scenario)
    model = TelegramApi(simpy.Environment(), send_rate_per_s=send, per_chat_rate_per_s=per_chat, rtt_s=0.0,
                        counters={"http_429": 0})
    model._wait_s(7, 0.0)
    assert (fake.send_burst, fake.send_rate_per_s) == (model.bot.capacity, model.bot.refill_per_s)
    chat = model.chats[7]
    assert (fake.per_chat_burst, fake.per_chat_rate_per_s) == (chat.capacity, chat.refill_per_s)
    assert fake.per_chat_burst == max(1.0, per_chat)  # one second's worth, at least one message
