"""The staging bot's capacity per instance: command updates/s it answers with p95 < 1 s.

Starts a ``StagingStack`` (webhook, one instance by default, instant fake Claude, Telegram send limits
lifted so that the bot — not the fake's 30 msg/s — is measured), then offers open-loop /start and
/notes updates at rising rates, each from a fresh chat, and times every reply end to end (update
posted → reply recorded by the fake Telegram API). Replies are collected by one poller over the
fake's sent record, not one long-poll per message, to keep the generator light.

    .venv/bin/python benchmarks/staging_bench.py [--rates 25,50,100,200] [--duration 6] [--json]

The generator, the fakes, PostgreSQL and Redis share the machine with the bot: on a small or shared
host the figure is a lower bound, and the bot's own CPU share (printed) says whether it saturated.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from botcap.loadtest.staging.stack import StackInfo, StagingStack  # noqa: E402

from botcap.scenario import load_scenario  # noqa: E402

SETS = ["platform.telegram.send_rate_per_s=100000", "platform.telegram.per_chat_rate_per_s=100",
        "platform.db.pool_min_size_per_instance=5"]


async def step(info: StackInfo, rate: float, duration_s: float, first_chat: int) -> dict:
    base = f"{info.telegram_api_url}/_fake/bot{info.bot_token}"
    n = int(rate * duration_s)
    sent_at: dict[int, float] = {}
    replied: dict[int, float] = {}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200)) as session:
        async with session.get(f"{base}/stats") as r:
            after = int((await r.json())["result"]["last_sent_id"])
        done = asyncio.Event()

        async def poll():
            nonlocal after
            while not done.is_set():
                async with session.get(f"{base}/sent", params={"after_id": str(after)}) as r:
                    for rec in (await r.json())["result"]:
                        after = max(after, rec["id"])
                        if rec["chat_id"] in sent_at:
                            replied[rec["chat_id"]] = rec["at_unix_s"]
                await asyncio.sleep(0.05)

        async def send(i: int):
            chat = first_chat + i
            text = "/start" if i % 2 else "/notes"
            update = {"update_id": chat, "message": {
                "message_id": 1, "date": int(time.time()), "text": text,
                "chat": {"id": chat, "type": "private"},
                "from": {"id": chat, "is_bot": False, "first_name": "B"},
                "entities": [{"type": "bot_command", "offset": 0, "length": len(text)}]}}
            sent_at[chat] = time.time()
            async with session.post(f"{base}/updates", json=update) as r:
                await r.read()

        poller = asyncio.create_task(poll())
        bot = psutil.Process(info.pids["bot-1"])
        cpu0 = bot.cpu_times()
        t0 = time.monotonic()
        tasks = []
        for i in range(n):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(i)))
        await asyncio.gather(*tasks)
        offered_s = time.monotonic() - t0
        deadline = time.monotonic() + 10
        while len(replied) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        cpu1 = bot.cpu_times()
        wall = time.monotonic() - t0
        done.set()
        await poller
        async with session.get(f"{base}/stats") as r:
            tg = (await r.json())["result"]
    lat = np.array([replied[c] - sent_at[c] for c in replied]) if replied else np.array([np.inf])
    stages = [json.loads(line) for line in (info.stages_dir / "stages-bot-1.jsonl").open()]
    stages = [x for x in stages if x["chat_id"] in sent_at]

    def p95(field: str) -> float:
        return float(np.percentile([x[field] for x in stages], 95)) if stages else float("nan")

    return {"rate_per_s": rate, "offered": n, "answered": len(replied),
            "achieved_per_s": len(replied) / max(offered_s, 1e-9),
            "p50_s": float(np.percentile(lat, 50)), "p95_s": float(np.percentile(lat, 95)),
            "max_s": float(lat.max()),
            "bot_p95_s": {f: p95(f) for f in ("handler_s", "db_acquire_s", "db_query_s", "telegram_send_s")},
            "telegram_429_total": tg.get("http_429_count", 0),
            "webhook_in_flight_peak": tg.get("webhook_in_flight_peak", 0),
            "bot_cpu_share": ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)) / wall,
            "bot_cpu_ms_per_update": 1000 * ((cpu1.user + cpu1.system) - (cpu0.user + cpu0.system))
            / max(len(replied), 1)}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rates", default="25,50,100,200,300")
    p.add_argument("--duration", type=float, default=6.0)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        stack = StagingStack(scenario=load_scenario(sets=SETS), instances=1, mode="webhook",
                             workdir=Path(tmp), claude_time_scale=0.0)
        with stack as info:
            chat = 5_000_000
            for rate in rates:
                r = asyncio.run(step(info, rate, args.duration, chat))
                chat += r["offered"] + 1
                results.append(r)
                if not args.json:
                    print(f"rate {rate:6.0f}/s  answered {r['answered']:5d}/{r['offered']:<5d} "
                          f"achieved {r['achieved_per_s']:6.1f}/s  p50 {r['p50_s']:.3f} s  "
                          f"p95 {r['p95_s']:.3f} s  bot CPU {r['bot_cpu_share']:.0%} "
                          f"({r['bot_cpu_ms_per_update']:.1f} ms/update)  "
                          f"in-bot p95 {json.dumps({k: round(v, 3) for k, v in r['bot_p95_s'].items()})}  "
                          f"webhook in flight peak {r['webhook_in_flight_peak']}", flush=True)
                if r["p95_s"] > 2 or r["answered"] < 0.9 * r["offered"]:
                    break
    ok = [r for r in results if r["p95_s"] < 1.0 and r["answered"] >= 0.99 * r["offered"]]
    capacity = max((r["achieved_per_s"] for r in ok), default=0.0)
    cpu_ms = [r["bot_cpu_ms_per_update"] for r in ok]
    cpu_bound = 1000 / float(np.median(cpu_ms)) if cpu_ms else float("nan")
    summary = {"instances": 1, "mode": "webhook", "kind": "command", "capacity_per_s_at_p95_lt_1s": capacity,
               "cpu_bound_estimate_per_s": cpu_bound,
               "cpu_count": psutil.cpu_count(), "load_avg": list(psutil.getloadavg()), "steps": results}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"bot CPU per command update: {1000 / cpu_bound:.1f} ms -> at most {cpu_bound:.0f} updates/s "
              "on one dedicated core")
        print(f"capacity per instance (commands, p95 < 1 s): {capacity:.0f} updates/s "
              f"(host: {psutil.cpu_count()} CPUs, load average {psutil.getloadavg()[0]:.1f} — shared)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
