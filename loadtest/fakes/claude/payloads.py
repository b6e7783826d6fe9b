"""The Messages API's JSON shapes: a message, its server-sent events, an error.

Shapes follow the API as the ``anthropic`` SDK parses them (``anthropic.types.Message``,
``RawMessageStreamEvent``): usage carries input, output, cache-creation (with its 5m/1h split) and
cache-read tokens; a stream runs message_start, content_block_start, ping, content_block_delta...,
content_block_stop, message_delta (stop reason and cumulative usage), message_stop.
"""

from __future__ import annotations

import itertools
import json
import os

from botcap.loadtest.fakes.claude.cache import CacheUsage

# Answer text: exactly ``chars_per_token`` characters per output token, so counting an answer back
# with the fake's own counter gives its ``output_tokens``.
_FILLER = ("The quick brown fox jumps over the lazy dog while the capacity planner counts tokens. " * 64)

ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
    529: "overloaded_error",
}


def answer_text(tokens: int, chars_per_token: int) -> str:
    n = tokens * chars_per_token
    if n <= len(_FILLER):
        return _FILLER[:n]
    return (_FILLER * (n // len(_FILLER) + 1))[:n]


class Ids:
    """message and request ids in the API's style (``msg_01…``, ``req_01…``), unique per process run."""

    def __init__(self):
        self._stem = os.urandom(6).hex()
        self._n = itertools.count(1)

    def message(self) -> str:
        return f"msg_01{self._stem}{next(self._n):010d}"

    def request(self) -> str:
        return f"req_01{self._stem}{next(self._n):010d}"


def usage(cu: CacheUsage, output_tokens: int) -> dict:
    return {
        "input_tokens": cu.input_tokens,
        "cache_creation_input_tokens": cu.cache_write,
        "cache_read_input_tokens": cu.cache_read,
        "cache_creation": {"ephemeral_5m_input_tokens": cu.cache_write_5m,
                           "ephemeral_1h_input_tokens": cu.cache_write_1h},
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def message(msg_id: str, model: str, text: str, stop_reason: str, cu: CacheUsage, output_tokens: int) -> dict:
    return {
        "id": msg_id, "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason, "stop_sequence": None, "usage": usage(cu, output_tokens),
    }


def error(status: int, message: str, request_id: str | None = None) -> bytes:
    body = {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message}}
    if request_id is not None:
        body["request_id"] = request_id
    return json.dumps(body).encode()


def sse(event: str, data: dict) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def stream_head(msg_id: str, model: str, cu: CacheUsage) -> bytes:
    """message_start (output_tokens 1, as the API reports it), content_block_start, ping."""
    start = {"id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
             "stop_reason": None, "stop_sequence": None, "usage": usage(cu, 1)}
    return (sse("message_start", {"type": "message_start", "message": start})
            + sse("content_block_start", {"type": "content_block_start", "index": 0,
                                          "content_block": {"type": "text", "text": ""}})
            + sse("ping", {"type": "ping"}))


_DELTA = ('event: content_block_delta\ndata: {"type":"content_block_delta","index":0,'
          '"delta":{"type":"text_delta","text":%s}}\n\n')


def text_delta(text: str) -> bytes:
    # a template, not a dict through json.dumps: a stream sends one of these per few tokens
    return (_DELTA % json.dumps(text)).encode()


def stream_tail(stop_reason: str, cu: CacheUsage, output_tokens: int) -> bytes:
    """content_block_stop, message_delta with the cumulative usage, message_stop."""
    final = {"input_tokens": cu.input_tokens, "cache_creation_input_tokens": cu.cache_write,
             "cache_read_input_tokens": cu.cache_read, "output_tokens": output_tokens}
    return (sse("content_block_stop", {"type": "content_block_stop", "index": 0})
            + sse("message_delta", {"type": "message_delta",
                                    "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                    "usage": final})
            + sse("message_stop", {"type": "message_stop"}))
