"""C4/B6 unit economics per tier in USD and Stars, and B6: a T3 user at scale (one Neon database?)."""

from __future__ import annotations

from botcap.report import plots, rules
from botcap.report.assumptions import assumptions
from botcap.report.common import num
from botcap.report.section import make_section

__all__ = ["economics", "b6"]


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
