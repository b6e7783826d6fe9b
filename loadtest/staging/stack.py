"""``StagingStack``: the fakes, the migrations, N bot instances and the scheduler, as child processes.

The library the load-test harness uses (and ``botcap staging up`` wraps): ``start()`` returns a
``StackInfo`` with every URL once every child answers; ``stop()`` (also on errors, ``__exit__`` and at
exit) terminates them all. Each stack gets its own PostgreSQL schema and Redis key prefix, so stacks
never see each other's data on shared servers; both are removed by ``stop()`` unless ``keep_data``.
"""

from __future__ import annotations

import asyncio
import atexit
import json
import os
import secrets
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal
from urllib.request import Request, urlopen

import yaml
from botcap.loadtest.staging.config import DEFAULT_DATABASE_URL, DEFAULT_REDIS_URL, BotConfig, check_loopback
from botcap.loadtest.staging.db import migrate
from botcap.loadtest.staging.procs import Child, stop_all
from botcap.loadtest.staging.services import check_services, drop_data

from botcap.errors import BadInput
from botcap.scenario import Scenario, load_scenario

READY_TIMEOUT_S = 60.0


@dataclass
class StackInfo:
    telegram_api_url: str
    claude_api_url: str
    bot_token: str
    mode: str
    webhook_url: str | None
    webhook_secret: str | None
    instance_urls: list[str]
    scheduler_url: str
    stages_dir: Path
    database_url: str
    redis_url: str
    pids: dict[str, int]
    db_schema: str = ""
    redis_prefix: str = ""
    logs_dir: Path | None = None

    def to_json(self) -> dict:
        d = asdict(self)
        d["stages_dir"] = str(self.stages_dir)
        d["logs_dir"] = str(self.logs_dir) if self.logs_dir else None
        return d

    @classmethod
    def from_json(cls, data: dict) -> StackInfo:
        """The inverse of ``to_json`` (e.g. from the output of ``botcap staging up --json``)."""
        d = dict(data)
        d["stages_dir"] = Path(d["stages_dir"])
        d["logs_dir"] = Path(d["logs_dir"]) if d.get("logs_dir") else None
        return cls(**d)


