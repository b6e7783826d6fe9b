"""Provenance and assumptions: where every number of the report comes from."""

from __future__ import annotations

import json

import botcap
from botcap.provenance import calibration_facts, calibration_line
from botcap.report.assumptions import assumptions
from botcap.report.section import make_section
from botcap.report.variants import scenario_hash

__all__ = ["provenance", "flatten"]


def flatten(doc, prefix: str = "") -> list[tuple[str, object]]:
    """Leaf values of a nested dict as (dotted.path, value), lists kept whole."""
    if isinstance(doc, dict) and doc:
        out = []
        for k, v in doc.items():
            out += flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return [(prefix, doc)]


def _text(v) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def provenance(ctx, cost_prices: dict) -> tuple[dict, list[str]]:
    sc = ctx.base
    facts = calibration_facts(sc)
    err = (facts or {}).get("max_holdout_error") or {}
    rows = [
        {"item": "scenario", "value": sc.name},
        {"item": "scenario sha256", "value": scenario_hash(sc)},
        {"item": "botcap version", "value": botcap.__version__},
        {"item": "prices source", "value": cost_prices["source"]},
        {"item": "prices as of", "value": cost_prices["as_of"]},
        {"item": "priced on", "value": cost_prices["priced_on"]},
        {
            "item": "simulated window",
            "value": f"{ctx.window.start} + {ctx.window.hours:g} h, "
            f"{ctx.window.replications} replication(s), seed "
            f"{sc.seed if ctx.window.seed is None else ctx.window.seed}",
        },
        {"item": "run", "value": "quick (reduced variants)" if ctx.quick else "full"},
        {"item": "calibration", "value": calibration_line(sc) or "not calibrated: every input is assumed"},
    ]
    for k in ("throughput", "p50", "p95"):
        if facts is not None:
            rows.append({"item": f"held-out max error {k}", "value": _text(err.get(k))})
    assumed = [{"input": f"scenario.{k}", "value": _text(v)} for k, v in flatten(sc.model_dump(mode="json"))]
    assumed += [{"input": f"report.{k}", "value": _text(v)} for k, v in flatten(assumptions())]
    for key, m in cost_prices.get("claude", {}).items():
        assumed.append(
            {
                "input": f"price.claude.{key}",
                "value": f"{m.get('api_model')}: input "
                f"{m.get('input_mtok_usd')} / output {m.get('output_mtok_usd')} USD per MTok "
                f"({m.get('source')}, {m.get('as_of')})",
            }
        )
    values = {
        "hash": scenario_hash(sc)[:12],
        "n": len(assumed),
        "cal": "calibrated from measured runs" if facts else "not calibrated",
    }
    fmt = {"hash": "text", "n": "int", "cal": "text"}
    sec = make_section(
        "PROVENANCE",
        "Provenance and assumptions",
        question="Where do these numbers come from, and what was assumed?",
        rule="Every input the report used is listed; a calibrated scenario states its runs and held-out "
        "error.",
        variants=[],
        columns=[("item", "item", "text"), ("value", "value", "text")],
        rows=rows,
        recommendation="Scenario {hash}…, {cal}; {n} inputs listed below.",
        values=values,
        value_fmt=fmt,
        extra={
            "tables": [
                {
                    "title": "Every input",
                    "columns": [
                        {"key": "input", "label": "input", "fmt": "text"},
                        {"key": "value", "label": "value", "fmt": "text"},
                    ],
                    "rows": assumed,
                }
            ],
            "calibration": facts,
        },
    )
    return sec, []
