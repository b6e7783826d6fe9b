"""The retry policy is the anthropic SDK's: what is retried, 0.5 s x 2^k capped at 8 s, 75-100 % jitter,
retry-after honoured as sent."""

from __future__ import annotations

import random

import anthropic
import numpy as np
import pytest
from anthropic._constants import DEFAULT_MAX_RETRIES, INITIAL_RETRY_DELAY, MAX_RETRY_DELAY

from botcap.policy import RetryPolicy, retryable
from botcap.scenario import load_scenario


class Fixed:
    def __init__(self, u: float):
        self.u = u

    def random(self) -> float:
        return self.u


def test_defaults_are_the_installed_sdks_constants():
    p = RetryPolicy()
    assert (p.max_retries, p.base_s, p.cap_s) == (DEFAULT_MAX_RETRIES, INITIAL_RETRY_DELAY, MAX_RETRY_DELAY)


@pytest.mark.parametrize("status,retried", [(None, True), (408, True), (409, True), (429, True), (500, True),
                                            (529, True), (503, True), (400, False), (401, False),
                                            (404, False), (413, False), (200, False)])
def test_what_is_retried_is_what_the_sdk_retries(status, retried):
    assert retryable(status) is retried
    if status is not None and status != 200:
        response = httpx_response(status)
        client = anthropic.Anthropic(api_key="x", base_url="http://127.0.0.1:9")
        assert client._should_retry(response) is retried


def httpx_response(status: int):
    import httpx
    return httpx.Response(status, request=httpx.Request("POST", "http://127.0.0.1:9/v1/messages"))


def test_backoff_matches_the_sdks_formula_for_the_same_random_draw(monkeypatch):
    """The SDK's _calculate_retry_timeout, fed the same U, gives the same delay (no retry-after)."""
    import anthropic._base_client as base

    client = anthropic.Anthropic(api_key="x", base_url="http://127.0.0.1:9", max_retries=6)
    options = base.FinalRequestOptions.construct(method="post", url="/v1/messages", max_retries=6)
    p = RetryPolicy(max_retries=6)
    for u in (0.0, 0.3, 0.999):
        monkeypatch.setattr(base, "random", lambda u=u: u)
        for retries_done in range(6):
            sdk = client._calculate_retry_timeout(6 - retries_done, options, None)
            assert p.delay_s(retries_done, 529, None, Fixed(u)) == pytest.approx(sdk)


def test_retry_after_is_honoured_uncapped_and_first():
    p = RetryPolicy()
    assert p.delay_s(0, 429, 30.0, Fixed(0.5)) == 30.0  # above cap_s: as sent (the SDK does not cap)
    assert p.delay_s(0, 529, 0.0, Fixed(0.0)) == 0.5  # 0 is no advice: backoff
    assert p.delay_s(1, 429, None, Fixed(0.0)) == 1.0
    capped = RetryPolicy(retry_after_cap_s=5.0)
    assert capped.delay_s(0, 429, 30.0, Fixed(0.5)) == 5.0
    ignoring = RetryPolicy(honour_retry_after=False, jitter=0.0)
    assert ignoring.delay_s(1, 429, 30.0, Fixed(0.5)) == 1.0


def test_gives_up_after_max_retries_or_on_a_final_status():
    p = RetryPolicy(max_retries=2)
    rng = random.Random(1)
    assert p.delay_s(0, 529, None, rng) is not None and p.delay_s(1, 529, None, rng) is not None
    assert p.delay_s(2, 529, None, rng) is None
    assert p.delay_s(0, 400, None, rng) is None
    assert RetryPolicy(max_retries=0).delay_s(0, 429, 1.0, rng) is None


def test_jitter_stays_within_75_to_100_percent_of_the_step_with_either_generator():
    p = RetryPolicy(max_retries=10)
    for rng in (random.Random(3), np.random.default_rng(3)):
        d = np.array([p.delay_s(3, 529, None, rng) for _ in range(4000)])
        assert d.min() >= 0.75 * 4.0 and d.max() <= 4.0
        assert d.mean() == pytest.approx(0.875 * 4.0, rel=0.01)
    assert RetryPolicy(max_retries=10).delay_s(9, 529, None, Fixed(0.0)) == 8.0  # capped
    assert RetryPolicy(jitter=0.0).delay_s(1, 529, None, None) == 1.0  # no jitter: no draw at all


def test_from_scenario_maps_max_attempts_and_the_jitter_switch():
    s = load_scenario(sets=["platform.claude.retry.max_attempts=4", "platform.claude.retry.jitter=false",
                            "platform.claude.retry.backoff_s=0.25", "platform.claude.retry.max_backoff_s=2"])
    p = RetryPolicy.from_scenario(s.platform.claude.retry)
    assert (p.max_retries, p.base_s, p.cap_s, p.jitter) == (3, 0.25, 2.0, 0.0)
    assert RetryPolicy.from_scenario(load_scenario().platform.claude.retry).jitter == 0.25


@pytest.mark.parametrize("kwargs,field", [
    ({"max_retries": -1}, "max_retries"), ({"max_retries": 1.5}, "max_retries"), ({"base_s": 0}, "base_s"),
    ({"cap_s": float("inf")}, "cap_s"), ({"jitter": 1.5}, "jitter"),
    ({"retry_after_cap_s": 0}, "retry_after_cap_s"),
])
def test_bad_settings_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=f'"{field}"'):
        RetryPolicy(**kwargs)
