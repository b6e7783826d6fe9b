"""The ``costs:`` section of a scenario: unit economics per tier (read by costmodel/).

Only quantities the business chooses or estimates live here (tiers, usage, caches, plan sizes,
Stars prices, uncertainty ranges). Vendor prices do not: they come from the price source
(genai-prices, bundled and offline, plus a dated override file), so that every price shown carries
its source and date. Units are in the names; the defaults and their origins are in default.yaml.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field, model_validator

from botcap.scenario.base import NonNegUsd, Share, Spec

# bounded far above any real value so that products of them (revenue, bytes, tokens) stay finite
NonNeg = Annotated[float, Field(ge=0, le=1e9)]
DIGEST_KIND = "digest"
"""The action name of the daily digest (workload.digests) in tier profiles."""


class PromptCache(Spec):
    """Anthropic prompt caching: a stable prefix (system prompt, tools, history) is cached."""

    cached_share: Share = Field(default=0.0, description="share of input tokens in the cacheable prefix")
    hit_rate: Share = Field(default=0.0, description="share of calls whose prefix is read from the cache "
                                                     "(the rest write it)")
    ttl: Literal["5m", "1h"] = Field(default="5m", description="cache lifetime paid for at write time")


class Tier(Spec):
    """One subscription tier (or the free users): who they are, what they do, what they pay."""

    share: Share = Field(description="share of daily active users on this tier")
    price_stars: float = Field(ge=0, le=1e6, description="subscription price in Telegram Stars per 30 days "
                                                           "(0 = free)")
    usage_mult: NonNeg = Field(default=1.0, description="x the workload's per-DAU actions per day")
    actions_per_user_day: dict[str, NonNeg] = Field(
        default_factory=dict, description="per-kind actions per user per day (overrides usage_mult)")
    input_tokens_mult: NonNeg = Field(default=1.0, description="x input tokens (personalisation context)")
    output_tokens_mult: NonNeg = Field(default=1.0, description="x output tokens")
    model_shares: dict[str, dict[str, Share]] = Field(
        default_factory=dict, description="kind -> {model key: share of calls}; default: the kind's model")
    content_cache_hit_rate: dict[str, Share] = Field(
        default_factory=dict, description="kind -> share of answers reused without a Claude call")
    prompt_cache: PromptCache = Field(default_factory=PromptCache)
    batch_share: dict[str, Share] = Field(
        default_factory=dict, description="kind -> share of calls sent through the Message Batches API")
    twin_rows_per_user: NonNeg = Field(default=0.0, description="digital-twin rows stored per user")
    twin_bytes_per_row: NonNeg = Field(default=0.0, description="bytes per digital-twin row (with indexes)")
    churn_monthly: Share = Field(default=0.0, description="share of subscribers lost per month")

    @model_validator(mode="after")
    def _shares_sum(self) -> Tier:
        bad = [f"model_shares.{kind}: must sum to 1 (got {sum(s.values()):.6g})"
               for kind, s in self.model_shares.items() if abs(sum(s.values()) - 1.0) > 1e-6]
        if bad:
            raise ValueError("; ".join(bad))
        return self


class Neon(Spec):
    plan: Literal["free", "launch", "scale"] = Field(description="Neon plan (prices in the price file)")
    compute_cu: float = Field(gt=0, le=56, description="compute size in CU (1 CU = 1 vCPU, 4 GB RAM)")
    compute_hours_per_month: float = Field(ge=0, le=744, description="hours the compute runs per month")
    base_storage_gb: NonNeg = Field(description="storage besides digital twins (history, notes)")
    storage_bytes_per_user: NonNeg = Field(description="per-user rows besides the twin (notes, history)")
    egress_bytes_per_action: NonNeg = Field(description="bytes read out of Neon per user action")


class Railway(Spec):
    plan: Literal["hobby", "pro"]
    vcpu_per_instance: float = Field(gt=0, le=32, description="vCPU used by one bot instance")
    ram_gb_per_instance: float = Field(gt=0, le=256, description="GB of RAM used by one bot instance")
    extra_services: int = Field(ge=0, le=100, description="always-on services besides the bot instances")


class CloudflareWorkers(Spec):
    enabled: bool = Field(description="a Worker in front of the webhook")
    requests_per_action: NonNeg = Field(description="Worker requests per user action")
    cpu_ms_per_request: NonNeg = Field(description="Worker CPU time per request")


class Infra(Spec):
    neon: Neon
    railway: Railway
    cloudflare_workers: CloudflareWorkers
    fixed_monthly_usd: dict[str, NonNegUsd] = Field(description="named fixed costs (monitoring, seats...)")


class Revenue(Spec):
    """Telegram Stars: what a subscriber pays and what the developer receives."""

    payout_usd_per_star: float = Field(gt=0, le=1, description="point value used for the base case")
    payout_usd_per_star_low: float = Field(gt=0, le=1, description="low end of the uncertain range")
    payout_usd_per_star_high: float = Field(gt=0, le=1, description="high end of the uncertain range")
    refund_rate: Share = Field(description="share of Star revenue refunded")
    hold_days: float = Field(ge=0, le=365, description="days before earned Stars can be withdrawn")
    subscription_days: float = Field(gt=0, le=366, description="days one subscription payment covers")
    cac_usd: NonNegUsd | None = Field(description="acquisition cost per paying user; null = unknown")

    @model_validator(mode="after")
    def _range(self) -> Revenue:
        lo, mid, hi = self.payout_usd_per_star_low, self.payout_usd_per_star, self.payout_usd_per_star_high
        if not lo <= mid <= hi:
            raise ValueError(f"payout_usd_per_star: must lie within payout_usd_per_star_low.."
                             f"payout_usd_per_star_high ({lo}..{hi}) (got {mid})")
        return self


class Mitigations(Spec):
    """The A3 mitigations, each applied to every tier on top of the base case."""

    haiku_routing_share: Share = Field(description="share of Sonnet calls (not digests) moved to Haiku")
    haiku_model: str = Field(min_length=1, description="model key that cheaper calls are routed to")
    content_cache_hit_rate: Share = Field(description="answers reused without a call, for chat kinds")
    prompt_cache: PromptCache
    batch_digest_share: Share = Field(description="share of digests sent through the Batch API")


class Uncertainty(Spec):
    """Spreads of the uncertain inputs for the tornado, Monte Carlo and Sobol indices."""

    draws: int = Field(ge=10, le=1_000_000, description="Monte Carlo draws")
    tornado_swing: float = Field(gt=0, lt=1, description="one-at-a-time swing where no range is given")
    tokens_cv: float = Field(ge=0, le=5, description="lognormal cv of the tokens-per-action multiplier")
    actions_cv: float = Field(ge=0, le=5, description="lognormal cv of the actions-per-user multiplier")
    hit_rate_concentration: float = Field(gt=0, le=10_000, description="beta a+b around each hit rate")
    infra_price_cv: float = Field(ge=0, le=5, description="lognormal cv of infrastructure prices")
    sobol_base_samples: int = Field(ge=16, le=65_536, description="Saltelli N (a power of 2)")

    @model_validator(mode="after")
    def _pow2(self) -> Uncertainty:
        n = self.sobol_base_samples
        if n & (n - 1):
            raise ValueError(f"sobol_base_samples: must be a power of 2 (got {n})")
        return self


class Prices(Spec):
    source: Literal["genai-prices", "override"] = Field(
        description="genai-prices (bundled, offline) first, or the override files only")
    override_file: str | None = Field(description="your own price file, merged over the repo's")
    priced_on: date | None = Field(description="date prices are looked up for (YYYY-MM-DD); null = today")


class CostsSpec(Spec):
    """Tiers, infrastructure plans, revenue, mitigations and uncertainty (see costmodel/)."""

    month_days: float = Field(gt=0, le=31, description="days in an average month")
    tiers: dict[str, Tier] = Field(min_length=1, description="tier name -> tier; shares sum to 1")
    infra: Infra
    revenue: Revenue
    mitigations: Mitigations
    uncertainty: Uncertainty
    prices: Prices

    @model_validator(mode="after")
    def _tier_shares(self) -> CostsSpec:
        total = sum(t.share for t in self.tiers.values())
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"tiers: shares must sum to 1 (got {total:.6g})")
        return self
