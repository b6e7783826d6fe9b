"""A3 Claude cost mitigations (alone and combined, $/month and latency) and A5 monitoring line items."""

from __future__ import annotations

from botcap.report import plots
from botcap.report.assumptions import assumptions
from botcap.report.common import kind_columns, slo_row
from botcap.report.section import make_section

__all__ = ["a3", "a5", "mitigation_variants"]

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
