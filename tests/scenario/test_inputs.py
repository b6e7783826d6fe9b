"""The input layer's own rules at their boundaries (botcap.inputs): sizes, alias expansion, depth,
YAML 1.2 numbers, bounded messages."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from botcap.errors import BadInput
from botcap.inputs import MAX_YAML_DEPTH, MAX_YAML_NODES, load_yaml, read_text, short


@pytest.mark.parametrize("text, value", [
    ("1e308", 1e308), ("-2.5E-3", -2.5e-3), ("1e5", 1e5), ("3", 3), ("1_000", 1000), ("0x10", 16),
    ("1.5", 1.5), (".inf", float("inf")), ("'1e308'", "1e308"), ("1e", "1e"), ("e5", "e5"),
    ("10:00", 600), ("true", True), ("null", None),
])
def test_scalars_read_as_yaml_12_numbers_where_yaml_11_gave_strings(text, value):
    assert load_yaml(f"x: {text}\n", "t")["x"] == value


def _fan(levels: int, width: int) -> str:
    """An alias fan-out: level i lists ``width`` aliases of level i-1 (width**levels leaves)."""
    lines = [f"l0: &l0 [{', '.join(['x'] * width)}]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def _expanded_size(levels: int, width: int) -> int:
    size = 1 + width                       # l0: the list and its scalars
    total = 1 + size                       # + the root mapping and l0's key
    for _ in range(1, levels):
        size = 1 + width * size
        total += 1 + size
    return total


def test_alias_expansion_is_bounded_exactly_at_the_limit():
    ok_levels = 1
    while _expanded_size(ok_levels + 1, 10) <= MAX_YAML_NODES:
        ok_levels += 1
    assert load_yaml(_fan(ok_levels, 10), "t")["l0"] == ["x"] * 10    # under the limit: aliases are fine
    started = time.monotonic()
    with pytest.raises(BadInput, match="too large once its aliases are expanded"):
        load_yaml(_fan(ok_levels + 1, 10), "t")
    with pytest.raises(BadInput, match="too large"):
        load_yaml(_fan(30, 10), "t")                                  # 10**30 values: refused unbuilt
    assert time.monotonic() - started < 5


def test_depth_limit():
    def nested(depth: int) -> str:   # depth counts the root mapping too
        return "x: " + "[" * (depth - 2) + "1" + "]" * (depth - 2) + "\n"
    assert load_yaml(nested(MAX_YAML_DEPTH), "t")
    with pytest.raises(BadInput, match="nested too deeply"):
        load_yaml(nested(MAX_YAML_DEPTH + 1), "t")


def test_merge_keys_may_repeat_a_key_but_explicit_duplicates_may_not():
    doc = load_yaml("base: &b {a: 1, c: 3}\nx: {<<: *b, a: 2}\n", "t")
    assert doc["x"] == {"a": 2, "c": 3}
    with pytest.raises(BadInput, match=r"t:2:\d+: YAML syntax error: duplicate key 'a' \(first at line 2\)"):
        load_yaml("base: &b {a: 1}\nx: {<<: *b, a: 2, a: 3}\n", "t")


def test_read_text_size_limit_is_exact(tmp_path: Path):
    f = tmp_path / "f.yaml"
    f.write_text("x" * 100)
    assert len(read_text(f, max_bytes=100)) == 100
    with pytest.raises(BadInput, match="too large"):
        read_text(f, max_bytes=99)


def test_short_never_expands_a_huge_value():
    shared = ["x" * 1000] * 1000
    huge = {"a": [shared] * 1000, "b": "y" * 10**6}
    started = time.monotonic()
    text = short(huge)
    assert len(text) <= 60 and time.monotonic() - started < 1
    assert "..." in short("z" * 10**6) and len(short("z" * 10**6)) <= 60


def test_a_plain_scalar_over_100_characters_is_text_and_parses_fast():
    started = time.monotonic()
    assert load_yaml("x: " + "1" * 1_000_000, "t")["x"] == "1" * 1_000_000
    assert isinstance(load_yaml("x: " + "1:" * 500_000 + "1", "t")["x"], str)   # YAML 1.1 base 60
    assert load_yaml("x: " + "1:" * 40 + "1", "t")["x"] > 60 ** 40               # short: still a number
    assert time.monotonic() - started < 5
