"""The fake Claude API's settings: plain frozen data, built from a scenario or written by hand.

Kept apart from the server so that a test, the benchmark and ``botcap staging up`` describe the fake
the same way, and so that the latency distributions are the scenario's own (one distribution means
the same thing in the sim and in the fake).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from botcap.scenario.dists import Constant, Dist
from botcap.scenario.model import hhmm_to_s


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def min_cacheable_tokens(api_model: str) -> int:
    """The documented minimum prompt-cache prefix for ``api_model``: shorter prefixes are processed
    normally, without a cache entry and without an error. One table for the fake and the cost model
    (``costmodel/model_facts.yaml``, dated, with its source)."""
    from botcap.costmodel.model_facts import min_cacheable_tokens as documented

    return documented(api_model)


class ModelSpec(_Frozen):
    """One model: how long it takes to answer and how much it says."""

    api_model: str = Field(min_length=1, description="the id clients send, e.g. claude-haiku-4-5")
    ttft_s: Dist = Field(description="time to first token (unscaled seconds)")
    output_tokens_per_s: float = Field(gt=0)
    output_tokens: Dist = Field(default=Constant(mean=256), description="answer length before max_tokens")
    min_cacheable_tokens: int = Field(default=1024, ge=0)
    max_output_tokens: int = Field(default=64_000, ge=1, description="a larger max_tokens is a 400")


class RateLimitSpec(_Frozen):
    """Per API key, per minute, continuous refill (Anthropic's token-bucket description)."""

    rpm: int = Field(ge=1)
    itpm: int = Field(ge=1, description="uncached input + cache writes; cache reads are not counted")
    otpm: int = Field(ge=1, description="reserved from max_tokens at the start, corrected at the end")


class OutageSpec(_Frozen):
    """Every request answered 529 from ``start_s`` (seconds after UTC midnight) for ``duration_s``."""

    start_s: float = Field(ge=0, lt=86_400)
    duration_s: float = Field(gt=0)


class FaultSpec(_Frozen):
    """Faults present from the start; the control route can change them at run time."""

    overloaded_rate: float = Field(default=0.0, ge=0, le=1, description="share answered 529")
    error_500_rate: float = Field(default=0.0, ge=0, le=1, description="share answered 500 api_error")
    outages: tuple[OutageSpec, ...] = ()


class ClaudeFakeConfig(_Frozen):
    """Everything the fake needs; ``time_scale`` multiplies every latency (0 = answer at once)."""

    models: dict[str, ModelSpec] = Field(min_length=1, description="scenario model key -> spec")
    rate_limits: RateLimitSpec | None = Field(default=None, description="None = unlimited")
    faults: FaultSpec = FaultSpec()
    time_scale: float = Field(default=1.0, ge=0, le=1000)
    seed: int | None = None
    cache_ttl_s: float = Field(default=300.0, gt=0, description='cache_control ttl "5m"')
    cache_ttl_1h_s: float = Field(default=3600.0, gt=0, description='cache_control ttl "1h"')
    chars_per_token: int = Field(default=4, ge=1, description="the deterministic token counter")
    tokens_per_delta: int = Field(default=4, ge=1, description="output tokens per content_block_delta")
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024, description="413 above (as the API)")

    @classmethod
    def from_scenario(cls, scenario, *, time_scale: float = 1.0, seed: int | None = None,
                      **overrides) -> ClaudeFakeConfig:
        """The fake for ``scenario.platform.claude``: its models, rate limits and faults.

        Answer lengths come from the first workload kind (or the digests) that uses each model, so a
        haiku call is as long as a simple chat's reply; a model no kind uses gets 256 tokens.
        ``prompt_cache_hit_rate`` is not used: caching follows the requests' real ``cache_control``.
        """
        claude = scenario.platform.claude
        lengths: dict[str, Dist] = {}
        for kind in scenario.workload.kinds.values():
            if kind.model is not None and kind.output_tokens is not None:
                lengths.setdefault(kind.model, kind.output_tokens)
        digests = scenario.workload.digests
        if digests.model is not None and digests.output_tokens is not None:
            lengths.setdefault(digests.model, digests.output_tokens)
        models = {
            key: ModelSpec(api_model=m.api_model, ttft_s=m.ttft_s, output_tokens_per_s=m.output_tokens_per_s,
                           output_tokens=lengths.get(key, Constant(mean=256)),
                           min_cacheable_tokens=min_cacheable_tokens(m.api_model))
            for key, m in claude.models.items()
        }
        rl = claude.rate_limits
        faults = FaultSpec(
            overloaded_rate=claude.faults.overloaded_rate,
            outages=tuple(OutageSpec(start_s=hhmm_to_s(o.start), duration_s=o.duration_s)
                          for o in claude.faults.outages),
        )
        return cls(models=models, rate_limits=RateLimitSpec(rpm=rl.rpm, itpm=rl.itpm, otpm=rl.otpm),
                   faults=faults, time_scale=time_scale, seed=seed, **overrides)
