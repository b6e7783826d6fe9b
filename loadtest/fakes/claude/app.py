"""The fake Claude API as an aiohttp application: the Messages routes and the ``/_fake`` control routes.

A request goes through the checks in the API's order — credentials (401), ``anthropic-version``
(400), body (413, 400), model (404) — then injected faults (529 / 500; they do not charge the key's
rate limits), then the key's rate limits (429 with ``retry-after``), then the prompt cache; it is
answered after ttft + output_tokens / tokens_per_s (times ``time_scale``), streamed or whole.
Every answer carries ``request-id``; every answer to a known key carries the rate-limit headers.

Credentials: ``x-api-key`` or ``Authorization: Bearer`` — anthropic 2.x sends ``api_key`` as a bearer
token, older SDKs as ``x-api-key``; the key (either way) scopes the rate limits and the cache.
"""

from __future__ import annotations

import asyncio
import json
import os

import numpy as np
from aiohttp import web
from botcap.loadtest.fakes.claude import payloads
from botcap.loadtest.fakes.claude.cache import PromptCache
from botcap.loadtest.fakes.claude.calls import Call, CallLog, find_marker
from botcap.loadtest.fakes.claude.config import ClaudeFakeConfig
from botcap.loadtest.fakes.claude.faults import Faults, validate_change
from botcap.loadtest.fakes.claude.models import ModelTable
from botcap.loadtest.fakes.claude.prompt import InvalidRequest, parse
from botcap.loadtest.fakes.claude.ratelimit import RateLimiter, retry_after_header
from botcap.loadtest.fakes.claude.stats import Stats

JSON = "application/json"
STATE = web.AppKey("claude_fake", object)
CALL: web.RequestKey = web.RequestKey("botcap_call", object)  # the running call's record


