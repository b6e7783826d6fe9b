"""Read RunBundles for calibration and refuse the ones that cannot be trusted.

A bundle (``botcap loadtest run --out DIR``, see ``loadtest/harness/bundle.py``) is usable here when
its run completed, it has per-request rows, and either the staging bot's stage timings
(``stages.parquet``: the reference bot) or, for any other bot, the fakes' timelines
(``telegram_log.parquet`` and ``claude_calls.parquet``, ``docs/runbundle.md``: a *black-box* bundle),
and the scenario the load used (``run.json`` ``scenario``, else the bundle's ``scenario.yaml``).
Several bundles may be calibrated together only when they
ran the same platform (same scenario ``platform`` section, same instance count and mode, same fake
Claude time scale): otherwise their stage times describe different systems. Every refusal is a
``BadInput`` naming the bundle and the reason; nothing is read half-way.

Load levels: an open-workload run records its arrival schedule (``run.json`` ``levels``, one per
segment) and tags every request with its level. A level's window is rebuilt from the schedule: its
start is the schedule start plus the preceding segments' lengths, where the schedule start is the
tightest estimate the requests allow (each level's first send minus the segments before it).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from botcap.errors import BadInput
from botcap.scenario import Scenario
from botcap.scenario.loader import validate

__all__ = ["Level", "RunBundle", "read_bundle", "read_bundles", "CALIBRATION_REQUEST_COLUMNS",
           "STAGE_COLUMNS"]

# the columns of requests.parquet calibration reads (a RunBundle has more: harness.bundle.REQUEST_COLUMNS)
CALIBRATION_REQUEST_COLUMNS = ("kind", "sent_at", "replied_at", "latency_s", "ok", "level")
STAGE_COLUMNS = ("kind", "started_at_unix_s", "handler_s", "db_acquire_s", "db_query_s",
                 "claude_semaphore_wait_s", "claude_call_s", "claude_attempts", "mcp_s", "telegram_send_s",
                 "ok")
# optional: per-call token counts, needed to split Claude time into ttft + tokens/s by regression
TOKEN_COLUMNS = ("claude_output_tokens",)


@dataclass(frozen=True)
class Level:
    """One constant-rate load level of one bundle; times are Unix seconds."""

    bundle: str
    index: int
    rate_per_s: float
    start_s: float
    duration_s: float
    warmup_s: float

    @property
    def end_s(self) -> float:
        return self.start_s + self.duration_s

    @property
    def steady_start_s(self) -> float:
        return self.start_s + min(self.warmup_s, self.duration_s / 2)

    @property
    def label(self) -> str:
        return f"{self.rate_per_s:g}/s"


@dataclass
class RunBundle:
    path: Path
    run: dict
    requests: pd.DataFrame
    stages: pd.DataFrame | None          # None: a black-box bundle (no bot-side timings)
    scenario: Scenario
    levels: list[Level] = field(default_factory=list)
    telegram_log: pd.DataFrame | None = None
    claude_calls: pd.DataFrame | None = None

    @property
    def blackbox(self) -> bool:
        """No stage timings from the bot: everything is read from the fakes' timelines."""
        return self.stages is None

    @property
    def name(self) -> str:
        return str(self.path)

    @property
    def instances(self) -> int:
        urls = (self.run.get("stack") or {}).get("instance_urls")
        return len(urls) if urls else self.scenario.platform.instances

    @property
    def mode(self) -> str:
        known = (self.run.get("known") or {}).get("delivery")
        if self.blackbox and known in ("polling", "webhook"):
            return known
        if self.blackbox and self.telegram_log is not None and "via" in self.telegram_log:
            via = self.telegram_log.loc[self.telegram_log["event"] == "take", "via"].dropna()
            if len(via):
                return "webhook" if (via == "webhook").mean() > 0.5 else "polling"
        return (self.run.get("stack") or {}).get("mode") or self.scenario.platform.mode

    @property
    def time_scale(self) -> float:
        value = self.run.get("claude_time_scale")
        return float(value) if isinstance(value, int | float) else 1.0

    def platform_facts(self) -> dict:
        """What must agree between bundles calibrated together (see the module docstring)."""
        platform = (self.run.get("scenario") or {}).get("platform") if not self.blackbox else None
        return {"platform": platform, "target": self.run.get("target"), "instances": self.instances,
                "mode": self.mode, "claude_time_scale": self.time_scale}


def _read_parquet(path: Path, what: str, columns: tuple[str, ...]) -> pd.DataFrame:
    if not path.exists():
        raise BadInput(f"{path}: missing ({what})")
    try:
        df = pd.read_parquet(path)
    except (OSError, ValueError) as e:
        raise BadInput(f"{path}: unreadable ({str(e).splitlines()[0][:200]})") from None
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise BadInput(f"{path}: missing columns {', '.join(missing)} "
                       f"(has {', '.join(map(str, df.columns))})")
    return df


