"""A bot botcap did not start: checks before the load, the fakes' timelines after it, the load's windows.

Before: the fake must answer for the token; a webhook the bot set must be one the fake delivers to;
a polling bot must poll the token the load uses (a forgotten ``--bot-token`` fills another token's
queue: caught here with one line, not as 100% time-outs). After: the fakes' logs from the positions
noted at the start (``Marks``) are fetched, joined with the requests (``timeline.join``) and written
into the bundle. ``mark_windows`` says which requests count as throughput: sent inside their level's
window and answered before its end.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

import numpy as np
import pandas as pd
import psutil
from botcap.loadtest.harness import timeline as T
from botcap.loadtest.harness.profiles import Profile
from botcap.loadtest.users.messages import parse_mix

from botcap.errors import BadInput
from botcap.scenario import Scenario
from botcap.scenario.loader import validate

POLL_WAIT_S = 10.0    # how long a polling bot may take to show up before the load is refused
OTHER_POLLER_S = 3.0  # ... or, while another token is polling, this long (a forgotten --bot-token)
RECENT_POLL_S = 75.0  # a getUpdates within this is "polling" (long polls last up to 50 s)


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


def _polls(stats: dict, now: float) -> bool:
    last = stats.get("last_poll_at")
    return bool(stats.get("polling_now")) or (last is not None and now - float(last) <= RECENT_POLL_S)


def check_external(o) -> dict:
    """What is known about the bot before the load; BadInput (exit 2) with one line when it cannot work."""
    host, token = o.telegram_url.rstrip("/"), o.bot_token
    bot_id = token.split(":")[0]
    try:
        stats = _get(f"{host}/_fake/bot{token}/stats")["result"]
    except (OSError, ValueError, KeyError) as e:
        raise BadInput(f"--telegram-url: {host} is not a fake Telegram API for this token ({e})") from None
    known: dict = {}
    if o.target:
        if stats.get("webhook_url"):
            raise BadInput(f"--target: the bot set a webhook at the fake ({stats['webhook_url']}), which "
                           "would deliver every update twice; drop --target (the fake calls the webhook)")
        known.update(delivery="webhook", webhook_url=o.target)
    elif stats.get("webhook_url"):
        if not stats.get("webhook_delivers_to"):
            raise BadInput(f"--telegram-url: the bot set its webhook to {stats['webhook_url']}, which the "
                           "fake does not deliver to (not loopback): restart the fake with "
                           "--webhook-rewrite http://127.0.0.1:PORT (your bot's local port)")
        known.update(delivery="webhook", webhook_url=stats["webhook_url"])
    else:
        _wait_for_poller(host, token, bot_id)
        known["delivery"] = "polling"
    pids = {"fake-telegram": _fake_pid(stats.get("fake_pid"), "telegram")}
    if o.claude_url:
        try:
            claude = _get(f"{o.claude_url.rstrip('/')}/_fake/stats")
            known["claude_time_scale"] = float(claude["time_scale"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise BadInput(f"--claude-url: {o.claude_url} is not a fake Claude API ({e})") from None
        pids["fake-claude"] = _fake_pid(claude.get("fake_pid"), "claude")
    known["fake_pids"] = {name: pid for name, pid in pids.items() if pid is not None}
    return known


def _fake_pid(value, fake: str) -> int | None:
    """The fake's PID when it runs on this machine as botcap's fake (its command line says so; a fake in
    another PID namespace, e.g. a container, gives a number that is not it): its CPU is then the run's
    own, not other work (run.json ``cpu.other_work_cores``)."""
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        return None
    try:
        command = " ".join(psutil.Process(value).cmdline())
    except psutil.Error:
        return None
    return value if f"botcap.loadtest.fakes.{fake}" in command else None


def _wait_for_poller(host: str, token: str, bot_id: str) -> None:
    started = time.monotonic()
    while True:
        now = time.time()
        mine = _get(f"{host}/_fake/bot{token}/stats")["result"]
        if _polls(mine, now) or mine.get("webhook_url"):
            return
        waited = time.monotonic() - started
        everyone = _get(f"{host}/_fake/stats")["result"] if waited > OTHER_POLLER_S else {}
        others = sorted(b for b, s in everyone.items()
                        if b != bot_id and (_polls(s, now) or s.get("webhook_url")))
        if others or waited > POLL_WAIT_S:
            break
        time.sleep(0.25)
    if others:
        raise BadInput(f"--bot-token: nobody polls bot {bot_id} at {host}, but bot {', '.join(others)} does: "
                       f"pass that bot's token (--bot-token {others[0]}:…)")
    raise BadInput(f"--bot-token: nobody called getUpdates or set a webhook for bot {bot_id} at {host} in "
                   f"{POLL_WAIT_S:.0f} s: is the bot running and pointed at this fake?")


def hint(o, run: dict) -> str:
    """What to check when the bot took none of the updates (the end of the verdict line)."""
    if o.target:
        return f" (does {o.target} answer the fake's updates?)"
    if run.get("target") == "external":
        return f" (is the bot polling --bot-token {o.bot_token.split(':')[0]}:…, or its webhook delivered?)"
    return ""


def with_mix(scenario: Scenario, mix: str) -> Scenario:
    """The scenario with ``--mix``'s kinds, shares and messages (a new kind copies the reference
    ``command`` kind's stages when it sends a command, ``chat_simple``'s otherwise)."""
    doc = scenario.model_dump(mode="json")
    kinds = doc["workload"]["kinds"]
    try:
        shares, messages = parse_mix(mix, kinds)
    except ValueError as e:
        raise BadInput(str(e)) from None
    first = next(iter(kinds.values()))
    for kind in shares:  # a new kind starts from the reference kind most like it (calibration refits it)
        command = (messages.get(kind) or {}).get("type") == "command"
        kinds.setdefault(kind, dict(kinds.get("command" if command else "chat_simple", first)))
    for kind, message in messages.items():
        if kind in kinds:
            kinds[kind] = {**kinds[kind], "message": message}
    doc["workload"]["mix"] = shares
    try:
        return validate(doc)
    except BadInput as e:
        raise BadInput([f"--mix: {line}" for line in e.lines]) from None


@dataclass
class Marks:
    """Where the fakes' logs stood when the load started (earlier traffic is not this run's)."""

    telegram_after: int | None = None
    claude_after: int | None = None
    claude_url: str | None = None
    host: str | None = None
    token: str | None = None

    def start(self, host: str | None, token: str | None, claude_url: str | None) -> None:
        self.host, self.token, self.claude_url = host, token, claude_url
        try:
            self.telegram_after = T.telegram_position(host, token) if host and token else None
        except (OSError, ValueError, KeyError):
            self.telegram_after = None
        try:
            self.claude_after = T.claude_position(claude_url) if claude_url else None
        except (OSError, ValueError, KeyError):
            self.claude_after = None


def mark_windows(p: Profile, requests: pd.DataFrame) -> None:
    """``window_start_at``/``window_end_at`` of each request's level and ``in_window``: sent inside it
    and completed before its end (what throughput counts)."""
    n = len(requests)
    if p.workload == "open" and p.segments:
        starts = np.concatenate([[0.0], np.cumsum([s.duration_s for s in p.segments])])
        level = requests["level"].fillna(0).astype(int).clip(0, len(p.segments) - 1).to_numpy() if n else []
        t0 = requests["schedule_start_at"].astype(float)
        t0 = t0.fillna(requests["sent_at"].min()).to_numpy() if n else np.array([])
        requests["window_start_at"] = t0 + starts[level] if n else np.array([])
        requests["window_end_at"] = t0 + starts[np.asarray(level, dtype=int) + 1] if n else np.array([])
    else:
        first = float(requests["sent_at"].min()) if n else 0.0
        requests["window_start_at"] = first
        requests["window_end_at"] = first + p.load_s
    done = requests["completed_at"].astype(float)
    sent = requests["sent_at"]
    requests["in_window"] = (requests["ok"].astype(bool) & (sent >= requests["window_start_at"])
                             & (sent < requests["window_end_at"])
                             & (done <= requests["window_end_at"])) if n else pd.Series(dtype=bool)


def timelines(o, run: dict, requests: pd.DataFrame, marks: Marks) -> None:
    """Fetch the fakes' logs, join them into ``requests``, write them; linking and match_check in run."""
    tlog = calls = None
    if marks.host and marks.token and marks.telegram_after is not None:
        try:
            tlog = T.fetch_telegram_log(marks.host, marks.token, marks.telegram_after)
            tlog.to_parquet(o.out / T.TELEGRAM_LOG, index=False)
        except (OSError, ValueError, KeyError, urllib.error.URLError) as e:
            run["telegram_log_error"] = str(e)[:300]
    if marks.claude_url and marks.claude_after is not None:
        try:
            calls = T.fetch_claude_calls(marks.claude_url, marks.claude_after)
        except (OSError, ValueError, KeyError, urllib.error.URLError) as e:
            run["claude_calls_error"] = str(e)[:300]
    direct = bool(o.target)
    run["linking"] = T.join(requests, tlog, calls, direct_webhook=direct)
    if calls is not None:
        calls.to_parquet(o.out / T.CLAUDE_CALLS, index=False)
    run["match_check"] = T.match_check(requests, tlog, o.reply_match, direct_webhook=direct)
    if o.external and tlog is not None and len(tlog) and run.get("known") is not None:
        vias = tlog.loc[tlog["event"] == "take", "via"].dropna().unique().tolist()
        if vias:
            run["known"]["delivery"] = "webhook" if "webhook" in vias else "polling"
