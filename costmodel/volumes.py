"""Token volumes: streams of Claude calls per tier, kind and model, from the tier profiles.

Why "lines": every cost the model prices is linear in a few per-stream quantities (calls per user
per day, tokens per call, cache and batch shares). Flattening tiers x kinds x models into arrays
once lets the unit economics, the mitigations and 10,000 Monte Carlo draws reuse one vectorised
formula. A ``botcap sim run`` summary (tokens actually spent, retries and cache behaviour
included) rescales these streams per model; ``sim_tokens_per_day`` reads it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from botcap.costmodel.model_facts import min_cacheable_tokens
from scipy.special import ndtr

from botcap.errors import BadInput
from botcap.scenario.costs import DIGEST_KIND, Tier
from botcap.scenario.model import hhmm_to_s

__all__ = ["Lines", "cacheable_share", "workload_actions_per_user_day", "build_lines", "sim_tokens_per_day",
           "sim_day_share", "DIGEST_KIND"]


@dataclass(frozen=True)
class Lines:
    """Parallel arrays, one entry per (tier, kind, model) stream of Claude calls."""

    tier: np.ndarray            # index into tier_names
    kind: list[str]
    model: list[str]            # model key (haiku, sonnet)
    calls_per_user_day: np.ndarray   # before the content cache
    input_tokens: np.ndarray    # mean per call
    output_tokens: np.ndarray
    content_hit: np.ndarray
    cached_share: np.ndarray    # share of input in the cacheable prefix (as written, before the minimum)
    input_cv: np.ndarray        # spread of input tokens per call (the kind's distribution)
    min_cacheable_tokens: np.ndarray   # the model's shortest cacheable prefix (model_facts.yaml)
    prompt_hit: np.ndarray
    write_1h: np.ndarray        # 1.0 where the cache TTL is 1 h
    batch_share: np.ndarray
    tier_names: list[str]
    actions_per_user_day: np.ndarray   # per tier, every kind (Claude or not), digests included

    def __len__(self) -> int:
        return len(self.kind)

    def effective_cached_share(self, input_tokens: np.ndarray | None = None) -> np.ndarray:
        """(lines, draws): share of input actually cacheable, prefixes below the model's minimum left out.

        ``input_tokens``: mean input tokens per call, one column per draw (default: the lines' own).
        """
        inp = self.input_tokens[:, None] if input_tokens is None else input_tokens
        cached = self.cached_share[:, None]
        minimum = self.min_cacheable_tokens[:, None]
        return cached * cacheable_share(inp * cached, self.input_cv[:, None], minimum)


def cacheable_share(prefix_tokens: np.ndarray, cv: np.ndarray, min_tokens: np.ndarray) -> np.ndarray:
    """Share of prefix tokens that sit in calls whose prefix reaches the model's cacheable minimum.

    A prefix shorter than the minimum is processed uncached (no write, no read, no error), so it
    saves nothing. Tokens per call vary (the kind's ``input_tokens`` distribution): with the prefix
    lognormal of mean ``prefix_tokens`` and this ``cv`` (moment-matched whatever the written
    distribution), the share is E[X; X >= m] / E[X] = Phi((ln(mean / m) + s^2 / 2) / s), s^2 = ln(1 + cv^2);
    a constant prefix is all or nothing.
    """
    prefix = np.maximum(np.asarray(prefix_tokens, dtype=float), 1e-300)
    m = np.maximum(np.broadcast_to(np.asarray(min_tokens, dtype=float), prefix.shape), 1e-300)
    s = np.broadcast_to(np.sqrt(np.log1p(np.square(np.asarray(cv, dtype=float)))), prefix.shape)
    safe = np.where(s > 0, s, 1.0)
    smooth = ndtr((np.log(prefix / m) + safe * safe / 2) / safe)
    return np.where(s > 0, smooth, (prefix >= m).astype(float))


def workload_actions_per_user_day(scenario) -> dict[str, float]:
    """The workload's average actions per DAU per day, by kind; digests as ``digest``."""
    w = scenario.workload
    per_day = w.sessions_per_user * w.messages_per_session
    out = {kind: per_day * share for kind, share in w.mix.items()}
    out[DIGEST_KIND] = w.digests.subscribers_share
    return out


def _kind_tokens(scenario, kind: str) -> tuple[str | None, float, float, float]:
    """The kind's own model, mean tokens per call and input cv (None model = no Claude call)."""
    if kind == DIGEST_KIND:
        d = scenario.workload.digests
        return d.model, d.input_tokens.mean, d.output_tokens.mean, d.input_tokens.cv
    k = scenario.workload.kinds[kind]
    if k.input_tokens is None or k.output_tokens is None:
        return k.model, 0.0, 0.0, 0.0
    return k.model, k.input_tokens.mean, k.output_tokens.mean, k.input_tokens.cv


def _check_tier(name: str, tier: Tier, kinds: list[str], models: list[str]) -> None:
    problems = []
    where = f"costs.tiers.{name}"
    for field in ("actions_per_user_day", "content_cache_hit_rate", "batch_share", "model_shares"):
        for kind in getattr(tier, field):
            if kind not in kinds:
                problems.append(f"{where}.{field}.{kind}: unknown kind; allowed: {', '.join(kinds)}")
    for kind, shares in tier.model_shares.items():
        for m in shares:
            if m not in models:
                problems.append(f"{where}.model_shares.{kind}.{m}: unknown model; "
                                f"allowed: {', '.join(models)}")
    if problems:
        raise BadInput(problems)


def build_lines(scenario, tiers: dict[str, Tier]) -> Lines:
    """Flatten the tiers into Claude call streams (checking every kind and model they name)."""
    base = workload_actions_per_user_day(scenario)
    kinds = list(base)
    models = list(scenario.platform.claude.models)
    min_prefix = {k: min_cacheable_tokens(m.api_model) for k, m in scenario.platform.claude.models.items()}
    cols: dict[str, list] = {k: [] for k in ("tier", "kind", "model", "calls", "inp", "out", "hit",
                                             "cached", "cv", "min", "phit", "w1h", "batch")}
    actions = np.zeros(len(tiers))
    for t, (name, tier) in enumerate(tiers.items()):
        _check_tier(name, tier, kinds, models)
        for kind in kinds:
            # a digest is one per subscriber per day, whatever the tier's usage: not scaled by usage_mult
            mult = 1.0 if kind == DIGEST_KIND else tier.usage_mult
            per_day = tier.actions_per_user_day.get(kind, base[kind] * mult)
            actions[t] += per_day
            own_model, inp, out, cv = _kind_tokens(scenario, kind)
            shares = tier.model_shares.get(kind) or ({own_model: 1.0} if own_model else {})
            if shares and inp <= 0:
                raise BadInput(f"costs.tiers.{name}.model_shares.{kind}: kind {kind!r} has no "
                               f"input_tokens/output_tokens in workload.kinds (got null)")
            chat = kind != DIGEST_KIND  # digests: one call per user per day, nothing to reuse in a TTL
            for model, share in shares.items():
                if share <= 0 or per_day <= 0:
                    continue
                cols["tier"].append(t)
                cols["kind"].append(kind)
                cols["model"].append(model)
                cols["calls"].append(per_day * share)
                cols["inp"].append(inp * tier.input_tokens_mult)
                cols["out"].append(out * tier.output_tokens_mult)
                cols["hit"].append(tier.content_cache_hit_rate.get(kind, 0.0))
                cols["cached"].append(tier.prompt_cache.cached_share if chat else 0.0)
                cols["cv"].append(cv)
                cols["min"].append(min_prefix.get(model, 0))
                cols["phit"].append(tier.prompt_cache.hit_rate if chat else 0.0)
                cols["w1h"].append(1.0 if tier.prompt_cache.ttl == "1h" else 0.0)
                cols["batch"].append(tier.batch_share.get(kind, 0.0))
    f = lambda key: np.asarray(cols[key], dtype=float)  # noqa: E731
    return Lines(np.asarray(cols["tier"], dtype=int), cols["kind"], cols["model"], f("calls"), f("inp"),
                 f("out"), f("hit"), f("cached"), f("cv"), f("min"), f("phit"), f("w1h"), f("batch"),
                 list(tiers), actions)


# ---------------------------------------------------------------------------------------------
def sim_day_share(scenario, doc: dict) -> float | None:
    """Share of a day's diurnal traffic inside the measured window (None: a whole day or no profile).

    A sim of a few night hours spends far less than 1/24 of a day's tokens per hour: scaling its
    counts by time alone would understate a day. Digests are scaled the same way (approximate).
    """
    sim_s, warm = doc.get("simulated_s"), doc.get("warmup_s", 0.0)
    if scenario.workload.arrivals.process != "diurnal" or not isinstance(sim_s, int | float) \
            or not isinstance(warm, int | float) or sim_s - warm >= 86400 - 1:
        return None
    w = np.asarray(scenario.workload.arrivals.hourly_weights, dtype=float)
    start = hhmm_to_s(scenario.horizon.start) + warm
    t = np.arange(start, start + (sim_s - warm), 60.0)          # one point per simulated minute
    share = float(w[((t % 86400) // 3600).astype(int)].sum() * 60.0 / 3600.0 / w.sum())
    return share if share > 0 else None


def sim_tokens_per_day(path: str | Path, scenario) -> dict[str, dict[str, float]]:
    """Tokens per simulated day by model key from a ``botcap sim run`` summary.json.

    Counts in the summary are summed over replications; ``measured_s`` (after warm-up, summed over
    replications) is the time they were counted over, else ``simulated_s`` x replications. A window
    shorter than a day is scaled by its share of the day's diurnal traffic, not by its length.
    """
    p = Path(path)
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"--from-sim {p}: no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BadInput(f"--from-sim {p}: cannot read ({e})") from None
    except json.JSONDecodeError as e:
        raise BadInput(f"--from-sim {p}: not JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(doc, dict):
        raise BadInput(f"--from-sim {p}: expected a sim summary object (got {type(doc).__name__})")
    tokens = (doc.get("claude") or {}).get("tokens") if isinstance(doc.get("claude"), dict) else None
    if not isinstance(tokens, dict):
        raise BadInput(f"--from-sim {p}: claude.tokens missing; expected the `botcap sim run --json` object")
    reps = doc.get("replications", 1)
    span = doc.get("measured_s")
    if not isinstance(span, int | float) or span <= 0:
        sim_s = doc.get("simulated_s")
        if not isinstance(sim_s, int | float) or sim_s <= 0 or not isinstance(reps, int) or reps < 1:
            raise BadInput(f"--from-sim {p}: simulated_s: must be > 0 (got {sim_s!r})")
        span = sim_s * reps
    day_share = sim_day_share(scenario, doc)
    if day_share and (not isinstance(reps, int) or reps < 1):
        raise BadInput(f"--from-sim {p}: replications: must be a whole number >= 1 (got {reps!r})")
    by_api = {m.api_model: key for key, m in scenario.platform.claude.models.items()}
    out: dict[str, dict[str, float]] = {}
    for model, counts in tokens.items():
        key = model if model in scenario.platform.claude.models else by_api.get(model)
        if key is None:
            raise BadInput(f"--from-sim {p}: claude.tokens.{model}: unknown model; allowed: "
                           f"{', '.join(scenario.platform.claude.models)}")
        if not isinstance(counts, dict):
            raise BadInput(f"--from-sim {p}: claude.tokens.{model}: must be a mapping (got {counts!r})")
        row = {}
        for k in ("input", "output", "cache_read", "cache_write"):
            v = counts.get(k, 0) or 0
            if not isinstance(v, int | float) or v < 0 or not math.isfinite(v):
                raise BadInput(f"--from-sim {p}: claude.tokens.{model}.{k}: must be a count >= 0 (got {v!r})")
            # per replication, divided by the window's share of a day's traffic (or by its length)
            row[k] = float(v) / reps / day_share if day_share else float(v) * 86400.0 / span
        out[key] = row
    return out
