"""Read a Messages API request body: validate it as the API does, count tokens, find cache breakpoints.

Token counting is deterministic from the text: ``ceil(characters / chars_per_token)`` (4 by default,
Anthropic's rule of thumb for English) for every text piece — system, message text, tool results,
thinking — and for the JSON of tool definitions, tool_use inputs and unknown blocks; an image or a
document counts a flat 1,600 tokens (a ~1.15 megapixel image by Anthropic's width*height/750). No
per-message overhead, so a test can predict every count; ``count_tokens`` answers the same total that
``usage`` splits into input, cache-creation and cache-read tokens.

The prompt is walked in the API's cache order — tools, then system, then messages — so a
``cache_control`` breakpoint names the prefix up to and including its block; each prefix gets a
digest (model + every block before it, without the cache_control marks) that the cache keys on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

IMAGE_TOKENS = 1600
MAX_BREAKPOINTS = 4
_ROLES = ("user", "assistant")


class InvalidRequest(ValueError):
    """A body the API would refuse with 400 invalid_request_error; the message is the API's style."""


@dataclass(slots=True)
class Breakpoint:
    """A cache_control mark: the prefix's tokens, its digest and its TTL label ("5m" or "1h")."""

    tokens: int
    digest: bytes
    ttl: str


@dataclass(slots=True)
class Prompt:
    """What the server needs from a valid body."""

    model: str
    input_tokens: int
    max_tokens: int = 0
    stream: bool = False
    breakpoints: list[Breakpoint] = field(default_factory=list)


def _ceil_div(n: int, d: int) -> int:
    return -(-n // d)


def _dumps(obj) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class _Walker:
    """Counts tokens block by block; keeps a running digest only when the body has cache marks."""

    __slots__ = ("cpt", "tokens", "hasher", "breakpoints")

    def __init__(self, model: str, cpt: int, cached: bool):
        self.cpt = cpt
        self.tokens = 0
        self.hasher = hashlib.blake2b(model.encode(), digest_size=16) if cached else None
        self.breakpoints: list[Breakpoint] = []

    def text(self, s: str) -> int:
        return _ceil_div(len(s), self.cpt)

    def block_tokens(self, block: dict, where: str) -> int:
        kind = block.get("type")
        if kind == "text":
            text = block.get("text")
            if not isinstance(text, str):
                raise InvalidRequest(f"{where}.text: Input should be a valid string")
            if not text:
                raise InvalidRequest(f"{where}: text content blocks must be non-empty")
            return self.text(text)
        if kind in ("image", "document"):
            return IMAGE_TOKENS
        if kind == "tool_result":
            content = block.get("content", "")
            if isinstance(content, str):
                return self.text(content)
            if isinstance(content, list):
                return sum(self.block_tokens(b, f"{where}.content.{i}") if isinstance(b, dict) else 0
                           for i, b in enumerate(content))
            return self.text(_dumps(content))
        if kind == "thinking":
            return self.text(str(block.get("thinking", "")))
        if kind is None:
            raise InvalidRequest(f"{where}.type: Field required")
        return self.text(_dumps({k: v for k, v in block.items() if k != "cache_control"}))

    def add(self, block: dict, tokens: int, label: str, where: str) -> None:
        self.tokens += tokens
        if self.hasher is None:
            return
        self.hasher.update(label.encode())
        self.hasher.update(_dumps({k: v for k, v in block.items() if k != "cache_control"}).encode())
        mark = block.get("cache_control")
        if mark is None:
            return
        if not isinstance(mark, dict) or mark.get("type") != "ephemeral":
            raise InvalidRequest(f"{where}.cache_control.type: Input should be 'ephemeral'")
        ttl = mark.get("ttl", "5m")
        if ttl not in ("5m", "1h"):
            raise InvalidRequest(f"{where}.cache_control.ttl: Input should be '5m' or '1h'")
        if self.breakpoints and ttl == "1h" and self.breakpoints[-1].ttl == "5m":
            raise InvalidRequest("a ttl='1h' cache_control block must not come after a ttl='5m' "
                                 "cache_control block")
        self.breakpoints.append(Breakpoint(self.tokens, self.hasher.copy().digest(), ttl))
        if len(self.breakpoints) > MAX_BREAKPOINTS:
            raise InvalidRequest(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided.")


def _blocks(content, where: str) -> list[dict]:
    if isinstance(content, str):
        if not content:
            raise InvalidRequest(f"{where}: text content blocks must be non-empty")
        return [{"type": "text", "text": content}]
    if isinstance(content, list) and all(isinstance(b, dict) for b in content):
        return content
    raise InvalidRequest(f"{where}: Input should be a valid string or a list of content blocks")


def parse(body, *, chars_per_token: int, counting: bool = False, marked: bool = True) -> Prompt:
    """The validated prompt of a ``/v1/messages`` body (``counting``: a ``count_tokens`` body).

    ``marked=False`` promises that the raw body never mentions ``cache_control`` (the server checks the
    bytes), which skips the prefix digests: most load-test requests carry no cache marks.
    """
    if not isinstance(body, dict):
        raise InvalidRequest("Input should be a valid dictionary")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model: Field required" if model is None
                             else "model: Input should be a valid string")
    max_tokens = 0
    if not counting:
        max_tokens = body.get("max_tokens")
        if max_tokens is None:
            raise InvalidRequest("max_tokens: Field required")
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool):
            raise InvalidRequest("max_tokens: Input should be a valid integer")
        if max_tokens < 1:
            raise InvalidRequest("max_tokens: Input should be greater than or equal to 1")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("stream: Input should be a valid boolean")
    messages = body.get("messages")
    if messages is None:
        raise InvalidRequest("messages: Field required")
    if not isinstance(messages, list):
        raise InvalidRequest("messages: Input should be a valid list")
    if not messages:
        raise InvalidRequest("messages: at least one message is required")
    system, tools = body.get("system"), body.get("tools")
    walker = _Walker(model, chars_per_token, marked and not counting)
    if tools is not None:
        if not isinstance(tools, list):
            raise InvalidRequest("tools: Input should be a valid list")
        for i, tool in enumerate(tools):
            if not isinstance(tool, dict):
                raise InvalidRequest(f"tools.{i}: Input should be a valid dictionary")
            tokens = walker.text(_dumps({k: v for k, v in tool.items() if k != "cache_control"}))
            walker.add(tool, tokens, "tool", f"tools.{i}")
    if system is not None:
        for i, block in enumerate(_blocks(system, "system")):
            walker.add(block, walker.block_tokens(block, f"system.{i}"), "system", f"system.{i}")
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise InvalidRequest(f"{where}: Input should be a valid dictionary")
        role = message.get("role")
        if role not in _ROLES:
            raise InvalidRequest(f"{where}.role: Input should be 'user' or 'assistant'")
        if "content" not in message:
            raise InvalidRequest(f"{where}.content: Field required")
        for j, block in enumerate(_blocks(message["content"], f"{where}.content")):
            at = f"{where}.content.{j}"
            walker.add(block, walker.block_tokens(block, at), role, at)
    return Prompt(model=model, input_tokens=walker.tokens, max_tokens=max_tokens, stream=stream,
                  breakpoints=walker.breakpoints)
