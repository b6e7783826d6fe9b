"""Write the calibrated scenario: a normal scenario file, with a header naming the runs it came from.

The file validates like any scenario (it is re-read through ``load_scenario`` before it is written),
so ``botcap sim run``/``botcap cost`` take it as it is; its ``calibration`` section makes every output
say where the numbers came from. Written to a temporary file and renamed: never half a file.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import yaml

from botcap.errors import BadInput
from botcap.scenario import load_scenario

__all__ = ["scenario_text", "write_scenario"]


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.1%}"


def scenario_text(doc: dict) -> str:
    """The YAML text: a comment header (runs, levels, errors, notes), then the scenario."""
    cal = doc["calibration"]
    source = ("the fakes' timelines of a black-box bot" if any("assumed " in n for n in cal.get("notes", []))
              else "stage timings of the staging bot")
    lines = [f"# Calibrated by `botcap calibrate` from these RunBundles ({source}):"]
    lines += [f"#   {run}" for run in cal["runs"]]
    lines.append(f"# created {cal['created_utc']}; fitted on load levels "
                 f"{', '.join(f'{r:g}/s' for r in cal['fitted_rates_per_s']) or '-'}; held out "
                 f"{', '.join(f'{r:g}/s' for r in cal['held_out_rates_per_s']) or 'none'}.")
    err = cal.get("max_holdout_error")
    if err:
        lines.append(f"# largest held-out error: throughput {_fmt(err.get('throughput'))}, "
                     f"p50 {_fmt(err.get('p50'))}, p95 {_fmt(err.get('p95'))} (per kind).")
    lines.append("# The platform section is the one the runs measured (instances, pools, semaphores, "
                 "limits).")
    lines += [f"# note: {n}" for n in cal.get("notes", [])]
    body = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=110)
    return "\n".join(lines) + "\n" + body


def write_scenario(doc: dict, path: str | Path) -> Path:
    """Validate ``doc`` and write it atomically to ``path``; BadInput if it does not validate."""
    p = Path(path)
    if p.exists() and p.is_dir():
        raise BadInput(f"--out: {p} is a directory (expected a YAML file name)")
    if not p.parent.exists():
        raise BadInput(f"--out: {p.parent} does not exist")
    load_scenario(data=doc)  # raises BadInput naming the key
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_text(scenario_text(doc), encoding="utf-8")
    tmp.replace(p)
    return p
