"""Throughput of the fake Claude API at instant latency: is the fake ever the bottleneck? (target 2,000/s)

Starts ``python -m botcap.loadtest.fakes.claude --time-scale 0`` in its own process (pinned to one core when
the machine allows), drives it from other processes with multi-connection aiohttp clients, and
prints requests/s, the ratio to the 2,000 target, the status codes seen and the server's CPU use (a
server near 100% of one core is the limit being measured; well below means the client was).

Requests rotate over 1,000 API keys so that the default scenario's 4,000 RPM per key never answers
429: the rate-limit buckets and headers are still computed for every request.

    .venv/bin/python benchmarks/fake_claude_bench.py [--duration 10] [--connections 64]
                                                     [--clients 1] [--stream] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import selectors
import signal
import subprocess
import sys
import time
from collections import Counter

TARGET_RPS = 2000
KEYS = 1000


def _body(stream: bool) -> bytes:
    # a chat_simple-sized prompt: ~1,500 input tokens, the bot's max_tokens
    return json.dumps({"model": "claude-haiku-4-5", "max_tokens": 1024, "stream": stream,
                       "system": "You are a helpful note-keeping assistant. " * 20,
                       "messages": [{"role": "user", "content": "Summarise my notes about the trip. " * 150}]}
                      ).encode()


async def _drive(url: str, connections: int, duration_s: float, stream: bool,
                 offset: int) -> tuple[int, dict]:
    import aiohttp

    body = _body(stream)
    counts: Counter[int] = Counter()
    deadline = time.perf_counter() + duration_s
    conn = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(url, connector=conn) as session:
        async def worker(i: int) -> None:
            n = offset + i
            while time.perf_counter() < deadline:
                n += connections
                headers = {"x-api-key": f"bench-{n % KEYS}", "anthropic-version": "2023-06-01",
                           "content-type": "application/json"}
                async with session.post("/v1/messages", data=body, headers=headers) as resp:
                    await resp.read()
                    counts[resp.status] += 1
        await asyncio.gather(*(worker(i) for i in range(connections)))
    return sum(counts.values()), dict(counts)


def _client(url: str, connections: int, duration_s: float, stream: bool, offset: int, cpu: int | None,
            out) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    out.put(asyncio.run(_drive(url, connections, duration_s, stream, offset)))


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=1.0)
    p.add_argument("--connections", type=int, default=64, help="per client process")
    p.add_argument("--clients", type=int, default=1, help="client processes")
    p.add_argument("--stream", action="store_true", help="stream: true (SSE) instead of whole messages")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpu = cpus[0] if len(cpus) >= 2 else None
    client_cpus = [c for c in cpus if c != server_cpu] or [None]
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    pin = (lambda: os.sched_setaffinity(0, {server_cpu})) if server_cpu is not None else None
    cmd = [sys.executable, "-m", "botcap.loadtest.fakes.claude", "--time-scale", "0", "--seed", "1"]
    server = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, cwd=root, preexec_fn=pin)
    try:
        sel = selectors.DefaultSelector()
        sel.register(server.stdout, selectors.EVENT_READ)
        if not sel.select(60):
            print("the fake did not print its URL within 60 s", file=sys.stderr)
            return 1
        url = json.loads(server.stdout.readline())["url"]
        asyncio.run(_drive(url, 8, args.warmup, args.stream, 0))  # warm up: imports, caches, JIT-free paths
        queue: mp.Queue = mp.Queue()
        procs = [mp.Process(target=_client,
                            args=(url, args.connections, args.duration, args.stream, i * args.connections,
                                  client_cpus[i % len(client_cpus)], queue))
                 for i in range(args.clients)]
        cpu0, t0 = _cpu_s(server.pid), time.perf_counter()
        for proc in procs:
            proc.start()
        results = [queue.get() for _ in procs]
        wall = time.perf_counter() - t0
        cpu = _cpu_s(server.pid) - cpu0
        for proc in procs:
            proc.join()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(15)
    total = sum(n for n, _ in results)
    statuses: Counter[str] = Counter()
    for _, c in results:
        statuses.update({str(k): v for k, v in c.items()})
    rps = total / args.duration
    report = {"requests": total, "duration_s": args.duration, "requests_per_s": round(rps, 1),
              "ratio_to_target": round(rps / TARGET_RPS, 2), "target_per_s": TARGET_RPS,
              "statuses": dict(statuses), "server_cpu_share_of_one_core": round(cpu / wall, 2),
              "server_cpu_ms_per_request": round(1000 * cpu / max(total, 1), 3),
              # what one fully busy core would serve at this CPU cost per request (the client, not the
              # fake, is the limit when the share above is well below 1)
              "one_core_capacity_per_s": round(total / cpu) if cpu else None,
              "server_pinned_to_cpu": server_cpu, "clients": args.clients, "connections": args.connections,
              "stream": args.stream, "cpus_visible": len(cpus), "load_avg_1m": round(os.getloadavg()[0], 2)}
    if args.json:
        print(json.dumps(report))
    else:
        print(f"fake Claude API, time_scale 0, {'stream' if args.stream else 'non-stream'}: "
              f"{rps:,.0f} requests/s = {rps / TARGET_RPS:.2f} x the {TARGET_RPS:,} target "
              f"(server CPU {cpu / wall:.0%} of one core, {1000 * cpu / max(total, 1):.3f} ms per request "
              f"= {total / cpu if cpu else float('nan'):,.0f} requests/s per fully busy core; "
              f"statuses {dict(statuses)}; "
              f"load average {os.getloadavg()[0]:.1f} on {len(cpus)} CPUs)")
    return 0 if statuses.keys() <= {"200"} else 1


if __name__ == "__main__":
    sys.exit(main())
