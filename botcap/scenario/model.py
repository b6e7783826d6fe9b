"""The scenario: one declarative, frozen description of a platform and its users.

Every engine (sim/, loadtest/, costmodel/) reads a ``Scenario`` and never writes it back. The
defaults are not here but in ``default.yaml`` (one source of truth, each value with its origin);
a user's file is merged over it by ``botcap.scenario.loader``. Units are in the names.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from botcap.scenario.base import NonNegSeconds, PosSeconds, Share, Spec
from botcap.scenario.costs import CostsSpec
from botcap.scenario.dists import Dist

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")

DIURNAL_PROFILES: dict[str, list[float]] = {
    # Hourly weights 00..23 (relative). "default": a messaging bot's day in one time zone — quiet
    # nights, a morning rise, a lunch and an evening peak (shape of public Telegram-bot analytics).
    "default": [0.2, 0.1, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 1.5, 1.8, 2.0, 1.9,
                1.8, 1.7, 1.6, 1.5, 1.5, 1.6, 1.8, 2.0, 2.1, 1.8, 1.2, 0.6],
    # Equal weights: a constant-rate day, for checks against theory.
    "flat": [1.0] * 24,
}


def hhmm_to_s(value: str) -> float:
    """Seconds after midnight of an "HH:MM" string (validated by the schema)."""
    hours, minutes = value.split(":")
    return int(hours) * 3600.0 + int(minutes) * 60.0


def _check_hhmm(value) -> str:
    # YAML 1.1 reads an unquoted 10:00 as the base-60 integer 600: take it back as "10:00".
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 1440:
        value = f"{value // 60:02d}:{value % 60:02d}"
    if not isinstance(value, str) or not _HHMM.match(value):
        raise ValueError(f'must be a time of day "HH:MM" from 00:00 to 23:59 (got {value!r})')
    return value


# --------------------------------------------------------------------------------------------
# horizon
class Horizon(Spec):
    start: str = Field(description='simulated clock at t=0, "HH:MM"')
    hours: float = Field(gt=0, le=744, description="simulated length (at most 31 days)")
    warmup_s: NonNegSeconds = Field(description="results before this are discarded")
    replications: int = Field(ge=1, le=1000)

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, v) -> str:
        return _check_hhmm(v)

    @model_validator(mode="after")
    def _measures_something(self) -> Horizon:
        # a horizon inside its warm-up measures nothing, and "no data" must never read as "SLO met"
        if self.hours * 3600.0 <= self.warmup_s:
            raise ValueError(f"warmup_s: must be shorter than hours = {self.hours:g} h = "
                             f"{self.hours * 3600.0:g} s, or nothing is measured (got {self.warmup_s:g})")
        return self


# --------------------------------------------------------------------------------------------
# workload
class Arrivals(Spec):
    process: Literal["diurnal", "poisson"]
    rate_per_s: float | None = Field(default=None, gt=0, le=1e6,
                                     description="constant rate, used by process: poisson")
    diurnal_profile: str | list[Annotated[float, Field(ge=0)]] = Field(
        description="a named profile (default, flat) or 24 hourly weights")

    @field_validator("diurnal_profile")
    @classmethod
    def _profile(cls, v):
        if isinstance(v, str):
            if v not in DIURNAL_PROFILES:
                raise ValueError(f"must be one of {', '.join(DIURNAL_PROFILES)} or 24 weights (got {v!r})")
        elif len(v) != 24 or sum(v) <= 0:
            raise ValueError(f"must have 24 hourly weights with a positive sum (got {len(v)})")
        return v

    @model_validator(mode="after")
    def _rate_for_poisson(self) -> Arrivals:
        if self.process == "poisson" and self.rate_per_s is None:
            raise ValueError("rate_per_s: required when process is poisson (got null)")
        return self

    @property
    def hourly_weights(self) -> list[float]:
        return DIURNAL_PROFILES[self.diurnal_profile] if isinstance(self.diurnal_profile, str) \
            else list(self.diurnal_profile)


class KindMessage(Spec):
    """What the load generator sends for a kind, in the bot's own language (a bot without commands
    gets free text). The generator appends a short marker (``#r<hex>``) to every text or callback data."""

    type: Literal["command", "text", "callback"] = Field(
        default="text", description="command (text starting with /), free text, or a button press")
    text: str | None = Field(default=None, min_length=1, max_length=4000,
                             description='the text ("{n}" = a counter) or the callback data; null = '
                                         "free text of `chars` characters")
    chars: int = Field(default=60, ge=1, le=4000, description="length of generated free text")

    @model_validator(mode="after")
    def _shape(self) -> KindMessage:
        if self.type == "command" and not (self.text or "").startswith("/"):
            raise ValueError(f"text: a command must start with / (got {self.text!r})")
        if self.type == "callback" and (self.text is None or len(self.text.encode()) > 44):
            raise ValueError("text: callback data of 1..44 bytes is required (Telegram allows 64, the "
                             f"marker takes 20) (got {self.text!r})")
        return self


class KindSpec(Spec):
    """One kind of user message: a chain of stages inside one handler."""

    service_s: Dist = Field(description="CPU time on the instance's event loop")
    db_queries: int = Field(default=0, ge=0, le=1000)
    model: str | None = Field(default=None, description="Claude model key, null = no Claude call")
    input_tokens: Dist | None = None
    output_tokens: Dist | None = None
    max_tokens: int = Field(default=1024, ge=1, le=200_000, description="output cap sent to Claude")
    mcp_calls: int = Field(default=0, ge=0, le=100)
    telegram_sends: int = Field(default=1, ge=0, le=100, description="replies sent per message")
    message: KindMessage | None = Field(
        default=None, description="what the load generator sends; null = the reference bot's text for "
                                  "its kinds (/notes, /note, /deep, a question), free text for any other")

    @model_validator(mode="after")
    def _tokens_with_model(self) -> KindSpec:
        if self.model is not None and (self.input_tokens is None or self.output_tokens is None):
            raise ValueError("input_tokens and output_tokens: required when model is set (got null)")
        return self


class Digests(Spec):
    subscribers_share: Share = Field(description="share of DAU subscribed to a daily digest")
    preferred_times: dict[str, Share] = Field(description='share of subscribers per "HH:MM"')
    spread_share: Share = Field(description="share whose time is spread over 07:00-23:00")
    model: str
    input_tokens: Dist
    output_tokens: Dist
    max_tokens: int = Field(ge=1, le=200_000)
    db_queries: int = Field(ge=0, le=1000)
    service_s: Dist

    @field_validator("preferred_times", mode="before")
    @classmethod
    def _times(cls, v):
        if isinstance(v, dict):
            return {_check_hhmm(key): share for key, share in v.items()}
        return v

    @model_validator(mode="after")
    def _shares_sum(self) -> Digests:
        total = sum(self.preferred_times.values()) + self.spread_share
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"preferred_times + spread_share: must sum to 1 (got {total:.6g})")
        return self


