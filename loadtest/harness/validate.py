"""The one RunBundle validator, shared by ``botcap gate``, ``botcap calibrate`` and ``replay``.

A bundle is judged before any threshold or fit reads it, and the validator fails closed:

- ``BadInput`` (exit 2): not a bundle, or a malformed one: no folder, no/unreadable/binary
  ``run.json``, a field of the wrong type or range (``counts: []``, ``dropped: "many"``,
  ``duration_s: -1``, ``levels`` entries that are strings or lack fields), a needed parquet file
  missing or unreadable, a missing column, a column of the wrong dtype (``ok`` stored as text),
  values out of range (negative or infinite latencies, an ``ok`` request without a latency), or
  ``counts.requests`` disagreeing with the rows.
- ``IncompleteBundle`` (exit 1): well formed, but nothing trustworthy to judge: ``complete`` is not
  true (crash, Ctrl-C, deadline), or the run has no requests at all (no data is never a pass).

API::

    info = validate_bundle(path, need=("requests",))            # raises BadInput / IncompleteBundle
    info = validate_bundle(path, need=("requests", "stages", "levels"))   # calibrate
    info = validate_bundle(path, allow_incomplete=True)         # the gate: incomplete -> info.problems
    info.run, info.requests, info.stages, info.frames["telegram_log"], info.duration_s, info.dropped

``need`` names what the caller reads: parquet files (``requests``, ``stages``, ``digests``,
``telegram_log``, ``claude_calls``) and ``levels`` (run.json's load levels). Only needed files are
read. ``columns={"stages": (...)}`` adds required columns for a caller. The black-box files
(``telegram_log.parquet``, ``claude_calls.parquet``) and extra ``requests`` columns are optional:
they are checked only when named in ``need``, and unknown extra columns are always allowed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from botcap.errors import BadInput, IncompleteBundle
from botcap.inputs import check_regular_file, read_text, short

__all__ = ["BundleInfo", "FILES", "REQUIRED_COLUMNS", "validate_bundle"]

RUN_JSON_MAX_BYTES = 64 * 1024 * 1024
PARQUET_MAX_BYTES = 4 * 1024 ** 3
FILES = {"requests": "requests.parquet", "stages": "stages.parquet", "digests": "digests.parquet",
         "telegram_log": "telegram_log.parquet", "claude_calls": "claude_calls.parquet"}
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "requests": ("kind", "sent_at", "latency_s", "ok"),
    "stages": ("kind", "ok"),
}
NEEDS = (*FILES, "levels")

Count = Annotated[int, Strict(), Field(ge=0)]
Finite = Annotated[float, Strict(), Field(allow_inf_nan=False)]
NonNeg = Annotated[float, Strict(), Field(ge=0, allow_inf_nan=False)]
Positive = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]


class _Counts(BaseModel):
    model_config = ConfigDict(extra="allow")
    requests: Count
    ok: Count | None = None
    failed: Count | None = None
    dropped: Count = 0
    locust_requests: Count | None = None
    dropped_by_reason: dict[str, Count] | None = None


class _Level(BaseModel):
    model_config = ConfigDict(extra="allow")
    level: Count
    rate_per_s: NonNeg
    duration_s: Positive
    warmup_s: NonNeg = 0.0
    sent: Count | None = None
    dropped: Count | None = None
    bot_cpu_s: NonNeg | None = None          # with --bot-pid: the bot's CPU over the level (loop_cpu)
    host_busy_cores: NonNeg | None = None
    other_work_cores: NonNeg | None = None


class _RunJson(BaseModel):
    """What of run.json any reader relies on; everything else is free (H1 adds keys)."""

    model_config = ConfigDict(extra="allow")
    complete: Annotated[bool, Strict()]
    reason: str | None = None
    duration_s: NonNeg | None = None
    counts: _Counts | None = None
    levels: list[_Level] | None = None
    rate_per_s: NonNeg | None = None
    claude_time_scale: Positive | None = None
    bot_cpu_s: NonNeg | None = None
    scenario: dict[str, Any] | None = None


@dataclass
class BundleInfo:
    """A validated bundle. ``problems`` is empty unless ``allow_incomplete`` let an incomplete one by."""

    path: Path
    run: dict[str, Any]
    complete: bool
    problems: list[str] = field(default_factory=list)
    requests: pd.DataFrame | None = None
    stages: pd.DataFrame | None = None
    frames: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        value = self.run.get("duration_s")
        return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else math.nan

    @property
    def dropped(self) -> int:
        return int((self.run.get("counts") or {}).get("dropped", 0) or 0)

    @property
    def levels(self) -> list[dict[str, Any]]:
        return list(self.run.get("levels") or [])


def validate_bundle(path: str | Path, *, need: Iterable[str] = ("requests",), allow_incomplete: bool = False,
                    columns: Mapping[str, Iterable[str]] | None = None) -> BundleInfo:
    """Validate the RunBundle at ``path`` (see the module docstring); raises BadInput / IncompleteBundle."""
    need = tuple(need)
    unknown = [n for n in need if n not in NEEDS]
    if unknown:
        raise ValueError(f"validate_bundle: unknown need {unknown} (allowed: {', '.join(NEEDS)})")
    p = Path(path)
    if not p.is_dir():
        raise BadInput(f"{p}: no such run folder" if not p.exists() else f"{p}: not a RunBundle folder")
    run = _read_run_json(p / "run.json")
    info = BundleInfo(path=p, run=run, complete=run["complete"] is True)
    if not info.complete:
        why = short(run.get("reason") or "cut short")
        info.problems.append(f"{p}: incomplete run (complete: false; {why})")
        return _incomplete(info, allow_incomplete)
    if "levels" in need and not run.get("levels"):
        raise BadInput(f"{p / 'run.json'}: levels: required here (an open-workload run's load levels), "
                       "but missing or empty")
    if run.get("counts") is None:
        raise BadInput(f"{p / 'run.json'}: counts: required in a complete run, but missing")
    if run["counts"]["requests"] == 0:   # before duration_s: a run without requests may have none
        info.problems.append(f"{p}: no requests: nothing was measured (run.json counts.requests: 0)")
        return _incomplete(info, allow_incomplete)
    if run.get("duration_s") is None or not run["duration_s"] > 0:
        raise BadInput(f"{p / 'run.json'}: duration_s: must be > 0 in a complete run "
                       f"(got {short(run.get('duration_s'))})")
    extra_columns = {k: tuple(v) for k, v in (columns or {}).items()}
    for name in need:
        if name in FILES:
            required = (*REQUIRED_COLUMNS.get(name, ()), *extra_columns.get(name, ()))
            info.frames[name] = _read_parquet(p / FILES[name], required)
    if "requests" in info.frames:
        info.requests = info.frames["requests"]
        _check_requests(p / FILES["requests"], info.requests, run["counts"])
        if not len(info.requests):
            info.problems.append(f"{p / FILES['requests']}: no requests: nothing was measured")
            return _incomplete(info, allow_incomplete)
    if "stages" in info.frames:
        info.stages = info.frames["stages"]
        _check_nonneg_seconds(p / FILES["stages"], info.stages)
        if not len(info.stages):
            info.problems.append(f"{p / FILES['stages']}: no stage timings")
            return _incomplete(info, allow_incomplete)
    return info


def _incomplete(info: BundleInfo, allow: bool) -> BundleInfo:
    if allow:
        info.complete = False
        return info
    raise IncompleteBundle(info.problems)


# ---------------------------------------------------------------------------------------------
def _read_run_json(path: Path) -> dict[str, Any]:
    if not path.exists() and not path.is_symlink():
        raise BadInput(f"{path}: missing (not a RunBundle, or the run never started)")
    text = read_text(path, max_bytes=RUN_JSON_MAX_BYTES)
    try:
        run = json.loads(text, parse_constant=_no_constant)
    except (json.JSONDecodeError, ValueError, RecursionError) as e:
        raise BadInput(f"{path}: not valid JSON ({short(str(e), 100)})") from None
    if not isinstance(run, dict):
        raise BadInput(f"{path}: must be a JSON object (got {type(run).__name__})")
    try:
        _RunJson.model_validate(run)
    except ValidationError as e:
        raise BadInput([f"{path}: {_where(err)}: {_why(err)}" for err in e.errors()]) from None
    return run


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _where(err: dict) -> str:
    return ".".join(str(p) for p in err["loc"]) or "run.json"


_PLAIN = {"model_type": "must be a mapping", "dict_type": "must be a mapping", "list_type": "must be a list",
          "int_type": "must be a whole number", "bool_type": "must be true or false",
          "float_type": "must be a finite number", "finite_number": "must be a finite number",
          "string_type": "must be text"}


def _why(err: dict) -> str:
    if err["type"] == "missing":
        return "required, but missing"
    ctx = err.get("ctx") or {}
    bounds = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt")}
    if err["type"] in bounds:
        op, key = bounds[err["type"]]
        msg = f"must be {op} {ctx.get(key)}"
    else:
        msg = _PLAIN.get(err["type"]) or err["msg"][0].lower() + err["msg"][1:]
    return f"{msg} (got {short(err.get('input'))})"


def _read_parquet(path: Path, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.exists() and not path.is_symlink():
        raise BadInput(f"{path}: missing (a complete run writes it)")
    check_regular_file(path, max_bytes=PARQUET_MAX_BYTES)
    try:
        df = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises many kinds for a corrupt file; all mean "not parquet"
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise BadInput(f"{path}: not a readable parquet file ({short(first, 120)})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise BadInput(f"{path}: missing column(s) {', '.join(missing)} "
                       f"(has {short(', '.join(map(str, df.columns)), 200)})")
    return df


def _numeric(path: Path, df: pd.DataFrame, col: str) -> np.ndarray:
    s = df[col]
    if pd.api.types.is_bool_dtype(s) or not pd.api.types.is_numeric_dtype(s):
        raise BadInput(f"{path}: column {col}: must be numeric (got dtype {s.dtype})")
    return s.to_numpy(dtype=float, na_value=np.nan)


def _check_requests(path: Path, df: pd.DataFrame, counts: dict[str, Any]) -> None:
    ok = df["ok"]
    if not pd.api.types.is_bool_dtype(ok) or ok.isna().any():
        raise BadInput(f"{path}: column ok: must be true/false booleans (got dtype {ok.dtype}"
                       + (", with missing values" if pd.api.types.is_bool_dtype(ok) else "") + ")")
    kind = df["kind"]
    if len(kind) and not kind.map(lambda v: isinstance(v, str) and v != "").all():
        raise BadInput(f"{path}: column kind: must be a non-empty text in every row")
    sent = _numeric(path, df, "sent_at")
    if not np.isfinite(sent).all():
        raise BadInput(f"{path}: column sent_at: must be a finite time in every row")
    latency = _numeric(path, df, "latency_s")
    okv = ok.to_numpy(dtype=bool)
    if np.isinf(latency).any() or (latency < 0).any():
        raise BadInput(f"{path}: column latency_s: must be >= 0 and finite "
                       f"(got {short(float(latency[np.isinf(latency) | (latency < 0)][0]))})")
    if np.isnan(latency[okv]).any():
        raise BadInput(f"{path}: column latency_s: every ok request must have a latency")
    for col in ("replied_at", "posted_at", "level"):
        if col in df.columns and len(df) and not df[col].isna().all():
            values = _numeric(path, df, col)
            if np.isinf(values).any() or (col == "level" and (values < 0).any()):
                rule = "finite and >= 0" if col == "level" else "finite"
                raise BadInput(f"{path}: column {col}: must be {rule}")
    declared = counts.get("requests")
    if declared != len(df):
        raise BadInput(f"{path}: {len(df)} rows, but run.json counts.requests says {declared}")


def _check_nonneg_seconds(path: Path, df: pd.DataFrame) -> None:
    if not pd.api.types.is_bool_dtype(df["ok"]):
        raise BadInput(f"{path}: column ok: must be true/false booleans (got dtype {df['ok'].dtype})")
    for col in df.columns:
        if str(col).endswith("_s") and len(df):
            values = _numeric(path, df, col)
            if np.isinf(values).any() or (values < 0).any():
                raise BadInput(f"{path}: column {col}: must be >= 0 and finite")
