"""The digest-burst scenario: N subscribers at 10:00, the scheduler's clock moved, every digest timed.

1. N new private chats each send ``/digest 10:00`` and get the bot's confirmation (these are the run's
   requests, kind ``digest_subscribe``).
2. The scheduler's shared clock is set to 09:59:55 (``POST <scheduler_url>/_control/clock``), so that
   10:00 comes ``LEAD_S`` seconds later at a known wall time ``t10``.
3. Every digest the bot sends to those chats is read from the fake Telegram API's record; a digest's
   lateness is ``at_unix_s - t10``. The send rate (digests per second, peak over 1 s windows) is set
   against Telegram's bot-wide limit, and the fake's 429 answers during the burst are counted.

Plain asyncio + aiohttp: this runs in the harness process, never inside Locust.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp
import numpy as np
import pandas as pd
from botcap.loadtest.users.telegram import new_id

LEAD_S = 5.0


async def _inject_and_wait(session: aiohttp.ClientSession, control: str, chat_id: int, text: str,
                           timeout_s: float) -> dict:
    user = {"id": chat_id, "is_bot": False, "first_name": f"Sub {chat_id}"}
    msg = {"message_id": 1, "date": int(time.time()), "text": text, "from": user,
           "chat": {"id": chat_id, "type": "private", "first_name": user["first_name"]},
           "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}
    sent_at = time.time()
    async with session.post(f"{control}/updates", json={"message": msg}) as r:
        ok = r.status == 200
    rec = {"kind": "digest_subscribe", "sent_at": sent_at, "posted_at": sent_at, "replied_at": None,
           "latency_s": None, "ok": False, "error": None if ok else f"inject HTTP {r.status}", "level": 0,
           "chat_id": chat_id, "message_id": 1, "worker": "harness"}
    if ok:
        url = (f"{control}/sent/wait?chat_id={chat_id}&after_id=0&reply_to_message_id=1"
               f"&timeout_s={timeout_s}")
        async with session.get(url, timeout=aiohttp.ClientTimeout(total=timeout_s + 10)) as r:
            answer = await r.json()
        if answer.get("ok"):
            rec["replied_at"] = answer["result"]["at_unix_s"]
            rec["latency_s"] = rec["replied_at"] - sent_at
            rec["ok"] = True
        else:
            rec["error"] = "timeout"
    return rec


async def _burst(telegram_url: str, token: str, scheduler_url: str, subscribers: int,
                 timeout_s: float, concurrency: int = 20) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    control = f"{telegram_url.rstrip('/')}/_fake/bot{token}"
    chats = [new_id() for _ in range(subscribers)]
    sem = asyncio.Semaphore(concurrency)
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{scheduler_url}/_control/clock", json={"now": "09:50"}) as r:
            r.raise_for_status()

        async def one(chat_id: int) -> dict:
            async with sem:
                return await _inject_and_wait(session, control, chat_id, "/digest 10:00", timeout_s)

        requests = pd.DataFrame(await asyncio.gather(*(one(c) for c in chats)))
        async with session.get(f"{control}/stats") as r:
            before = (await r.json())["result"]
        async with session.post(f"{scheduler_url}/_control/clock", json={"now": "09:59:55"}) as r:
            r.raise_for_status()
            t10 = time.time() + LEAD_S
        wanted, got = set(chats), {}
        deadline = time.time() + LEAD_S + timeout_s
        after = before["last_sent_id"]
        while len(got) < len(wanted) and time.time() < deadline:
            async with session.get(f"{control}/sent?after_id={after}") as r:
                recs = (await r.json())["result"]
            for rec in recs:
                after = max(after, rec["id"])
                if rec["chat_id"] in wanted and rec.get("reply_to_message_id") is None:
                    got.setdefault(rec["chat_id"], rec)
            await asyncio.sleep(0.25)
        async with session.get(f"{control}/stats") as r:
            after_stats = (await r.json())["result"]
    digests = pd.DataFrame([{"chat_id": c, "at_unix_s": r["at_unix_s"], "lateness_s": r["at_unix_s"] - t10}
                            for c, r in got.items()])
    return requests, digests, {"t10_unix_s": t10, "http_429_during_burst":
                               after_stats["http_429_count"] - before["http_429_count"]}


def digest_burst(*, telegram_url: str, token: str, scheduler_url: str, subscribers: int,
                 send_limit_per_s: float, timeout_s: float = 120.0
                 ) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Run the burst; (subscription requests, one row per digest, the burst's summary)."""
    requests, digests, facts = asyncio.run(_burst(telegram_url, token, scheduler_url, subscribers,
                                                  timeout_s))
    lateness = digests["lateness_s"].to_numpy() if len(digests) else np.array([])
    per_s = (np.bincount(np.floor(lateness - lateness.min()).astype(int)) if lateness.size
             else np.array([0]))
    span = float(lateness.max() - lateness.min()) if lateness.size > 1 else 0.0
    summary = {
        "subscribers": subscribers, "subscribed": int(requests["ok"].sum()), "sent": int(len(digests)),
        "missing": subscribers - int(len(digests)),
        "lateness_s": ({"p50": float(np.quantile(lateness, 0.5)), "p95": float(np.quantile(lateness, 0.95)),
                        "max": float(lateness.max())} if lateness.size else None),
        "send_rate_per_s": {"mean": (len(lateness) - 1) / span if span > 0 else None,
                            "peak_1s": int(per_s.max()), "telegram_limit": send_limit_per_s,
                            "peak_over_limit": bool(per_s.max() > send_limit_per_s)},
        **facts,
    }
    return requests, digests, summary