class Workload(Spec):
    dau: int = Field(ge=1, le=100_000_000, description="daily active users")
    arrivals: Arrivals
    sessions_per_user: float = Field(gt=0, le=1000, description="sessions per active user per day")
    messages_per_session: float = Field(ge=1, le=1000)
    think_time_s: Dist = Field(description="pause between a user's messages within a session")
    mix: dict[str, Share] = Field(description="share of messages per kind; sums to 1")
    kinds: dict[str, KindSpec]
    digests: Digests

    @model_validator(mode="after")
    def _mix_matches_kinds(self) -> Workload:
        if not self.mix:
            raise ValueError("mix: must name at least one kind (got {})")
        total = sum(self.mix.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"mix: must sum to 1 within 1e-6 (got {total:.9g})")
        missing = sorted(set(self.mix) - set(self.kinds))
        if missing:
            raise ValueError(f"mix: kinds {missing} are not defined under kinds "
                             f"(defined: {', '.join(sorted(self.kinds))})")
        return self


# --------------------------------------------------------------------------------------------
# platform
class NetworkRtt(Spec):
    telegram: NonNegSeconds
    claude: NonNegSeconds
    db: NonNegSeconds
    mcp: NonNegSeconds
    redis: NonNegSeconds = Field(description="scheduler lock: lock: redis (one SET NX round trip)")


class Polling(Spec):
    batch_size: int = Field(ge=1, le=100, description="getUpdates limit (Bot API: 1..100)")
    long_poll_timeout_s: NonNegSeconds = Field(le=600)


class Db(Spec):
    """asyncpg pools (one per instance, plus the scheduler worker) over PostgreSQL's cap."""

    pool_size_per_instance: int = Field(ge=1, le=10_000, description="asyncpg pool max_size")
    pool_min_size_per_instance: int = Field(ge=0, le=10_000, description="asyncpg pool min_size")
    max_connections: int = Field(ge=1, le=100_000, description="PostgreSQL server cap")
    pooler: Literal["none", "pgbouncer"]
    pooler_server_connections: int = Field(ge=1, le=100_000)
    query_s: Dist
    acquire_timeout_s: PosSeconds


class ModelLatency(Spec):
    api_model: str = Field(min_length=1, max_length=200,
                           description="model id sent to the Messages API and looked up in price tables")
    ttft_s: Dist = Field(description="time to first token")
    output_tokens_per_s: float = Field(gt=0, le=100_000)


class RateLimits(Spec):
    rpm: int = Field(ge=1, description="requests per minute")
    itpm: int = Field(ge=1, description="input tokens per minute (cache reads not counted)")
    otpm: int = Field(ge=1, description="output tokens per minute")


class Retry(Spec):
    max_attempts: int = Field(ge=1, le=100)
    backoff_s: PosSeconds
    max_backoff_s: PosSeconds
    jitter: bool


class BreakerSpec(Spec):
    """A circuit breaker's settings; the breaker itself is ``botcap.policy.Breaker``."""

    failure_threshold: int = Field(ge=1, le=10_000, description="consecutive failures that open it")
    cooldown_s: PosSeconds


