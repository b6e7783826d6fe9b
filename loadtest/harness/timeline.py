"""Per-request timelines from what the fakes saw: black-box measurement of any bot.

The fake Telegram API logs when the bot took each update and every text it put in a chat; the fake
Claude API logs every call with the generator's marker it found in the prompt. Here they are fetched
(from the positions noted when the load started, so that earlier traffic on a shared fake is left
out) and joined with the generator's requests (``docs/runbundle.md``): ``taken_at``, the linked Claude
calls (``marker``; else ``chat_time``: the request open at the call's arrival whose chat the bot wrote
to right after the call; else ``none``), and what the run's failures look like from the fake's side (the one
line ``botcap loadtest run`` prints when too many requests failed).
"""

from __future__ import annotations

import json
import urllib.request

import numpy as np
import pandas as pd

TELEGRAM_LOG = "telegram_log.parquet"
CLAUDE_CALLS = "claude_calls.parquet"
TELEGRAM_COLUMNS = ("at", "event", "method", "via", "update_id", "chat_id", "message_id", "text_len",
                    "http_status", "done_at")
CLAUDE_COLUMNS = ("arrived_at", "first_byte_at", "ended_at", "model", "stream", "input_tokens",
                  "output_tokens", "cache_read_tokens", "cache_write_tokens", "status", "error_type",
                  "call_id", "marker", "request_id", "link")
PAGE = 50_000


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def telegram_position(host: str, token: str) -> int:
    """The fake Telegram log's next row for ``token`` (read when the load starts)."""
    return _last_position(f"{host.rstrip('/')}/_fake/bot{token}/log")


def claude_position(url: str) -> int:
    return _last_position(f"{url.rstrip('/')}/_fake/calls")


def _last_position(base: str) -> int:
    after = 0
    while True:
        answer = _get(f"{base}?after={after}&limit={PAGE}")
        if not answer["result"]:
            return int(answer["next_after"])
        after = int(answer["next_after"])


def _fetch(base: str, after: int, columns: tuple[str, ...]) -> pd.DataFrame:
    rows: list[dict] = []
    while True:
        answer = _get(f"{base}?after={after}&limit={PAGE}")
        rows.extend(answer["result"])
        if len(answer["result"]) < PAGE:
            break
        after = int(answer["next_after"])
    df = pd.DataFrame(rows)
    for col in columns:
        if col not in df.columns:
            df[col] = pd.Series(dtype=object)
    return df[list(columns)]


def fetch_telegram_log(host: str, token: str, after: int) -> pd.DataFrame:
    df = _fetch(f"{host.rstrip('/')}/_fake/bot{token}/log", after, TELEGRAM_COLUMNS)
    for col in ("update_id", "chat_id", "message_id", "text_len"):
        df[col] = pd.array(df[col], dtype="Int64")
    df["http_status"] = pd.array(df["http_status"], dtype="Int64")
    return df.sort_values("at", kind="stable").reset_index(drop=True)


def fetch_claude_calls(url: str, after: int) -> pd.DataFrame:
    df = _fetch(f"{url.rstrip('/')}/_fake/calls", after, CLAUDE_COLUMNS[:-2])
    df["request_id"] = pd.Series([None] * len(df), dtype=object)
    df["link"] = "none"
    return df.sort_values("arrived_at", kind="stable").reset_index(drop=True)


def join(requests: pd.DataFrame, tlog: pd.DataFrame | None, calls: pd.DataFrame | None,
         direct_webhook: bool) -> dict[str, int]:
    """Add the timeline columns to ``requests`` and link ``calls`` (both in place); returns linking."""
    n = len(requests)
    requests["taken_at"] = np.nan
    if direct_webhook:
        requests["taken_at"] = requests["posted_at"].astype(float)
    elif tlog is not None and len(tlog):
        takes = tlog[tlog["event"] == "take"].dropna(subset=["chat_id", "message_id"])
        by = [takes["chat_id"].astype("int64"), takes["message_id"].astype("int64")]
        first = takes.groupby(by)["at"].min()
        keys = pd.MultiIndex.from_arrays([requests["chat_id"].astype("int64"),
                                          requests["message_id"].astype("int64")])
        requests["taken_at"] = first.reindex(keys).to_numpy(dtype=float) if n else np.nan
    for col in ("first_claude_at", "last_claude_end_at"):
        requests[col] = np.nan
    requests["claude_calls"] = 0
    requests["claude_attempts"] = 0
    requests["claude_s"] = 0.0
    linking = {"marker": 0, "chat_time": 0, "none": 0}
    if calls is None or not len(calls):
        return linking
    index = {rid: i for i, rid in enumerate(requests["request_id"])} if n else {}
    link_row = np.full(len(calls), -1)
    how = np.array(["none"] * len(calls), dtype=object)
    for j, marker in enumerate(calls["marker"]):
        i = index.get(marker) if isinstance(marker, str) else None
        if i is not None:
            link_row[j], how[j] = i, "marker"
    _link_by_chat_and_time(requests, tlog, calls, link_row, how)
    calls["link"] = how
    calls["request_id"] = [requests["request_id"].iat[i] if i >= 0 else None for i in link_row]
    for key in linking:
        linking[key] = int((how == key).sum())
    linked = calls.assign(_row=link_row)[link_row >= 0]
    if len(linked):
        dur = linked["ended_at"].astype(float) - linked["arrived_at"].astype(float)
        g = linked.assign(_dur=dur, _ok=linked["status"].astype(int).between(200, 299)).groupby("_row")
        rows = g.size().index.to_numpy()
        requests.loc[rows, "claude_attempts"] = g.size().to_numpy()
        requests.loc[rows, "claude_calls"] = g["_ok"].sum().to_numpy()
        requests.loc[rows, "claude_s"] = g["_dur"].sum().to_numpy()
        requests.loc[rows, "first_claude_at"] = g["arrived_at"].min().to_numpy()
        requests.loc[rows, "last_claude_end_at"] = g["ended_at"].max().to_numpy()
    return linking


