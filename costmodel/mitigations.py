"""The A3 Claude mitigations as edits of the tier profiles, priced on the same scenario.

Why edits of the tiers (not separate formulas): a mitigation is just a different profile (other
model shares, cache hit rates, batch share), so it is priced by the very same ``unit.evaluate``
as the base case and the numbers are comparable side by side. Each is applied alone to every
tier, and all together as ``combined``; a tier that already does better keeps its own value.
"""

from __future__ import annotations

from botcap.errors import BadInput
from botcap.scenario.costs import DIGEST_KIND, Tier

__all__ = ["MITIGATIONS", "apply", "mitigated_tiers"]

MITIGATIONS = ("haiku_routing", "content_cache", "prompt_cache", "batch_digests")


def _claude_kinds(scenario) -> dict[str, str]:
    """Chat kinds (not digests) that call Claude, with their own model."""
    return {k: spec.model for k, spec in scenario.workload.kinds.items() if spec.model is not None}


def _haiku(tier: Tier, scenario, share: float, target: str) -> Tier:
    shares = dict(tier.model_shares)
    for kind, own in _claude_kinds(scenario).items():
        current = dict(tier.model_shares.get(kind) or {own: 1.0})
        moved = sum(p * share for m, p in current.items() if m != target)
        new = {m: (p if m == target else p * (1 - share)) for m, p in current.items()}
        new[target] = new.get(target, 0.0) + moved
        shares[kind] = new
    return tier.model_copy(update={"model_shares": shares})


def _content(tier: Tier, scenario, rate: float) -> Tier:
    hits = dict(tier.content_cache_hit_rate)
    for kind in _claude_kinds(scenario):
        hits[kind] = max(hits.get(kind, 0.0), rate)
    return tier.model_copy(update={"content_cache_hit_rate": hits})


def _prompt(tier: Tier, cache) -> Tier:
    own = tier.prompt_cache
    if own.cached_share * own.hit_rate >= cache.cached_share * cache.hit_rate:
        return tier
    return tier.model_copy(update={"prompt_cache": cache})


def _batch(tier: Tier, share: float) -> Tier:
    batch = dict(tier.batch_share)
    batch[DIGEST_KIND] = max(batch.get(DIGEST_KIND, 0.0), share)
    return tier.model_copy(update={"batch_share": batch})


def apply(name: str, tier: Tier, scenario) -> Tier:
    """One mitigation (or ``combined``) applied to one tier."""
    m = scenario.costs.mitigations
    if name == "haiku_routing":
        if m.haiku_model not in scenario.platform.claude.models:
            raise BadInput(f"costs.mitigations.haiku_model: must be one of "
                           f"{', '.join(scenario.platform.claude.models)} (got {m.haiku_model!r})")
        return _haiku(tier, scenario, m.haiku_routing_share, m.haiku_model)
    if name == "content_cache":
        return _content(tier, scenario, m.content_cache_hit_rate)
    if name == "prompt_cache":
        return _prompt(tier, m.prompt_cache)
    if name == "batch_digests":
        return _batch(tier, m.batch_digest_share)
    if name == "combined":
        for each in MITIGATIONS:
            tier = apply(each, tier, scenario)
        return tier
    raise ValueError(f"unknown mitigation {name!r}; allowed: {', '.join(MITIGATIONS)}, combined")


def mitigated_tiers(name: str, scenario) -> dict[str, Tier]:
    return {t: apply(name, tier, scenario) for t, tier in scenario.costs.tiers.items()}
