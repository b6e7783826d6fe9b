"""The one input layer: every file, YAML text, URL and output path a user hands botcap passes here.

Why one place: hostile or careless input (``/dev/zero`` as a scenario, a billion-laughs YAML, a
duplicated ``thresholds:`` key, ``--target http://10.0.0.5``, ``--out /proc/x``) must fail the same
way in every command, with one line naming what is wrong and exit 2, before any work starts.

- ``read_text(path)`` / ``check_regular_file(path)``: regular files only (no directory, FIFO or
  device), at most ``MAX_INPUT_BYTES``, UTF-8 text without NUL bytes.
- ``load_yaml(text, name)`` (``compose_yaml``: the node graph, with line numbers): PyYAML's safe
  loader, plus: duplicate keys are an error; aliases are allowed only while the expanded document
  stays under ``MAX_YAML_NODES`` nodes and is acyclic; nesting deeper than ``MAX_YAML_DEPTH`` is
  refused; ``1e308`` (a float in YAML 1.2, a string in 1.1) reads as a number.
- ``short(value)``: a bounded repr for messages (never expands a huge value).
- ``require_loopback(url, allow_host, flag=...)``: load goes to loopback only, unless ``--allow-host``
  names the URL's host exactly (then a one-line warning on stderr).
- ``check_out_path(out)``: an output path that can be created: not ``.`` or a parent of the current
  folder, not under /proc, /sys or /dev, not an existing file, its nearest existing parent writable.

Nothing here prints (except the one ``--allow-host`` warning) or exits; problems are ``BadInput``.
"""

from __future__ import annotations

import ipaddress
import os
import re
import reprlib
import stat
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from botcap.errors import BadInput

__all__ = ["MAX_INPUT_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_NODES", "check_out_path", "check_regular_file",
           "clip", "compose_yaml", "is_loopback_host", "load_yaml", "read_bytes", "read_text",
           "require_loopback", "short"]

MAX_INPUT_BYTES = 10 * 1024 * 1024
MAX_YAML_NODES = 100_000
MAX_YAML_DEPTH = 64
FORBIDDEN_ROOTS = ("/proc", "/sys", "/dev")


# ---------------------------------------------------------------------------------------------
# files
def check_regular_file(path: str | Path, *, what: str = "",
                       max_bytes: int = MAX_INPUT_BYTES) -> os.stat_result:
    """The file's stat if it is an existing regular file of at most ``max_bytes``; else BadInput."""
    p = Path(path)
    label = f"{what}: {p}" if what else str(p)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise BadInput(f"{label}: no such file") from None
    except (OSError, ValueError) as e:
        raise BadInput(f"{label}: cannot read ({getattr(e, 'strerror', None) or e})") from None
    if stat.S_ISDIR(st.st_mode):
        raise BadInput(f"{label}: is a directory, expected a file")
    if not stat.S_ISREG(st.st_mode):
        raise BadInput(f"{label}: not a regular file (a device, FIFO or socket)")
    if st.st_size > max_bytes:
        raise BadInput(f"{label}: too large ({st.st_size} bytes; at most {max_bytes})")
    return st


