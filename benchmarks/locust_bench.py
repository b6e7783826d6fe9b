"""Is the load generator ever the bottleneck, and how much does it bias latency?

Three figures, each against an *instant fake* (a raw-asyncio HTTP server in its own process that
speaks just the two routes the Telegram client uses and answers at once):

1. capacity   one Locust process (one worker's worth: a local runner), closed ChatUsers with no
              think time: end-to-end updates/s (target >= 1,000/s) and that process's CPU.
2. ci CPU     the open workload at the ci profile's rate (3/s) and at 10x and 30x it: the Locust
              process's CPU in % of one core (target < 70 % at the ci rate).
3. bias       the same open workload (Poisson, same rate and seed-free length) through Locust and
              through a minimal asyncio client; the fake stamps each reply ``DELAY_S`` after it
              received the update, so ``latency - DELAY_S`` is what the generator itself adds
              (scheduling lag + sending + reading). Reported as p50/p95/p99 of both.

    .venv/bin/python benchmarks/locust_bench.py [--seconds 15] [--json]

On a shared machine the fake, Locust and everyone else compete for the same cores: the fake's CPU
is reported too, and a capacity figure with the fake near 100 % of a core is the fake's limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "100:BENCH"
DELAY_S = 0.05


# ---------------------------------------------------------------------------------- the instant fake
def serve(port_file: str, delay_s: float) -> None:
    """POST .../updates → ok at once (remembers when); GET .../sent/wait → the reply record,
    stamped ``delay_s`` after the update arrived (held back until then, like a long poll)."""
    received: dict[tuple[int, int], float] = {}
    loop = asyncio.new_event_loop()

    class Http(asyncio.Protocol):
        def connection_made(self, transport):
            self.t, self.buf = transport, b""

        def data_received(self, data):
            self.buf += data
            while True:
                head_end = self.buf.find(b"\r\n\r\n")
                if head_end < 0:
                    return
                head = self.buf[:head_end].decode("latin-1")
                length = 0
                for line in head.split("\r\n")[1:]:
                    if line[:15].lower() == "content-length:":
                        length = int(line[15:])
                if len(self.buf) < head_end + 4 + length:
                    return
                body = self.buf[head_end + 4: head_end + 4 + length]
                self.buf = self.buf[head_end + 4 + length:]
                self.handle(head.split(" ", 2)[1], body)

        def handle(self, target: str, body: bytes):
            now = time.time()
            if "/updates" in target:
                msg = json.loads(body)["message"]
                received[msg["chat"]["id"]] = (msg["message_id"], now)   # one request in flight per chat
                self.send(b'{"ok":true,"update_id":1,"last_sent_id":0}')
                return
            q = dict(p.split("=", 1) for p in target.split("?", 1)[1].split("&"))
            chat = int(q["chat_id"])   # any --reply-match: reply_to_message_id is asked only by reply_to
            mid, t0 = received.pop(chat, (int(q.get("reply_to_message_id", 0)), now))
            at = t0 + delay_s
            rec = json.dumps({"ok": True, "result": {"id": 1, "method": "sendMessage", "chat_id": chat,
                                                     "text": "ok", "message_id": 1,
                                                     "reply_to_message_id": mid, "at_unix_s": at}})
            loop.call_later(max(0.0, at - time.time()), self.send, rec.encode())

        def send(self, payload: bytes):
            if not self.t.is_closing():
                self.t.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(payload)).encode() + b"\r\n\r\n" + payload)

    server = loop.run_until_complete(loop.create_server(Http, "127.0.0.1", 0, backlog=1024))
    Path(port_file).write_text(str(server.sockets[0].getsockname()[1]))
    loop.run_forever()


def start_fake(delay_s: float) -> tuple[subprocess.Popen, str]:
    port_file = tempfile.mktemp()
    code = f"import sys; sys.path.insert(0, {str(ROOT)!r}); from benchmarks.locust_bench import serve; " \
           f"serve({port_file!r}, {delay_s})"
    p = subprocess.Popen([sys.executable, "-c", code])
    for _ in range(100):
        if os.path.exists(port_file) and Path(port_file).read_text():
            return p, f"http://127.0.0.1:{Path(port_file).read_text()}"
        time.sleep(0.05)
    p.kill()
    raise RuntimeError("instant fake did not start")


# ---------------------------------------------------------------------------------- Locust runs
def run_locust(url: str, out: Path, *, cls: str, users: int, seconds: float, env: dict[str, str],
               extra: list[str], fake: subprocess.Popen) -> dict:
    records = out / "records.jsonl"
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "loadtest" / "locustfile.py"), cls, "--headless",
           "-u", str(users), "-r", str(users), "-t", f"{int(seconds)}s", "-H", url, "--bot-token", TOKEN,
           "--botcap-records", str(records), "--stop-timeout", "5", "--exit-code-on-error", "0",
           "--loglevel", "WARNING", *extra]
    p = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         cwd=ROOT)
    proc, fproc = psutil.Process(p.pid), psutil.Process(fake.pid)
    c0, f0, t0 = _cpu(proc), _cpu(fproc), time.monotonic()
    c1 = c0
    window = []   # (time, locust cpu, records bytes) while load runs: excludes start-up and shutdown
    while p.poll() is None:
        try:
            c1 = _cpu(proc)
        except psutil.Error:
            break
        size = records.stat().st_size if records.exists() else 0
        if size:
            window.append((time.monotonic(), c1, size))
        time.sleep(0.2)
    wall = time.monotonic() - t0
    recs = [json.loads(line) for line in records.read_text().splitlines()] if records.exists() else []
    reqs = [r for r in recs if r.get("t") == "req"]
    lat = np.array([r["latency_s"] for r in reqs if r["ok"]])
    span = (max(r["posted_at"] for r in reqs) - min(r["posted_at"] for r in reqs)) if len(reqs) > 1 else 1
    steady = [w for w in window if w[2] < window[-1][2]] if window else []  # before the last write
    per_core_s = None
    if len(steady) > 2:
        (_, ca, sa), (_, cb, sb) = steady[0], steady[-1]
        per_core_s = round(len(reqs) * (sb - sa) / window[-1][2] / max(cb - ca, 1e-9), 1)
    return {"requests": len(reqs), "ok": int(lat.size), "dropped": len(recs) - len(reqs),
            "updates_per_s": round(len(reqs) / span, 1),
            "updates_per_locust_core_s": per_core_s,   # what one uncontended core would sustain
            "locust_cpu_core_pct": round(100 * (c1 - c0) / wall, 1),
            "fake_cpu_core_pct": round(100 * (_cpu(fproc) - f0) / wall, 1), "latency_s": _pcts(lat)}


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def _pcts(a: np.ndarray) -> dict:
    if not a.size:
        return {}
    return {k: round(float(np.quantile(a, q)), 5) for k, q in (("p50", .5), ("p95", .95), ("p99", .99))}


# ---------------------------------------------------------------------------------- minimal asyncio client
async def asyncio_open(url: str, rate: float, seconds: float) -> dict:
    import aiohttp

    control = f"{url}/_fake/bot{TOKEN}"
    lat: list[float] = []
    rng = random.Random(1)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000)) as http:
        async def one(chat: int, intended: float):
            msg = {"message_id": 1, "text": "/notes", "chat": {"id": chat, "type": "private"},
                   "from": {"id": chat, "is_bot": False, "first_name": "b"}, "date": int(intended)}
            async with http.post(f"{control}/updates", json={"message": msg}) as r:
                await r.read()
            async with http.get(f"{control}/sent/wait?chat_id={chat}&after_id=0&reply_to_message_id=1"
                                f"&timeout_s=10") as r:
                rec = (await r.json())["result"]
            lat.append(rec["at_unix_s"] - intended)

        tasks, start, t, chat = [], time.time(), 0.0, 1
        while True:
            t += rng.expovariate(rate)
            if t >= seconds:
                break
            await asyncio.sleep(max(0.0, start + t - time.time()))
            chat += 1
            tasks.append(asyncio.create_task(one(chat, start + t)))
        await asyncio.gather(*tasks)
    return {"requests": len(lat), "latency_s": _pcts(np.array(lat))}


# ---------------------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--users", type=int, default=100, help="closed users for the capacity run")
    ap.add_argument("--bias-rate", type=float, default=50)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    out: dict = {"machine": {"cpus": psutil.cpu_count(), "load_avg_1m": psutil.getloadavg()[0]}}
    tmp = Path(tempfile.mkdtemp(prefix="locust-bench-"))
    fake, url = start_fake(0.0)
    try:
        out["capacity"] = run_locust(url, tmp / "cap", cls="ChatUser", users=a.users, seconds=a.seconds,
                                     env={"BOTCAP_THINK_TIME_S": "0"}, extra=[], fake=fake)
        out["capacity"]["target_updates_per_s"] = 1000
        out["ci_cpu"] = {}
        for rate in (3, 30, 90):
            out["ci_cpu"][f"{rate}/s"] = run_locust(url, tmp / f"ci{rate}", cls="ArrivalGenerator", users=1,
                                                     seconds=a.seconds + 5, env={},
                                                     extra=["--arrivals", f"{rate}@{a.seconds:g}"], fake=fake)
    finally:
        fake.kill()
    fake, url = start_fake(DELAY_S)
    try:
        locust_run = run_locust(url, tmp / "bias", cls="ArrivalGenerator", users=1, seconds=a.seconds + 5,
                                env={}, extra=["--arrivals", f"{a.bias_rate:g}@{a.seconds:g}"], fake=fake)
        plain = asyncio.run(asyncio_open(url, a.bias_rate, a.seconds))
    finally:
        fake.kill()
    out["bias"] = {"reply_delay_s": DELAY_S, "rate_per_s": a.bias_rate,
                   "locust_latency_s": locust_run["latency_s"], "asyncio_latency_s": plain["latency_s"],
                   "locust_minus_asyncio_s": {k: round(locust_run["latency_s"][k] - plain["latency_s"][k], 5)
                                              for k in plain["latency_s"]}}
    if a.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k}: {json.dumps(v)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
