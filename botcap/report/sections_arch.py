"""A1 ingress and instances, A2 scheduler placement and lock (and the growth levels A1 scales to)."""

from __future__ import annotations

import math

import numpy as np

from botcap.report import plots, rules
from botcap.report.capacity import capacity_part
from botcap.report.common import first_violation, kind_columns, num, slo_row
from botcap.report.section import make_section

__all__ = ["a1", "a2", "burst_probe", "GROWTH_DAU"]

GROWTH_DAU = (1_000, 10_000, 100_000, 1_000_000)
SLO_COLS = [
    ("error_rate", "error rate", "pct"),
    ("digest_lateness_max_s", "digest lateness max s", "s"),
    ("pressure", "SLO pressure", "num"),
    ("slo_met", "SLO met", "bool"),
]

CAP_COLS = [
    {"key": k, "label": label, "fmt": f}
    for k, label, f in [
        ("mode", "mode", "text"),
        ("instances", "instances", "int"),
        ("capacity_dau", "capacity DAU", "int"),
        ("failed_at_dau", "fails at DAU", "int"),
        ("ci95_lo_dau", "CI95 low", "int"),
        ("ci95_hi_dau", "CI95 high", "int"),
        ("peak_arrivals_per_s", "peak msgs/s at capacity", "num"),
        ("replications", "replications", "int"),
        ("runs", "runs", "int"),
        ("binding", "what binds", "text"),
    ]
]
NEED_COLS = [
    {"key": k, "label": label, "fmt": f}
    for k, label, f in [
        ("dau", "DAU", "int"),
        ("webhook_instances", "webhook", "int"),
        ("webhook_how", "webhook how", "text"),
        ("polling_instances", "polling", "int"),
        ("polling_how", "polling how", "text"),
    ]
]


def _variant_list(sets_list):
    return [{"set": list(s)} for s in sets_list]


def a1(ctx) -> tuple[dict, list[str]]:
    slo = ctx.base.slo
    counts = [5, 8] if ctx.quick else [2, 3, 5, 8, 12]
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
    cap = capacity_part(ctx, rows, modes, GROWTH_DAU)
    cap_img = plots.lines(
        {
            m: (sorted(cap["by_mode"][m]), [cap["by_mode"][m][n] for n in sorted(cap["by_mode"][m])])
            for m in modes
        },
        xlabel="instances",
        ylabel="capacity, DAU",
        title="A1: capacity (largest DAU meeting the SLO used)",
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
        "see the capacity rule below. " + cap["rule"],
        variants=_variant_list(sets),
        columns=[("mode", "mode", "text"), ("instances", "instances", "int"), *kind_columns(slo), *SLO_COLS],
        rows=rows,
        recommendation=" ".join(parts) + " " + cap["text"],
        values={**values, **cap["values"]},
        value_fmt={**fmt, **cap["fmt"]},
        extra={
            "capacity": {"slo_p95_s_used": cap["slo_used"], "relaxed": cap["relaxed"]},
            "tables": [
                {
                    "title": "Capacity per mode and instance count (botcap sim capacity)",
                    "columns": CAP_COLS,
                    "rows": [{c["key"]: r.get(c["key"]) for c in CAP_COLS} for r in cap["rows"]],
                },
                {
                    "title": "Instances needed per DAU level, by the capacity rule",
                    "columns": NEED_COLS,
                    "rows": cap["needed"],
                },
            ],
        },
    )
    return sec, [img, cap_img]


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
