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

__all__ = ["HEADER", "check_scenario_out", "scenario_text", "write_scenario"]

HEADER = "# Calibrated by `botcap calibrate`"


def _fmt(v) -> str:
    return "n/a" if v is None or (isinstance(v, float) and not math.isfinite(v)) else f"{v:.1%}"


def scenario_text(doc: dict) -> str:
    """The YAML text: a comment header (runs, levels, errors, notes), then the scenario."""
    cal = doc["calibration"]
    source = ("the fakes' timelines of a black-box bot" if any("assumed " in n for n in cal.get("notes", []))
              else "stage timings of the staging bot")
    lines = [f"{HEADER} from these RunBundles ({source}):"]
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


def check_scenario_out(path: str | Path, *, flag: str = "--out") -> Path:
    """Refuse, before any work, an ``--out`` file botcap may not write: a folder, a place that cannot
    be written (``botcap.inputs.check_out_path``'s rules for its folder), or an existing file that is
    not a scenario ``botcap calibrate`` wrote (its first line is ``HEADER``): the user's own file is
    never replaced. A calibrated scenario from an earlier run is replaced, as re-running should."""
    from botcap.inputs import FORBIDDEN_ROOTS, clip

    p = Path(path)
    if not str(path).strip() or "\x00" in str(path):
        raise BadInput(f"{flag}: must be a YAML file name (got {clip(repr(str(path)))})")
    if p.is_symlink() or (p.exists() and not p.is_file()):
        raise BadInput(f"{flag}: {clip(str(p))} is not a plain file name (expected a YAML file name)")
    real = Path(os.path.abspath(p))
    for root in FORBIDDEN_ROOTS:
        if real == Path(root) or Path(root) in real.parents:
            raise BadInput(f"{flag}: must not be under {root} (got {clip(str(p))})")
    if not p.parent.is_dir():
        raise BadInput(f"{flag}: {clip(str(p.parent))} does not exist")
    if not os.access(p.parent, os.W_OK):
        raise BadInput(f"{flag}: {clip(str(p.parent))} is not writable")
    if p.exists():
        try:
            with p.open("rb") as f:
                first = f.readline(200)
        except OSError as e:
            raise BadInput(f"{flag}: cannot read {clip(str(p))} ({e.strerror or e})") from None
        if not first.startswith(HEADER.encode()):
            raise BadInput(f"{flag}: {clip(str(p))} exists and was not written by botcap calibrate; "
                           "not replaced (choose another name)")
    return p


def write_scenario(doc: dict, path: str | Path) -> Path:
    """Validate ``doc`` and write it atomically to ``path``; BadInput if it does not validate."""
    p = check_scenario_out(path)
    load_scenario(data=doc)  # raises BadInput naming the key
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    tmp.write_text(scenario_text(doc), encoding="utf-8")
    tmp.replace(p)
    return p
