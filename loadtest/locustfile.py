"""Telegram users chatting with a bot: ``locust -f loadtest/locustfile.py --host FAKE_TELEGRAM_URL``.

``ChatUser`` is a person in a private chat with the bot (closed workload): they send messages of
the scenario's kinds in the scenario's proportions (each kind's text from ``workload.kinds.<kind>.
message``; the reference bot's notes and questions by default), and think between messages.
``ArrivalGenerator`` is the open workload: messages arrive on a schedule (``--arrivals
'10@60'``) from new chats, whether or not earlier ones have been answered.

Every message is timed end to end, from the update sent to the bot's reply arriving at the fake
Telegram API, and reported as a Locust request named after its kind. The bot is reached through
its webhook (``--webhook-url``, ``--webhook-secret``) or, when none is given, through the fake's
update queue (a long-polling bot). All options also read ``BOTCAP_*`` environment variables; the
scenario comes from ``BOTCAP_SCENARIO`` (default: botcap's embedded scenario).
"""

import numpy as np
from botcap.loadtest.users.arrivals import KindPicker
from botcap.loadtest.users.locust_glue import (
    MESSAGES,
    MIX,
    RECORDER,
    endpoint,
    http_of,
    think_time,
    total_users,
    user_finished,
)
from botcap.loadtest.users.open_workload import run_schedule
from botcap.loadtest.users.telegram import TelegramChat, new_id
from locust import FastHttpUser, task
from locust.exception import StopUser


class ChatUser(FastHttpUser):
    """A person chatting with the bot; one private chat each, messages by the scenario's mix."""

    wait_time = think_time()

    def on_start(self):
        _, endpoints = endpoint(self.environment)
        chat_id = new_id()
        self.chat = TelegramChat(endpoints[chat_id % len(endpoints)], http_of(self), chat_id=chat_id,
                                 messages=MESSAGES)
        self.pick = KindPicker(MIX, np.random.default_rng([self.environment.parsed_options.seed, chat_id]))
        cap = self.environment.parsed_options.max_requests
        self.left = -(-cap // total_users(self.environment)) if cap else None  # this user's share
        if self.environment.parsed_options.tour:  # a smoke test: every kind at least once
            for kind in (k for k, w in MIX.items() if w > 0):
                self.say(kind)
                self.wait()  # thinks between messages, as in the tasks

    @task
    def say_something(self):
        """A message of a kind drawn by the scenario's mix (any kinds: the bot's own language)."""
        self.say(self.pick())

    def say(self, kind: str):
        RECORDER.report(self.environment, self.chat.send(kind), level=0)
        if self.left is not None:
            self.left -= 1
            if self.left <= 0:
                user_finished(self.environment)
                raise StopUser()


class ArrivalGenerator(FastHttpUser):
    """Not a person: the open workload's arrival process (Poisson arrivals at the scheduled rate)."""

    concurrency = 1000  # connections for the arrivals in flight (each waits for its own reply)

    def wait_time(self):
        return 0

    @task
    def arrivals(self):
        run_schedule(self)
        raise StopUser()
