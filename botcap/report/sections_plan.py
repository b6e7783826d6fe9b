"""A6 pools vs max_connections, A7 slots and the planners' claims checked (growth: sections_growth)."""

from __future__ import annotations

import math
from dataclasses import replace

from botcap.report import plots, rules
from botcap.report.common import num, slo_row
from botcap.report.section import make_section

__all__ = ["a6", "a7", "claims"]

DB_WAIT_MAX_S = 0.1  # A6: a DB variant qualifies with pool wait p95 at most this


def a6(ctx) -> tuple[dict, list[str]]:
    base = ctx.base
    per_cu = 419
    cu2 = max(2.0, base.costs.infra.neon.compute_cu * 2)
    cases = [
        ("direct", []),
        ("pgbouncer", ["platform.db.pooler=pgbouncer"]),
        (
            f"Neon {cu2:g} CU",
            [f"costs.infra.neon.compute_cu={cu2!r}", f"platform.db.max_connections={int(per_cu * cu2)}"],
        ),
        (
            "direct, pool fits",
            [
                f"platform.db.pool_size_per_instance="
                f"{max(1, base.platform.db.max_connections // (base.platform.instances + 1))}"
            ],
        ),
    ]
    sums = ctx.sim([s for _, s in cases], what="A6")
    rows = []
    for (name, sets), s in zip(cases, sums, strict=True):
        c = ctx.cost(sets)
        db = s.get("db", {})
        cap = ctx.scenario(sets).platform.db.max_connections
        rows.append(
            {
                "option": name,
                "refusals": db.get("too_many_connections"),
                "acquire_timeouts": db.get("acquire_timeouts"),
                "peak_server_connections": db.get("peak_server_connections"),
                "max_connections": cap,
                "wait_db_pool_p95_s": num(s.get("wait_s", {}).get("db_pool", {}).get("p95")),
                "neon_monthly_usd": c["total"]["by_component_monthly_usd"]["neon"],
                "monthly_cost_usd": c["total"]["monthly_cost_usd"],
                "error_rate": num(s.get("error_rate")),
            }
        )

    def ok(r: dict) -> bool:
        return (
            r["refusals"] == 0
            and r["acquire_timeouts"] == 0
            and r["wait_db_pool_p95_s"] is not None
            and r["wait_db_pool_p95_s"] <= DB_WAIT_MAX_S
            and r["peak_server_connections"] < r["max_connections"]
        )

    best = rules.cheapest(rows, ok, "neon_monthly_usd")
    values = {
        "best": best["option"] if best else "none",
        "neon": best["neon_monthly_usd"] if best else None,
        "refusals_direct": rows[0]["refusals"],
    }
    fmt = {"best": "text", "neon": "usd", "refusals_direct": "int"}
    text = (
        "Use {best} ({neon}/month for Neon); the direct pools are refused {refusals_direct} connections."
        if best
        else "No option runs without refusals or long pool waits ({refusals_direct} refusals direct)."
    )
    img = plots.bars(
        [r["option"] for r in rows],
        {
            "refusals": [r["refusals"] or 0 for r in rows],
            "acquire timeouts": [r["acquire_timeouts"] or 0 for r in rows],
        },
        ylabel="count in the window",
        title="A6: connection refusals per option",
    )
    sec = make_section(
        "A6",
        "Connection pools vs Neon's max_connections",
        question=f"{base.platform.instances} pools x {base.platform.db.pool_size_per_instance} against "
        f"max_connections {base.platform.db.max_connections}: direct, PgBouncer or a bigger Neon?",
        rule=f"The option with the lowest Neon monthly price among those with zero refusals, zero acquire "
        f"timeouts, DB pool wait p95 <= {DB_WAIT_MAX_S:g} s and peak server connections below "
        f"max_connections (the cap never binds); on a tie, the first listed. A bigger Neon compute gets "
        f"{per_cu} connections per CU (costmodel's max_connections_per_cu).",
        variants=[{"option": n, "set": s} for n, s in cases],
        columns=[
            ("option", "option", "text"),
            ("refusals", "refused connections", "int"),
            ("acquire_timeouts", "acquire timeouts", "int"),
            ("peak_server_connections", "peak server conns", "int"),
            ("max_connections", "max_connections", "int"),
            ("wait_db_pool_p95_s", "pool wait p95 s", "s"),
            ("error_rate", "error rate", "pct"),
            ("neon_monthly_usd", "Neon/month", "usd"),
            ("monthly_cost_usd", "total/month", "usd"),
        ],
        rows=rows,
        recommendation=text,
        values=values,
        value_fmt=fmt,
    )
    return sec, [img]


