"""Row builders shared by the sections: the same few numbers read the same way from every summary."""

from __future__ import annotations

import math

from botcap.report import rules

__all__ = ["kind_columns", "slo_row", "first_violation", "num"]


def num(v) -> float | None:
    """A finite float, or None (JSON null: no data)."""
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) else None


def kind_columns(slo) -> list[tuple[str, str, str]]:
    return [(f"p95_{kind}_s", f"p95 {kind} s", "s") for kind in slo.p95_s]


def slo_row(summary: dict, slo) -> dict:
    """p95 per kind, error rate, digest lateness, SLO pressure and the simulator's verdict."""
    row = {f"p95_{k}_s": num(summary.get("latency_by_kind_s", {}).get(k, {}).get("p95")) for k in slo.p95_s}
    dg = summary.get("digests", {})
    row.update(
        {
            "error_rate": num(summary.get("error_rate")),
            "digest_lateness_max_s": num(dg.get("lateness_s", {}).get("max")),
            "digests_sent": dg.get("sent"),
            "digests_scheduled": dg.get("scheduled"),
            "pressure": num(rules.pressure(summary, slo)),
            "slo_met": rules.met(summary),
            "sim_error": summary.get("error", "none"),
            "violations": "; ".join(rules.violations(summary)) or "none",
        }
    )
    return row


def first_violation(summary: dict) -> str:
    v = rules.violations(summary)
    return v[0] if v else "none"
