"""The open workload inside one Locust user: arrivals on schedule, whatever the bot's replies do.

A closed Locust user sends its next message only after the previous reply, so a slow bot slows
the load down and hides its own latency (coordinated omission). Here one generator user walks an
arrival schedule (``botcap.loadtest.users.arrivals``) and hands each arrival to its own greenlet: a fresh
private chat sends one message. Latency counts from the arrival's *intended* time. An arrival that
cannot be sent is *dropped* (recorded, not a request): more than ``--max-inflight`` in flight, or
the generator itself fell more than ``--max-lag`` seconds behind the schedule.
"""

from __future__ import annotations

import itertools
import logging
import time

import gevent
import numpy as np
from botcap.loadtest.users.arrivals import KindPicker, arrivals, parse_schedule, scaled
from botcap.loadtest.users.locust_glue import (
    MESSAGES,
    MIX,
    RECORDER,
    endpoint,
    http_of,
    total_users,
    user_finished,
)
from botcap.loadtest.users.telegram import TelegramChat, new_id
from gevent.pool import Pool

log = logging.getLogger(__name__)
_generators = itertools.count()


def run_schedule(user) -> None:
    """Walk this generator's share of the schedule, then wait for the stragglers and finish."""
    env = user.environment
    opts = env.parsed_options
    if not opts.arrivals:
        log.warning("ArrivalGenerator: no --arrivals schedule (BOTCAP_ARRIVALS); nothing to do")
        user_finished(env)
        return
    generators = total_users(env)
    segments = scaled(parse_schedule(opts.arrivals), 1.0 / generators)
    worker = getattr(env.runner, "worker_index", 0) or 0
    rng = np.random.default_rng([opts.seed, worker, next(_generators)])
    pick = KindPicker(MIX, rng)
    _, endpoints = endpoint(env)
    http = http_of(user)
    pool = Pool(opts.max_inflight)
    start = time.time()
    for offset, level in arrivals(segments, rng):
        intended = start + offset
        delay = intended - time.time()
        if delay > 0:
            gevent.sleep(delay)
        kind = pick()
        if time.time() - intended > opts.max_lag:
            RECORDER.dropped(kind, intended, level, "generator behind schedule")
        elif pool.full():
            RECORDER.dropped(kind, intended, level, f"{opts.max_inflight} in flight")
        else:
            chat_id = new_id()  # every arrival is a new private chat
            chat = TelegramChat(endpoints[chat_id % len(endpoints)], http, chat_id=chat_id, messages=MESSAGES)
            pool.spawn(_one, env, chat, kind, intended, level, start)
    pool.join(timeout=opts.reply_timeout + 5)
    user_finished(env)


def _one(env, chat: TelegramChat, kind: str, intended: float, level: int, start: float) -> None:
    RECORDER.report(env, chat.send(kind, sent_at=intended), level=level, schedule_start_at=start)