def read_bytes(path: str | Path, *, what: str = "", max_bytes: int = MAX_INPUT_BYTES) -> bytes:
    """A regular file's bytes, never more than ``max_bytes`` (a file that grows is cut off: refused)."""
    p = Path(path)
    label = f"{what}: {p}" if what else str(p)
    check_regular_file(p, what=what, max_bytes=max_bytes)
    try:
        with open(p, "rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as e:
        raise BadInput(f"{label}: cannot read ({e.strerror or e})") from None
    if len(raw) > max_bytes:
        raise BadInput(f"{label}: too large (more than {max_bytes} bytes)")
    return raw


def read_text(path: str | Path, *, what: str = "", max_bytes: int = MAX_INPUT_BYTES) -> str:
    """A regular file's UTF-8 text (BadInput for binary content, wrong encoding, size, kind)."""
    raw = read_bytes(path, what=what, max_bytes=max_bytes)
    label = f"{what}: {path}" if what else str(path)
    if b"\x00" in raw:
        raise BadInput(f"{label}: not a text file (binary content)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"{label}: not a text file (not UTF-8)") from None


# ---------------------------------------------------------------------------------------------
# YAML
_MERGE_TAG = "tag:yaml.org,2002:merge"


MAX_NUMBER_CHARS = 100
_BASE_LOADER = yaml.CSafeLoader if getattr(yaml, "__with_libyaml__", False) else yaml.SafeLoader


class _Loader(_BASE_LOADER):
    """The safe loader (libyaml's parser when installed: 10 MiB parse in about a second) that refuses
    duplicate keys and reads YAML 1.2 floats such as ``1e308``."""

    def resolve(self, kind, value, implicit):
        # a plain scalar this long is text, not a number: YAML 1.1's base-60 ints ("1:2:3:...") and
        # million-digit ints would take quadratic time to convert
        if kind is yaml.ScalarNode and implicit[0] and len(value) > MAX_NUMBER_CHARS:
            return "tag:yaml.org,2002:str"
        return super().resolve(kind, value, implicit)

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"a mapping key must be a plain value (got {short(key)})",
                        key_node.start_mark) from None
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {short(key)} (first at line {first})",
                        key_node.start_mark)
                seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 needs a dot in a float ("1.0e308"); YAML 1.2 (and every user) reads 1e308 as a number.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"))


