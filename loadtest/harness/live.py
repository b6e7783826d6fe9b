"""While a run goes: CPU per process (psutil) and a rich live view fed by the records file.

On a shared 2-core machine the generator, the fakes, the bot and the databases compete for CPU;
``CpuMeter`` records each process's CPU use so that a knee can be attributed to a modelled resource
or to CPU contention (ARCHITECTURE.md, Known pitfalls). ``RecordTail`` reads only the new lines of
records.jsonl each tick, so the live view costs little however long the run.
"""

from __future__ import annotations

import json
import time
from collections import deque
from pathlib import Path

import numpy as np
import psutil
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

SHARED_SERVERS = ("postgres", "redis-server")


class CpuMeter:
    """CPU seconds and % of one core per named process (plus the host), between start and stop."""

    def __init__(self) -> None:
        self.procs: dict[str, psutil.Process] = {}
        self.first: dict[str, float] = {}
        self.last: dict[str, float] = {}
        self.peak: dict[str, float] = {}
        self._prev: dict[str, tuple[float, float]] = {}
        self.t0 = time.monotonic()
        self.t1 = self.t0
        self.host0 = psutil.cpu_times()
        self.host1 = self.host0
        # every sample since reset(), for figures per load level (``between``): Unix s, CPU s per
        # process, host busy CPU s
        self.series: list[tuple[float, dict[str, float], float]] = []

    def watch(self, pids: dict[str, int]) -> None:
        """Watch each process by name; a PID already watched under another name takes the new one (the
        staging stack's launcher is its one bot instance when there is one: counted once)."""
        for name, pid in pids.items():
            for old in [n for n, p in self.procs.items() if p.pid == pid and n != name]:
                for table in (self.procs, self.first, self.last, self._prev, self.peak):
                    table.pop(old, None)
            try:
                p = psutil.Process(pid)
                self.procs[name] = p
                self.first[name] = self.last[name] = _cpu(p)
                self._prev[name] = (time.monotonic(), self.first[name])
            except psutil.Error:
                continue

    def reset(self) -> None:
        """Measure from now (the load's start), not from when the processes were found."""
        self.sample()
        self.first = dict(self.last)
        self.t0 = self.t1
        self.host0 = self.host1
        self.peak.clear()
        self.series = [self.series[-1]] if self.series else []

    def watch_shared_servers(self) -> None:
        """PostgreSQL and Redis serve other users too: recorded summed per server, for context."""
        for proc in psutil.process_iter(["name"]):
            if proc.info["name"] in SHARED_SERVERS:
                self.watch({f"{proc.info['name']}[{proc.pid}]": proc.pid})

    def sample(self) -> None:
        now = time.monotonic()
        for name, p in self.procs.items():
            try:
                c = _cpu(p)
            except psutil.Error:
                continue
            t_prev, c_prev = self._prev[name]
            if now - t_prev >= 0.5:
                self.peak[name] = max(self.peak.get(name, 0.0), 100 * (c - c_prev) / (now - t_prev))
                self._prev[name] = (now, c)
            self.last[name] = c
        self.t1 = now
        self.host1 = psutil.cpu_times()
        self.series.append((time.time(), dict(self.last), _busy(self.host1)))

    def between(self, start_unix_s: float, end_unix_s: float) -> dict:
        """CPU between two Unix times, read off the samples (every ~0.5 s, interpolated linearly):
        ``cpu_s`` per watched process (shared servers left out), ``host_busy_cores`` and
        ``other_work_cores`` (the host's busy CPU that no watched process, shared servers included,
        used: another job on the machine).

        Why: one figure for the whole run mixes a ladder's quiet levels with the saturated one past
        its knee (and with its drain); a calibration must also not read the CPU of its held-out levels.
        """
        if len(self.series) < 2 or not end_unix_s > start_unix_s:
            return {"cpu_s": {}, "host_busy_cores": None, "other_work_cores": None}
        ts = np.array([t for t, _, _ in self.series])
        ends = np.clip([start_unix_s, end_unix_s], ts[0], ts[-1])

        def used(values) -> float:
            a, b = np.interp(ends, ts, np.asarray(values, dtype=float))
            return float(b - a)

        cpu, watched_s = {}, 0.0
        for name in self.first:
            value = used([c.get(name, np.nan) for _, c, _ in self.series])
            watched_s += value if np.isfinite(value) else 0.0
            if name.split("[")[0] not in SHARED_SERVERS:
                cpu[name] = round(value, 3) if np.isfinite(value) else None
        wall = float(ends[1] - ends[0])
        if not wall > 0:
            return {"cpu_s": cpu, "host_busy_cores": None, "other_work_cores": None}
        host_s = used([h for _, _, h in self.series])
        return {"cpu_s": cpu, "host_busy_cores": round(host_s / wall, 3),
                "other_work_cores": round(max(0.0, host_s - watched_s) / wall, 3)}

    def summary(self) -> dict:
        wall = max(self.t1 - self.t0, 1e-9)
        procs: dict[str, dict] = {}
        servers: dict[str, dict] = {}
        for name in self.first:
            secs = self.last[name] - self.first[name]
            entry = {"cpu_s": round(secs, 3), "mean_core_pct": round(100 * secs / wall, 1),
                     "peak_core_pct": round(self.peak.get(name, 0.0), 1)}
            base = name.split("[")[0]
            if base in SHARED_SERVERS:
                s = servers.setdefault(base, {"cpu_s": 0.0, "processes": 0})
                s["cpu_s"] = round(s["cpu_s"] + secs, 3)
                s["processes"] += 1
                s["mean_core_pct"] = round(100 * s["cpu_s"] / wall, 1)
            else:
                procs[name] = entry
        busy0, busy1 = _busy(self.host0), _busy(self.host1)
        whole = self.between(self.series[0][0], self.series[-1][0]) if self.series else {}
        return {"wall_s": round(wall, 3), "cores": psutil.cpu_count(), "processes": procs,
                "shared_servers": servers, "host_busy_core_pct": round(100 * (busy1 - busy0) / wall, 1),
                "other_work_cores": whole.get("other_work_cores")}


