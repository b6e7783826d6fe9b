"""``run_cost``: the whole cost model on one scenario, as plain data (the ``botcap cost --json`` object).

Why plain data: the CLI prints it, ``--out`` writes it with the plots, reports read it; the names
are fixed by docs/contracts.md and issue 6. Per-user values of a tier without users are None (JSON null).
A calibrated scenario adds ``calibration`` (``botcap.provenance.calibration_facts``: which load-test
runs its numbers come from); so does a ``--from-sim`` summary of one, under ``volumes.sim``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
from botcap.costmodel import capacity, mitigations, uncertainty
from botcap.costmodel.model_facts import model_warnings
from botcap.costmodel.prices import RATE_KEYS, PriceBook, load_price_book
from botcap.costmodel.unit import Built, build, claude_line_cost_per_user_day, evaluate
from botcap.costmodel.volumes import sim_day_share, sim_tokens_per_day, workload_actions_per_user_day

from botcap.errors import BadInput
from botcap.provenance import calibration_facts

__all__ = ["CostResult", "run_cost", "PLANNERS_CLAIM"]

PLANNERS_CLAIM = {"dau": 10_000, "claude_monthly_usd": 5_000.0, "claude_share_of_cost": 0.96}
"""The planners' figure the model is asked to confirm or refute (issue 6): ~$5K/month at 10K DAU, 96%."""
CLAIM_TOLERANCE = 0.25   # within +-25% of the claim (scaled to the scenario's DAU) counts as confirmed


@dataclass
class CostResult:
    """The JSON object (``data``) and what the plots need besides it (Monte Carlo draws)."""

    data: dict
    samples: dict[str, np.ndarray] = field(default_factory=dict)


def _f(x) -> float | None:
    v = float(np.asarray(x).reshape(-1)[0])
    return v if math.isfinite(v) else None


def _per_user(values: np.ndarray, users: float) -> float | None:
    return _f(values) if users > 0 else None


def _model_scale(scenario, book: PriceBook, built: Built, path: str) -> tuple[dict[str, float], dict]:
    """Per model: sim's Claude dollars per day / the profiles' (same prices, no batch in the sim)."""
    sim = sim_tokens_per_day(path, scenario)
    base = {k: np.ones(1) for k in ("actions_mult", "content_cache_hit_mult", "prompt_cache_hit_mult",
                                    "input_tokens_mult", "output_tokens_mult", "claude_price_mult")}
    line_day = claude_line_cost_per_user_day(built, base)[:, 0] * built.users[built.lines.tier]
    scale, by_model = {}, {}
    for key, t in sim.items():
        r = book.claude[scenario.platform.claude.models[key].api_model].rates_mtok_usd
        sim_usd = (t["input"] * r["input"] + t["output"] * r["output"] + t["cache_read"] * r["cache_read"]
                   + t["cache_write"] * r["cache_write_5m"]) / 1e6
        prof_usd = float(line_day[[m == key for m in built.lines.model]].sum())
        if prof_usd <= 0 and sim_usd > 0:
            raise BadInput(f"--from-sim: the sim spent tokens on model {key!r} but no tier calls it "
                           f"(costs.tiers.*.model_shares)")
        scale[key] = sim_usd / prof_usd if prof_usd > 0 else 1.0
        by_model[key] = {"sim_usd_per_day": sim_usd, "profiles_usd_per_day": prof_usd, "scale": scale[key],
                         **{f"{k}_tokens_per_day": v for k, v in t.items()}}
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    share = sim_day_share(scenario, doc)
    window = {"window_share_of_day_traffic": share,
              "note": "window shorter than a day: counts scaled by its share of the diurnal profile "
                      "(digests too, approximately); run 24 h for decisions" if share else "a whole day"}
    # the sim's own provenance: its tokens may come from a calibrated scenario (older summaries
    # carry only calibrated_from)
    facts = (calibration_facts(doc.get("calibration"))
             or calibration_facts({"runs": doc.get("calibrated_from")}))
    return scale, {"by_model": by_model, **window, **({"calibration": facts} if facts else {})}


def _volumes(scenario, built: Built, r: dict, source: str, sim_detail: dict | None) -> dict:
    ln = built.lines
    calls = built.users[ln.tier] * ln.calls_per_user_day * (1 - ln.content_hit)
    by_model: dict = {}
    for i, m in enumerate(ln.model):
        row = by_model.setdefault(m, {"calls_per_day": 0.0, "input_tokens_per_day": 0.0,
                                      "output_tokens_per_day": 0.0, "monthly_usd": 0.0})
        row["calls_per_day"] += calls[i]
        row["input_tokens_per_day"] += calls[i] * ln.input_tokens[i]
        row["output_tokens_per_day"] += calls[i] * ln.output_tokens[i]
        row["monthly_usd"] += float(r["line_monthly"][i, 0])
    by_kind: dict = {}
    for i, k in enumerate(ln.kind):
        by_kind[k] = by_kind.get(k, 0.0) + float(r["line_monthly"][i, 0])
    wl = workload_actions_per_user_day(scenario)
    kinds = scenario.workload.kinds
    wl_calls = sum(v for k, v in wl.items() if k == "digest" or kinds[k].model is not None)
    out = {"source": source, "claude_calls_per_day": float(calls.sum()),
           "workload_claude_calls_per_day": wl_calls * scenario.workload.dau,
           "by_model": by_model, "claude_monthly_usd_by_kind": by_kind}
    if sim_detail is not None:
        out["sim"] = sim_detail
    return out


