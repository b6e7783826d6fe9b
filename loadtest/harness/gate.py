"""The regression gate: k6-like thresholds over a RunBundle (optionally against a baseline bundle).

A gates file is YAML with one key, ``thresholds``, a list of strings::

    thresholds:
      - "p95_s{kind=chat_simple} < 5"
      - "error_rate < 0.01"
      - "throughput_per_s > 0.9 * baseline"

Each threshold is ``METRIC[{kind=KIND}] OP RHS`` where OP is one of < <= > >= and RHS is a number,
``baseline``, ``F * baseline``, ``baseline * F`` or ``baseline +/- N`` (``baseline`` = the same metric
of the ``--baseline`` bundle). A malformed file is bad input (exit 2) with its line and what is
wrong; it is reported before any bundle is read. Bundles go through the one validator
(``validate.validate_bundle``) before any threshold: a malformed bundle is exit 2; an incomplete one
(cut short, or no requests at all) fails every threshold (exit 1); a metric without data (no request
of that kind) or a missing baseline value fails. A gates file is read by the input layer
(``botcap.inputs``): size-limited, duplicate keys refused, aliases bounded.
"""

from __future__ import annotations

import dataclasses
import math
import operator
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from botcap.loadtest.harness.percentiles import METRICS, PER_KIND, metrics
from botcap.loadtest.harness.predicted import PREDICTED, predicted_metrics
from botcap.loadtest.harness.validate import BundleInfo, validate_bundle

from botcap.errors import BadInput
from botcap.inputs import compose_yaml, read_text, short

OPS = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_THRESHOLD = re.compile(
    r"^\s*(?P<metric>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:\{\s*kind\s*=\s*(?P<kind>[^{}\s]+)\s*\})?"
    r"\s*(?P<op><=|>=|<|>|==|!=|=)\s*(?P<rhs>.*?)\s*$")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RHS = [
    (re.compile(rf"^(?P<n>{_NUM})$"), lambda n, b: n),
    (re.compile(r"^baseline$"), lambda n, b: b),
    (re.compile(rf"^(?P<n>{_NUM})\s*\*\s*baseline$"), lambda n, b: n * b),
    (re.compile(rf"^baseline\s*\*\s*(?P<n>{_NUM})$"), lambda n, b: n * b),
    (re.compile(rf"^baseline\s*\+\s*(?P<n>{_NUM})$"), lambda n, b: b + n),
    (re.compile(rf"^baseline\s*-\s*(?P<n>{_NUM})$"), lambda n, b: b - n),
]


@dataclass(frozen=True)
class Threshold:
    """One parsed line of a gates file."""

    text: str
    line: int
    metric: str
    kind: str | None
    op: str
    factor: float | None
    relative: bool
    _rhs: Any

    @property
    def key(self) -> str:
        return self.metric if self.kind is None else f"{self.metric}{{kind={self.kind}}}"

    def limit(self, baseline: float | None) -> float:
        n = self.factor if self.factor is not None else math.nan
        return float(self._rhs(n, baseline if baseline is not None else math.nan))


def parse_threshold(text: str, where: str) -> Threshold:
    """One threshold string → Threshold; BadInput naming ``where`` (file:line) when malformed."""
    shown = short(text)
    m = _THRESHOLD.match(text) if len(text) <= 500 else None
    if not m:
        raise BadInput(f"{where}: {shown}: expected 'METRIC[{{kind=KIND}}] OP VALUE' "
                       f"with OP one of < <= > >= (e.g. 'p95_s{{kind=chat_simple}} < 5')")
    metric, kind, op, rhs = m["metric"], m["kind"], m["op"], m["rhs"]
    if metric not in METRICS and metric not in PREDICTED:
        raise BadInput(f"{where}: {shown}: unknown metric {metric!r} "
                       f"(allowed: {', '.join((*METRICS, *PREDICTED))})")
    if kind is not None and metric not in PER_KIND and metric != "predicted_p95_s":
        raise BadInput(f"{where}: {shown}: {metric} has no per-kind value "
                       f"(per kind: {', '.join(PER_KIND)})")
    if op not in OPS:
        raise BadInput(f"{where}: {shown}: operator {op!r} is not allowed (use < <= > >=)")
    for pattern, fn in _RHS:
        r = pattern.match(rhs)
        if r:
            factor = float(r["n"]) if "n" in pattern.groupindex else None
            if factor is not None and not math.isfinite(factor):
                break
            return Threshold(text=text.strip(), line=0, metric=metric, kind=kind, op=op, factor=factor,
                             relative="baseline" in rhs, _rhs=fn)
    raise BadInput(f"{where}: {shown}: right-hand side {short(rhs)} must be a number, 'baseline', "
                   f"'F * baseline' or 'baseline +/- N'")