class FakeClaude:
    """The fake's state (limits, cache, faults, stats) and its request handlers."""

    def __init__(self, config: ClaudeFakeConfig):
        self.config = config
        rng = np.random.default_rng(config.seed)
        self.models = ModelTable(config.models, rng)
        self.limiter = RateLimiter(config.rate_limits)
        self.cache = PromptCache(config.cache_ttl_s, config.cache_ttl_1h_s)
        self.faults = Faults(config.faults, rng)
        self.stats = Stats()
        self.calls = CallLog()
        self.ids = payloads.Ids()
        self.scale = config.time_scale
        self.cpt = config.chars_per_token

    # --- helpers -------------------------------------------------------------------------------
    def _error(self, status: int, message: str, key: str | None, request_id: str,
               extra: dict[str, str] | None = None) -> web.Response:
        headers = self.limiter.headers(key)
        headers["request-id"] = request_id
        if extra:
            headers.update(extra)
        return web.Response(status=status, body=payloads.error(status, message, request_id),
                            content_type=JSON, headers=headers)

    @staticmethod
    def _key(request: web.Request) -> str | None:
        key = request.headers.get("x-api-key")
        if key:
            return key
        auth = request.headers.get("authorization", "")
        if auth[:7].lower() == "bearer " and auth[7:].strip():
            return auth[7:].strip()
        return None

    async def _checked(self, request: web.Request, rid: str, counting: bool):
        """(key, prompt, model) of a well-formed request, or the error response to send."""
        key = self._key(request)
        if key is None:
            return self._error(401, "x-api-key header is required", None, rid)
        if "anthropic-version" not in request.headers:
            return self._error(400, "anthropic-version: header is required", key, rid)
        if (request.content_length or 0) > self.config.max_body_bytes:
            return self._error(413, "Request exceeds the maximum allowed number of bytes.", key, rid)
        raw = await request.read()
        call = request.get(CALL)
        if call is not None:
            call.marker = find_marker(raw)
        try:
            body = json.loads(raw)
        except ValueError:
            return self._error(400, "There was an error parsing the body of your request: invalid JSON",
                               key, rid)
        try:
            prompt = parse(body, chars_per_token=self.cpt, counting=counting, marked=b"cache_control" in raw)
        except InvalidRequest as exc:
            return self._error(400, str(exc), key, rid)
        if call is not None:
            call.model, call.stream = prompt.model, prompt.stream
        model = self.models.resolve(prompt.model)
        if model is None:
            return self._error(404, f"model: {prompt.model}", key, rid)
        if prompt.max_tokens > model.spec.max_output_tokens:
            cap = model.spec.max_output_tokens
            return self._error(400, f"max_tokens: {prompt.max_tokens} > {cap}, which is the maximum allowed "
                               f"number of output tokens for {prompt.model}", key, rid)
        return key, prompt, model

    # --- Messages API ----------------------------------------------------------------------------
    async def messages(self, request: web.Request) -> web.StreamResponse:
        self.stats.begin()
        status = 500
        call = request[CALL] = Call()
        try:
            response = await self._messages(request)
            status = response.status
            return response
        except (ConnectionResetError, asyncio.CancelledError):
            status = 499  # the client hung up (nginx's code for it)
            raise
        finally:
            self.stats.end(status)
            self.calls.end(call, status)

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        rid = self.ids.request()
        call: Call = request[CALL]
        call.call_id = rid
        checked = await self._checked(request, rid, counting=False)
        if isinstance(checked, web.StreamResponse):
            return checked
        key, prompt, model = checked
        fault = self.faults.decide()
        if fault == 529:
            return self._error(529, "Overloaded", key, rid)
        if fault == 500:
            return self._error(500, "Internal server error", key, rid)
        min_tokens = model.spec.min_cacheable_tokens
        cu, hit = self.cache.plan(key, prompt, min_tokens)
        wait, which = self.limiter.acquire(key, cu.input_tokens + cu.cache_write, prompt.max_tokens)
        if wait > 0:
            return self._error(429, f"This request would exceed your organization's rate limit of "
                               f"{_limit_of(self.limiter, which)} {which} per minute. For details, refer to: "
                               "https://docs.claude.com/en/api/rate-limits.", key, rid,
                               {"retry-after": retry_after_header(wait)})
        self.cache.commit(key, prompt, min_tokens, hit)
        out, stop, ttft, gen = model.draw(prompt.max_tokens)
        scale = self.scale
        ttft = (ttft + self.faults.extra_latency_s()) * scale
        gen *= scale
        if prompt.stream:
            return await self._stream(request, rid, key, prompt, model, cu, out, stop, ttft, gen)
        try:
            if ttft + gen > 0:
                await asyncio.sleep(ttft + gen)
        finally:
            self.limiter.true_up_output(key, prompt.max_tokens, out)
        self.stats.add_tokens(model.key, cu.input_tokens, out, cu.cache_read, cu.cache_write)
        call.tokens(cu.input_tokens, out, cu.cache_read, cu.cache_write)
        call.first_byte()
        text = payloads.answer_text(out, self.cpt)
        body = payloads.message(self.ids.message(), prompt.model, text, stop, cu, out)
        headers = self.limiter.headers(key)
        headers["request-id"] = rid
        headers["Content-Type"] = JSON
        return web.Response(body=json.dumps(body).encode(), headers=headers)

    async def _stream(self, request, rid, key, prompt, model, cu, out, stop, ttft, gen) -> web.StreamResponse:
        call: Call = request[CALL]
        headers = self.limiter.headers(key)
        headers.update({"request-id": rid, "Content-Type": "text/event-stream; charset=utf-8",
                        "Cache-Control": "no-cache"})
        response = web.StreamResponse(headers=headers)
        sent = 0
        try:
            await response.prepare(request)
            await response.write(payloads.stream_head(self.ids.message(), prompt.model, cu))
            text = payloads.answer_text(out, self.cpt)
            step_tokens = self.config.tokens_per_delta
            step = step_tokens * self.cpt
            if ttft + gen <= 0:
                call.first_byte()
                await response.write(b"".join(payloads.text_delta(text[i:i + step])
                                              for i in range(0, len(text), step)))
                sent = out
            else:
                loop = asyncio.get_running_loop()
                start = loop.time()
                per_token = gen / out
                for i in range(0, len(text), step):
                    done = min(out, sent + step_tokens)
                    # first delta at ttft, each later one once its tokens have been "generated"
                    delay = start + ttft + (done - 1) * per_token - loop.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    call.first_byte()
                    await response.write(payloads.text_delta(text[i:i + step]))
                    sent = done
                rest = start + ttft + gen - loop.time()
                if rest > 0:
                    await asyncio.sleep(rest)
            await response.write(payloads.stream_tail(stop, cu, out))
            await response.write_eof()
        except ConnectionResetError:
            self.stats.disconnects += 1  # the 200 was sent; the client left mid-stream
        finally:
            # a client that hangs up mid-stream is billed (and rate-limited) for what was generated
            self.limiter.true_up_output(key, prompt.max_tokens, sent)
            self.stats.add_tokens(model.key, cu.input_tokens, sent, cu.cache_read, cu.cache_write)
            call.tokens(cu.input_tokens, sent, cu.cache_read, cu.cache_write)
        return response

    async def count_tokens(self, request: web.Request) -> web.Response:
        """``{"input_tokens": N}``: the same count ``usage`` splits; not charged to the Messages limits."""
        rid = self.ids.request()
        checked = await self._checked(request, rid, counting=True)
        if isinstance(checked, web.StreamResponse):
            return checked
        _key, prompt, _model = checked
        return web.Response(body=json.dumps({"input_tokens": prompt.input_tokens}).encode(),
                            content_type=JSON, headers={"request-id": rid})

    async def not_found(self, request: web.Request) -> web.Response:
        return self._error(404, "Not Found", None, self.ids.request())

    # --- control routes --------------------------------------------------------------------------
    async def set_faults(self, request: web.Request) -> web.Response:
        try:
            change = validate_change(await request.json())
        except (ValueError, json.JSONDecodeError) as exc:
            return self._error(400, str(exc), None, self.ids.request())
        self.faults.update(change)
        return web.json_response(self.faults.snapshot())

    async def get_stats(self, request: web.Request) -> web.Response:
        snap = self.stats.snapshot()
        snap["faults"] = self.faults.snapshot()
        snap["cache_entries"] = len(self.cache)
        snap["time_scale"] = self.scale
        snap["fake_pid"] = os.getpid()   # botcap's harness adds the fake's CPU to the run's own
        return web.json_response(snap)

    async def get_calls(self, request: web.Request) -> web.Response:
        """The call log from absolute row ``after`` on (``limit`` rows at most) and ``next_after``."""
        try:
            after = int(request.query.get("after", 0))
            limit = int(request.query.get("limit", 50_000))
        except ValueError:
            return self._error(400, "after, limit: must be integers", None, self.ids.request())
        if after < 0 or not 1 <= limit <= 1_000_000:
            return self._error(400, "after: must be >= 0; limit: 1..1000000", None, self.ids.request())
        rows, next_after = self.calls.after(after, limit)
        return web.json_response({"result": rows, "next_after": next_after})

    async def reset(self, request: web.Request) -> web.Response:
        """Back to the configured state: counters, rate-limit buckets, prompt cache and faults."""
        self.stats.reset()
        self.limiter.reset()
        self.cache.reset()
        self.faults.reset()
        self.calls.reset()
        return web.json_response({"ok": True})


def _limit_of(limiter: RateLimiter, which: str) -> int:
    spec = limiter.spec
    return {"requests": spec.rpm, "input tokens": spec.itpm, "output tokens": spec.otpm}[which]


def create_app(config: ClaudeFakeConfig) -> web.Application:
    """The fake as an aiohttp application (serve it with ``web.run_app`` or an ``AppRunner``)."""
    fake = FakeClaude(config)
    app = web.Application(client_max_size=config.max_body_bytes + 1)
    app[STATE] = fake
    app.router.add_post("/v1/messages", fake.messages)
    app.router.add_post("/v1/messages/count_tokens", fake.count_tokens)
    app.router.add_post("/_fake/faults", fake.set_faults)
    app.router.add_get("/_fake/stats", fake.get_stats)
    app.router.add_get("/_fake/calls", fake.get_calls)
    app.router.add_post("/_fake/reset", fake.reset)
    app.router.add_route("*", "/{tail:.*}", fake.not_found)
    return app
