"""What the locustfile needs from Locust's side: options, think time, the record sink, HTTP.

Imported only by Locust processes (it imports ``locust``, which monkey-patches with gevent).

Every option has an environment variable, so ``locust -f loadtest/locustfile.py`` works with plain
Locust flags plus ``BOTCAP_*`` variables, and the web UI shows them. Per-request records travel the
way Locust's own stats do: a worker adds its buffered records to each report it sends the master
(``report_to_master``), the master (or a local runner) appends them to ``--botcap-records`` as JSON
lines. So remote workers need no shared disk.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import gevent
import numpy as np
from botcap.loadtest.users.telegram import DEFAULT_TOKEN, BotEndpoint, Outcome
from locust import events
from locust.runners import MasterRunner, WorkerRunner

from botcap.sampling import Sampler
from botcap.scenario import Exponential, load_scenario

SCENARIO = load_scenario(os.environ.get("BOTCAP_SCENARIO") or None)
MIX = dict(SCENARIO.workload.mix)
MESSAGES = {name: kind.message for name, kind in SCENARIO.workload.kinds.items()}
RECORDS_KEY = "botcap_records"


@events.init_command_line_parser.add_listener
def _options(parser) -> None:
    g = parser  # Locust's own add_argument (env_var, include_in_web_ui); --host = the fake Telegram API
    g.add_argument("--bot-token", env_var="BOTCAP_BOT_TOKEN", default=DEFAULT_TOKEN,
                   help="the bot's token at the fake Telegram API")
    g.add_argument("--webhook-url", env_var="BOTCAP_WEBHOOK_URL", default="",
                   help="POST updates to this webhook (comma-separated: one per instance, by chat); "
                        "empty = put them into the fake's update queue (long-polling bots)")
    g.add_argument("--webhook-secret", env_var="BOTCAP_WEBHOOK_SECRET", default="", is_secret=True,
                   help="sent as X-Telegram-Bot-Api-Secret-Token")
    g.add_argument("--reply-timeout", env_var="BOTCAP_REPLY_TIMEOUT_S", type=float, default=60.0,
                   help="seconds to wait for a reply before the request fails")
    g.add_argument("--reply-match", env_var="BOTCAP_REPLY_MATCH", default="next_message",
                   choices=["next_message", "reply_to", "stream"],
                   help="a reply is the next text in the chat, a message replying to the user's, or a "
                        "stream of edits (complete after --stream-quiet s of silence)")
    g.add_argument("--stream-quiet", env_var="BOTCAP_STREAM_QUIET_S", type=float, default=1.0,
                   help="reply-match stream: seconds without a new send/edit that end an answer")
    g.add_argument("--max-requests", env_var="BOTCAP_MAX_REQUESTS", type=int, default=0,
                   help="closed workload: stop each user after its share of this many requests (0 = no cap)")
    g.add_argument("--arrivals", env_var="BOTCAP_ARRIVALS", default="",
                   help="open workload schedule, e.g. '10@60' or '2-20@120,20@60' (rate/s @ seconds)")
    g.add_argument("--max-inflight", env_var="BOTCAP_MAX_INFLIGHT", type=int, default=500,
                   help="open workload: arrivals beyond this many in flight are dropped")
    g.add_argument("--max-lag", env_var="BOTCAP_MAX_LAG_S", type=float, default=1.0,
                   help="open workload: an arrival the generator could not send within this many "
                        "seconds of its intended time is dropped")
    g.add_argument("--tour", env_var="BOTCAP_TOUR", default="",
                   help="closed workload: each user first sends one message of every kind in the mix")
    g.add_argument("--seed", env_var="BOTCAP_SEED", type=int, default=SCENARIO.seed)
    g.add_argument("--botcap-records", env_var="BOTCAP_RECORDS", default="", include_in_web_ui=False,
                   help="append one JSON line per request here (master or local runner)")


def endpoint(environment) -> tuple[str, list[BotEndpoint]]:
    """(host, one endpoint per webhook URL); the host comes from the master in distributed runs."""
    options = environment.parsed_options
    host = environment.host or options.host or os.environ.get("LOCUST_HOST", "")
    urls = [u.strip() for u in (options.webhook_url or "").split(",") if u.strip()] or [None]
    return host, [BotEndpoint(telegram_url=host, token=options.bot_token, webhook_url=u,
                              secret=options.webhook_secret or None, reply_timeout_s=options.reply_timeout,
                              reply_match=options.reply_match, stream_quiet_s=options.stream_quiet)
                  for u in urls]


def total_users(environment) -> int:
    """Users over all workers (the request cap and the arrival rate are split between them)."""
    opts = environment.parsed_options
    return max(1, int(getattr(opts, "botcap_users", None) or getattr(opts, "num_users", None) or 1))


def think_time():
    """Locust ``wait_time``: the scenario's think time; BOTCAP_THINK_TIME_S overrides it with an
    exponential of that mean (0 = no pause), so that short runs need not edit the scenario."""
    override = os.environ.get("BOTCAP_THINK_TIME_S")
    if override is None:
        dist = SCENARIO.workload.think_time_s
    else:
        dist = Exponential(dist="exponential", mean=float(override)) if float(override) > 0 else 0.0
    sampler = Sampler(dist, np.random.default_rng()) if dist else None

    def wait_time(user) -> float:
        return sampler() if sampler is not None else 0.0

    return wait_time


def http_of(user):
    """``http(method, url, body, headers) -> (status, bytes)`` over the user's geventhttpclient pool,
    bypassing FastHttpSession so that only end-to-end requests reach Locust's statistics."""
    agent = user.client.client

    def http(method: str, url: str, body: bytes | None, headers: dict[str, str]) -> tuple[int, bytes]:
        try:
            resp = agent.urlopen(url, method=method, payload=body, headers=headers)
        except Exception as e:
            resp = getattr(e, "response", None)
            if resp is None:
                raise
        return resp.status_code, resp.content or b""

    return http