def a7(ctx) -> tuple[dict, list[str]]:
    slo = ctx.base.slo
    slots = [5] if ctx.quick else [5, 15]
    caps = [300] if ctx.quick else [150, 300, 600]
    policies = ["suggest_next", "auto_shift"]
    cases = [(None, None, "none")] + [(sl, cap, p) for sl in slots for cap in caps for p in policies]
    sets = [
        []
        if sl is None
        else [f"scheduler.slot_minutes={sl}", f"scheduler.cap_per_slot={cap}", f"scheduler.policy={p}"]
        for sl, cap, p in cases
    ]
    # moved digests must fall inside the window: cap c per slot of m minutes empties the 10:00 rush
    # in about rush / c slots, so the window reaches to 12:00 (quick: 11:00, caps >= 300 only)
    window = replace(ctx.window, hours=1.5 if ctx.quick else 2.5)
    sums = ctx.sim(sets, what="A7", window=window)
    rows = []
    for (sl, cap, p), s in zip(cases, sums, strict=True):
        dg = s.get("digests", {})
        rows.append(
            {
                "slot_minutes": sl,
                "cap_per_slot": cap,
                "policy": p,
                "max_per_slot": dg.get("max_per_slot"),
                "moved": dg.get("moved"),
                "lateness_p95_s": num(dg.get("lateness_s", {}).get("p95")),
                "digest_ok": not rules.violates(s, "digests")
                and bool(dg.get("sent"))
                and not dg.get("in_flight")
                and not dg.get("shifted_past_horizon"),
                "window": f"{window.start} + {window.hours:g} h",
                **slo_row(s, slo),
            }
        )
    ok = [r for r in rows if r["digest_ok"]]
    best = min(ok, key=lambda r: (r["max_per_slot"], r["lateness_p95_s"] or math.inf)) if ok else None
    values = {
        "pair": f"{best['slot_minutes']}-minute slots, cap {best['cap_per_slot']}, {best['policy']}"
        if best and best["slot_minutes"]
        else ("no cap" if best else "none"),
        "peak": best["max_per_slot"] if best else None,
        "late": best["lateness_p95_s"] if best else None,
        "base_peak": rows[0]["max_per_slot"],
    }
    fmt = {"pair": "text", "peak": "int", "late": "s", "base_peak": "int"}
    text = (
        "Use {pair}: at most {peak} digests in a slot (against {base_peak} uncapped), lateness p95 {late} s."
        if best
        else "No slot variant keeps digest lateness within the SLO (uncapped peak {base_peak})."
    )
    pts = {}
    for p in policies:
        rs = sorted((r for r in rows if r["policy"] == p), key=lambda r: r["max_per_slot"] or 0)
        pts[p] = ([r["max_per_slot"] for r in rs], [r["lateness_p95_s"] for r in rs])
    img = plots.scatter(
        pts,
        xlabel="digests in the busiest slot (peak load)",
        ylabel="digest lateness p95 s",
        title="A7: peak load vs lateness",
        hline=slo.digest_max_lateness_s,
        highlight=(best["max_per_slot"], best["lateness_p95_s"]) if best and best["slot_minutes"] else None,
    )
    sec = make_section(
        "A7",
        "Slot-based scheduling of the 10:00 rush",
        question="Which slot size, cap per slot and policy flatten the 10:00 rush without late digests?",
        rule=f"Simulated over {window.start} + {window.hours:g} h, so that moved digests are sent inside it. "
        "Among variants whose SLO verdict names no digest violation and that sent every scheduled digest "
        "inside the window (none in flight or shifted past it), the one with "
        "the fewest digests in the busiest slot; ties by lower lateness p95.",
        variants=[{"set": s} for s in sets],
        columns=[
            ("slot_minutes", "slot min", "int"),
            ("cap_per_slot", "cap", "int"),
            ("policy", "policy", "text"),
            ("max_per_slot", "max per slot", "int"),
            ("moved", "moved", "int"),
            ("lateness_p95_s", "lateness p95 s", "s"),
            ("digest_lateness_max_s", "lateness max s", "s"),
            ("digests_sent", "sent", "int"),
            ("digests_scheduled", "scheduled", "int"),
            ("digest_ok", "digest SLO ok", "bool"),
        ],
        rows=rows,
        recommendation=text,
        values=values,
        value_fmt=fmt,
    )
    return sec, [img]


