"""A1 ingress and instances, A2 scheduler placement and lock, A4 circuit breaker, C1 MCP topology."""

from __future__ import annotations

import math

import numpy as np

from botcap.report import plots, rules
from botcap.report.common import first_violation, kind_columns, num, slo_row
from botcap.report.section import make_section

__all__ = ["a1", "a2", "a4", "c1", "GROWTH_DAU"]

GROWTH_DAU = (1_000, 10_000, 100_000, 1_000_000)
SLO_COLS = [
    ("error_rate", "error rate", "pct"),
    ("digest_lateness_max_s", "digest lateness max s", "s"),
    ("pressure", "SLO pressure", "num"),
    ("slo_met", "SLO met", "bool"),
]


def _variant_list(sets_list):
    return [{"set": list(s)} for s in sets_list]


def a1(ctx) -> tuple[dict, list[str]]:
    slo = ctx.base.slo
    counts = [3, 5, 8] if ctx.quick else [2, 3, 5, 8, 12]
    modes = ("webhook", "polling")
    sets = [[f"platform.mode={m}", f"platform.instances={n}"] for m in modes for n in counts]
    sums = ctx.sim(sets, what="A1")
    rows, values, fmt = [], {"dau": ctx.base.workload.dau}, {"dau": "int"}
    series = {}
    for i, m in enumerate(modes):
        part = sums[i * len(counts) : (i + 1) * len(counts)]
        for n, s in zip(counts, part, strict=True):
            rows.append({"mode": m, "instances": n, **slo_row(s, slo)})
        needed = rules.fewest_meeting(counts, part, slo)
        press = [rules.pressure(s, slo) for s in part]
        plateau = rules.near_best(counts, press)
        series[m] = (counts, press)
        values[f"{m}_needed"] = needed
        values[f"{m}_plateau"] = plateau
        values[f"{m}_plateau_pressure"] = num(press[counts.index(plateau)]) if plateau is not None else None
        values[f"{m}_remaining"] = (
            first_violation(part[counts.index(plateau)]) if plateau is not None else "none"
        )
        for k in ("needed", "plateau"):
            fmt[f"{m}_{k}"] = "int"
        fmt[f"{m}_plateau_pressure"], fmt[f"{m}_remaining"] = "num", "text"
    growth = []
    for dau in GROWTH_DAU:
        row = {"dau": dau}
        for m in modes:
            n10 = values[f"{m}_needed"]
            row[f"{m}_instances"] = math.ceil(n10 * dau / ctx.base.workload.dau) if n10 else None
        growth.append(row)
    parts = []
    for m in modes:
        if values[f"{m}_needed"] is not None:
            parts.append(f"{m}: {{{m}_needed}} instances at {{dau}} DAU.")
        else:
            edge = values[f"{m}_plateau"] == max(counts)
            where = (
                f"the SLO pressure is lowest at {{{m}_plateau}} instances, the largest"
                " simulated (more may help)"
                if edge
                else f"beyond {{{m}_plateau}} instances more do not help (within 5% of the lowest pressure)"
            )
            parts.append(
                f"{m}: no simulated count meets the SLO with 30% headroom; {where}: SLO pressure "
                f"{{{m}_plateau_pressure}}, and what remains there is {{{m}_remaining}}."
            )
    img = plots.lines(
        series,
        xlabel="instances",
        ylabel="SLO pressure (max p95 / limit)",
        title=f"A1: SLO pressure at {ctx.base.workload.dau:,} DAU",
        hlines={"limit": 1.0, "30% headroom": 1 - rules.HEADROOM},
        logy=True,
    )
    sec = make_section(
        "A1",
        "Polling vs webhook, and how many instances",
        question="Which ingress mode, and how many instances, carry the load within the SLO?",
        rule="Per mode: the fewest instances whose SLO verdict is met with every kind's p95 at most 70% of "
        "its limit (30% headroom). When none is, the fewest instances whose SLO pressure (largest "
        "p95/limit) is within 5% of the lowest simulated, with the violation left there. Growth levels: "
        "the 10K-DAU count scaled linearly with DAU (extrapolated, not simulated).",
        variants=_variant_list(sets),
        columns=[("mode", "mode", "text"), ("instances", "instances", "int"), *kind_columns(slo), *SLO_COLS],
        rows=rows,
        recommendation=" ".join(parts),
        values=values,
        value_fmt=fmt,
        extra={
            "tables": [
                {
                    "title": "Instances needed per growth level (extrapolated from 10K DAU)",
                    "columns": [
                        {"key": "dau", "label": "DAU", "fmt": "int"},
                        {"key": "webhook_instances", "label": "webhook", "fmt": "int"},
                        {"key": "polling_instances", "label": "polling", "fmt": "int"},
                    ],
                    "rows": growth,
                }
            ]
        },
    )
    return sec, [img]