def _stars(built: Built, month_days: float, revenue) -> dict:
    """Stars paid per month (gross, before refunds): per paying user at this tier mix, and in total.

    Stars <-> USD at the scenario's payout rate net of refunds (``costs.revenue``), the same rate that
    turns Stars into the USD revenue, so break-even in Stars = break-even paying users x Stars each.
    """
    per_user = built.price_stars * month_days / built.subscription_days
    paid = built.price_stars > 0
    paying = float(built.users[paid].sum())
    total = float((built.users * per_user).sum())
    return {"per_paying_user_month": total / paying if paying > 0 else None, "current_per_month": total,
            "usd_per_star_net": revenue.payout_usd_per_star * (1 - revenue.refund_rate)}


def _tiers(scenario, built: Built, r: dict) -> dict:
    out = {}
    rev, d = scenario.costs.revenue, scenario.costs.month_days
    for t, name in enumerate(built.lines.tier_names):
        u = float(built.users[t])
        contrib = float(r["contribution_t"][t, 0])
        churn = float(built.churn[t])
        paid = built.price_stars[t] > 0
        ltv = contrib / churn if paid and churn > 0 else None
        payback = (rev.cac_usd / contrib + rev.hold_days / d) if paid and rev.cac_usd is not None \
            and contrib > 0 else None

        def pu(key: str, t: int = t, u: float = u) -> float | None:
            return _per_user(r[key][t], u)

        out[name] = {"users": int(round(u)), "share": float(scenario.costs.tiers[name].share),
                     "price_stars": float(built.price_stars[t]),
                     "cost_per_user_month_usd": pu("cost_t"), "claude_per_user_month_usd": pu("claude_t"),
                     "db_per_user_month_usd": pu("db_t"), "compute_per_user_month_usd": pu("compute_t"),
                     "other_per_user_month_usd": pu("other_t"),
                     "variable_cost_per_user_month_usd": pu("variable_t"),
                     "revenue_per_user_month_usd": _f(r["revenue_t"][t]),
                     "margin_per_user_month_usd": pu("margin_t"),
                     "contribution_margin_per_user_month_usd": pu("contribution_t"),
                     "monthly_cost_usd": _f(r["cost_t"][t] * u),
                     "monthly_revenue_usd": _f(r["revenue_t"][t] * u),
                     "churn_monthly": churn, "ltv_usd": ltv, "payback_months": payback}
    return out


def _claim(scenario, total_claude: float, share: float) -> dict:
    scaled = PLANNERS_CLAIM["claude_monthly_usd"] * scenario.workload.dau / PLANNERS_CLAIM["dau"]
    ratio = total_claude / scaled
    ok = abs(ratio - 1) <= CLAIM_TOLERANCE
    verdict = (f"{'confirmed' if ok else 'refuted'}: Claude ${total_claude:,.0f}/month = {ratio:.2f}x the "
               f"claim (${scaled:,.0f} at {scenario.workload.dau:,} DAU), {share:.1%} of cost "
               f"(claim {PLANNERS_CLAIM['claude_share_of_cost']:.0%})")
    return {**PLANNERS_CLAIM, "claim_at_scenario_dau_usd": scaled, "model_claude_monthly_usd": total_claude,
            "model_claude_share_of_cost": share, "ratio": ratio, "tolerance": CLAIM_TOLERANCE,
            "confirmed": ok, "verdict": verdict}


def _prices(book: PriceBook, scenario, priced_on: str) -> dict:
    claude = {key: book.claude[m.api_model].to_dict() for key, m in scenario.platform.claude.models.items()
              if m.api_model in book.claude}
    plans = {}
    inf = scenario.costs.infra
    chosen_plans = (("neon", inf.neon.plan), ("railway", inf.railway.plan), ("cloudflare_workers", None))
    for vendor, plan in chosen_plans:
        chosen = {k: v for k, v in book.plan(vendor).items() if not isinstance(v, dict)}
        if plan is not None:
            chosen = {**chosen, "plan": plan, **book.plan(vendor, plan)}
        plans[vendor] = chosen
    return {"source": book.source, "as_of": book.as_of, "priced_on": priced_on, "claude": claude,
            "plans": plans, "rate_keys": list(RATE_KEYS)}


