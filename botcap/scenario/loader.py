"""Read a scenario: YAML file → merge over the embedded default → ``--set`` overrides → validate.

Every failure becomes ``BadInput`` with one line per problem, each naming the dotted path, the
value and what is allowed; nothing here prints or exits (the CLI does).
"""

from __future__ import annotations

import types
import typing
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from botcap.errors import BadInput
from botcap.inputs import MAX_INPUT_BYTES, clip, load_yaml, read_text, short
from botcap.scenario.dists import DIST_NAMES
from botcap.scenario.model import Scenario

MAX_FILE_BYTES = MAX_INPUT_BYTES
MAX_SET_DEPTH = 16   # the deepest scenario path (costs.tiers.T.model_shares.K.M) has 6


@cache
def default_document() -> dict:
    """The embedded default scenario as plain data (parsed once)."""
    text = resources.files("botcap.scenario").joinpath("default.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def read_document(path: str | Path) -> dict:
    """Parse a scenario file into plain data, or raise BadInput saying why it cannot be used.

    Through the input layer (``botcap.inputs``): a regular file of at most 10 MiB of UTF-8 text,
    YAML with duplicate keys refused and aliases bounded (no billion laughs, no cycles).
    """
    p = Path(path)
    doc = load_yaml(read_text(p), str(p))
    if doc is None:
        raise BadInput(f"{p}: empty scenario (expected a YAML mapping of sections)")
    if not isinstance(doc, dict):
        raise BadInput(f"{p}: a scenario must be a YAML mapping (got {type(doc).__name__})")
    return doc


def load_scenario(path: str | Path | None = None, sets: list[str] | tuple[str, ...] = (),
                  data: dict | None = None) -> Scenario:
    """The validated scenario: ``path`` (or plain ``data``) merged over the default, then ``sets``."""
    doc = _copy(default_document())
    if path is not None:
        doc = merge(doc, read_document(path), Scenario)
    if data is not None:
        doc = merge(doc, data, Scenario)
    for assignment in sets:
        apply_set(doc, assignment)
    return validate(doc)


def validate(doc: dict) -> Scenario:
    try:
        return Scenario.model_validate(doc)
    except ValidationError as e:
        raise BadInput(format_errors(e)) from None
    except RecursionError:
        raise BadInput("scenario: nested too deeply") from None


# ---------------------------------------------------------------------------------------------
# merging and --set, guided by the schema's shape
def _copy(obj):
    if isinstance(obj, dict):
        return {k: _copy(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_copy(v) for v in obj]
    return obj


def _submodel(annotation) -> type[BaseModel] | None:
    """The pydantic model class behind a field annotation (through Optional/Annotated), if any."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _submodel(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        found = [m for a in typing.get_args(annotation) if (m := _submodel(a)) is not None]
        return found[0] if len(found) == 1 else None  # several models = a distribution: replace whole
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _dict_value_type(annotation):
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _dict_value_type(typing.get_args(annotation)[0])
    if origin is dict:
        return typing.get_args(annotation)[1]
    return None


def merge(base: dict, override: dict, model: type[BaseModel]) -> dict:
    """``override`` over ``base``: sections (sub-models) merge key by key, everything else replaces."""
    out = dict(base)
    for key, value in override.items():
        field = model.model_fields.get(key) if isinstance(key, str) else None
        sub = _submodel(field.annotation) if field is not None else None
        if sub is not None and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value, sub)
        else:
            out[key] = _copy(value)
    return out


def _step(expect, key):
    """What the key after ``key`` indexes into: a model class, ("map", value type) or None (free)."""
    if isinstance(expect, tuple):
        annotation = expect[1]
    elif expect is not None and isinstance(key, str) and key in expect.model_fields:
        annotation = expect.model_fields[key].annotation
    else:
        return None
    if (sub := _submodel(annotation)) is not None:
        return sub
    if (value_type := _dict_value_type(annotation)) is not None:
        return ("map", value_type)
    return None


def apply_set(doc: dict, assignment: str) -> None:
    """Apply one ``dotted.path=value`` (value parsed as YAML, ``null`` included) to ``doc`` in place."""
    if "=" not in assignment:
        raise BadInput(f"--set {clip(assignment)}: expected dotted.path=value")
    path, _, text = assignment.partition("=")
    path = path.strip()
    keys = path.split(".")
    if not all(keys):
        raise BadInput(f"--set {clip(path)}: the path has an empty part (expected dotted.path=value)")
    shown = clip(path)
    if len(keys) > MAX_SET_DEPTH:
        raise BadInput(f"--set {shown}: {len(keys)} levels deep (a scenario has at most {MAX_SET_DEPTH})")
    value = load_yaml(text, f"--set {shown}") if text.strip() else None

    node, expect = doc, Scenario
    for depth, key in enumerate(keys):
        if isinstance(expect, type) and key not in expect.model_fields:
            here = ".".join(keys[:depth]) or "the top level"
            raise BadInput(f"--set {shown}: unknown key {short(key)} at {clip(here)}; "
                           f"valid keys: {', '.join(expect.model_fields)}")
        if depth == len(keys) - 1:
            node[key] = value
            return
        if not isinstance(node.get(key), dict):
            node[key] = {}
        node, expect = node[key], _step(expect, key)


# ---------------------------------------------------------------------------------------------
# error messages
def _short(value: Any) -> str:
    return short(value)  # bounded: never expands a huge value to print it


def _model_at(loc: tuple) -> type[BaseModel] | None:
    expect = Scenario
    for key in loc:
        expect = _step(expect, key)
    return expect if isinstance(expect, type) else None


def _clean_loc(loc: tuple) -> tuple:
    """Drop pydantic's internal steps (union tags, validator names) from an error location."""
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in DIST_NAMES)))