# ---------------------------------------------------------------------------------------------
def _clock_s(hhmm: str) -> float:
    h, m = hhmm.split(":")
    return int(h) * 3600.0 + int(m) * 60.0


def burst_probe(result) -> dict:
    """Digests finished per minute from 09:50 to 10:30 wall clock (replications pooled, first copies)."""
    rq = result.requests
    start_s = _clock_s(result.scenario.horizon.start)  # the engine's clock starts at 0 = horizon.start
    if rq.empty or "is_digest" not in rq:
        return {"minutes": [], "sent_per_min": []}
    d = rq[rq["is_digest"].astype(bool) & rq["ok"].astype(bool)]
    if "is_duplicate" in d:
        d = d[~d["is_duplicate"].astype(bool)]
    edges = np.arange(9 * 60 + 50, 10 * 60 + 31) * 60.0
    counts, _ = np.histogram(d["done_s"].to_numpy(dtype=float) + start_s, bins=edges)
    reps = max(len(result.replications), 1)
    return {"minutes": [int(e // 60) for e in edges[:-1]], "sent_per_min": (counts / reps).tolist()}


def a2(ctx) -> tuple[dict, list[str]]:
    slo = ctx.base.slo
    combos = [
        ("every_instance", "none"),
        ("every_instance", "advisory"),
        ("every_instance", "redis"),
        ("separate", "none"),
    ]
    sets = [[f"scheduler.placement={p}", f"scheduler.lock={lk}"] for p, lk in combos]
    sums = ctx.sim(sets, probe=burst_probe, what="A2")
    rows = []
    for (p, lk), s in zip(combos, sums, strict=True):
        dg = s.get("digests", {})
        burst = s.get("probe", {}).get("sent_per_min", [])
        rows.append(
            {
                "placement": p,
                "lock": lk,
                "duplicate_sends": dg.get("duplicate_sends"),
                "lateness_p95_s": num(dg.get("lateness_s", {}).get("p95")),
                "peak_sent_per_min": num(max(burst)) if burst else None,
                "p95_chat_simple_s": num(s.get("latency_by_kind_s", {}).get("chat_simple", {}).get("p95")),
                **{
                    k: v
                    for k, v in slo_row(s, slo).items()
                    if k in ("digests_sent", "digests_scheduled", "digest_lateness_max_s", "slo_met")
                },
            }
        )
    base = next(r for r in rows if r["lock"] == "none" and r["placement"] == "every_instance")
    safe = [r for r in rows if r["duplicate_sends"] == 0 and r["digests_sent"]]
    best = (
        min(safe, key=lambda r: r["lateness_p95_s"] if r["lateness_p95_s"] is not None else math.inf)
        if safe
        else None
    )
    locked = next(r for r in rows if r["lock"] == "advisory")
    lock_cost = (
        (locked["lateness_p95_s"] - base["lateness_p95_s"])
        if None not in (locked["lateness_p95_s"], base["lateness_p95_s"])
        else None
    )
    values = {
        "dups_unlocked": base["duplicate_sends"],
        "lock_cost_s": lock_cost,
        "best": f"{best['placement']} + lock {best['lock']}" if best else "none",
        "best_p95": best["lateness_p95_s"] if best else None,
    }
    fmt = {"dups_unlocked": "int", "lock_cost_s": "s", "best": "text", "best_p95": "s"}
    text = (
        (
            "Without a lock, every instance's scheduler sends: {dups_unlocked} duplicate sends. Use {best} "
            "(no duplicates, digest lateness p95 {best_p95} s); the advisory lock changes lateness p95 by "
            "{lock_cost_s} s against no lock."
        )
        if best
        else "No variant sends every digest exactly once ({dups_unlocked} duplicates without a lock)."
    )
    series = {
        f"{p} / {lk}": (s.get("probe", {}).get("minutes", []), s.get("probe", {}).get("sent_per_min", []))
        for (p, lk), s in zip(combos, sums, strict=True)
    }
    series = {k: ([f"{m // 60:02d}:{m % 60:02d}" for m in xs], ys) for k, (xs, ys) in series.items()}
    img = plots.lines(
        {k: (list(range(len(xs))), ys) for k, (xs, ys) in series.items()},
        xlabel="minutes after 09:50",
        ylabel="digests sent per minute",
        title="A2: the 10:00 burst, per placement and lock",
    )
    sec = make_section(
        "A2",
        "Scheduler placement and locking",
        question="Where should the digest scheduler run, and does it need a lock?",
        rule="Among variants with zero duplicate sends that sent digests, the one with the lowest digest "
        "lateness p95. The lock's cost: advisory lock minus no lock, lateness p95.",
        variants=_variant_list(sets),
        columns=[
            ("placement", "placement", "text"),
            ("lock", "lock", "text"),
            ("duplicate_sends", "duplicate sends", "int"),
            ("digests_sent", "digests sent", "int"),
            ("digests_scheduled", "scheduled", "int"),
            ("lateness_p95_s", "lateness p95 s", "s"),
            ("digest_lateness_max_s", "lateness max s", "s"),
            ("peak_sent_per_min", "peak sends/min", "num"),
            ("p95_chat_simple_s", "p95 chat_simple s", "s"),
            ("slo_met", "SLO met", "bool"),
        ],
        rows=rows,
        recommendation=text,
        values=values,
        value_fmt=fmt,
    )
    return sec, [img]


# ---------------------------------------------------------------------------------------------
def recovery_probe(result) -> dict:
    """Seconds from the end of the scenario's first Claude outage until user messages answer as before.

    Recovered from the first whole minute after which every minute has <= 1% failures and a p95
    latency <= 1.5x the p95 of the minutes between the warm-up and the outage; None when no outage
    is configured or the window ends before that.
    """
    sc = result.scenario
    outages = sc.platform.claude.faults.outages
    rq = result.requests
    if not outages or rq.empty:
        return {"recovery_s": None}
    t0 = _clock_s(sc.horizon.start)
    begin = _clock_s(outages[0].start) - t0
    end = begin + outages[0].duration_s
    u = rq[~rq["is_digest"].astype(bool)]
    lat = (u["done_s"] - u["arrival_s"]).where(u["ok"].astype(bool))
    before = lat[u["arrival_s"] < begin]
    if not before.notna().any():
        return {"recovery_s": None}
    ref = float(np.nanpercentile(before, 95))
    after = u["arrival_s"] >= end
    minute = ((u.loc[after, "arrival_s"] - end) // 60).astype(int)
    bad = {}
    for mnt, idx in u.loc[after].groupby(minute).groups.items():
        ok = u.loc[idx, "ok"].astype(bool)
        p95 = float(np.nanpercentile(lat[idx], 95)) if lat[idx].notna().any() else math.inf
        bad[int(mnt)] = bool((1 - ok.mean()) > 0.01 or not p95 <= 1.5 * ref)
    if not bad:
        return {"recovery_s": None}
    last_bad = max((m for m, b in bad.items() if b), default=-1)
    if last_bad == max(bad):
        return {"recovery_s": None}  # not recovered within the window
    return {"recovery_s": float((last_bad + 1) * 60)}


ATTEMPTS_SAVED_MIN = 0.20  # the breaker must cut Claude attempts in a fault by at least 20%
ERROR_SLACK = 0.02  # ... without raising the error rate by more than 2 percentage points


def _breaker_pays(rows: list[dict], fault: str) -> bool:
    on = next(r for r in rows if r["fault"] == fault and r["breaker"] == "breaker")
    off = next(r for r in rows if r["fault"] == fault and r["breaker"] == "no breaker")
    if not off["attempts"] or on["sim_error"] != "none" or off["sim_error"] != "none":
        return False  # a failed simulation is no evidence either way
    saved = (off["attempts"] - on["attempts"]) / off["attempts"]
    return saved >= ATTEMPTS_SAVED_MIN and (on["error_rate"] or 0) <= (off["error_rate"] or 0) + ERROR_SLACK


def a4(ctx) -> tuple[dict, list[str]]:
    slo = ctx.base.slo
    no_breaker = ["platform.claude.breaker.failure_threshold=10000"]
    outage = ["platform.claude.faults.outages=[{start: '10:05', duration_s: 300}]"]
    storm = ["platform.claude.faults.overloaded_rate=0.6"]
    cases = [
        ("none", "breaker", []),
        ("outage 5 min", "breaker", outage),
        ("outage 5 min", "no breaker", outage + no_breaker),
        ("529 storm 60%", "breaker", storm),
        ("529 storm 60%", "no breaker", storm + no_breaker),
    ]
    sets = [s for _, _, s in cases]
    sums = ctx.sim(sets, probe=recovery_probe, what="A4")
    rows = []
    for (fault, br, _), s in zip(cases, sums, strict=True):
        c = s.get("claude", {})
        rows.append(
            {
                "fault": fault,
                "breaker": br,
                "failed": s.get("requests", {}).get("failed"),
                "attempts": (c.get("calls") or 0) + (c.get("retries") or 0),
                "retries": c.get("retries"),
                "http_529": c.get("http_529"),
                "breaker_open_s": num(c.get("breaker_open_s")),
                "recovery_s": num(s.get("probe", {}).get("recovery_s"))
                if fault.startswith("outage")
                else None,
                **slo_row(s, slo),
            }
        )
    values, fmt = {}, {}
    for fault in ("outage 5 min", "529 storm 60%"):
        with_b = next(r for r in rows if r["fault"] == fault and r["breaker"] == "breaker")
        without = next(r for r in rows if r["fault"] == fault and r["breaker"] == "no breaker")
        key = "outage" if fault.startswith("outage") else "storm"
        judged = with_b["sim_error"] == "none" and without["sim_error"] == "none"
        values[f"{key}_attempts_saved"] = without["attempts"] - with_b["attempts"] if judged else None
        values[f"{key}_err_with"] = with_b["error_rate"] if judged else None
        values[f"{key}_err_without"] = without["error_rate"] if judged else None
        fmt.update({f"{key}_attempts_saved": "int", f"{key}_err_with": "pct", f"{key}_err_without": "pct"})
    keep = any(_breaker_pays(rows, f) for f in ("outage 5 min", "529 storm 60%"))
    values["verdict"] = "keep the breaker" if keep else "the breaker saves nothing here"
    fmt["verdict"] = "text"
    text = (
        "{verdict}: during the 5-minute outage it saves {outage_attempts_saved} Claude attempts (error rate "
        "{outage_err_with} with, {outage_err_without} without); in the 529 storm it saves "
        "{storm_attempts_saved} attempts (error rate {storm_err_with} with, {storm_err_without} without)."
    )
    img = plots.bars(
        [f"{r['fault']}\n{r['breaker']}" for r in rows],
        {
            "error rate %": [100 * (r["error_rate"] or 0) for r in rows],
            "p95 chat_simple s": [r.get("p95_chat_simple_s") or 0 for r in rows],
        },
        ylabel="",
        title="A4: faults with and without the breaker",
    )
    sec = make_section(
        "A4",
        "Circuit breaker for Claude",
        question="Does a circuit breaker pay off in a 5-minute Claude outage (10:05-10:10) and a storm of "
        "529s (60% of calls)?",
        rule="Keep the breaker when, in either fault, it cuts Claude attempts (calls + retries) by at least "
        "20% without raising the error rate by more than 2 percentage points. "
        "Rejected attempts (5xx, 529) are not billed by the API, so wasted spend is counted as attempts "
        "and retries, not dollars. Recovery: the first minute after the outage from which every minute "
        "has <= 1% failures and p95 <= 1.5x the pre-fault p95.",
        variants=[{"fault": f, "breaker": b, "set": s} for f, b, s in cases],
        columns=[
            ("fault", "fault", "text"),
            ("breaker", "breaker", "text"),
            ("failed", "failed", "int"),
            ("error_rate", "error rate", "pct"),
            ("attempts", "Claude attempts", "int"),
            ("retries", "retries", "int"),
            ("http_529", "529s", "int"),
            ("breaker_open_s", "breaker open s", "s"),
            ("recovery_s", "recovery s", "s"),
            ("p95_chat_simple_s", "p95 chat_simple s", "s"),
            ("slo_met", "SLO met", "bool"),
            ("sim_error", "simulation", "text"),
        ],
        rows=rows,
        recommendation=text,
        values=values,
        value_fmt=fmt,
    )
    return sec, [img]


# ---------------------------------------------------------------------------------------------
def c1(ctx) -> tuple[dict, list[str]]:
    slo = ctx.base.slo
    rtts = [0.01, 0.05, 0.15] if ctx.quick else [0.01, 0.03, 0.06, 0.1, 0.15]
    sets = [[f"platform.network_rtt_s.mcp={r}"] for r in rtts]
    sums = ctx.sim(sets, what="C1")
    rows = [{"mcp_rtt_ms": r * 1000, **slo_row(s, slo)} for r, s in zip(rtts, sums, strict=True)]
    uses_mcp = [k for k, spec in ctx.base.workload.kinds.items() if spec.mcp_calls > 0 and k in slo.p95_s]
    starts = {}
    for k in slo.p95_s:
        starts[k] = rules.first_rise(
            [r["mcp_rtt_ms"] for r in rows], [r[f"p95_{k}_s"] or math.nan for r in rows]
        )
    hit = [(v, k) for k, v in starts.items() if v is not None]
    values = {
        "kinds": ", ".join(uses_mcp) or "none",
        "lo": rows[0]["mcp_rtt_ms"],
        "hi": rows[-1]["mcp_rtt_ms"],
    }
    fmt = {"kinds": "text", "lo": "num", "hi": "num"}
    if hit:
        values["at_ms"], values["kind"] = min(hit)
        fmt.update({"at_ms": "num", "kind": "text"})
        text = (
            "The MCP round trip starts to matter at {at_ms} ms, for {kind} (p95 more than 5% above its value "
            "at {lo} ms); kinds calling MCP: {kinds}."
        )
    else:
        text = (
            "From {lo} to {hi} ms the MCP round trip moves no kind's p95 by more than 5%: a distant region is"
            " "
            "fine for now (kinds calling MCP: {kinds})."
        )
    img = plots.lines(
        {k: ([r["mcp_rtt_ms"] for r in rows], [r[f"p95_{k}_s"] for r in rows]) for k in slo.p95_s},
        xlabel="MCP round trip ms",
        ylabel="p95 s",
        title="C1: latency per kind vs MCP round trip",
        logy=True,
    )
    sec = make_section(
        "C1",
        "Topology: MCP on Cloudflare Workers in another region",
        question="The bot (Railway, Amsterdam) calls MCP servers in another region: from which round trip"
        " does "
        "the distance show in the latency per kind?",
        rule="The smallest simulated MCP round trip at which some kind's p95 exceeds its p95 at the smallest "
        "round trip by more than 5%.",
        variants=_variant_list(sets),
        columns=[("mcp_rtt_ms", "MCP RTT ms", "num"), *kind_columns(slo), ("slo_met", "SLO met", "bool")],
        rows=rows,
        recommendation=text,
        values=values,
        value_fmt=fmt,
    )
    return sec, [img]
