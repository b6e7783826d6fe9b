"""The RunBundle folder (docs/runbundle.md): written by ``botcap loadtest run``, read by the gate.

Layout of ``DIR``::

    run.json              target, profile, load, start/end, host facts, scenario, counts, cpu,
                          complete: true|false (+ reason when false)
    records.jsonl         the raw per-request records the Locust processes sent (kept for audit)
    requests.parquet      one row per end-to-end request (kind, sent_at, replied_at, latency_s, ok,
                          error, level, ...); dropped arrivals are not requests: counted in run.json
    stages.parquet        the staging bot's per-stage timings (when the run used the staging stack)
    telegram_log.parquet  what the fake Telegram API saw the bot do (takes, sends, edits, actions)
    claude_calls.parquet  every call to the fake Claude API, linked to its request (docs/runbundle.md)
    digests.parquet       one row per digest (digest-burst runs only)
    locust_stats.csv, locust_stats_history.csv, locust_failures.csv, locust_exceptions.csv, locust.html

``run.json`` is written first with ``complete: false`` and rewritten at the end, so that a crash,
Ctrl-C or a killed harness leaves a bundle that the gate refuses (fail closed).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from botcap.cliutil import dumps

RUN_JSON = "run.json"
RECORDS = "records.jsonl"
REQUESTS = "requests.parquet"
STAGES = "stages.parquet"
DIGESTS = "digests.parquet"
LOCUST_PREFIX = "locust"
REQUEST_COLUMNS = ("kind", "sent_at", "posted_at", "replied_at", "latency_s", "ok", "error", "level",
                   "chat_id", "message_id", "worker",
                   # black-box matching (docs/runbundle.md); the fakes' timelines are joined later
                   "request_id", "reply_match", "first_reply_at", "completed_at", "reply_method", "reply_len",
                   "webhook_done_at", "schedule_start_at")


def write_run_json(out: Path, run: dict[str, Any]) -> None:
    """Atomically (write + rename) so that a reader never sees half a file."""
    tmp = out / (RUN_JSON + ".tmp")
    tmp.write_text(dumps(run) + "\n")
    tmp.replace(out / RUN_JSON)


def read_records(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(requests, dropped) from a records.jsonl; a torn last line (killed writer) is ignored."""
    reqs: list[dict] = []
    drops: list[dict] = []
    if path.exists():
        with path.open() as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                (drops if rec.get("t") == "drop" else reqs).append(rec)
    requests = pd.DataFrame(reqs)
    for col in REQUEST_COLUMNS:
        if col not in requests.columns:
            requests[col] = pd.Series(dtype=float if col.endswith(("_at", "_s")) else object)
    requests = requests[list(REQUEST_COLUMNS)]
    if len(requests):
        requests = requests.sort_values("sent_at", kind="stable").reset_index(drop=True)
    requests["ok"] = requests["ok"].astype(bool)
    return requests, pd.DataFrame(drops)


def write_requests(out: Path, requests: pd.DataFrame) -> None:
    requests.to_parquet(out / REQUESTS, index=False)


@dataclass
class Bundle:
    """A RunBundle as read back: ``problems`` lists why it cannot be trusted (empty = usable)."""

    path: Path
    run: dict[str, Any] = field(default_factory=dict)
    requests: pd.DataFrame = field(default_factory=pd.DataFrame)
    problems: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return not self.problems

    @property
    def duration_s(self) -> float:
        value = self.run.get("duration_s")
        return float(value) if isinstance(value, int | float) else math.nan

    @property
    def dropped(self) -> int:
        return int(self.run.get("counts", {}).get("dropped", 0) or 0)


def read_bundle(path: Path) -> Bundle:
    """Read a bundle; never raises for a missing or broken one (the gate must fail, not crash)."""
    bundle = Bundle(path=path)
    run_json = path / RUN_JSON
    if not path.is_dir():
        bundle.problems.append(f"{path}: no such run folder")
        return bundle
    if not run_json.exists():
        bundle.problems.append(f"{run_json}: missing (not a RunBundle, or the run never started)")
        return bundle
    try:
        bundle.run = json.loads(run_json.read_text())
    except (OSError, json.JSONDecodeError) as e:
        bundle.problems.append(f"{run_json}: unreadable ({e})")
        return bundle
    if not isinstance(bundle.run, dict):
        bundle.problems.append(f"{run_json}: not a JSON object")
        bundle.run = {}
        return bundle
    if bundle.run.get("complete") is not True:
        why = bundle.run.get("reason") or "cut short"
        bundle.problems.append(f"{path}: incomplete run (complete: {bundle.run.get('complete')}; {why})")
    try:
        bundle.requests = pd.read_parquet(path / REQUESTS)
    except (OSError, ValueError) as e:
        bundle.problems.append(f"{path / REQUESTS}: unreadable ({e})")
    if not math.isfinite(bundle.duration_s) or bundle.duration_s <= 0:
        bundle.problems.append(f"{run_json}: duration_s must be > 0 (got {bundle.run.get('duration_s')})")
    return bundle