CHAT_TIME_MAX_S = 2.0   # a call's answer reaches its chat within this after the call ends


def _link_by_chat_and_time(requests: pd.DataFrame, tlog: pd.DataFrame | None, calls: pd.DataFrame,
                           link_row: np.ndarray, how: np.ndarray) -> None:
    """Calls without a marker: among the requests open at the call's arrival (taken, not yet
    completed), the one whose chat the bot wrote to first after the call ended (within
    ``CHAT_TIME_MAX_S``, and clearly before any other open request's chat: at most half as long after);
    a lone open request needs no such evidence. Anything else stays ``none``: a wrong link would be worse
    than none."""
    start = requests["taken_at"].fillna(requests["posted_at"]).to_numpy(dtype=float)
    end = requests["completed_at"].to_numpy(dtype=float)
    end = np.where(np.isnan(end), np.inf, end)
    chats = requests["chat_id"].to_numpy()
    writes: dict[int, np.ndarray] = {}
    if tlog is not None and len(tlog):
        w = tlog[tlog["event"].isin(["send", "edit"])].dropna(subset=["chat_id"])
        writes = {int(c): np.sort(g["at"].to_numpy(dtype=float))
                  for c, g in w.groupby(w["chat_id"].astype("int64"))}
    arrived = calls["arrived_at"].to_numpy(dtype=float)
    ended = calls["ended_at"].to_numpy(dtype=float)
    unmarked = calls["marker"].isna().to_numpy()   # a marker not of this run: another run's call
    for j in np.flatnonzero((link_row < 0) & unmarked):
        hit = np.flatnonzero((start <= arrived[j]) & (arrived[j] <= end))
        if hit.size == 1:
            link_row[j], how[j] = hit[0], "chat_time"
            continue
        delays = []
        for i in hit:
            at = writes.get(int(chats[i]), np.array([]))
            k = np.searchsorted(at, ended[j])
            delays.append(at[k] - ended[j] if k < at.size else np.inf)
        if len(delays) < 2:
            continue
        order = np.argsort(delays)
        d1, d2 = delays[order[0]], delays[order[1]]
        if d1 <= CHAT_TIME_MAX_S and d2 >= 2 * d1 + 0.01:
            link_row[j], how[j] = hit[order[0]], "chat_time"


def match_check(requests: pd.DataFrame, tlog: pd.DataFrame | None, reply_match: str,
                direct_webhook: bool) -> dict:
    """What the fake saw in the load's chats: takes, sends, and how many requests were matched."""
    chats = set(requests["chat_id"].astype("int64")) if len(requests) else set()
    takes = sends = 0
    if tlog is not None and len(tlog):
        mine = tlog[tlog["chat_id"].isin(chats)]
        takes = int((mine["event"] == "take").sum())
        ok = mine["http_status"].fillna(0).astype(int).between(200, 299)
        sends = int((mine["event"].isin(["send", "edit"]) & ok).sum())   # a refused send put no text
    if direct_webhook:
        takes = int(len(requests))
    matched = int(requests["ok"].sum()) if len(requests) else 0
    return {"requests": int(len(requests)), "takes_seen": takes, "sends_seen": sends, "matched": matched,
            "reply_match": reply_match}


def verdict(check: dict, requests: pd.DataFrame, max_error_rate: float, hint: str = "") -> str | None:
    """None when the failed share is within ``max_error_rate``; else one line saying why."""
    n = check["requests"]
    if n == 0:
        return "no request was sent: nothing measured (no data is not a pass)"
    failed = n - check["matched"]
    if failed / n <= max_error_rate:
        return None
    head = f"{failed} of {n} requests failed (> --max-error-rate {max_error_rate:g})"
    if check["takes_seen"] == 0:
        return f"{head}: the bot took none of the {n} updates{hint}"
    if check["sends_seen"] == 0:
        return f"{head}: the bot took {check['takes_seen']} updates but put no text in their chats"
    if check["reply_match"] == "reply_to" and check["matched"] < check["sends_seen"]:
        return (f"{head}: {check['sends_seen']} sends seen, {check['matched']} matched: "
                "try --reply-match next_message")
    errors = requests.loc[~requests["ok"].astype(bool), "error"].fillna("?").astype(str)
    top = errors.value_counts().index[0] if len(errors) else "?"
    more = " (raise --reply-timeout, or the bot is saturated)" if top == "timeout" else ""
    return f"{head}: {check['sends_seen']} sends seen, {check['matched']} matched; mostly {top}{more}"
