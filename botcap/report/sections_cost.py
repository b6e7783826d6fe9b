"""A3 Claude cost mitigations, C4/B6 unit economics in USD and Stars, B6 a T3 user at scale, A5 monitoring."""

from __future__ import annotations

from botcap.report import plots, rules
from botcap.report.assumptions import assumptions
from botcap.report.common import kind_columns, num, slo_row
from botcap.report.section import make_section

__all__ = ["a3", "economics", "b6", "a5", "mitigation_variants"]

SAVING_MIN = 0.05  # a mitigation must save at least 5% of the monthly cost
LATENCY_SLACK = 0.10  # ... and raise no kind's p95 by more than 10%


def _mix_shift(base, moves: dict[tuple[str, str], float]) -> list[str]:
    """--set lines moving a share of one kind's mix to another ((src, dst) -> share of src)."""
    mix = dict(base.workload.mix)
    for (src, dst), share in moves.items():
        if src in mix and dst in mix:
            moved = mix[src] * share
            mix[src] -= moved
            mix[dst] += moved
    return [f"workload.mix.{k}={v!r}" for k, v in mix.items()]


def mitigation_variants(base) -> dict[str, list[str] | None]:
    """How each A3 mitigation shows in the simulator (None: not modelled there)."""
    mt = base.costs.mitigations
    chat = [k for k, s in base.workload.kinds.items() if s.model is not None]
    routing = _mix_shift(base, {("chat_deep", "chat_simple"): mt.haiku_routing_share})
    content = _mix_shift(base, {(k, "command"): mt.content_cache_hit_rate for k in chat})
    prompt = [
        f"platform.claude.prompt_cache_hit_rate={mt.prompt_cache.cached_share * mt.prompt_cache.hit_rate!r}"
    ]
    both = _mix_shift(
        base,
        {
            ("chat_deep", "chat_simple"): mt.haiku_routing_share,
            **{(k, "command"): mt.content_cache_hit_rate for k in chat},
        },
    )
    return {
        "none": [],
        "haiku_routing": routing,
        "content_cache": content,
        "prompt_cache": prompt,
        "batch_digests": None,
        "combined": both + prompt,
    }


def a3(ctx) -> tuple[dict, list[str]]:
    slo = ctx.base.slo
    cost = ctx.cost()
    variants = mitigation_variants(ctx.base)
    simmed = [k for k, v in variants.items() if v is not None]
    sums = dict(zip(simmed, ctx.sim([variants[k] for k in simmed], what="A3"), strict=True))
    base_total = cost["total"]["monthly_cost_usd"]
    rows = []
    for name, sets in variants.items():
        m = (
            cost["mitigations"].get(name)
            if name != "none"
            else {
                "monthly_cost_usd": base_total,
                "monthly_saving_usd": 0.0,
                "saving_share": 0.0,
                "claude_monthly_usd": cost["total"]["claude_monthly_usd"],
            }
        )
        if m is None:
            continue
        row = {
            "mitigation": name,
            "monthly_cost_usd": m["monthly_cost_usd"],
            "claude_monthly_usd": m["claude_monthly_usd"],
            "monthly_saving_usd": m["monthly_saving_usd"],
            "saving_share": m["saving_share"],
            "simulated": sets is not None,
        }
        if sets is not None:
            row.update({k: v for k, v in slo_row(sums[name], slo).items() if k.startswith("p95_")})
        rows.append(row)
    base_row = rows[0]

    def latency_ok(r: dict) -> bool:
        if not r["simulated"]:
            return True  # not in the simulator: judged on cost alone (said in the rule)
        return all(
            r[f"p95_{k}_s"] is None
            or base_row[f"p95_{k}_s"] is None
            or r[f"p95_{k}_s"] <= base_row[f"p95_{k}_s"] * (1 + LATENCY_SLACK)
            for k in slo.p95_s
        )

    chosen = [r for r in rows[1:] if r["saving_share"] >= SAVING_MIN and latency_ok(r)]
    chosen.sort(key=lambda r: -r["saving_share"])
    single = [r["mitigation"] for r in chosen if r["mitigation"] != "combined"]
    comb = next((r for r in rows if r["mitigation"] == "combined"), None)
    values = {
        "chosen": ", ".join(single) or "none",
        "n": len(single),
        "combined_cost": comb["monthly_cost_usd"] if comb else None,
        "combined_share": comb["saving_share"] if comb else None,
        "base": base_total,
    }
    fmt = {"chosen": "text", "n": "int", "combined_cost": "usd", "combined_share": "pct", "base": "usd"}
    text = (
        "Adopt {n} mitigation(s): {chosen}. All combined: {combined_cost}/month instead of {base} "
        "({combined_share} saved)."
    )
    img = plots.bars(
        [r["mitigation"] for r in rows],
        {"monthly cost USD": [r["monthly_cost_usd"] for r in rows]},
        ylabel="USD per month",
        title="A3: monthly cost per Claude mitigation",
    )
    sec = make_section(
        "A3",
        "Claude cost: Haiku routing, content cache, prompt cache, Batch API",
        question="What does each Claude mitigation save per month, alone and combined, and what does it do "
        "to latency?",
        rule=f"Adopt each mitigation that saves at least {SAVING_MIN:.0%} of the monthly cost and raises no "
        f"kind's simulated p95 by more than {LATENCY_SLACK:.0%} against no mitigation. Batch digests are "
        "not in the simulator (judged on cost). In the simulator, Haiku routing moves that share of "
        "chat_deep to chat_simple, a content-cache hit answers like a command, the prompt cache sets "
        "platform.claude.prompt_cache_hit_rate = cached share x hit rate.",
        variants=[{"mitigation": k, "set": v} for k, v in variants.items()],
        columns=[
            ("mitigation", "mitigation", "text"),
            ("monthly_cost_usd", "monthly cost", "usd"),
            ("claude_monthly_usd", "Claude/month", "usd"),
            ("monthly_saving_usd", "saving/month", "usd"),
            ("saving_share", "saving", "pct"),
            *kind_columns(slo),
        ],
        rows=rows,
        recommendation=text,
        values=values,
        value_fmt=fmt,
    )
    return sec, [img]