def _message(err: dict, loc: tuple) -> str:
    kind, ctx, got = err["type"], err.get("ctx") or {}, err.get("input")
    bounds = {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"),
              "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}
    if kind in bounds:
        op, name = bounds[kind]
        return f"must be {op} {ctx.get(name)} (got {_short(got)})"
    if kind == "missing":
        return "required, but missing"
    if kind == "extra_forbidden":
        parent = _model_at(loc[:-1])
        allowed = f"; allowed: {', '.join(parent.model_fields)}" if parent else ""
        return f"unknown key{allowed}"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')} (got {_short(got)})"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return f"dist must be one of {', '.join(DIST_NAMES)} (got {_short(got)})"
    if kind in ("int_parsing", "int_type", "int_from_float", "int_parsing_size"):
        return f"must be a whole number (got {_short(got)})"
    if kind in ("float_parsing", "float_type", "finite_number"):
        return f"must be a finite number (got {_short(got)})"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be true or false (got {_short(got)})"
    if kind in ("string_type", "string_too_short", "string_too_long"):
        return f"{err['msg'][0].lower()}{err['msg'][1:]} (got {_short(got)})"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"must be a mapping (got {_short(got)})"
    if kind == "list_type":
        return f"must be a list (got {_short(got)})"
    if kind in ("too_short", "too_long"):
        return f"{err['msg'][0].lower()}{err['msg'][1:]}"
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix):]
    return msg


def _key(part) -> str:
    """A path part as printed: plain when it is a simple key, repr() when it has odd characters."""
    text = str(part)
    shown = text if text and text.isprintable() and " " not in text and "." not in text else repr(text)
    return clip(shown)


def format_errors(error: ValidationError) -> list[str]:
    """One line per problem: ``platform.instances: must be >= 1 (got 0)``."""
    lines: list[str] = []
    for err in error.errors():
        loc = _clean_loc(tuple(err["loc"]))
        where = ".".join(_key(p) for p in loc)
        msg = _message(err, loc)
        if err["type"] == "value_error":
            # validators name the key themselves ("mix: must sum..."); several are joined by "; "
            for part in msg.split("; "):
                head, sep, _ = part.partition(": ")
                if sep and " " not in head:
                    full = f"{where}.{part}" if where and not head.startswith(where) else part
                    lines.append(full)
                else:
                    lines.append(f"{where or 'scenario'}: {part}")
            continue
        lines.append(f"{where or 'scenario'}: {msg}")
    return lines
