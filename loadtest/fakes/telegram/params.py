"""Bot API parameters from any of the four ways Telegram accepts them, and typed reads of them.

Telegram takes a method's parameters from the URL query string, ``application/json``,
``application/x-www-form-urlencoded`` or ``multipart/form-data`` (aiogram 3 posts ``aiohttp.FormData``:
urlencoded when there is no file, multipart otherwise). In the form encodings every value is a
string and objects (``reply_parameters``, ``reply_markup``, ``allowed_updates``) are JSON text, so the
getters below accept both the native JSON value and its string form.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import MultipartReader, web
from botcap.loadtest.fakes.telegram.errors import bad_request

Params = dict[str, Any]


async def read_request_params(request: web.Request) -> Params:
    """Query string first, then the body's fields over it (as the Bot API merges them)."""
    params: Params = dict(request.query) if request.query_string else {}
    if request.method != "POST" or not request.body_exists:
        return params
    ctype = request.content_type
    if ctype == "multipart/form-data":
        params.update(await read_multipart(await request.multipart()))
        return params
    body = await request.read()
    params.update(parse_body(ctype, body))
    return params


def parse_body(content_type: str, body: bytes) -> Params:
    """Fields of a JSON or urlencoded body (an empty or unparsable body is no fields, like Telegram)."""
    if not body:
        return {}
    if content_type == "application/json":
        try:
            data = json.loads(body)
        except ValueError:
            raise bad_request("can't parse JSON request body") from None
        if not isinstance(data, dict):
            raise bad_request("request body must be a JSON object")
        return data
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise bad_request("request body is not UTF-8") from None


async def read_multipart(reader: MultipartReader) -> Params:
    """Text fields of a multipart body; file parts are kept as bytes (the fake stores no files)."""
    out: Params = {}
    while (part := await reader.next()) is not None:
        if part.name is None:
            continue
        data = await part.read(decode=True)
        out[part.name] = data if part.filename else data.decode(part.get_charset("utf-8"))
    return out


# ---------------------------------------------------------------------------------------------
# typed reads: each raises ApiError(400) with a Telegram-like description when the value is wrong
def get_int(params: Params, name: str, default: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise bad_request(f"field \"{name}\" must be of type Integer")
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except ValueError:
        raise bad_request(f"field \"{name}\" must be of type Integer") from None


def get_bool(params: Params, name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise bad_request(f"field \"{name}\" must be of type Boolean")


def get_str(params: Params, name: str, default: str | None = None) -> str | None:
    value = params.get(name)
    if value is None:
        return default
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value if isinstance(value, str) else str(value)


def get_json(params: Params, name: str, kind: type) -> Any:
    """An object/array parameter, given natively (JSON body) or as JSON text (form, query)."""
    value = params.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str | bytes):
        try:
            value = json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {name} JSON object") from None
    if not isinstance(value, kind):
        expected = "Object" if kind is dict else "Array"
        raise bad_request(f"field \"{name}\" must be of type {expected}")
    return value