# ---------------------------------------------------------------------------------------------
# ---------------------------------------------------------------------------------------------
SHARE_TOLERANCE = 0.05  # "~96%" is confirmed within 5 percentage points


def claims(ctx) -> tuple[dict, list[str]]:
    base = ctx.base
    c10 = ctx.cost(["workload.dau=10000"])
    pc = c10["planners_claim"]
    share = c10["total"]["claude_share_of_cost"]
    (s_base,) = ctx.sim([[]], what="claims")
    d = base.workload.digests
    share_10 = d.preferred_times.get("10:00", 0.0) * (1 - d.spread_share)
    per_dau_10 = d.subscribers_share * share_10  # digests at 10:00 per daily active user
    dau_1000 = max(1, math.ceil(1000 / per_dau_10)) if per_dau_10 > 0 else None
    (s_1000,) = ctx.sim([[f"workload.dau={dau_1000}"]], what="claims") if dau_1000 else ({},)
    pools = base.platform.instances * base.platform.db.pool_size_per_instance
    refusals = s_base.get("db", {}).get("too_many_connections", 0)
    peak = s_base.get("db", {}).get("peak_server_connections", 0)
    late = num(s_1000.get("digests", {}).get("lateness_s", {}).get("max"))
    overloaded = bool(s_1000) and (rules.violates(s_1000, "digests") or bool(s_1000["digests"].get("failed")))
    rows = [
        {
            "claim": "$5K/month for Claude at 10K DAU",
            "number": pc["model_claude_monthly_usd"],
            "unit": "USD/month",
            "confirmed": pc["confirmed"],
            "rule": f"model within ±{pc['tolerance']:.0%} of $5,000 (costmodel's planners_claim)",
        },
        {
            "claim": "Claude is ~96% of cost",
            "number": share,
            "unit": "share",
            "confirmed": rules.within(share, 0.96, SHARE_TOLERANCE / 0.96),
            "rule": f"Claude's share within {SHARE_TOLERANCE * 100:.0f} points of 96%",
        },
        {
            "claim": "5 pools x 50 exceed Neon's 100 connections",
            "number": refusals,
            "unit": "refused connections",
            "confirmed": pools > base.platform.db.max_connections
            and (refusals > 0 or peak >= base.platform.db.max_connections),
            "rule": f"{base.platform.instances} x {base.platform.db.pool_size_per_instance} = {pools} client "
            f"connections > max_connections {base.platform.db.max_connections}, and in the simulated window "
            "connections are refused or the server connections reach max_connections",
        },
        {
            "claim": "1,000 users at 10:00 overload the scheduler",
            "number": late,
            "unit": "s digest lateness max",
            "confirmed": overloaded,
            "rule": (
                f"simulate {dau_1000} DAU (1,000 digests at 10:00); confirmed when the SLO verdict names a "
                "digest violation or digests fail"
                if dau_1000
                else "not applicable: this scenario schedules no digests at 10:00"
            ),
        },
    ]
    values = {"n": sum(r["confirmed"] for r in rows), "of": len(rows)}
    fmt = {"n": "int", "of": "int"}
    text = "{n} of {of} claims confirmed; each row gives the number behind the verdict."
    img = plots.bars(
        [r["claim"] for r in rows],
        {"confirmed": [1.0 if r["confirmed"] else 0.0 for r in rows]},
        ylabel="1 = confirmed, 0 = refuted",
        title="The planners' claims",
        horizontal=True,
    )
    sec = make_section(
        "CLAIMS",
        "The planners' claims, checked",
        question="Do the planners' four figures hold?",
        rule="Each claim has its own rule, in its row.",
        variants=[{"set": []}, {"set": [f"workload.dau={dau_1000}"]}],
        columns=[
            ("claim", "claim", "text"),
            ("number", "number", "num"),
            ("unit", "unit", "text"),
            ("confirmed", "confirmed", "bool"),
            ("rule", "rule", "text"),
        ],
        rows=rows,
        recommendation=text,
        values=values,
        value_fmt=fmt,
    )
    return sec, [img]