# ---------------------------------------------------------------------------------------------
def economics(ctx) -> tuple[dict, list[str]]:
    cost = ctx.cost(uncertainty=True)
    target = float(assumptions()["target_margin"])
    rows, raise_to = [], []
    for name, t in cost["tiers"].items():
        rev, c = t["revenue_per_user_month_usd"], t["cost_per_user_month_usd"]
        paid = t["price_stars"] > 0
        margin_share = (1 - c / rev) if paid and rev and c is not None else None
        per_star = rev / t["price_stars"] if paid and rev else None
        need = rules.price_for_margin(c, per_star, target) if per_star and c is not None else None
        rows.append(
            {
                "tier": name,
                "users": t["users"],
                "price_stars": t["price_stars"],
                "cost_per_user_month_usd": c,
                "revenue_per_user_month_usd": rev,
                "margin_per_user_month_usd": t["margin_per_user_month_usd"],
                "margin_share": margin_share,
                "stars_for_target_margin": need,
            }
        )
        if need is not None and need > t["price_stars"]:
            raise_to.append(f"{name} to {need:.0f} Stars")
    be = cost["break_even"]
    stars_be = be.get("stars_per_month")
    if stars_be is None and be.get("paying_users") is not None and be.get("stars_per_paying_user_month"):
        stars_be = be["paying_users"] * be["stars_per_paying_user_month"]
    unc = cost["uncertainty"]
    mc = unc.get("monthly_margin_usd", {})
    values = {
        "be_users": be["paying_users"],
        "be_dau": be["dau"],
        "be_stars": stars_be,
        "target": target,
        "raise": "; ".join(raise_to) or "none",
        "p5": mc.get("p5"),
        "p50": mc.get("p50"),
        "p95": mc.get("p95"),
        "top": unc["tornado"][0]["input"] if unc.get("tornado") else "none",
        "loss_share": None,
    }
    fmt = {
        "be_users": "int",
        "be_dau": "int",
        "be_stars": "int",
        "target": "pct",
        "raise": "text",
        "p5": "usd",
        "p50": "usd",
        "p95": "usd",
        "top": "text",
        "loss_share": "pct",
    }
    text = (
        (
            "Break-even at {be_users} paying users ({be_dau} DAU, {be_stars} Stars/month). Tier prices to "
            "reach a {target} margin: raise {raise}. Monthly margin P5 {p5}, P50 {p50}, P95 {p95};"
            " the widest "
            "swing comes from {top}."
        )
        if be["reachable"]
        else (
            "Break-even is never reached at this tier mix. Tier prices to reach a {target}"
            " margin: raise {raise}. "
            "Monthly margin P5 {p5}, P50 {p50}, P95 {p95}; widest swing: {top}."
        )
    )
    values.pop("loss_share")
    fmt.pop("loss_share")
    tornado = [
        {
            "input": r["input"],
            "low": r["low"],
            "high": r["high"],
            "margin_low_usd": r["monthly_margin_usd"][0],
            "margin_high_usd": r["monthly_margin_usd"][1],
            "swing_margin_usd": r["swing_margin_usd"],
        }
        for r in unc.get("tornado", [])[:8]
    ]
    img1 = plots.bars(
        [r["tier"] for r in rows],
        {
            "cost": [r["cost_per_user_month_usd"] for r in rows],
            "revenue": [r["revenue_per_user_month_usd"] for r in rows],
        },
        ylabel="USD per user-month",
        title="C4: cost and revenue per user, per tier",
    )
    img2 = plots.bars(
        [r["input"] for r in tornado][::-1],
        {"swing": [r["swing_margin_usd"] for r in tornado][::-1]},
        ylabel="monthly margin swing USD",
        title="Tornado: monthly margin, each input low..high",
        horizontal=True,
    )
    sec = make_section(
        "C4",
        "Unit economics per tier (USD and Stars), break-even, prices for a target margin",
        question="What does each tier cost and bring per user-month, where is break-even, and what Stars "
        "price per tier reaches the target margin?",
        rule=f"Price per tier = the smallest whole number of Stars whose revenue per user-month (at"
        f" the tier's "
        f"USD per Star after payout rate and refunds) leaves a {target:.0%} margin over its cost; raise "
        "the tiers priced below it. Break-even and the Monte Carlo band come from botcap cost.",
        variants=[{"set": [], "draws": unc.get("draws")}],
        columns=[
            ("tier", "tier", "text"),
            ("users", "users", "int"),
            ("price_stars", "Stars", "int"),
            ("cost_per_user_month_usd", "cost/user-month", "usd"),
            ("revenue_per_user_month_usd", "revenue/user-month", "usd"),
            ("margin_per_user_month_usd", "margin/user-month", "usd"),
            ("margin_share", "margin", "pct"),
            ("stars_for_target_margin", "Stars for target", "int"),
        ],
        rows=rows,
        recommendation=text,
        values=values,
        value_fmt=fmt,
        extra={
            "tables": [
                {
                    "title": "Tornado (monthly margin)",
                    "columns": [
                        {"key": "input", "label": "input", "fmt": "text"},
                        {"key": "low", "label": "low", "fmt": "num"},
                        {"key": "high", "label": "high", "fmt": "num"},
                        {"key": "margin_low_usd", "label": "margin at low", "fmt": "usd"},
                        {"key": "margin_high_usd", "label": "margin at high", "fmt": "usd"},
                        {"key": "swing_margin_usd", "label": "swing", "fmt": "usd"},
                    ],
                    "rows": tornado,
                }
            ]
        },
    )
    return sec, [img1, img2]


