"""Telegram's side of sendMessage: the bot-wide and per-chat send limits, answered with 429 retry_after.

Both limits are continuous-refill buckets holding one second's worth (the Bot API FAQ speaks of about
30 messages per second per bot and one per second per chat, without a window; a one-second burst is
the assumption). A send is judged when it is made; on 429 the bot sleeps ``retry_after`` (whole
seconds) and sends again, as aiogram's retry middleware does. ``telegram_send`` is measured as a
resource of unbounded capacity: in use = sends on the wire, queue = sends sleeping out a retry_after.
The buckets are ``botcap.policy.per_second``, sized as the fake Telegram's (``burst_of``).
"""

from __future__ import annotations

import math

import simpy
from botcap.sim.record import Request
from botcap.sim.resources import DelayedGauge

from botcap.policy import TokenBucket, per_second, refusal_wait_s, retry_after_s

__all__ = ["TelegramApi"]


class TelegramApi:
    def __init__(self, env: simpy.Environment, *, send_rate_per_s: float, per_chat_rate_per_s: float,
                 rtt_s: float, counters: dict, horizon_s: float = math.inf):
        self.env, self.rtt_s, self.counters, self.horizon_s = env, rtt_s, counters, horizon_s
        self.bot = per_second(send_rate_per_s)
        self.per_chat_rate_per_s = per_chat_rate_per_s
        self.chats: dict[int, TokenBucket] = {}
        self.sends = DelayedGauge(env, "telegram_send", 0)

    def _wait_s(self, chat_id: int, now: float) -> float:
        chat = self.chats.get(chat_id)
        if chat is None:
            chat = self.chats[chat_id] = per_second(self.per_chat_rate_per_s, now)
        bot = self.bot
        # INLINED FOR PERFORMANCE (every send): the admitted branch of botcap.policy.take_all(now,
        # (bot, chat), (1, 1)); tests/policy/test_inlined.py keeps them equal.
        if now > bot.stamp_s:  # TokenBucket.level_at(now)
            level = bot.level + (now - bot.stamp_s) * bot.refill_per_s
            bot.level = level if level < bot.capacity else bot.capacity  # min() without a call
            bot.stamp_s = now
        if now > chat.stamp_s:
            level = chat.level + (now - chat.stamp_s) * chat.refill_per_s
            chat.level = level if level < chat.capacity else chat.capacity  # min() without a call
            chat.stamp_s = now
        if bot.level >= 1 and chat.level >= 1:
            bot.level -= 1
            chat.level -= 1
            return 0.0
        return refusal_wait_s(now, (bot, chat), (1, 1))

    def send_now(self, req: Request) -> float | None:
        """A send that nothing waits for (a request's last reply), without an event: if Telegram accepts it
        at once, it goes on the wire now and the time its answer is back is returned (``sends`` drops by
        itself then; the caller holds its own resources until that time). None, with nothing sent, when
        it would be answered 429 or answered after the horizon (the request must stay unfinished): use
        ``send``, which judges it again at the same instant with the same outcome."""
        now = self.env._now  # env._now: see sim.resources
        done = now + self.rtt_s
        if done >= self.horizon_s or self._wait_s(req.chat_id, now) != 0.0:
            return None
        self.sends.hold_until(done)
        req.service_telegram_s += self.rtt_s
        return done

    def send(self, req: Request):
        env, sends = self.env, self.sends
        while True:
            wait = self._wait_s(req.chat_id, env._now)
            sends.add(1)
            if self.rtt_s:
                yield env.timeout(self.rtt_s)
            sends.add(-1)
            req.service_telegram_s += self.rtt_s
            if wait == 0.0:
                return
            self.counters["http_429"] += 1
            pause = retry_after_s(wait)
            sends.add_queue(1)
            yield env.timeout(pause)
            sends.add_queue(-1)
            req.wait_telegram_send_s += pause
