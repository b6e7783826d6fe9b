"""Match each load-generator request with the bot's stage record of the same update.

Why: two views of one update are needed together. The generator knows when the update was posted
and when the reply reached Telegram (``requests.parquet``); the bot knows what happened in between
(``stages.parquet``). Together they give what neither gives alone: the time outside the handler
(webhook delivery, the reply reaching the fake), and the answer length of each request for a replay.

The key is the chat and the order within it: the k-th update posted to a chat is the k-th update
the bot started for that chat (one chat gets its messages one at a time: Telegram's 1 message/s per
chat, and a user waits for the reply). Requests without a stage row (lost, or not a scenario kind)
keep NaN stage columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["joined", "outside_handler_s"]

STAGE_FIELDS = ("started_at_unix_s", "handler_s", "handler_wait_s", "db_acquire_s", "db_query_s",
                "claude_semaphore_wait_s", "claude_call_s", "claude_attempts", "mcp_s", "telegram_send_s",
                "claude_output_tokens")


def joined(requests: pd.DataFrame, stages: pd.DataFrame) -> pd.DataFrame:
    """``requests`` (same rows, same order) with the stage columns of its update, prefixed ``st_``, and
    ``st_index``: the stage row's index label in ``stages`` (-1: none)."""
    out = requests.reset_index(drop=True).copy()
    cols = [c for c in STAGE_FIELDS if c in stages.columns]
    for c in cols:
        out[f"st_{c}"] = np.nan
    out["st_ok"] = np.nan
    out["st_index"] = -1
    if "chat_id" not in out or "chat_id" not in stages or not len(stages):
        return out
    posted = pd.to_numeric(out["posted_at"], errors="coerce") if "posted_at" in out else out["sent_at"]
    req = pd.DataFrame({"row": np.arange(len(out)), "chat_id": out["chat_id"], "t": posted.to_numpy()})
    req = req.dropna(subset=["chat_id"]).sort_values(["chat_id", "t"], kind="stable")
    req["nth"] = req.groupby("chat_id").cumcount()
    st = stages.dropna(subset=["chat_id"]).sort_values(["chat_id", "started_at_unix_s"], kind="stable")
    st = st.assign(nth=st.groupby("chat_id").cumcount(), st_index=st.index)
    both = req.merge(st[["chat_id", "nth", "ok", "st_index", *cols]], on=["chat_id", "nth"], how="inner")
    rows = both["row"].to_numpy()
    for c in cols:
        out.loc[rows, f"st_{c}"] = both[c].to_numpy(dtype=float)
    out.loc[rows, "st_ok"] = both["ok"].astype(float).to_numpy()
    out["st_index"] = -1
    out.loc[rows, "st_index"] = both["st_index"].to_numpy()
    return out


def outside_handler_s(j: pd.DataFrame) -> pd.Series:
    """Seconds of the generator's posted → reply-recorded time that no handler stage timed: the webhook
    delivery (fake Telegram → bot, aiohttp/aiogram parsing before the handler starts) plus the reply's
    way to the fake minus the send's answer leg (``replied_at`` is the fake's receipt, inside the send).
    NaN where a request has no stage row or no reply."""
    posted = pd.to_numeric(j["posted_at"], errors="coerce") if "posted_at" in j else j["sent_at"]
    replied = pd.to_numeric(j["replied_at"], errors="coerce")
    wait = j["st_handler_wait_s"].fillna(0.0) if "st_handler_wait_s" in j else 0.0
    return (replied - posted) - wait - j["st_handler_s"]