# ---------------------------------------------------------------------------------------------
def b6(ctx) -> tuple[dict, list[str]]:
    base = ctx.base
    cost = ctx.cost()
    t3 = cost["tiers"].get("T3")
    spec = base.costs.tiers.get("T3")
    if t3 is None or spec is None:
        raise ValueError("B6: the scenario has no tier named T3 (costs.tiers)")
    users = 1000
    inf = base.costs.infra.neon
    storage_gb = (
        users * (spec.twin_rows_per_user * spec.twin_bytes_per_row + inf.storage_bytes_per_user) / 1e9
    )
    limit_gb = float(assumptions()["neon_max_storage_gb"]["value"])
    equiv_dau = round(users * spec.usage_mult)
    (s,) = ctx.sim([[f"workload.dau={equiv_dau}"]], what="B6")
    db = s.get("db", {})
    util = num(s.get("utilization", {}).get("db_connections"))
    wait = num(s.get("wait_s", {}).get("db_pool", {}).get("p95"))
    max_conn = base.platform.db.max_connections
    checks = {
        "storage": storage_gb <= limit_gb,
        "connections": db.get("peak_server_connections", 0) < max_conn and not db.get("too_many_connections"),
        "query load": util is not None and util <= 1 - rules.HEADROOM,
    }
    failing = [k for k, ok in checks.items() if not ok]
    rows = [
        {"item": "Claude per T3 user-month", "value": t3["claude_per_user_month_usd"], "unit": "USD"},
        {
            "item": "DB (Neon rows, storage) per T3 user-month",
            "value": t3["db_per_user_month_usd"],
            "unit": "USD",
        },
        {
            "item": "compute + other per T3 user-month",
            "value": (t3["compute_per_user_month_usd"] or 0) + (t3["other_per_user_month_usd"] or 0),
            "unit": "USD",
        },
        {"item": "cost per T3 user-month", "value": t3["cost_per_user_month_usd"], "unit": "USD"},
        {"item": "storage of 1,000 T3 users (GB)", "value": storage_gb, "unit": "GB"},
        {"item": "Neon storage limit (GB, assumed)", "value": limit_gb, "unit": "GB"},
        {
            "item": "peak server connections (sim)",
            "value": db.get("peak_server_connections"),
            "unit": "count",
        },
        {"item": "refused connections (sim)", "value": db.get("too_many_connections"), "unit": "count"},
        {"item": "DB pool utilisation (sim)", "value": util, "unit": "share"},
        {"item": "DB pool wait p95 s (sim)", "value": wait, "unit": "s"},
    ]
    values = {
        "cost": t3["cost_per_user_month_usd"],
        "storage": storage_gb,
        "verdict": "one Neon database carries 1,000 T3 users"
        if not failing
        else "split the data: one database does not carry 1,000 T3 users",
        "failing": ", ".join(failing) or "none",
        "dau": equiv_dau,
    }
    fmt = {"cost": "usd", "storage": "num", "verdict": "text", "failing": "text", "dau": "int"}
    text = (
        "A T3 user costs {cost} per month. {verdict} (storage {storage} GB; checks failing: {failing}; "
        "query load simulated as {dau} DAU of average users)."
    )
    img = plots.bars(
        [r["item"] for r in rows[:4]],
        {"USD": [r["value"] or 0 for r in rows[:4]]},
        ylabel="USD per user-month",
        title="B6: one T3 user per month",
        horizontal=True,
    )
    sec = make_section(
        "B6",
        "A T3 user at scale",
        question="What does one T3 user cost per month, and does one Neon database carry 1,000 T3 users?",
        rule="One database carries them when storage <= the plan's storage limit, the simulated peak server "
        "connections stay below max_connections with no refusals, and the DB pool utilisation is at most "
        "70% (30% headroom). 1,000 T3 users are simulated as users x the tier's usage multiplier DAU.",
        variants=[{"set": [f"workload.dau={equiv_dau}"]}],
        columns=[("item", "item", "text"), ("value", "value", "num"), ("unit", "unit", "text")],
        rows=rows,
        recommendation=text,
        values=values,
        value_fmt=fmt,
    )
    return sec, [img]


