"""What one staging process needs to run, as plain data: written by the stack, read by each child.

The stack writes one ``BotConfig`` as JSON into its workdir and starts every child with
``python -m botcap.loadtest.staging --config FILE --instance NAME``: one file describes the whole stack, the
instance name is all that differs. The scenario travels inside it as a plain dict and is validated
again in the child, so a child never sees a scenario the parent would have refused.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlparse

from botcap.loadtest.net import is_loopback_host

from botcap.errors import BadInput
from botcap.scenario import Scenario, load_scenario

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class BotConfig:
    """The whole stack's settings; ``instance`` and ports are per child."""

    scenario: dict
    bot_token: str
    telegram_api_url: str
    claude_api_url: str
    database_url: str
    redis_url: str
    stages_dir: str
    mode: Literal["webhook", "polling"] = "webhook"
    db_schema: str = "botcap_staging"
    redis_prefix: str = "botcap-staging"
    webhook_host: str = "127.0.0.1"
    webhook_port: int = 0               # shared by every instance (SO_REUSEPORT)
    webhook_path: str = "/webhook"
    webhook_secret: str = ""
    claude_api_key: str = "sk-ant-fake-staging"
    allow_non_loopback: list[str] = field(default_factory=list)   # hosts explicitly allowed ("*": any)
    polling_fanout: bool = False        # polling with several instances: one poller, a Redis queue
    handler_cpu_s: float = 0.0          # knob: CPU seconds each update's handler burns more (a slower build)

    def load_scenario(self) -> Scenario:
        return load_scenario(data=self.scenario)

    def dump(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def read(cls, path: Path) -> BotConfig:
        return cls(**json.loads(Path(path).read_text()))

    def check_endpoints(self) -> None:
        """Refuse a Telegram or Anthropic endpoint off this machine unless a flag names its host."""
        check_loopback("telegram_api_url", self.telegram_api_url, self.allow_non_loopback)
        check_loopback("claude_api_url", self.claude_api_url, self.allow_non_loopback)


def check_loopback(what: str, url: str, allowed: list[str] | tuple[str, ...] = ()) -> None:
    """BadInput unless ``url`` is on loopback or its host is named in ``allowed``.

    Why: the staging bot sends load. Pointed by mistake at api.telegram.org or api.anthropic.com it
    would spam real chats or spend real money; only an explicit ``--allow-non-loopback HOST`` may do that.
    """
    host = urlparse(url).hostname or ""
    if not host:
        raise BadInput(f"{what}: must be an http(s) URL with a host (got {url!r})")
    if is_loopback_host(host) or host in allowed or "*" in allowed:
        return
    raise BadInput(f"{what}: {url!r} is not on loopback (127.0.0.0/8, ::1, localhost); the staging stack "
                   f"only talks to local fakes unless --allow-non-loopback {host} names it")
