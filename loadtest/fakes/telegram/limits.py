"""Telegram's send limits as continuous-refill token buckets: one per bot, one per chat.

The Bot FAQ asks for no more than about 30 messages per second overall and about one per second in
a chat, tolerating short bursts; beyond that Telegram answers 429 with ``retry_after`` (whole
seconds). A refused request takes no token, so a client that waits ``retry_after`` succeeds. Rates
and bursts are read from the current config at every check, so ``POST /_fake/config`` applies at once
(``TokenBucket.retune``: the time before the change refills at the old rate). The buckets and the
admission are ``botcap.policy``'s, the same code as the sim's Telegram model.
"""

from __future__ import annotations

import time

from botcap.policy import TokenBucket, retry_after_s, take_all


class SendLimiter:
    """Both limits of one bot; ``check`` either takes a token from each bucket or says how long to wait."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.bot: TokenBucket | None = None
        self.chats: dict[int, TokenBucket] = {}

    def check(self, chat_id: int, cfg) -> int:
        """0 when the message may go now (tokens taken); otherwise Telegram's retry_after (>= 1 s)."""
        now = self.clock()
        bot = self.bot
        if bot is None:
            bot = self.bot = TokenBucket(cfg.send_burst, cfg.send_rate_per_s, now)
        else:
            bot.retune(now, cfg.send_burst, cfg.send_rate_per_s)
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = TokenBucket(cfg.per_chat_burst, cfg.per_chat_rate_per_s, now)
        else:
            chat.retune(now, cfg.per_chat_burst, cfg.per_chat_rate_per_s)
        wait = take_all(now, (bot, chat), (1, 1))
        return 0 if wait == 0.0 else retry_after_s(wait)
