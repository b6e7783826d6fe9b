"""GROWTH: the cheapest configuration meeting the SLO at 1K, 10K, 100K and 1M DAU (rules: growth.py)."""

from __future__ import annotations

from botcap.report import growth as gr
from botcap.report import plots
from botcap.report.section import make_section
from botcap.report.sections_arch import GROWTH_DAU

__all__ = ["growth"]


def growth(ctx, a1_section: dict | None) -> tuple[dict, list[str]]:
    """Per DAU level: the cheapest configuration meeting the SLO (``botcap sim optimize``, reduced budget,
    cached); a level too large to simulate in the budget carries the last winner up, said so per row."""
    from botcap.sim.space import load_space

    space = load_space(None)
    budget, limit_s = gr.BUDGET_RUNS[ctx.quick], gr.LEVEL_BUDGET_S[ctx.quick]
    levels = GROWTH_DAU[:2] if ctx.quick else GROWTH_DAU
    rows, per_rep_s, last = [], None, None  # last: (dau, winner config) of the largest simulated winner
    for i, dau in enumerate(levels):
        prev = levels[i - 1] if i else dau
        go, est = gr.simulate_next(per_rep_s, prev, dau, budget, limit_s)
        if go:
            ctx.label(f"GROWTH: optimizing {dau:,} DAU ({budget} replications at most)")
            res = gr.plan_level(
                ctx.base,
                space,
                dau,
                budget=budget,
                seed=ctx.window.seed,
                executor=ctx.executor,
                cache_dir=ctx.cache_dir,
                lean=ctx.quick,
            )
            used = res["books"]["simulated_replications"]
            per_rep_s = res["wall_s"] / used if used else per_rep_s
            win = res["winner"]
            cfg = win["config"] if win else {}
            if win:
                last = (dau, cfg)
            c = gr.carried_up(ctx.base, space, cfg, dau, dau)[1] if win else ctx.cost([f"workload.dau={dau}"])
            how = "simulated (optimizer)"
            why = (
                res["books"]["stopped"]
                if win
                else f"no configuration met the SLO ({res['books']['stopped']})"
            )
            books = res["books"]
            n_configs = books["configurations"]
            if not win and used == 0 and n_configs and books["pruned"] == n_configs:
                # nothing was left to simulate: the analytic bounds rule out every configuration; say
                # which bounds rule out all of them (a shared limit no instance count can lift)
                how = "pre-screened (optimizer)"
                every = [k for k, n in res["prune_reasons"].items() if n == n_configs]
                why = (f"none of {n_configs:,} configurations can meet the SLO: the pre-screen's bounds "
                       f"rule out every one ({', '.join(every) or 'by several bounds'})")
            met, total = (True if win else False), (res["monthly_cost_usd"] if win else None)
            reps = used
        else:
            if last is None:
                cfg, c, total = {}, None, None
            else:
                cfg, c = gr.carried_up(ctx.base, space, last[1], last[0], dau)
                total = c["total"]["monthly_cost_usd"]
            how = "extrapolated"
            why = (
                f"not simulated: estimated {est:,.0f} s > {limit_s:g} s budget; the {last[0]:,} DAU winner "
                f"with instances x {dau / last[0]:g}"
                if last
                else f"not simulated: estimated {est:,.0f} s > {limit_s:g} s; no smaller level has a winner"
            )
            met, reps = None, 0
        rows.append(
            {
                "dau": dau,
                "how": how,
                "instances": cfg.get("platform.instances"),
                "haiku_share": cfg.get("haiku_routing_share"),
                "config": ", ".join(
                    f"{k.split('.')[-1]}={v}"
                    for k, v in cfg.items()
                    if k not in ("platform.instances", "haiku_routing_share")
                )
                or "none",
                "slo_met": met,
                "simulated_replications": reps,
                "monthly_cost_usd": total,
                "cost_per_dau_usd": total / dau if total is not None else None,
                "remark": why,
                "capacity_flags": ("; ".join(c["capacity"]["flags"]) or "none") if c else "n/a",
            }
        )
    priced = [r for r in rows if r["cost_per_dau_usd"] is not None]
    first_bad = next((r for r in rows if r["capacity_flags"] not in ("none", "n/a")), None)
    sim = [r for r in rows if r["how"].startswith("simulated")]
    top = max((r for r in sim if r["slo_met"]), key=lambda r: r["dau"], default=None)
    screened = [r for r in rows if r["how"].startswith("pre-screened")]
    values = {
        "simulated": ", ".join(f"{r['dau']:,}" for r in sim) or "none",
        "screened": ", ".join(f"{r['dau']:,}" for r in screened) or "none",
        "extrapolated": ", ".join(f"{r['dau']:,}" for r in rows if r["how"] == "extrapolated") or "none",
        "top_dau": top["dau"] if top else None,
        "top_cost": top["monthly_cost_usd"] if top else None,
        "top_per_dau": top["cost_per_dau_usd"] if top else None,
        "top_instances": top["instances"] if top else None,
        "top_haiku": top["haiku_share"] if top else None,
        "first_flag_dau": first_bad["dau"] if first_bad else None,
        "first_flag": first_bad["capacity_flags"] if first_bad else "none",
    }
    fmt = {
        "simulated": "text",
        "screened": "text",
        "extrapolated": "text",
        "top_dau": "int",
        "top_cost": "usd",
        "top_per_dau": "usd",
        "top_instances": "int",
        "top_haiku": "pct",
        "first_flag_dau": "int",
        "first_flag": "text",
    }
    text = (
        "Simulated levels: {simulated} DAU; extrapolated: {extrapolated}; ruled out by the pre-screen "
        "(no configuration of the space can meet the SLO): {screened}. "
        + (
            "At {top_dau} DAU the cheapest configuration meeting the SLO costs {top_cost}/month "
            "({top_per_dau} per DAU) on {top_instances} instances with {top_haiku} of Claude calls routed "
            "to Haiku. "
            if top
            else "No simulated level found a configuration meeting the SLO within its budget. "
        )
        + (
            "First shared limit hit at {first_flag_dau} DAU: {first_flag}."
            if first_bad
            else "No shared limit is hit at the levels shown."
        )
    )
    img = plots.lines(
        {"cost per DAU": ([r["dau"] for r in priced], [r["cost_per_dau_usd"] for r in priced])},
        xlabel="DAU",
        ylabel="USD per DAU-month",
        title="Growth: monthly cost per DAU of the cheapest configuration",
        logx=True,
    )
    sec = make_section(
        "GROWTH",
        "Growth plan: 1K, 10K, 100K, 1M DAU",
        question="What is the cheapest configuration meeting the SLO at each growth level, its monthly cost "
        "and cost per DAU?",
        rule=f"Per level, botcap sim optimize (docs/sweep.md: configurations of the default space walked in "
        f"increasing monthly cost, the DES confirming the SLO with common seeds) with at most {budget} "
        f"simulated replications, the space's instance counts plus the same x max(1, DAU/10K). A level is "
        f"simulated when its estimated wall time (previous level's seconds per simulated replication x DAU "
        f"ratio x budget) is <= {limit_s:g} s; otherwise the largest simulated winner is carried up with "
        f"its instances scaled by DAU (extrapolated: priced, not judged). Cost: botcap cost with the "
        f"configuration (Haiku share as costmodel's haiku_routing); shared limits: its capacity check.",
        variants=[{"dau": r["dau"], "how": r["how"]} for r in rows],
        columns=[
            ("dau", "DAU", "int"),
            ("how", "how", "text"),
            ("instances", "instances", "int"),
            ("haiku_share", "Haiku share", "pct"),
            ("config", "rest of the configuration", "text"),
            ("slo_met", "SLO met", "bool"),
            ("simulated_replications", "sim. replications", "int"),
            ("monthly_cost_usd", "monthly cost", "usd"),
            ("cost_per_dau_usd", "cost per DAU", "usd"),
            ("remark", "remark", "text"),
            ("capacity_flags", "shared limits exceeded", "text"),
        ],
        rows=rows,
        recommendation=text,
        values=values,
        value_fmt=fmt,
    )
    _ = a1_section
    return sec, [img]