def run_cost(scenario, *, from_sim: str | None = None, draws: int | None = None, seed: int | None = None,
             today: date | None = None, sobol_method: str = "numpy") -> CostResult:
    """Unit economics, break-even, mitigations, capacity check and uncertainty for one scenario.

    ``draws``: Monte Carlo draws (default costs.uncertainty.draws; 0 = skip Monte Carlo and Sobol).
    ``from_sim``: a ``botcap sim run`` summary.json whose Claude tokens replace the profiles' totals.
    ``sobol_method``: "numpy" (fast, same estimators) or "salib" (SALib sampling and analysis).
    """
    c = scenario.costs
    api_models = sorted({m.api_model for m in scenario.platform.claude.models.values()})
    book = load_price_book(c.prices, api_models, today=today)
    priced_on = (c.prices.priced_on or today or datetime.now(UTC).date()).isoformat()
    built = build(scenario, book)
    scale, sim_detail, source = None, None, "tier profiles (costs.tiers x workload kinds)"
    if from_sim is not None:
        scale, sim_detail = _model_scale(scenario, book, built, from_sim)
        built = build(scenario, book, model_scale=scale)
        source = f"sim summary {from_sim} (Claude tokens per model; split over tiers by the profiles)"
    r = evaluate(built)

    cost, claude_usd = _f(r["monthly_cost"]), _f(r["claude_monthly"])
    share = claude_usd / cost if cost else 0.0
    d = c.month_days
    paid_share = float(r["paid_share"][0])
    users_total = float(built.users.sum())
    be = _f(r["break_even_paying_users"])
    revenue = _f(r["monthly_revenue"])
    per_paying_rev = revenue / (users_total * paid_share) if paid_share > 0 and users_total > 0 else None
    stars = _stars(built, d, c.revenue)
    facts = calibration_facts(scenario)
    data: dict = {
        "scenario": scenario.name,
        "warnings": model_warnings(scenario, today=today),   # legacy/retiring models: replacement, prices
        **({"calibration": facts} if facts is not None else {}),  # said only when calibrated
        "prices": _prices(book, scenario, priced_on),
        "volumes": _volumes(scenario, built, r, source, sim_detail),
        "tiers": _tiers(scenario, built, r),
        "total": {"dau": scenario.workload.dau, "paying_users": int(round(users_total * paid_share)),
                  "monthly_cost_usd": cost, "monthly_revenue_usd": revenue,
                  "monthly_margin_usd": _f(r["monthly_margin"]), "claude_monthly_usd": claude_usd,
                  "claude_share_of_cost": share, "fixed_monthly_usd": _f(r["fixed_monthly"]),
                  "variable_monthly_usd": _f(r["variable_monthly"]),
                  "by_component_monthly_usd": {"claude": claude_usd, "neon": _f(r["neon_monthly"]),
                                               "railway": _f(r["railway_monthly"]),
                                               "cloudflare_workers": _f(r["cloudflare_monthly"]),
                                               "other_fixed": _f(r["other_fixed_monthly"])},
                  "revenue_on_hold_usd": revenue * c.revenue.hold_days / d},
        "planners_claim": _claim(scenario, claude_usd, share),
        "break_even": {"paying_users": be, "reachable": be is not None,
                       "dau": be / paid_share if be is not None and paid_share > 0 else None,
                       "fixed_monthly_usd": _f(r["fixed_monthly"]),
                       "contribution_per_paying_user_month_usd": _f(r["avg_contribution_per_paying_user"]),
                       "free_users_cost_per_paying_user_month_usd": _f(r["free_cost_per_paying_user"]),
                       "revenue_per_paying_user_month_usd": per_paying_rev,
                       "paying_share_of_dau": paid_share,
                       "current_paying_users": users_total * paid_share,
                       "stars_per_month": be * stars["per_paying_user_month"]
                       if be is not None and stars["per_paying_user_month"] is not None else None,
                       "stars_per_paying_user_month": stars["per_paying_user_month"],
                       "current_stars_per_month": stars["current_per_month"],
                       "usd_per_star_net": stars["usd_per_star_net"]},
    }
    mit: dict = {}
    for name in (*mitigations.MITIGATIONS, "combined"):
        mb = build(scenario, book, tiers=mitigations.mitigated_tiers(name, scenario), model_scale=scale,
                   unpriced_batch="drop")
        mr = evaluate(mb)
        m_cost = _f(mr["monthly_cost"])
        mit[name] = {"monthly_cost_usd": m_cost, "monthly_saving_usd": cost - m_cost,
                     "saving_share": (cost - m_cost) / cost if cost else 0.0,
                     "claude_monthly_usd": _f(mr["claude_monthly"]),
                     "break_even_paying_users": _f(mr["break_even_paying_users"]),
                     "batch_unpriced_models": list(mb.batch_unpriced)}
    data["mitigations"] = mit
    neon_price = book.plan("neon", c.infra.neon.plan)
    per_cu = float(book.plan("neon").get("max_connections_per_cu", 419))
    data["capacity"] = capacity.cross_check(scenario, built, neon_price, per_cu)

    factors = uncertainty.factors_for(scenario, built)
    n = c.uncertainty.draws if draws is None else draws
    seed = scenario.seed if seed is None else seed
    unc: dict = {"tornado": uncertainty.tornado(built, factors)}
    samples: dict = {}
    if n > 0:
        mc, samples = uncertainty.monte_carlo(built, factors, n, seed)
        unc.update(mc)
        unc["sobol"] = uncertainty.sobol(built, factors, c.uncertainty.sobol_base_samples, seed,
                                          method=sobol_method)
    data["uncertainty"] = unc
    return CostResult(data, samples)