def read_bundle(path: str | Path) -> RunBundle:
    """One bundle, validated (BadInput with the reason otherwise)."""
    p = Path(path)
    if not p.is_dir():
        raise BadInput(f"{p}: no such run folder")
    run_json = p / "run.json"
    if not run_json.exists():
        raise BadInput(f"{run_json}: missing (not a RunBundle, or the run never started)")
    try:
        run = json.loads(run_json.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BadInput(f"{run_json}: unreadable ({e})") from None
    if not isinstance(run, dict):
        raise BadInput(f"{run_json}: not a JSON object")
    if run.get("complete") is not True:
        raise BadInput(f"{p}: incomplete run (complete: {run.get('complete')}; "
                       f"{run.get('reason') or 'cut short'}): calibrate only from complete runs")
    _validate(p)
    scenario = _scenario(p, run)
    requests = _read_parquet(p / "requests.parquet", "per-request rows", CALIBRATION_REQUEST_COLUMNS)
    if not len(requests):
        raise BadInput(f"{p / 'requests.parquet'}: no requests")
    stages = log = calls = None
    if (p / "stages.parquet").exists():
        stages = _read_parquet(p / "stages.parquet", "the staging bot's stage timings", STAGE_COLUMNS)
        if not len(stages):
            raise BadInput(f"{p / 'stages.parquet'}: no stage timings")
        stages = stages.reset_index(drop=True)
    else:   # black box: the fakes' timelines (see botcap.sim.calibrate.timeline)
        from botcap.sim.calibrate.timeline import CLAUDE_COLUMNS, LOG_COLUMNS

        what = "no stages.parquet, so the fakes' timelines are needed (botcap loadtest run writes them)"
        log = _read_parquet(p / "telegram_log.parquet", f"{what}", LOG_COLUMNS)
        calls = _read_parquet(p / "claude_calls.parquet", f"{what}", CLAUDE_COLUMNS)
    bundle = RunBundle(path=p, run=run, requests=requests.reset_index(drop=True), stages=stages,
                       scenario=scenario, telegram_log=log, claude_calls=calls)
    bundle.levels = _levels(bundle)
    return bundle


def _validate(p: Path) -> None:
    """The one RunBundle validator first (run.json's fields and levels, requests' columns, dtypes and
    ranges); a bundle without requests cannot be calibrated from either: BadInput, exit 2."""
    from botcap.loadtest.harness.validate import validate_bundle

    from botcap.errors import IncompleteBundle

    try:
        validate_bundle(p, need=("requests",))
    except IncompleteBundle as e:
        raise BadInput([f"{line}: calibrate only from runs with requests" for line in e.lines]) from None


def _scenario(p: Path, run: dict) -> Scenario:
    """The scenario the load used: run.json's (staging stack), else the bundle's scenario.yaml."""
    where = p / "run.json"
    data = run.get("scenario")
    if not isinstance(data, dict) and (p / "scenario.yaml").is_file():
        from botcap.scenario import read_document

        where = p / "scenario.yaml"
        data = read_document(where)
    if not isinstance(data, dict):
        raise BadInput(f"{p / 'run.json'}: no 'scenario' and no scenario.yaml (the scenario the load used is "
                       "needed for its kinds and platform facts)")
    try:
        if where.name == "scenario.yaml":
            from botcap.scenario import load_scenario

            return load_scenario(data=data)   # may hold only what the load changed: merged over the default
        return validate(data)
    except BadInput as e:
        raise BadInput([f"{where}: scenario: {line}" for line in e.lines]) from None


def _levels(b: RunBundle) -> list[Level]:
    req = b.requests
    sent = req["sent_at"].to_numpy(dtype=float)
    declared = b.run.get("levels") or []
    if not declared:  # one constant level: the whole run
        duration = float(b.run.get("duration_s") or 0.0)
        if not duration > 0:
            raise BadInput(f"{b.path / 'run.json'}: duration_s must be > 0 (got {b.run.get('duration_s')})")
        rate = b.run.get("rate_per_s") or len(req) / duration
        return [Level(b.name, 0, float(rate), float(np.nanmin(sent)), duration, 0.0)]
    starts = []
    before = 0.0
    for lv in declared:
        rows = sent[req["level"].to_numpy() == lv["level"]]
        if rows.size:
            starts.append(float(np.nanmin(rows)) - before)
        before += float(lv["duration_s"])
    if not starts:
        raise BadInput(f"{b.path / 'requests.parquet'}: no request carries a level of run.json's levels")
    t0 = min(starts)
    out, before = [], 0.0
    for lv in declared:
        d = float(lv["duration_s"])
        out.append(Level(b.name, int(lv["level"]), float(lv["rate_per_s"]), t0 + before, d,
                         float(lv.get("warmup_s") or 0.0)))
        before += d
    return out


def read_bundles(paths) -> list[RunBundle]:
    """Every bundle, validated one by one, then checked to describe one platform."""
    if not paths:
        raise BadInput("RUN_DIR: give at least one RunBundle folder")
    bundles = [read_bundle(p) for p in paths]
    ref = bundles[0].platform_facts()
    for b in bundles[1:]:
        facts = b.platform_facts()
        if facts != ref:
            diff = _diff(ref, facts)
            raise BadInput(f"{b.path}: a different platform config than {bundles[0].path} "
                           f"({'; '.join(diff[:5])}): calibrate bundles of one platform together")
    return bundles


def _diff(a, b, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for k in sorted(set(a) | set(b), key=str):
            out += _diff(a.get(k), b.get(k), f"{path}.{k}" if path else str(k))
        return out
    if a != b and not (isinstance(a, float) and isinstance(b, float) and math.isclose(a, b)):
        return [f"{path}: {json.dumps(a, default=str)[:60]} vs {json.dumps(b, default=str)[:60]}"]
    return []
