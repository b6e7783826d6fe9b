"""Per-tier unit economics: one vectorised formula from call streams and prices to dollars.

Why one formula over arrays: the base case, each mitigation, the tornado, 10,000 Monte Carlo draws
and the Sobol runs all evaluate the same model with different inputs, so ``evaluate`` takes every
uncertain input as an array of draws (a float is one draw) and returns arrays. Nothing loops over
draws in Python.

Conventions (where the issue was silent):
- users on a tier = DAU x share; each is active every day of the month (``month_days``).
- fixed costs = plans sized for the scenario (Neon compute, base storage and minimum spend, Railway
  instances, Workers plan fee, named fixed costs); variable = Claude, per-user storage (twin
  included), egress and Workers overage. Fixed costs are allocated to tiers by their share of user
  actions (DB, compute) or equally per user ("other"), so users x cost per user sums to the total.
- margin = revenue - fully allocated cost; contribution = revenue - variable cost (used for
  break-even, LTV and payback).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
from botcap.costmodel.prices import RATE_KEYS, PriceBook
from botcap.costmodel.volumes import Lines, build_lines

from botcap.errors import BadInput

__all__ = ["FACTORS", "Built", "build", "evaluate"]

FACTORS = ("payout_usd_per_star", "refund_rate", "input_tokens_mult", "output_tokens_mult", "actions_mult",
           "content_cache_hit_mult", "prompt_cache_hit_mult", "claude_price_mult", "infra_price_mult")
"""The uncertain inputs ``evaluate`` accepts (absolute payout and refund rate; the rest multipliers)."""


@dataclass(frozen=True)
class Built:
    """Everything ``evaluate`` needs, as arrays and plain numbers (no pydantic in the hot path)."""

    lines: Lines
    std: dict[str, np.ndarray]       # rates per line, $/MTok
    batch: dict[str, np.ndarray]
    lc_threshold: np.ndarray         # inf where no long-context tier
    lc_std: dict[str, np.ndarray]
    lc_batch: dict[str, np.ndarray]
    line_scale: np.ndarray           # sim / profile per model (1 without --from-sim)
    users: np.ndarray                # per tier
    price_stars: np.ndarray
    churn: np.ndarray
    storage_gb_per_user: np.ndarray  # per tier, twin included
    infra: dict[str, float]
    month_days: float
    subscription_days: float
    hold_days: float
    cac_usd: float | None
    base: dict[str, float]
    membership: np.ndarray = field(repr=False)   # (tiers, lines) one-hot
    batch_unpriced: tuple[str, ...] = ()         # API models whose batch share was dropped: no batch price


def _infra_numbers(scenario, book: PriceBook) -> dict[str, float]:
    inf = scenario.costs.infra
    neon = book.plan("neon", inf.neon.plan)
    rw = book.plan("railway")
    rw_plan = book.plan("railway", inf.railway.plan)
    cf = book.plan("cloudflare_workers")
    n = {
        "neon_compute_cu_hours": inf.neon.compute_cu * inf.neon.compute_hours_per_month,
        "neon_included_cu_hours": float(neon["included_cu_hours"]),
        "neon_cu_hour_usd": float(neon["compute_cu_hour_usd"]),
        "neon_storage_gb_month_usd": float(neon["storage_gb_month_usd"]),
        "neon_included_storage_gb": float(neon["included_storage_gb"]),
        "neon_egress_gb_usd": float(neon["egress_gb_usd"]),
        "neon_included_egress_gb": float(neon["included_egress_gb"]),
        "neon_min_monthly_usd": float(neon["min_monthly_usd"]),
        "base_storage_gb": inf.neon.base_storage_gb,
        "egress_bytes_per_action": inf.neon.egress_bytes_per_action,
        "railway_services": float(scenario.platform.instances + inf.railway.extra_services),
        "railway_service_minute_usd": inf.railway.vcpu_per_instance * float(rw["vcpu_minute_usd"])
        + inf.railway.ram_gb_per_instance * float(rw["ram_gb_minute_usd"]),
        "railway_min_monthly_usd": float(rw_plan["min_monthly_usd"]),
        "fixed_monthly_usd": float(sum(inf.fixed_monthly_usd.values())),
        "cf_enabled": 1.0 if inf.cloudflare_workers.enabled else 0.0,
        "cf_plan_monthly_usd": float(cf["plan_monthly_usd"]),
        "cf_requests_per_action": inf.cloudflare_workers.requests_per_action,
        "cf_cpu_ms_per_request": inf.cloudflare_workers.cpu_ms_per_request,
        "cf_included_requests": float(cf["included_requests"]),
        "cf_requests_per_million_usd": float(cf["requests_per_million_usd"]),
        "cf_included_cpu_ms": float(cf["included_cpu_ms"]),
        "cf_cpu_ms_per_million_usd": float(cf["cpu_ms_per_million_usd"]),
    }
    return n


def build(scenario, book: PriceBook, tiers=None, model_scale: dict[str, float] | None = None,
          unpriced_batch: str = "refuse") -> Built:
    """Arrays for ``evaluate`` from a scenario (``tiers`` replaces costs.tiers, e.g. a mitigation).

    A stream batched on a model whose price source has no Batch API price (older models in
    genai-prices): ``unpriced_batch="refuse"`` raises BadInput naming the tier, kind and model (a
    user's own tiers); ``"drop"`` prices that stream at standard rates and names the model in
    ``Built.batch_unpriced`` (a mitigation: it cannot be priced on that model, so it is not counted).
    """
    c = scenario.costs
    tiers = c.tiers if tiers is None else tiers
    lines = build_lines(scenario, tiers)
    api = {key: m.api_model for key, m in scenario.platform.claude.models.items()}
    prices = [book.claude[api[m]] for m in lines.model]
    unbatched = [i for i, p in enumerate(prices)
                 if p.batch_rates_mtok_usd is None and lines.batch_share[i] > 0]
    if unbatched and unpriced_batch == "refuse":
        i = unbatched[0]
        raise BadInput(f"costs.tiers.{lines.tier_names[lines.tier[i]]}.batch_share.{lines.kind[i]}: "
                       f"{prices[i].api_model} has no Batch API price in {prices[i].source}; allowed: 0, "
                       f"or price it in costs.prices.override_file (batch_discount)")
    if unbatched:
        share = lines.batch_share.copy()
        share[unbatched] = 0.0
        lines = replace(lines, batch_share=share)

    def col(get) -> dict[str, np.ndarray]:
        return {k: np.array([(get(p) or p.rates_mtok_usd).get(k, 0.0) for p in prices], dtype=float)
                for k in RATE_KEYS}

    thr = np.array([p.long_context_threshold_tokens or np.inf for p in prices], dtype=float)
    scale = np.array([(model_scale or {}).get(m, 1.0) for m in lines.model], dtype=float)
    membership = np.zeros((len(tiers), len(lines)))
    membership[lines.tier, np.arange(len(lines))] = 1.0
    tl = list(tiers.values())
    rev = c.revenue
    return Built(
        lines=lines, std=col(lambda p: p.rates_mtok_usd), batch=col(lambda p: p.batch_rates_mtok_usd),
        lc_threshold=thr, lc_std=col(lambda p: p.long_context_rates_mtok_usd or p.rates_mtok_usd),
        lc_batch=col(lambda p: p.long_context_batch_rates_mtok_usd or p.batch_rates_mtok_usd),
        line_scale=scale,
        users=np.array([scenario.workload.dau * t.share for t in tl], dtype=float),
        price_stars=np.array([t.price_stars for t in tl], dtype=float),
        churn=np.array([t.churn_monthly for t in tl], dtype=float),
        storage_gb_per_user=np.array([(c.infra.neon.storage_bytes_per_user
                                       + t.twin_rows_per_user * t.twin_bytes_per_row) / 1e9 for t in tl]),
        infra=_infra_numbers(scenario, book), month_days=c.month_days,
        subscription_days=rev.subscription_days, hold_days=rev.hold_days, cac_usd=rev.cac_usd,
        base={"payout_usd_per_star": rev.payout_usd_per_star, "refund_rate": rev.refund_rate},
        membership=membership,
        batch_unpriced=tuple(sorted({prices[i].api_model for i in unbatched})))


def _arr(x) -> np.ndarray:
    return np.atleast_1d(np.asarray(x, dtype=float))


def claude_line_cost_per_user_day(b: Built, f: dict[str, np.ndarray]) -> np.ndarray:
    """(lines, draws): Claude dollars per user per day of each stream."""
    ln = b.lines
    calls = ln.calls_per_user_day[:, None] * f["actions_mult"] \
        * (1.0 - np.minimum(ln.content_hit[:, None] * f["content_cache_hit_mult"], 1.0))
    inp = ln.input_tokens[:, None] * f["input_tokens_mult"]
    out = ln.output_tokens[:, None] * f["output_tokens_mult"]
    hit = np.minimum(ln.prompt_hit[:, None] * f["prompt_cache_hit_mult"], 1.0)
    cached = ln.effective_cached_share(inp)
    long = inp > b.lc_threshold[:, None]
    w1h = ln.write_1h[:, None] > 0

    def per_call(base: dict, lc: dict) -> np.ndarray:
        r = {k: np.where(long, lc[k][:, None], base[k][:, None]) for k in RATE_KEYS}
        write = np.where(w1h, r["cache_write_1h"], r["cache_write_5m"])
        in_rate = (1 - cached) * r["input"] + cached * hit * r["cache_read"] + cached * (1 - hit) * write
        return (inp * in_rate + out * r["output"]) / 1e6

    batch = ln.batch_share[:, None]
    cost = (1 - batch) * per_call(b.std, b.lc_std) + batch * per_call(b.batch, b.lc_batch)
    return calls * cost * f["claude_price_mult"] * b.line_scale[:, None]


def evaluate(b: Built, **factors) -> dict[str, np.ndarray]:
    """Monthly economics for each draw of the uncertain inputs (missing ones take their base value)."""
    unknown = set(factors) - set(FACTORS)
    if unknown:
        raise ValueError(f"unknown factors {sorted(unknown)}; allowed: {', '.join(FACTORS)}")
    f = {k: _arr(factors.get(k, b.base.get(k, 1.0))) for k in FACTORS}
    n = max(len(v) for v in f.values())
    f = {k: np.broadcast_to(v, (n,)) for k, v in f.items()}
    d, inf, ipm = b.month_days, b.infra, f["infra_price_mult"]
    users = b.users[:, None]

    line_cost = claude_line_cost_per_user_day(b, f)                       # (L, n)
    claude_t = (b.membership @ line_cost) * d                             # (T, n) per user-month
    actions_t = b.lines.actions_per_user_day[:, None] * f["actions_mult"] * d   # per user-month
    total_actions = np.maximum((users * actions_t).sum(axis=0), 1e-12)    # (n,)
    total_users = max(float(b.users.sum()), 1e-12)

    # Neon: compute (fixed), storage (base fixed, per user variable), egress (variable), minimum spend
    neon_compute = max(inf["neon_compute_cu_hours"] - inf["neon_included_cu_hours"], 0.0) \
        * inf["neon_cu_hour_usd"] * ipm
    storage_gb = inf["base_storage_gb"] + float((b.users * b.storage_gb_per_user).sum())
    storage_cost = max(storage_gb - inf["neon_included_storage_gb"], 0.0) \
        * inf["neon_storage_gb_month_usd"] * ipm
    per_gb = storage_cost / storage_gb if storage_gb > 0 else 0.0 * ipm
    egress_gb = total_actions * inf["egress_bytes_per_action"] / 1e9
    egress_cost = np.maximum(egress_gb - inf["neon_included_egress_gb"], 0.0) \
        * inf["neon_egress_gb_usd"] * ipm
    neon_usage = neon_compute + storage_cost + egress_cost
    neon_topup = np.maximum(inf["neon_min_monthly_usd"] * ipm - neon_usage, 0)
    # Railway: instances + extra services, billed on usage above the plan's minimum commitment
    railway_usage = inf["railway_services"] * inf["railway_service_minute_usd"] * d * 1440.0 * ipm
    railway = np.maximum(railway_usage, inf["railway_min_monthly_usd"] * ipm)
    # Cloudflare Workers: plan fee (fixed) and overage (variable)
    cf_req = total_actions * inf["cf_requests_per_action"] * inf["cf_enabled"]
    cf_over = (np.maximum(cf_req - inf["cf_included_requests"], 0) * inf["cf_requests_per_million_usd"]
               + np.maximum(cf_req * inf["cf_cpu_ms_per_request"] - inf["cf_included_cpu_ms"], 0)
               * inf["cf_cpu_ms_per_million_usd"]) / 1e6 * ipm
    cf_fee = inf["cf_plan_monthly_usd"] * inf["cf_enabled"] * ipm
    other_fixed = inf["fixed_monthly_usd"] * ipm

    per_action = actions_t / total_actions                                  # (T, n) share of actions per user
    storage_var_t = b.storage_gb_per_user[:, None] * per_gb
    db_var_t = storage_var_t + egress_cost * per_action
    db_fixed = neon_compute + inf["base_storage_gb"] * per_gb + neon_topup
    db_t = db_var_t + db_fixed * per_action
    compute_var_t = cf_over * per_action
    compute_t = compute_var_t + (railway + cf_fee) * per_action
    other_t = np.broadcast_to(other_fixed / total_users, (len(b.users), n))
    cost_t = claude_t + db_t + compute_t + other_t
    variable_t = claude_t + db_var_t + compute_var_t
    fixed = db_fixed + railway + cf_fee + other_fixed

    payout, refund = f["payout_usd_per_star"], f["refund_rate"]
    revenue_t = b.price_stars[:, None] * (d / b.subscription_days) * payout * (1 - refund)
    contribution_t = revenue_t - variable_t

    paid = b.price_stars > 0
    shares = b.users / total_users
    paid_share = float(shares[paid].sum())
    if paid_share > 0:
        avg_contrib = (shares[paid, None] * contribution_t[paid]).sum(axis=0) / paid_share
        free_cost = (shares[~paid, None] * variable_t[~paid]).sum(axis=0) / paid_share
        denom = avg_contrib - free_cost
        break_even = np.where(denom > 0, fixed / np.where(denom > 0, denom, 1.0), np.inf)
    else:
        avg_contrib = free_cost = np.full(n, np.nan)
        break_even = np.full(n, np.inf)

    monthly_cost = (users * cost_t).sum(axis=0)
    monthly_revenue = (users * revenue_t).sum(axis=0)
    claude_monthly = (users * claude_t).sum(axis=0)
    return {
        "claude_t": claude_t, "db_t": db_t, "compute_t": compute_t, "other_t": other_t, "cost_t": cost_t,
        "variable_t": variable_t, "revenue_t": revenue_t, "margin_t": revenue_t - cost_t,
        "contribution_t": contribution_t, "line_monthly": users[b.lines.tier] * line_cost * d
        if len(b.lines) else np.zeros((0, n)),
        "monthly_cost": monthly_cost, "monthly_revenue": monthly_revenue,
        "monthly_margin": monthly_revenue - monthly_cost, "claude_monthly": claude_monthly,
        "fixed_monthly": fixed + 0 * monthly_cost, "variable_monthly": (users * variable_t).sum(axis=0),
        "neon_monthly": neon_usage + neon_topup,
        "railway_monthly": railway + 0 * monthly_cost, "cloudflare_monthly": cf_fee + cf_over,
        "other_fixed_monthly": other_fixed + 0 * monthly_cost,
        "break_even_paying_users": break_even, "paid_share": np.full(n, paid_share),
        "avg_contribution_per_paying_user": avg_contrib, "free_cost_per_paying_user": free_cost,
        "total_actions_month": total_actions,
    }