def _reserve_port() -> socket.socket:
    """A bound (not listening) SO_REUSEPORT socket: holds the shared webhook port for the instances."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", 0))
    return s


def _post_json(url: str, body: dict, timeout_s: float = 10) -> dict:
    req = Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urlopen(req, timeout=timeout_s) as r:
        return json.loads(r.read())


def _wait_http(url: str, timeout_s: float) -> None:
    end = time.monotonic() + timeout_s
    while True:
        try:
            with urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            if time.monotonic() > end:
                raise BadInput(f"{url}: did not answer within {timeout_s:.0f} s") from None
        time.sleep(0.1)


class StagingStack:
    def __init__(self, *, scenario: Scenario | None = None, instances: int = 1,
                 mode: Literal["webhook", "polling"] = "webhook", workdir: Path,
                 database_url: str | None = None, redis_url: str | None = None,
                 claude_time_scale: float = 1.0, allow_non_loopback: bool | list[str] = False,
                 seed: int | None = None, keep_data: bool = False,
                 telegram_api_url: str | None = None, claude_api_url: str | None = None,
                 bot_token: str | None = None, handler_cpu_s: float = 0.0):
        """``telegram_api_url`` / ``claude_api_url``: use an API already running there instead of starting
        that fake (refused off loopback unless ``allow_non_loopback`` is True or names the host)."""
        if instances < 1:
            raise BadInput(f"instances: must be >= 1 (got {instances})")
        if mode not in ("webhook", "polling"):
            raise BadInput(f"mode: must be webhook or polling (got {mode!r})")
        self.scenario = scenario or load_scenario()
        self.instances, self.mode = instances, mode
        self.workdir = Path(workdir)
        self.database_url = database_url or os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
        self.redis_url = redis_url or os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
        self.claude_time_scale = claude_time_scale
        self.allowed_hosts = (["*"] if allow_non_loopback is True else list(allow_non_loopback or []))
        self.external = {"telegram": telegram_api_url, "claude": claude_api_url}
        self.bot_token = bot_token
        self.seed, self.keep_data = seed, keep_data
        self.handler_cpu_s = handler_cpu_s   # BotConfig.handler_cpu_s: a slower build, for the capacity gate
        self.stack_id = secrets.token_hex(4)
        self.db_schema = f"botcap_staging_{self.stack_id}"
        self.redis_prefix = f"botcap-staging:{self.stack_id}"
        self._children: list[Child] = []
        self._port_holder: socket.socket | None = None
        self._started = False
        self.info: StackInfo | None = None

    # -------------------------------------------------------------------------------- lifecycle
    def start(self) -> StackInfo:
        for name, url in self.external.items():      # refused before anything is started
            if url is not None:
                check_loopback(f"{name}_api_url", url, self.allowed_hosts)
        check_services(self.database_url, self.redis_url)
        self._started = True
        atexit.register(self.stop)
        try:
            return self._start()
        except BaseException:
            self.stop()
            raise

    def _phase(self, what: str) -> None:
        """One line per start-up phase in logs/stack.log (where a slow start spends its time)."""
        with (self.logs_dir / "stack.log").open("a") as f:
            f.write(f"{time.time() - self._t0:7.2f} s  {what}\n")

    def _spawn(self, name: str, args: list[str]) -> Child:
        child = Child(name, [sys.executable, *args], self.logs_dir / f"{name}.log")
        self._children.append(child)
        return child

    def _start(self) -> StackInfo:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.logs_dir = self.workdir / "logs"
        self.logs_dir.mkdir(exist_ok=True)
        self._t0 = time.time()
        stages_dir = self.workdir / "stages"
        scenario_file = self.workdir / "scenario.yaml"
        scenario_file.write_text(yaml.safe_dump(self.scenario.model_dump(mode="json"), sort_keys=False))

        claude_args = ["-m", "botcap.loadtest.fakes.claude", "--port", "0", "--scenario", str(scenario_file),
                       "--time-scale", str(self.claude_time_scale)]
        if self.seed is not None:
            claude_args += ["--seed", str(self.seed)]
        fakes = {}
        if self.external["telegram"] is None:
            fakes["telegram"] = self._spawn("telegram", ["-m", "botcap.loadtest.fakes.telegram",
                                                         "--port", "0", "--scenario", str(scenario_file)])
        if self.external["claude"] is None:
            fakes["claude"] = self._spawn("claude", claude_args)
        self._phase("fakes spawned")
        asyncio.run(migrate(self.database_url, self.db_schema))
        self._phase("migrated")
        urls = {name: fakes[name].ready(READY_TIMEOUT_S)["url"] if url is None else url.rstrip("/")
                for name, url in self.external.items()}
        telegram_url, claude_url = urls["telegram"], urls["claude"]
        self._phase("fakes ready")

        token = self.bot_token or f"{100000 + secrets.randbelow(900000)}:{secrets.token_urlsafe(27)[:35]}"
        secret = secrets.token_urlsafe(24) if self.mode == "webhook" else ""
        self._port_holder = _reserve_port()
        port = self._port_holder.getsockname()[1]
        config = BotConfig(
            scenario=self.scenario.model_dump(mode="json"), bot_token=token, telegram_api_url=telegram_url,
            claude_api_url=claude_url, database_url=self.database_url, redis_url=self.redis_url,
            stages_dir=str(stages_dir), mode=self.mode, db_schema=self.db_schema,
            redis_prefix=self.redis_prefix,
            webhook_port=port, webhook_secret=secret, polling_fanout=self.instances > 1,
            allow_non_loopback=self.allowed_hosts, handler_cpu_s=self.handler_cpu_s)
        config.check_endpoints()
        config_file = self.workdir / "stack-config.json"
        config.dump(config_file)

        cfg = ["-m", "botcap.loadtest.staging", "--config", str(config_file)]
        names = [f"bot-{i}" for i in range(1, self.instances + 1)]
        if self.scenario.scheduler.placement == "separate":
            names.append("scheduler:scheduler")
        # one launcher imports once and forks every instance (see loadtest/staging/__main__.py)
        launcher = self._spawn("bots", [*cfg, *(a for n in names for a in ("--instance", n))])
        ready = {}
        for _ in names:
            line = launcher.ready(READY_TIMEOUT_S)
            ready[line["instance"]] = line
            self._phase(f"{line['instance']} ready")
        instance_urls = [ready[n]["url"] for n in names if not n.endswith(":scheduler")]
        sched = "scheduler" in ready
        for url in instance_urls:
            _wait_http(url + "/healthz", 10)

        webhook_url = None
        api = f"{telegram_url}/bot{token}"
        if self.mode == "webhook":
            webhook_url = f"http://127.0.0.1:{port}{config.webhook_path}"
            answer = _post_json(f"{api}/setWebhook", {
                "url": webhook_url, "secret_token": secret,
                "max_connections": self.scenario.platform.telegram.webhook_max_connections})
            if not answer.get("ok"):
                raise BadInput(f"setWebhook on the fake Telegram API failed: {answer}")
        self._phase("webhook set" if webhook_url else "polling")
        self.info = StackInfo(
            telegram_api_url=telegram_url, claude_api_url=claude_url, bot_token=token, mode=self.mode,
            webhook_url=webhook_url, webhook_secret=secret or None, instance_urls=instance_urls,
            scheduler_url=ready["scheduler"]["url"] if sched else instance_urls[0], stages_dir=stages_dir,
            database_url=self.database_url, redis_url=self.redis_url,
            pids={**{name: c.pid for name, c in fakes.items()}, "launcher": launcher.pid,
                  **{name: line["pid"] for name, line in ready.items()}}, db_schema=self.db_schema,
            redis_prefix=self.redis_prefix, logs_dir=self.logs_dir)
        (self.workdir / "stack.json").write_text(json.dumps(self.info.to_json(), indent=2))
        return self.info

    def stop(self) -> None:
        """Terminate every child (bots first, then the fakes); idempotent; drops the stack's data."""
        if not self._started:
            return
        self._started = False
        bots = [c for c in self._children if c.name not in ("telegram", "claude")]
        stop_all(bots, grace_s=10)
        stop_all([c for c in self._children if c not in bots])
        self._children.clear()
        if self._port_holder is not None:
            self._port_holder.close()
            self._port_holder = None
        # Redis keys (clock, locks, FSM, polling queue) are always removed; the schema unless keep_data
        schema = None if self.keep_data else self.db_schema
        drop_data(self.database_url, schema, self.redis_url, self.redis_prefix)
        atexit.unregister(self.stop)

    def __enter__(self) -> StackInfo:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