def _check_graph(root: yaml.Node, name: str) -> None:
    """Refuse cyclic aliases, nesting deeper than MAX_YAML_DEPTH and expansions beyond MAX_YAML_NODES.

    Iterative (no recursion) and memoised per node, so a billion-laughs document costs a few
    thousand steps to refuse, not its expansion.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if done:
            on_path.discard(key)
            size[key] = 1 + sum(size[id(c)] for c in children)
            depth[key] = 1 + max((depth[id(c)] for c in children), default=0)
            if size[key] > MAX_YAML_NODES:
                raise BadInput(f"{name}:{node.start_mark.line + 1}: too large once its aliases are expanded "
                               f"(more than {MAX_YAML_NODES} values)")
            if depth[key] > MAX_YAML_DEPTH:
                raise BadInput(f"{name}:{node.start_mark.line + 1}: nested too deeply "
                               f"(more than {MAX_YAML_DEPTH} levels)")
            continue
        if key in size:
            continue
        if key in on_path:
            raise BadInput(f"{name}:{node.start_mark.line + 1}: a YAML alias refers to itself (cyclic)")
        on_path.add(key)
        stack.append((node, True))
        for c in children:
            if id(c) in on_path:
                raise BadInput(f"{name}:{c.start_mark.line + 1}: a YAML alias refers to itself (cyclic)")
            if id(c) not in size:
                stack.append((c, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def compose_yaml(text: str, name: str) -> yaml.Node | None:
    """The YAML node graph (line numbers kept), checked for cycles, depth and expanded size."""
    return _parse(text, name, construct=False)


def load_yaml(text: str, name: str) -> Any:
    """Parse YAML text safely (see the module docstring); BadInput ``name:line:col: problem``."""
    return _parse(text, name, construct=True)


def _parse(text: str, name: str, *, construct: bool) -> Any:
    loader = None
    try:
        loader = _Loader(text)  # the reader already refuses characters YAML does not allow
        root = loader.get_single_node()
        if root is None:
            return None
        _check_graph(root, name)
        return loader.construct_document(root) if construct else root
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = e.problem or e.context or "cannot be parsed"
        raise BadInput(f"{name}{where}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as e:
        first = (str(e).splitlines() or [type(e).__name__])[0]
        raise BadInput(f"{name}: YAML syntax error: {short(first, 120)}") from None
    except RecursionError:
        raise BadInput(f"{name}: nested too deeply (more than {MAX_YAML_DEPTH} levels)") from None
    except (ValueError, OverflowError, TypeError) as e:
        raise BadInput(f"{name}: YAML cannot be read ({type(e).__name__}: {short(str(e))})") from None
    finally:
        if loader is not None:
            loader.dispose()


# ---------------------------------------------------------------------------------------------
# messages
_repr = reprlib.Repr()
_repr.maxlevel, _repr.maxdict, _repr.maxlist, _repr.maxtuple, _repr.maxset = 2, 4, 4, 4, 4
_repr.maxstring, _repr.maxother, _repr.maxlong = 50, 50, 40


def clip(text: str, limit: int = 60) -> str:
    """A text (a key, a path) shown as is, cut to ``limit`` characters."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def short(value: Any, limit: int = 60) -> str:
    """A repr of ``value`` cut to ``limit`` characters, built without expanding a large value."""
    try:
        text = _repr.repr(value)
    except Exception:  # a value whose repr fails must not hide the message about it
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# ---------------------------------------------------------------------------------------------
# network targets
def is_loopback_host(host: str | None) -> bool:
    """True for ``localhost`` and loopback addresses: 127.0.0.0/8, ::1 (``[::1]``, a zone id allowed) and
    IPv4-mapped ``::ffff:127.x.x.x``. No name is resolved (``127.0.0.1.evil.example`` is not loopback).

    The one loopback test of botcap: the fakes, the staging bot and the stack use it too
    (``botcap.loadtest.net`` re-exports it).
    """
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        ip = ipaddress.ip_address(host.strip("[]").split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def require_loopback(url: str, allow_host: str | None = None, *, flag: str = "--target") -> str:
    """The URL's host, if ``url`` is http(s) to a loopback address or exactly ``allow_host``.

    No name is resolved: ``localhost`` and literal loopback addresses (127.0.0.0/8, ::1) pass; any
    other host needs ``--allow-host HOST`` naming it exactly, and then a warning line goes to stderr.
    """
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as e:
        raise BadInput(f"{flag}: not a valid URL ({short(url)}: {e})") from None
    if parts.scheme not in ("http", "https"):
        raise BadInput(f"{flag}: must be an http:// or https:// URL (got {short(url)})")
    if not host:
        raise BadInput(f"{flag}: the URL has no host (got {short(url)})")
    if is_loopback_host(host):
        return host
    if allow_host is not None and host.lower() == allow_host.strip().lower().strip("[]"):
        sys.stderr.write(f"warning: {flag}: load goes to {host}, off this machine (--allow-host)\n")
        return host
    raise BadInput(f"{flag}: {host} is not a loopback address (127.0.0.1, ::1, localhost); load is sent "
                   f"off this machine only with --allow-host {host}")


# ---------------------------------------------------------------------------------------------
# output paths
def check_out_path(out: str | Path, *, flag: str = "--out") -> Path:
    """The absolute output path, if botcap may create (or fill) it; else BadInput naming ``flag``.

    Only the path itself is judged here; whether an existing folder may be replaced is
    ``botcap.outdir``'s question (its marker file).
    """
    text = str(out)
    if not text.strip() or "\x00" in text:
        raise BadInput(f"{flag}: must be a folder path (got {short(text)})")
    p = Path(os.path.abspath(text))
    try:
        real = p.resolve()
        cwd = Path.cwd().resolve()
        return _judge_out_path(p, real, cwd, text, flag)
    except (OSError, RuntimeError) as e:   # a loop of links, a folder that cannot be looked into
        raise BadInput(f"{flag}: cannot use {short(text)} ({getattr(e, 'strerror', None) or e})") from None


def _judge_out_path(p: Path, real: Path, cwd: Path, text: str, flag: str) -> Path:
    if p.is_symlink() and not real.exists():
        raise BadInput(f"{flag}: {short(text)} is a link to nothing (a dangling symlink); not replaced")
    if real == cwd or real in cwd.parents:
        raise BadInput(f"{flag}: must not be the current folder or one of its parents (got {short(text)})")
    for root in FORBIDDEN_ROOTS:
        if real == Path(root) or Path(root) in real.parents:
            raise BadInput(f"{flag}: must not be under {root} (got {short(text)})")
    if real.exists() and not real.is_dir():
        raise BadInput(f"{flag}: must be a directory or a new path (got {short(text)}, an existing file)")
    for parent in (real.parent, *real.parent.parents):
        if parent.exists():
            if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
                raise BadInput(f"{flag}: cannot create a folder under {str(parent)!r} "
                               "(not a writable directory)")
            break
    if real.exists() and not os.access(real, os.W_OK | os.X_OK):
        raise BadInput(f"{flag}: {short(text)} is not writable")
    return p