def _busy(t) -> float:
    """Host CPU seconds not idle (all cores)."""
    return sum(t) - t.idle - getattr(t, "iowait", 0)


def _cpu(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


class RecordTail:
    """Incremental reader of records.jsonl: counts, recent rate and latencies for the live view."""

    def __init__(self, path: Path):
        self.path, self.pos = path, 0
        self.ok = self.failed = self.dropped = 0
        self.by_kind: dict[str, list[float]] = {}
        self.recent: deque[float] = deque(maxlen=20000)   # completion times, for the current rate

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open() as f:
            f.seek(self.pos)
            chunk = f.read()
        end = chunk.rfind("\n") + 1          # a half-written last line waits for the next poll
        self.pos += len(chunk[:end].encode())
        for line in chunk[:end].splitlines():
            rec = json.loads(line)
            if rec.get("t") == "drop":
                self.dropped += 1
            elif rec.get("ok"):
                self.ok += 1
                self.by_kind.setdefault(rec["kind"], []).append(rec["latency_s"])
                self.recent.append(rec["replied_at"])
            else:
                self.failed += 1

    def rate(self, window_s: float = 10.0) -> float:
        now = time.time()
        return sum(1 for t in self.recent if now - t <= window_s) / window_s

    def table(self, title: str) -> Table:
        t = Table(title=title, title_justify="left")
        for col in ("kind", "ok", "p50 s", "p95 s", "max s"):
            t.add_column(col, justify="left" if col == "kind" else "right")
        for kind, lats in sorted(self.by_kind.items()):
            a = np.asarray(lats)
            p50, p95 = np.quantile(a, [0.5, 0.95])
            t.add_row(kind, str(a.size), f"{p50:.3f}", f"{p95:.3f}", f"{a.max():.3f}")
        return t


class LiveView:
    """A rich Live panel on stderr (stdout stays clean for --json); quiet lines when not a terminal."""

    def __init__(self, tail: RecordTail, cpu: CpuMeter, label: str, enabled: bool = True):
        self.tail, self.cpu, self.label = tail, cpu, label
        self.console = Console(stderr=True)
        self.live = Live(console=self.console, refresh_per_second=2, transient=False) \
            if enabled and self.console.is_terminal else None
        self.t0 = time.monotonic()
        self._last_line = 0.0
        self.enabled = enabled

    def __enter__(self) -> LiveView:
        if self.live:
            self.live.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        if self.live:
            self.live.__exit__(*exc)

    def update(self) -> None:
        elapsed = time.monotonic() - self.t0
        tail = self.tail
        head = (f"{self.label}  {elapsed:5.0f} s  ok {tail.ok}  failed {tail.failed}  dropped {tail.dropped}"
                f"  replies/s {tail.rate():.1f}")
        if self.live:
            cpu = "  ".join(f"{n} {100 * (self.cpu.last[n] - self.cpu.first[n]) / max(elapsed, 1e-9):.0f}%"
                            for n in self.cpu.procs if "[" not in n)
            self.live.update(Group(Text(head), Text("cpu (mean % of a core): " + cpu, style="dim"),
                                   tail.table("end-to-end latency so far")))
        elif self.enabled and elapsed - self._last_line >= 10:
            self._last_line = elapsed
            self.console.print(head)
