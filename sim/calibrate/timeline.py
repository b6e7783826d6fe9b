"""Per-request timelines of a black-box bundle: what the fake Telegram and fake Claude APIs saw.

Why: a bot botcap did not write records nothing for us (no ``stages.parquet``). The fakes do: when
the bot took each update, each Claude call it made (arrival, first byte, end, tokens, status) and
every text it put in a chat (``docs/runbundle.md``). From these, per request, the phases the model
has: the wait before the bot took the update, the time before its first Claude call, each Claude
call, and the time from the last call to the reply.

``timeline(bundle)`` gives one row per request (same order as ``requests.parquet``) with, in
seconds: ``posted`` (when the generator posted the update; ``sent_at`` without it), ``pre_s``
(taken -> first Claude call; no Claude call: taken -> reply), ``claude_s``, ``post_s`` (last Claude
end -> reply), ``first_reply_delay_s`` (taken -> first visible text) and the request's linked
output/input tokens.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from botcap.errors import BadInput

__all__ = ["BLACKBOX_REQUEST_COLUMNS", "CLAUDE_COLUMNS", "LOG_COLUMNS", "timeline", "intervals_max",
           "claude_calls", "telegram_log"]

BLACKBOX_REQUEST_COLUMNS = ("request_id", "taken_at", "first_reply_at", "completed_at", "first_claude_at",
                            "last_claude_end_at", "claude_calls", "claude_attempts", "claude_s")
CLAUDE_COLUMNS = ("arrived_at", "first_byte_at", "ended_at", "model", "input_tokens", "output_tokens",
                  "status", "request_id", "link")
LOG_COLUMNS = ("at", "event", "via", "chat_id")
TOUCH_S = 1e-6   # clock rounding between one interval's end and the next one's start


def _num(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float)


def claude_calls(b) -> pd.DataFrame:
    """The bundle's Claude calls, with ``call_s`` (end - arrival) and ``ok`` (HTTP 200)."""
    calls = b.claude_calls
    if calls is None or not len(calls):
        return pd.DataFrame(columns=[*CLAUDE_COLUMNS, "call_s", "ok"])
    out = calls.copy()
    out["call_s"] = _num(out, "ended_at") - _num(out, "arrived_at")
    out["ok"] = _num(out, "status") == 200
    return out


def telegram_log(b) -> pd.DataFrame:
    return b.telegram_log if b.telegram_log is not None else pd.DataFrame(columns=list(LOG_COLUMNS))


def timeline(b) -> pd.DataFrame:
    """One row per request of bundle ``b`` (see the module docstring)."""
    r = b.requests
    missing = [c for c in BLACKBOX_REQUEST_COLUMNS if c not in r.columns]
    if missing:
        raise BadInput(f"{b.path / 'requests.parquet'}: missing black-box columns {', '.join(missing)} "
                       "(written by botcap loadtest run since the fake-side timelines; re-run the load test)")
    sent = _num(r, "sent_at")
    posted = _num(r, "posted_at")
    posted = np.where(np.isfinite(posted), posted, sent)
    taken = _num(r, "taken_at")
    first_reply = _num(r, "first_reply_at")
    completed = _num(r, "completed_at")
    completed = np.where(np.isfinite(completed), completed, first_reply)
    first_claude = _num(r, "first_claude_at")
    last_end = _num(r, "last_claude_end_at")
    calls = np.nan_to_num(_num(r, "claude_calls"), nan=0.0)
    attempts = np.nan_to_num(_num(r, "claude_attempts"), nan=0.0)
    has_claude = np.isfinite(first_claude) & (calls > 0)
    pre = np.where(has_claude, first_claude - taken, completed - taken)
    post = np.where(has_claude, completed - last_end, 0.0)
    out = pd.DataFrame({
        "kind": r["kind"].astype(str).to_numpy(), "level": r["level"].to_numpy() if "level" in r else 0,
        "request_id": r["request_id"].astype(str).to_numpy(), "chat_id": _num(r, "chat_id"),
        "sent": sent, "posted": posted, "taken": taken, "first_claude": first_claude,
        "last_claude_end": last_end,
        "first_reply": first_reply, "completed": completed, "ok": r["ok"].astype(bool).to_numpy(),
        "claude_calls": calls, "claude_attempts": attempts, "claude_s": _num(r, "claude_s"),
        "has_claude": has_claude, "pre_s": pre, "post_s": post, "first_reply_delay_s": first_reply - taken,
    })
    cc = claude_calls(b)
    linked = cc[cc["ok"] & cc["request_id"].notna()] if len(cc) else cc
    if len(linked):
        tok = linked.groupby(linked["request_id"].astype(str))[["output_tokens", "input_tokens"]].sum()
        out["output_tokens"] = out["request_id"].map(tok["output_tokens"]).to_numpy(dtype=float)
        out["input_tokens"] = out["request_id"].map(tok["input_tokens"]).to_numpy(dtype=float)
    else:
        out["output_tokens"] = np.nan
        out["input_tokens"] = np.nan
    return out


def intervals_max(starts, ends, window: tuple[float, float] | None = None) -> tuple[int, float]:
    """(most intervals open at once inside ``window``, share of the window's time spent at that most).

    Why the share: a real limit is a ceiling the count sits on while work queues behind it (a saturated
    semaphore is at its capacity most of the time); Poisson overlap without a limit touches its
    maximum only for moments. Intervals are [start, end); an end at the same instant as a start closes first.
    """
    s = np.asarray(starts, dtype=float)
    e = np.asarray(ends, dtype=float) - TOUCH_S   # one call ending as the next starts: not both open
    ok = np.isfinite(s) & np.isfinite(e) & (e >= s)
    s, e = s[ok], e[ok]
    if not s.size:
        return 0, 0.0
    t = np.concatenate([s, e])
    d = np.concatenate([np.ones(s.size), -np.ones(e.size)])
    order = np.lexsort((d, t))   # at equal times, -1 (an end) before +1 (a start)
    t, d = t[order], d[order]
    level = np.cumsum(d)
    lo, hi = window if window is not None else (float(t[0]), float(t[-1]))
    if hi <= lo:
        return int(level.max()), 0.0
    # the count over [t_i, t_{i+1}) is level[i]: the most among segments that overlap the window
    seen = (t[1:] > lo) & (t[:-1] < hi)
    top = int(level[:-1][seen].max()) if seen.any() else 0
    # time at `top`: segments [t_i, t_{i+1}) where the count after event i is top, clipped to the window
    seg_start = np.clip(t[:-1], lo, hi)
    seg_end = np.clip(t[1:], lo, hi)
    at_top = (level[:-1] == top)
    share = float(((seg_end - seg_start) * at_top).sum() / (hi - lo))
    return top, share