def parse_gates(text: str, name: str = "gates") -> list[Threshold]:
    """Parse a gates file's text; every problem is BadInput with ``name:line``."""
    root = compose_yaml(text, name)
    if root is None or not isinstance(root, yaml.MappingNode):
        line = root.start_mark.line + 1 if root is not None else 1
        raise BadInput(f"{name}:{line}: must be a mapping with a 'thresholds' list")
    items = None
    for key, value in root.value:
        where = f"{name}:{key.start_mark.line + 1}"
        if not isinstance(key, yaml.ScalarNode) or key.value != "thresholds":
            raise BadInput(f"{where}: unknown key {short(getattr(key, 'value', key))} (allowed: thresholds)")
        if items is not None:
            raise BadInput(f"{where}: duplicate key 'thresholds' (give one list)")
        if not isinstance(value, yaml.SequenceNode):
            raise BadInput(f"{where}: thresholds must be a list of strings")
        items = value.value
    if items is None:
        raise BadInput(f"{name}:1: missing 'thresholds' (a list of strings)")
    if not items:
        raise BadInput(f"{name}:{root.start_mark.line + 1}: thresholds must list at least one threshold")
    out = []
    for item in items:
        where = f"{name}:{item.start_mark.line + 1}"
        if not isinstance(item, yaml.ScalarNode) or not item.value.strip():
            raise BadInput(f"{where}: each threshold must be a non-empty string like 'error_rate < 0.01'")
        t = parse_threshold(item.value, where)
        out.append(dataclasses.replace(t, line=item.start_mark.line + 1))
    return out


def load_gates(path: Path) -> list[Threshold]:
    """Read and parse a gates file (size-limited, regular file, UTF-8; see ``botcap.inputs``)."""
    return parse_gates(read_text(path, what="gates file"), str(path))


def _bundle_metrics(bundle: BundleInfo) -> dict[str, float]:
    if bundle.problems or bundle.requests is None or not len(bundle.requests):
        return {}   # nothing to judge: every threshold fails ("bundle incomplete")
    return metrics(bundle.requests, bundle.duration_s, bundle.dropped)


def evaluate(thresholds: list[Threshold], run: Path, baseline: Path | None = None) -> dict[str, Any]:
    """Check every threshold; ``passed`` only if the bundle(s) are complete and every one holds."""
    relative = [t for t in thresholds if t.relative]
    if relative and baseline is None:
        t = relative[0]
        raise BadInput(f"line {t.line}: {t.text!r} is relative to a baseline: pass --baseline RUN_DIR")
    bundle = validate_bundle(run, allow_incomplete=True)       # malformed: BadInput, exit 2
    values = _bundle_metrics(bundle)
    base = validate_bundle(baseline, allow_incomplete=True) if baseline is not None else None
    base_values = _bundle_metrics(base) if base is not None else {}
    # the capacity gate (loadtest/harness/predicted.py): the model fitted on the bundle, simulated
    if any(t.metric in PREDICTED for t in thresholds):
        if values:
            values.update(predicted_metrics(run))
        if base is not None and base_values and any(t.relative and t.metric in PREDICTED for t in thresholds):
            base_values.update(predicted_metrics(baseline))
    problems = list(bundle.problems) + ([f"baseline: {p}" for p in base.problems] if base else [])
    rows = []
    for t in thresholds:
        value = values.get(t.key, math.nan)
        base_value = base_values.get(t.key, math.nan) if t.relative else None
        limit = t.limit(base_value)
        if bundle.problems:
            verdict, note = "fail", "bundle incomplete"
        elif math.isnan(value):
            verdict, note = "fail", "no data"
        elif t.relative and (base is None or base.problems or math.isnan(limit)):
            verdict, note = "fail", "no baseline value"
        else:
            # an infinite value is a result, not a lack of one: a censored percentile reaching a
            # failed request (+inf) is judged, and JSON (which has no inf) is told so in the note
            verdict = "pass" if OPS[t.op](value, limit) else "fail"
            note = "inf: failed requests count at +inf" if math.isinf(value) else ""
        rows.append({"threshold": t.text, "line": t.line, "metric": t.key, "value": value,
                     "limit": limit, "baseline": base_value, "verdict": verdict, "note": note})
    passed = not problems and all(r["verdict"] == "pass" for r in rows)
    return {"passed": passed, "run": str(run), "baseline": str(baseline) if baseline else None,
            "complete": bundle.complete, "problems": problems, "results": rows}


def render(result: dict[str, Any]):
    """A rich Table: threshold, value, limit, verdict (one row per threshold)."""
    from rich.table import Table

    table = Table(title=f"gate: {result['run']}", title_justify="left")
    for col in ("threshold", "value", "limit", "verdict"):
        table.add_column(col, justify="right" if col in ("value", "limit") else "left")
    for r in result["results"]:
        style = "green" if r["verdict"] == "pass" else "bold red"
        verdict = r["verdict"].upper() + (f" ({r['note']})" if r["note"] else "")
        table.add_row(r["threshold"], _fmt(r["value"]), _fmt(r["limit"]), f"[{style}]{verdict}[/]")
    return table


def _fmt(v: float | None) -> str:
    if v is not None and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    if v is None or not math.isfinite(v):
        return "-"
    return f"{v:.4g}" if abs(v) < 1e5 else f"{v:.0f}"
