"""A4 circuit breaker (a Claude outage, a storm of 529s) and C1 topology (the MCP round trip)."""

from __future__ import annotations

import math

import numpy as np

from botcap.report import plots, rules
from botcap.report.common import kind_columns, num, slo_row
from botcap.report.section import make_section
from botcap.report.sections_arch import _clock_s, _variant_list

__all__ = ["a4", "c1", "recovery_probe"]


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
                "attempts": None if "error" in s else (c.get("calls") or 0) + (c.get("retries") or 0),
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
        "has <= 1% failures and p95 <= 1.5x the pre-fault p95 (– = not recovered before the window ends).",
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
    rtts = [0.01, 0.15] if ctx.quick else [0.01, 0.03, 0.06, 0.1, 0.15]
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
