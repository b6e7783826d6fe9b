"""Synthetic black-box RunBundles: what the fakes would record had a bot behaved exactly like the model.

For tests of the black-box calibration: a known scenario (its limits, service times, Claude latencies)
is simulated on a ladder (``synthetic.ladder_trace``) and written as the fakes' view only
(``docs/runbundle.md``): ``requests.parquet`` with the timeline columns, ``telegram_log.parquet``,
``claude_calls.parquet``, ``run.json`` (``target: external``, no scenario platform facts the bot
would not tell) and the generator's ``scenario.yaml``; no ``stages.parquet``. Inferring the structure
must give back the scenario's limits, and calibrating must predict held-out levels up to noise.

The fake-side times from the model's per-request record: the update is taken when delivered
(arrival + webhook queue), the first Claude call starts after the handler slot, the event loop, the
DB and MCP stages and the Claude semaphore; the reply reaches the fake half a round trip before the
model's ``done_s``. Every Claude call is streamed; its first byte comes ``service - tokens/tps``
after arrival.
With ``stream_kinds`` those kinds also send a placeholder ``placeholder_s`` after the take, before Claude.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from botcap.sim.calibrate.replay import simulate_trace
from botcap.sim.calibrate.synthetic import T0_UNIX_S, ladder_trace

from botcap.scenario import Scenario

__all__ = ["write_blackbox_bundle"]


def write_blackbox_bundle(scenario: Scenario, ladder: list[tuple[float, float]], out: str | Path, *,
                          seed: int = 1, warmup_s: float = 0.0, stream_kinds: tuple[str, ...] = (),
                          placeholder_s: float = 0.004, bot_cpu_s: float | None = None) -> Path:
    """Simulate ``scenario`` on ``ladder`` and write a black-box RunBundle into ``out``; returns it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trace = ladder_trace(scenario, ladder, seed)
    sim = simulate_trace(scenario, trace, seed)
    src = sim["trace_row"].to_numpy()
    level = trace["level"].to_numpy()[src]
    chat = trace["chat_id"].to_numpy()[src]
    pf = scenario.platform
    half = pf.network_rtt_s.telegram / 2
    t0 = T0_UNIX_S
    arrival = t0 + sim["arrival_s"].to_numpy(dtype=float)
    done = t0 + sim["done_s"].to_numpy(dtype=float)
    # backwards from the reply (exact whatever the ingress did: a poll's delay is in no wait column)
    send = sim[["service_telegram_s", "wait_telegram_send_s"]].sum(axis=1).to_numpy(dtype=float)
    claude_s = sim["service_claude_s"].to_numpy(dtype=float)
    last_end = done - send
    first_claude = last_end - claude_s - sim["wait_claude_backoff_s"].to_numpy(dtype=float)
    before = sim[["wait_cpu_s", "service_cpu_s", "wait_db_pool_s", "wait_db_server_s", "service_db_s",
                  "service_mcp_s", "wait_claude_semaphore_s", "wait_rate_limit_s"]].sum(axis=1).to_numpy()
    start = first_claude - before
    taken = np.maximum(start - sim["wait_handler_s"].to_numpy(dtype=float)
                       - (half if pf.mode == "webhook" else 0.0), arrival)
    ok = sim["ok"].astype(bool).to_numpy()
    replied = np.where(ok, done - half, np.nan)
    kinds = sim["kind"].astype(str).to_numpy()
    has_claude = (claude_s > 0) & (sim["claude_attempts"].to_numpy() > 0)
    streaming = np.isin(kinds, list(stream_kinds)) & has_claude
    first_reply = np.where(streaming, start + placeholder_s, replied)
    rid = np.array([f"#r{i:012x}" for i in range(len(sim))])
    requests = pd.DataFrame({
        "kind": kinds, "sent_at": arrival, "posted_at": arrival, "replied_at": replied,
        "latency_s": replied - arrival, "ok": ok, "error": np.where(ok, None, "timeout"), "level": level,
        "chat_id": chat, "message_id": np.arange(len(sim)), "worker": "0", "request_id": rid,
        "reply_match": "stream" if stream_kinds else "next_message", "taken_at": taken,
        "first_reply_at": np.where(ok, first_reply, np.nan), "completed_at": replied,
        "claude_calls": has_claude.astype(np.int64), "claude_attempts": has_claude.astype(np.int64),
        "first_claude_at": np.where(has_claude, first_claude, np.nan),
        "last_claude_end_at": np.where(has_claude, last_end, np.nan),
        "claude_s": np.where(has_claude, claude_s, 0.0)})
    requests.to_parquet(out / "requests.parquet", index=False)

    models = {k: m for k, m in pf.claude.models.items()}
    model_of = {k: s.model for k, s in scenario.workload.kinds.items()}
    c = np.flatnonzero(has_claude)
    tokens = sim["claude_output_tokens"].to_numpy(dtype=float)[c]
    tps = np.array([models[model_of[k]].output_tokens_per_s for k in kinds[c]])
    calls = pd.DataFrame({
        "arrived_at": first_claude[c],
        "first_byte_at": first_claude[c] + np.maximum(claude_s[c] - tokens / tps, 0),
        "ended_at": first_claude[c] + claude_s[c], "model": [models[model_of[k]].api_model for k in kinds[c]],
        "stream": True, "input_tokens": sim["claude_input_tokens"].to_numpy()[c].astype(np.int64),
        "output_tokens": tokens.astype(np.int64), "cache_read_tokens": 0, "cache_write_tokens": 0,
        "status": 200, "error_type": None, "call_id": [f"req_{i}" for i in c], "marker": rid[c],
        "request_id": rid[c], "link": "marker"})
    calls.to_parquet(out / "claude_calls.parquet", index=False)

    via = "webhook" if pf.mode == "webhook" else "getUpdates"
    rows = [pd.DataFrame({"at": taken, "event": "take", "method": via, "via": via, "chat_id": chat})]
    rows.append(pd.DataFrame({"at": replied[ok], "event": "send", "method": "sendMessage", "via": None,
                              "chat_id": chat[ok]}))
    s = streaming & ok
    rows.append(pd.DataFrame({"at": first_reply[s], "event": "send", "method": "sendMessage", "via": None,
                              "chat_id": chat[s]}))
    log = pd.concat(rows, ignore_index=True).sort_values("at", kind="stable").reset_index(drop=True)
    log["event"] = np.where(log["event"].eq("send") & log["chat_id"].isin(chat[s]) &
                            log.duplicated(["chat_id", "event"], keep="first"), "edit", log["event"])
    log["http_status"] = 200
    log["done_at"] = log["at"]
    log.to_parquet(out / "telegram_log.parquet", index=False)

    total = float(sum(d for _, d in ladder))
    run = {
        "complete": True, "reason": None, "target": "external", "profile": None, "workload": "open",
        "arrivals": ",".join(f"{r:g}@{d:g}" for r, d in ladder), "load_s": total, "duration_s": total,
        "claude_time_scale": None, "t0_unix_s": t0, "synthetic": {"seed": seed},
        "known": {"delivery": pf.mode},
        "reply_match": "stream" if stream_kinds else "next_message",
        "levels": [{"level": i, "rate_per_s": r, "duration_s": d, "warmup_s": warmup_s,
                    "sent": int((trace["level"] == i).sum())} for i, (r, d) in enumerate(ladder)],
        "counts": {"requests": len(requests), "ok": int(ok.sum()), "dropped": 0},
        "linking": {"marker": int(len(calls)), "chat_time": 0, "none": 0},
    }
    if bot_cpu_s is not None:
        run["bot_cpu_s"] = bot_cpu_s
    (out / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    doc = scenario.model_dump(mode="json")
    doc.pop("calibration", None)
    (out / "scenario.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return out
