"""Throughput of the fake Telegram Bot API: sendMessage/s and injected updates/s.

The fake runs in its own process (``python -m botcap.loadtest.fakes.telegram``, send limits raised so that 429
does not cap it); this process drives it with many keep-alive aiohttp connections, posting form bodies
as aiogram does. The target is 3,000 sendMessage/s on one core. Because the client shares the machine,
the server's own CPU use is measured too (psutil) and the rate per server core-second is reported:
when the server is below 100 % of a core the client, not the fake, was the limit.

    .venv/bin/python benchmarks/fake_telegram_bench.py [--seconds 5] [--connections 64] [--clients 1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import subprocess
import sys
import time

import aiohttp
import psutil

TARGET_SEND_PER_S = 3000
TOKEN = "100:" + "B" * 35


async def _drive(url: str, seconds: float, connections: int, kind: str, offset: int) -> int:
    done = 0
    stop_at = time.monotonic() + seconds
    conn = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=conn) as http:
        async def worker(w: int) -> None:
            nonlocal done
            i = 0
            while time.monotonic() < stop_at:
                i += 1
                if kind == "send":
                    chat = offset + w * 1_000_000 + i % 1000
                    async with http.post(f"{url}/bot{TOKEN}/sendMessage",
                                         data={"chat_id": str(chat), "text": "benchmark reply"}) as r:
                        await r.read()
                        ok = r.status == 200
                else:
                    update = {"message": {"chat": {"id": offset + w}, "text": "hi"}}
                    async with http.post(f"{url}/_fake/bot{TOKEN}/updates", json=update) as r:
                        await r.read()
                        ok = r.status == 200
                if not ok:
                    raise RuntimeError(f"{kind}: HTTP {r.status}")
                done += 1

        await asyncio.gather(*(worker(w) for w in range(connections)))
    return done


def _client(url, seconds, connections, kind, offset, out):
    out.put(asyncio.run(_drive(url, seconds, connections, kind, offset)))


def measure(url: str, server: psutil.Process, kind: str, seconds: float, connections: int,
            clients: int) -> dict:
    out: mp.Queue = mp.Queue()
    procs = [mp.Process(target=_client, args=(url, seconds, connections, kind, k * 10**9, out))
             for k in range(clients)]
    cpu0 = server.cpu_times()
    t0 = time.monotonic()
    for p in procs:
        p.start()
    total = sum(out.get() for _ in procs)
    for p in procs:
        p.join()
    wall = time.monotonic() - t0
    cpu1 = server.cpu_times()
    cpu_s = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
    return {"requests": total, "wall_s": round(wall, 2), "per_s": round(total / wall),
            "server_cpu_share": round(cpu_s / wall, 2),
            "per_server_core_s": round(total / cpu_s) if cpu_s > 0 else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--clients", type=int, default=1, help="client processes")
    args = ap.parse_args()
    proc = subprocess.Popen([sys.executable, "-m", "botcap.loadtest.fakes.telegram", "--port", "0",
                             "--send-rate-per-s", "1000000", "--per-chat-rate-per-s", "1000000",
                             "--per-chat-burst", "1000000"], stdout=subprocess.PIPE, text=True)
    try:
        url = json.loads(proc.stdout.readline())["url"]
        server = psutil.Process(proc.pid)
        send = measure(url, server, "send", args.seconds, args.connections, args.clients)
        inject = measure(url, server, "inject", args.seconds, args.connections, args.clients)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    result = {
        "sendMessage": send, "inject_update": inject, "target_send_per_s": TARGET_SEND_PER_S,
        "ratio_to_target": round(send["per_s"] / TARGET_SEND_PER_S, 2),
        "ratio_to_target_per_server_core": (round(send["per_server_core_s"] / TARGET_SEND_PER_S, 2)
                                            if send["per_server_core_s"] else None),
        "cpu_count": psutil.cpu_count(), "load_avg_1m": round(psutil.getloadavg()[0], 2),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
