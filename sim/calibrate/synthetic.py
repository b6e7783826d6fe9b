"""Synthetic RunBundles: what the harness would write had the staging bot behaved exactly like the model.

For tests of calibration itself: a known scenario is simulated on a calibration ladder (the same
arrival construction as ``loadtest/users/arrivals.py``: per level ``round(rate × duration)`` sorted
uniform times) and written as ``run.json`` + ``requests.parquet`` + ``stages.parquet`` with the
harness's columns. Fitting such a bundle must give back the scenario's parameters, and predicting its
held-out levels must match them up to noise. Stage times are taken from the model's own per-request
record, mapped the way the bot times them (``loadtest/staging/timings.py``): ``handler_s`` covers the
CPU and every stage after the handler slot was granted, ``handler_wait_s`` the wait for that slot;
``db_acquire_s`` the pool (and PgBouncer)
waits; ``telegram_send_s`` the send round trips plus any 429 retry_after sleep.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from botcap.sim.calibrate.replay import simulate_trace

from botcap.scenario import Scenario

__all__ = ["ladder_trace", "write_synthetic_bundle", "T0_UNIX_S"]

T0_UNIX_S = 1_750_000_000.0   # a fixed wall clock so that bundles are byte-for-byte reproducible


def ladder_trace(scenario: Scenario, ladder: list[tuple[float, float]], seed: int) -> pd.DataFrame:
    """Arrivals of a constant-rate ladder [(rate_per_s, duration_s), ...]: t_s, kind, chat_id, level."""
    rng = np.random.default_rng([seed, 7])
    mix = scenario.workload.mix
    kinds = [k for k, w in mix.items() if w > 0]
    p = np.array([mix[k] for k in kinds], dtype=float)
    frames, start = [], 0.0
    for level, (rate, duration) in enumerate(ladder):
        n = int(round(rate * duration))
        t = start + np.sort(rng.random(n)) * duration
        picked = np.array(kinds)[rng.choice(len(kinds), n, p=p / p.sum())]
        frames.append(pd.DataFrame({"t_s": t, "kind": picked, "level": level}))
        start += duration
    trace = pd.concat(frames, ignore_index=True)
    trace["chat_id"] = np.arange(len(trace), dtype=np.int64) + 1000   # one chat per message, as the generator
    return trace


def _stages(sim: pd.DataFrame, scenario: Scenario, t0: float) -> pd.DataFrame:
    half_rtt = scenario.platform.network_rtt_s.telegram / 2
    db_acquire = sim["wait_db_pool_s"] + sim["wait_db_server_s"]
    telegram = sim["service_telegram_s"] + sim["wait_telegram_send_s"]
    handler = (sim["wait_cpu_s"] + sim["service_cpu_s"] + db_acquire + sim["service_db_s"]
               + sim["service_mcp_s"]
               + sim["wait_claude_semaphore_s"] + sim["service_claude_s"] + sim["wait_rate_limit_s"]
               + sim["wait_claude_backoff_s"] + telegram)
    started = t0 + sim["arrival_s"] + sim["wait_webhook_s"] + half_rtt + sim["wait_handler_s"]
    return pd.DataFrame({
        "update_id": sim["id"].astype(np.int64), "instance": sim["instance"].astype(str),
        "kind": sim["kind"].astype(str), "chat_id": sim["chat_id"].astype(np.int64),
        "started_at_unix_s": started, "handler_s": handler, "db_acquire_s": db_acquire,
        "db_query_s": sim["service_db_s"], "claude_semaphore_wait_s": sim["wait_claude_semaphore_s"],
        "claude_call_s": sim["service_claude_s"], "claude_attempts": sim["claude_attempts"].astype(np.int64),
        "mcp_s": sim["service_mcp_s"], "telegram_send_s": telegram, "ok": sim["ok"].astype(bool),
        "handler_wait_s": sim["wait_handler_s"],
        "error": sim["error"].astype(str).replace("", None),
        "claude_output_tokens": sim["claude_output_tokens"].astype(np.int64),
    })


def write_synthetic_bundle(scenario: Scenario, ladder: list[tuple[float, float]], out: str | Path, *,
                           seed: int = 1, warmup_s: float = 0.0, tokens: bool = True) -> Path:
    """Simulate ``scenario`` on ``ladder`` and write a RunBundle into ``out`` (created); returns it.

    ``tokens=False`` leaves out ``claude_output_tokens`` (as the staging bot's records do today).
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trace = ladder_trace(scenario, ladder, seed)
    sim = simulate_trace(scenario, trace, seed)
    level = trace["level"].to_numpy()[sim["trace_row"].to_numpy()]
    chat = trace["chat_id"].to_numpy()[sim["trace_row"].to_numpy()]
    t0 = T0_UNIX_S
    done = np.where(sim["ok"].astype(bool) | sim["done_s"].notna(), sim["done_s"], np.nan)
    requests = pd.DataFrame({
        "kind": sim["kind"].astype(str), "sent_at": t0 + sim["arrival_s"], "posted_at": t0 + sim["arrival_s"],
        "replied_at": t0 + done, "latency_s": done - sim["arrival_s"], "ok": sim["ok"].astype(bool),
        "error": sim["error"].astype(str).replace("", None), "level": level, "chat_id": chat,
        "message_id": np.arange(len(sim)), "worker": 0})
    requests.to_parquet(out / "requests.parquet", index=False)
    stages = _stages(sim.assign(chat_id=chat), scenario, t0)
    if not tokens:
        stages = stages.drop(columns=["claude_output_tokens"])
    stages.to_parquet(out / "stages.parquet", index=False)
    total = float(sum(d for _, d in ladder))
    run = {
        "complete": True, "reason": None, "target": "synthetic", "profile": "calibration", "workload": "open",
        "users": 1, "arrivals": ",".join(f"{r:g}@{d:g}" for r, d in ladder), "rate_per_s": len(trace) / total,
        "load_s": total, "claude_time_scale": 1.0, "started_at": "synthetic", "duration_s": total,
        "t0_unix_s": t0, "synthetic": {"seed": seed},
        "stack": {"mode": scenario.platform.mode, "instance_urls": [f"sim://{i}" for i in
                                                                   range(scenario.platform.instances)]},
        "levels": [{"level": i, "rate_per_s": r, "duration_s": d, "warmup_s": warmup_s,
                    "sent": int((trace["level"] == i).sum())} for i, (r, d) in enumerate(ladder)],
        "counts": {"requests": len(requests), "ok": int(requests["ok"].sum()), "dropped": 0},
        "scenario": scenario.model_dump(mode="json"),
    }
    (out / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    return out