class Recorder:
    """Reports each end-to-end request to Locust (``request`` event) and to the record sink."""

    def __init__(self) -> None:
        self.buffer: list[dict] = []
        self.file = None
        self.role = "local"

    def report(self, environment, outcome: Outcome, **extra) -> None:
        elapsed = (outcome.replied_at if outcome.replied_at is not None else time.time()) - outcome.sent_at
        environment.events.request.fire(
            request_type="telegram", name=outcome.kind, response_time=elapsed * 1000.0,
            response_length=outcome.reply_len, context={"chat_id": outcome.chat_id},
            exception=None if outcome.ok else RuntimeError(outcome.error))
        self.add(outcome.record(worker=self.role, **extra))

    def dropped(self, kind: str, sent_at: float, level: int, reason: str) -> None:
        self.add({"t": "drop", "kind": kind, "sent_at": sent_at, "level": level, "reason": reason,
                  "worker": self.role})

    def add(self, rec: dict) -> None:
        if self.file is not None:
            self.write([rec])
        else:
            self.buffer.append(rec)

    def write(self, recs: list[dict]) -> None:
        if self.file is not None and recs:
            self.file.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in recs))
            self.file.flush()


RECORDER = Recorder()
DONE_MSG = "botcap_done"
# Locust rewrites its CSVs every second and not at exit: quit only after one more rewrite
QUIT_DELAY_S = 2.5


class _Done:
    """Users of this process that ran out of work (request cap reached, arrival schedule over)."""

    users = 0
    workers = 0


DONE = _Done()


def user_finished(environment) -> None:
    """Count a finished user; when this process's last one is done, end the run early and cleanly:
    a local runner quits (HTML + CSV written), a worker tells the master, which quits after the last."""
    runner = environment.runner
    DONE.users += 1
    if DONE.users < runner.target_user_count:
        return
    if isinstance(runner, WorkerRunner):
        records, RECORDER.buffer = RECORDER.buffer, []
        runner.send_message(DONE_MSG, {RECORDS_KEY: records})
    else:
        gevent.spawn_later(QUIT_DELAY_S, runner.quit)


@events.init.add_listener
def _wire_records(environment, **_kw) -> None:
    runner = environment.runner
    path = getattr(environment.parsed_options, "botcap_records", "") if environment.parsed_options else ""
    if environment.parsed_options is not None and not isinstance(runner, WorkerRunner):
        # custom options travel to workers with each spawn message; Locust's own -u does not
        environment.parsed_options.botcap_users = environment.parsed_options.num_users
    if isinstance(runner, WorkerRunner):
        RECORDER.role = runner.client_id

        @events.report_to_master.add_listener
        def _send(client_id, data, **_k):
            data[RECORDS_KEY], RECORDER.buffer = RECORDER.buffer, []
        return
    if path:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        RECORDER.file = open(path, "a", buffering=1)  # noqa: SIM115 (closed at quit)
    if isinstance(runner, MasterRunner):
        @events.worker_report.add_listener
        def _receive(client_id, data, **_k):
            RECORDER.write(data.get(RECORDS_KEY) or [])

        def _worker_done(environment, msg, **_k):
            RECORDER.write(msg.data.get(RECORDS_KEY) or [])
            DONE.workers += 1
            if DONE.workers >= environment.runner.worker_count:
                gevent.spawn_later(QUIT_DELAY_S, environment.runner.quit)

        runner.register_message(DONE_MSG, _worker_done)

    @events.quitting.add_listener
    def _close(**_k):
        if RECORDER.file is not None:
            RECORDER.file.flush()
