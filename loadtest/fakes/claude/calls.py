"""Every call the fake Claude API answered, as the bot made it: the Claude side of a black-box timeline.

One row per ``POST /v1/messages`` (``docs/runbundle.md``, ``claude_calls.parquet``): arrival, first byte
(the first text delta of a stream), end, model, stream, billed tokens, status, error type, and the
load generator's marker found in the body. The generator ends each message with ``#r<hex>``; a bot
that puts the user's text in its prompt carries the marker to Claude unchanged, which links the call
to its request without touching the bot. The last marker in the body wins (a prompt with the chat's
history holds older ones before the newest message). Read with ``GET /_fake/calls?after=N``.
"""

from __future__ import annotations

import re
import time

from botcap.loadtest.fakes.claude.payloads import ERROR_TYPES

MARKER_RE = re.compile(rb"#r([0-9a-f]{6,16})(?![0-9a-f])")


def find_marker(raw: bytes) -> str | None:
    """The last ``#r<hex>`` marker in a request body (None when there is none)."""
    found = MARKER_RE.findall(raw)
    return f"#r{found[-1].decode()}" if found else None


class Call:
    """One call while it runs; ``row()`` is its flat record."""

    __slots__ = ("arrived_at", "first_byte_at", "ended_at", "model", "stream", "input_tokens",
                 "output_tokens", "cache_read_tokens", "cache_write_tokens", "status", "call_id", "marker")

    def __init__(self) -> None:
        self.arrived_at = time.time()
        self.first_byte_at: float | None = None
        self.ended_at: float | None = None
        self.model: str | None = None
        self.stream = False
        self.input_tokens = self.output_tokens = self.cache_read_tokens = self.cache_write_tokens = 0
        self.status = 0
        self.call_id: str | None = None
        self.marker: str | None = None

    def first_byte(self) -> None:
        if self.first_byte_at is None:
            self.first_byte_at = time.time()

    def tokens(self, input_tokens: int, output_tokens: int, cache_read: int, cache_write: int) -> None:
        self.input_tokens, self.output_tokens = input_tokens, output_tokens
        self.cache_read_tokens, self.cache_write_tokens = cache_read, cache_write

    def row(self) -> dict:
        ok = 200 <= self.status < 300
        return {"arrived_at": self.arrived_at, "first_byte_at": self.first_byte_at, "ended_at": self.ended_at,
                "model": self.model, "stream": self.stream, "input_tokens": self.input_tokens,
                "output_tokens": self.output_tokens, "cache_read_tokens": self.cache_read_tokens,
                "cache_write_tokens": self.cache_write_tokens, "status": self.status,
                "error_type": None if ok else ERROR_TYPES.get(self.status, "api_error"),
                "call_id": self.call_id, "marker": self.marker}


class CallLog:
    """Finished calls in the order they ended, capped (oldest forgotten; positions stay absolute)."""

    def __init__(self, max_rows: int = 1_000_000):
        self.max_rows = max_rows
        self.rows: list[dict] = []
        self.dropped = 0

    def end(self, call: Call, status: int) -> None:
        call.status = status
        call.ended_at = time.time()
        if call.first_byte_at is None:
            call.first_byte_at = call.ended_at
        self.rows.append(call.row())
        if len(self.rows) > self.max_rows:
            cut = max(1, self.max_rows // 10)
            del self.rows[:cut]
            self.dropped += cut

    def after(self, position: int, limit: int) -> tuple[list[dict], int]:
        start = max(0, position - self.dropped)
        rows = self.rows[start:start + limit]
        return rows, self.dropped + start + len(rows)

    def reset(self) -> None:
        self.rows, self.dropped = [], 0
