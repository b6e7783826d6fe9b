"""The fake Telegram Bot API's settings: plain, frozen data, built from a scenario or by hand.

The send limits default to what Telegram's Bot FAQ states (about 30 messages/s per bot, about 1 per
second per chat, with short bursts tolerated); everything a test needs to speed up (webhook retry
backoff, timeouts) is a field here rather than a constant buried in the engine.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from botcap.loadtest.net import is_loopback_host
from pydantic import BaseModel, ConfigDict, Field, field_validator

from botcap.policy import burst_of


class TelegramFakeConfig(BaseModel):
    """How the fake behaves; change it at runtime with ``POST /_fake/config`` (a validated copy)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    send_rate_per_s: float = Field(default=30.0, gt=0, le=1_000_000, description="bot-wide sendMessage rate")
    send_burst: float = Field(default=30.0, ge=1, le=1_000_000,
                              description="bot-wide bucket size (messages sendable at once)")
    per_chat_rate_per_s: float = Field(default=1.0, gt=0, le=1_000_000)
    per_chat_burst: float = Field(default=3.0, ge=1, le=1_000_000,
                                  description="Telegram tolerates short bursts in one chat")
    latency_s: float = Field(default=0.0, ge=0, le=60, description="added to every Bot API method call")
    webhook_max_connections: int = Field(default=40, ge=1, le=100, description="setWebhook default")
    webhook_timeout_s: float = Field(default=60.0, gt=0, le=3600, description="a slower answer is a failure")
    webhook_retry_base_s: float = Field(default=1.0, gt=0, le=3600,
                                        description="first redelivery delay; doubles per failed attempt")
    webhook_retry_max_s: float = Field(default=60.0, gt=0, le=86_400)
    long_poll_max_s: float = Field(default=50.0, ge=0, le=600, description="cap on getUpdates timeout")
    known_chats_only: bool = Field(
        default=False,
        description="sendMessage to a chat that never wrote to the bot → 400 chat not found (as Telegram)")
    max_records: int = Field(default=1_000_000, ge=100, le=100_000_000,
                             description="sent records kept per bot (oldest dropped beyond)")
    allow_non_loopback_webhooks: bool = Field(default=False,
                                              description="deliver updates only to loopback URLs unless set")
    webhook_rewrite: str = Field(default="", description="a webhook set at a non-loopback URL is delivered "
                                 "to this loopback base + the URL's path (e.g. http://127.0.0.1:8080)")

    @field_validator("webhook_rewrite")
    @classmethod
    def _loopback_base(cls, value: str) -> str:
        if not value:
            return value
        bad = ValueError("must be a loopback base URL like http://127.0.0.1:8080")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (raises for a bad port)
        except ValueError:
            raise bad from None
        if parts.scheme not in ("http", "https") or not is_loopback_host(parts.hostname) \
                or parts.path not in ("", "/") or parts.query:
            raise bad
        return value

    @classmethod
    def from_scenario(cls, scenario, *, latency_s: float = 0.0, **overrides) -> TelegramFakeConfig:
        """The scenario's Telegram limits (``platform.telegram``) plus optional artificial latency."""
        tg = scenario.platform.telegram
        values = dict(
            send_rate_per_s=tg.send_rate_per_s,
            send_burst=burst_of(tg.send_rate_per_s),  # one second's worth, as the model's buckets
            per_chat_rate_per_s=tg.per_chat_rate_per_s,
            per_chat_burst=burst_of(tg.per_chat_rate_per_s),
            webhook_max_connections=tg.webhook_max_connections,
            webhook_timeout_s=tg.webhook_timeout_s,
            latency_s=latency_s,
        )
        values.update(overrides)
        return cls(**values)
