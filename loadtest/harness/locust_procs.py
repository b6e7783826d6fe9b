"""Locust as its own processes: one local runner, or a master with N local workers.

Never imported by Locust itself and never imports it (gevent monkey-patching stays in the Locust
processes). Configuration goes through Locust flags and the locustfile's ``--bot-*``/``BOTCAP_*``
options; the harness reads the results from files (CSV, HTML, records.jsonl).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

LOCUSTFILE = Path(__file__).resolve().parents[1] / "locustfile.py"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LocustSpec:
    """Everything one Locust run needs."""

    class_name: str
    host: str
    users: int
    run_time_s: float
    out: Path
    options: dict[str, str] = field(default_factory=dict)   # locustfile options: --name value
    env: dict[str, str] = field(default_factory=dict)
    workers: int = 0
    stop_timeout_s: float = 30.0

    def common(self) -> list[str]:
        return [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE)]


@dataclass
class LocustRun:
    """The running processes: ``main`` (local runner or master) and ``workers``."""

    main: subprocess.Popen
    workers: list[subprocess.Popen]
    logs: list[Path]

    @property
    def pids(self) -> dict[str, int]:
        out = {"locust-master" if self.workers else "locust": self.main.pid}
        out.update({f"locust-worker-{i + 1}": w.pid for i, w in enumerate(self.workers)})
        return out

    def interrupt(self) -> None:
        """SIGINT: Locust stops, writes its HTML report and CSVs, and exits."""
        for p in [self.main, *self.workers]:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)

    def kill(self) -> None:
        for p in [self.main, *self.workers]:
            if p.poll() is None:
                p.kill()
        for p in [self.main, *self.workers]:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def wait_workers(self, timeout_s: float = 10) -> None:
        for w in self.workers:
            try:
                w.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                w.kill()


def start(spec: LocustSpec) -> LocustRun:
    spec.out.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **spec.env, "PYTHONUNBUFFERED": "1"}
    opts = [a for k, v in spec.options.items() for a in (f"--{k}", str(v))]
    main_args = [*spec.common(), spec.class_name, "--headless", "-u", str(spec.users),
                 "-r", str(max(spec.users, 1)), "-t", f"{max(1, round(spec.run_time_s))}s",
                 "-H", spec.host, "--stop-timeout", str(round(spec.stop_timeout_s)),
                 "--csv", str(spec.out / "locust"), "--csv-full-history",
                 "--html", str(spec.out / "locust.html"),
                 "--exit-code-on-error", "0", *opts]
    logs = [spec.out / "locust.log"]
    workers: list[subprocess.Popen] = []
    if spec.workers:
        port = free_port()
        main_args += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                      "--expect-workers", str(spec.workers), "--expect-workers-max-wait", "60"]
        for i in range(spec.workers):
            log = spec.out / f"locust-worker-{i + 1}.log"
            logs.append(log)
            workers.append(subprocess.Popen(
                [*spec.common(), "--worker", "--master-host", "127.0.0.1", "--master-port", str(port)],
                stdout=log.open("w"), stderr=subprocess.STDOUT, env=env, start_new_session=True))
    main = subprocess.Popen(main_args, stdout=logs[0].open("w"), stderr=subprocess.STDOUT, env=env,
                            start_new_session=True)
    return LocustRun(main=main, workers=workers, logs=logs)