# ---------------------------------------------------------------------------------------------
def a5(ctx) -> tuple[dict, list[str]]:
    opts = assumptions()["monitoring"]
    rows = []
    for key, o in opts.items():
        c = ctx.cost([f"costs.infra.fixed_monthly_usd.monitoring={float(o['monthly_usd'])!r}"])
        total = c["total"]["monthly_cost_usd"]
        rows.append(
            {
                "option": o["label"],
                "key": key,
                "monthly_usd": float(o["monthly_usd"]),
                "monthly_cost_usd": total,
                "share_of_cost": o["monthly_usd"] / total if total else None,
                "cost_per_dau_usd": total / c["total"]["dau"] if c["total"]["dau"] else None,
                "alerting": bool(o["alerting"]),
                "error_grouping": bool(o["error_grouping"]),
            }
        )
    alerting = [r for r in rows if r["alerting"]]
    cheap = [r for r in alerting if r["share_of_cost"] is not None and r["share_of_cost"] <= 0.01]
    pick = (
        max(cheap, key=lambda r: (r["error_grouping"], -r["monthly_usd"]))
        if cheap
        else min(alerting, key=lambda r: r["monthly_usd"])
        if alerting
        else None
    )
    values = {
        "pick": pick["option"] if pick else "none",
        "price": pick["monthly_usd"] if pick else None,
        "share": pick["share_of_cost"] if pick else None,
    }
    fmt = {"pick": "text", "price": "usd", "share": "pct"}
    text = "Use {pick}: {price}/month, {share} of the monthly cost."
    img = plots.bars(
        [r["option"] for r in rows],
        {"USD/month": [r["monthly_usd"] for r in rows]},
        ylabel="USD per month",
        title="A5: monitoring options",
    )
    sec = make_section(
        "A5",
        "Monitoring options as monthly line items",
        question="What do the monitoring options add to the monthly bill?",
        rule="Among options that alert on errors and cost at most 1% of the monthly cost, the one with error "
        "grouping (then the cheapest); if none is that cheap, the cheapest that alerts. Prices: "
        "botcap/report/assumptions.yaml (assumed, dated).",
        variants=[
            {"option": r["key"], "set": [f"costs.infra.fixed_monthly_usd.monitoring={r['monthly_usd']!r}"]}
            for r in rows
        ],
        columns=[
            ("option", "option", "text"),
            ("monthly_usd", "price/month", "usd"),
            ("monthly_cost_usd", "total monthly cost", "usd"),
            ("share_of_cost", "share of cost", "pct"),
            ("cost_per_dau_usd", "cost per DAU", "usd"),
            ("alerting", "alerts", "bool"),
            ("error_grouping", "error grouping", "bool"),
        ],
        rows=rows,
        recommendation=text,
        values=values,
        value_fmt=fmt,
    )
    return sec, [img]