class Outage(Spec):
    start: str
    duration_s: PosSeconds

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, v) -> str:
        return _check_hhmm(v)


class ClaudeFaults(Spec):
    overloaded_rate: Share = Field(description="share of calls answered 529 overloaded_error")
    outages: list[Outage]


class Claude(Spec):
    concurrency_per_instance: int = Field(ge=1, le=10_000, description="the per-instance semaphore")
    rate_limits: RateLimits
    models: dict[str, ModelLatency]
    retry: Retry
    breaker: BreakerSpec
    timeout_s: PosSeconds
    faults: ClaudeFaults
    prompt_cache_hit_rate: Share = Field(description="share of input tokens read from the prompt cache")


class Mcp(Spec):
    latency_s: Dist
    failure_rate: Share
    breaker: BreakerSpec


class Telegram(Spec):
    send_rate_per_s: float = Field(gt=0, le=100_000, description="bot-wide sendMessage limit")
    per_chat_rate_per_s: float = Field(gt=0, le=1000)
    webhook_max_connections: int = Field(ge=1, le=100, description="setWebhook max_connections")
    webhook_timeout_s: PosSeconds
    webhook_handle_in_background: bool = Field(
        description="aiogram answers the webhook at once and handles the update in a task")


class Platform(Spec):
    mode: Literal["polling", "webhook"]
    instances: int = Field(ge=1, le=1000)
    handlers_per_instance: int = Field(ge=1, le=100_000, description="in-flight handler cap per instance")
    cpu_cores_per_instance: int = Field(ge=1, le=1024,
                                        description="cores running handler CPU time (asyncio: 1 per process)")
    network_rtt_s: NetworkRtt
    polling: Polling
    db: Db
    claude: Claude
    mcp: Mcp
    telegram: Telegram


# --------------------------------------------------------------------------------------------
# scheduler, slo, provenance
class Scheduler(Spec):
    placement: Literal["separate", "every_instance"]
    lock: Literal["advisory", "redis", "none"]
    slot_minutes: int = Field(ge=1, le=1440)
    cap_per_slot: int | None = Field(ge=1, description="digests per slot; null = no cap")
    policy: Literal["none", "suggest_next", "auto_shift"]
    suggest_acceptance_share: Share = Field(
        description="suggest_next: share who take the next free slot (the rest take the previous one)")
    concurrency: int = Field(ge=1, le=100_000, description="digests generated at once")


class Slo(Spec):
    """Judged by ``botcap.sim.verdict.slo_verdict`` on everything a run counts (docs/outputs.md)."""

    p95_s: dict[str, PosSeconds] = Field(description="per kind: limit of the censored p95 (failures count)")
    max_error_rate: Share = Field(description="failed / finished, per kind and overall")
    digest_max_lateness_s: NonNegSeconds = Field(
        description="max lateness of every digest not failed (unsent ones: at least their age so far)")
    digest_max_failed_share: Share = Field(default=0.01, description="failed digests / scheduled")
    max_duplicate_sends: int = Field(default=0, ge=0, description="digests sent more than once")


class Calibration(Spec):
    """Provenance of a scenario written by ``botcap calibrate``: every output names these runs."""

    runs: list[str] = Field(min_length=1, description="the RunBundle folders the fits came from")
    created_utc: str
    fitted_rates_per_s: list[float] = Field(default_factory=list, description="load levels fitted on")
    held_out_rates_per_s: list[float] = Field(default_factory=list, description="load levels only predicted")
    max_holdout_error: dict[str, float | None] | None = Field(
        default=None, description="largest relative error on held-out levels (throughput, p50, p95)")
    claude_time_scale: float = Field(default=1.0, ge=0, description="the fake Claude API's latency scale")
    notes: list[str] = Field(default_factory=list, description="what calibration could not fit, and why")


class Scenario(Spec):
    name: str = Field(min_length=1, max_length=200)
    seed: int = Field(ge=0, le=2**63 - 1)
    calibration: Calibration | None = Field(default=None, description="set when written by calibrate")
    horizon: Horizon
    workload: Workload
    platform: Platform
    scheduler: Scheduler
    slo: Slo
    costs: CostsSpec

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        models = self.platform.claude.models
        problems = []
        for name, kind in self.workload.kinds.items():
            if kind.model is not None and kind.model not in models:
                problems.append(f"workload.kinds.{name}.model: must be one of {', '.join(models)} "
                                f"(got {kind.model!r})")
        if self.workload.digests.subscribers_share > 0 and self.workload.digests.model not in models:
            problems.append(f"workload.digests.model: must be one of {', '.join(models)} "
                            f"(got {self.workload.digests.model!r})")
        for name in self.slo.p95_s:
            if name not in self.workload.kinds:
                problems.append(f"slo.p95_s.{name}: must be a kind ({', '.join(self.workload.kinds)})")
        if problems:
            raise ValueError("; ".join(problems))
        return self
