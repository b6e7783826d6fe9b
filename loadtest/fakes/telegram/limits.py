"""Telegram's send limits as continuous-refill token buckets: one per bot, one per chat.

The Bot FAQ asks for no more than about 30 messages per second overall and about one per second in
a chat, tolerating short bursts; beyond that Telegram answers 429 with ``retry_after`` (whole
seconds). A refused request takes no token, so a client that waits ``retry_after`` succeeds. Rates
and bursts are read from the current config at every check, so ``POST /_fake/config`` applies at once.
"""

from __future__ import annotations

import math
import time


class TokenBucket:
    """``tokens`` refill at ``rate`` per second up to ``burst``; starts full."""

    __slots__ = ("tokens", "stamp")

    def __init__(self, burst: float, now: float):
        self.tokens = burst
        self.stamp = now

    def refill(self, rate: float, burst: float, now: float) -> float:
        self.tokens = min(burst, self.tokens + (now - self.stamp) * rate)
        self.stamp = now
        return self.tokens

    @staticmethod
    def wait_s(tokens: float, rate: float) -> float:
        """Seconds until one whole token is there."""
        return max(0.0, (1.0 - tokens) / rate)


class SendLimiter:
    """Both limits of one bot; ``check`` either takes a token from each bucket or says how long to wait."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.bot: TokenBucket | None = None
        self.chats: dict[int, TokenBucket] = {}

    def check(self, chat_id: int, cfg) -> int:
        """0 when the message may go now (tokens taken); otherwise Telegram's retry_after (>= 1 s)."""
        now = self.clock()
        if self.bot is None:
            self.bot = TokenBucket(cfg.send_burst, now)
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = TokenBucket(cfg.per_chat_burst, now)
        bot_tokens = self.bot.refill(cfg.send_rate_per_s, cfg.send_burst, now)
        chat_tokens = chat.refill(cfg.per_chat_rate_per_s, cfg.per_chat_burst, now)
        if bot_tokens >= 1.0 and chat_tokens >= 1.0:
            self.bot.tokens -= 1.0
            chat.tokens -= 1.0
            return 0
        wait = max(TokenBucket.wait_s(bot_tokens, cfg.send_rate_per_s),
                   TokenBucket.wait_s(chat_tokens, cfg.per_chat_rate_per_s))
        return max(1, math.ceil(wait))

    def prune(self, cfg) -> None:
        """Forget chats whose bucket is full again (memory stays bounded on long runs)."""
        now = self.clock()
        full = [cid for cid, b in self.chats.items()
                if b.tokens + (now - b.stamp) * cfg.per_chat_rate_per_s >= cfg.per_chat_burst]
        for cid in full:
            del self.chats[cid]
