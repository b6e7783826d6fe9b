"""Hostile scenario files and --set values: exit 2, one line naming the key, no traceback, no hang."""

from __future__ import annotations

from pathlib import Path

import pytest
from hostile_helpers import BILLION_LAUGHS, make_fifo, snapshot

# (file content, words the one error line must contain)
BAD_FILES = {
    "billion_laughs": (BILLION_LAUGHS, ("too large once its aliases are expanded",)),
    "recursive_alias": ("loop: &a [*a]\n", ("alias refers to itself",)),
    "recursive_alias_in_mapping": ("platform: &p {x: *p}\n", ("alias refers to itself",)),
    "duplicate_top_key": ("platform: {instances: 2}\nplatform: {instances: 3}\n",
                          ("duplicate key 'platform'", ":2:")),
    "duplicate_nested_key": ("platform:\n  instances: 2\n  instances: 3\n", ("duplicate key 'instances'",)),
    "deep_nesting": ("x: " + "[" * 5000 + "]" * 5000 + "\n", ("nest",)),   # libyaml: "maximum nesting depth"
    "deep_but_parseable": ("x: " + "[" * 80 + "]" * 80 + "\n", ("nested too deeply",)),
    "unhashable_key": ("? [a, b]\n: 1\n", ("mapping key must be a plain value",)),
    "yaml_syntax": ("platform: [1, 2\n", ("YAML syntax error",)),
    "control_character": ("name: \x07bell\n", ("YAML syntax error",)),
    "empty": ("", ("empty scenario",)),
    "only_comment": ("# nothing\n", ("empty scenario",)),
    "top_level_list": ("- a\n- b\n", ("must be a YAML mapping",)),
    "top_level_scalar": ("1e308\n", ("must be a YAML mapping (got float)",)),
    "unknown_section": ("platfrom: {instances: 2}\n", ("platfrom", "unknown key")),
    "instances_bool": ("platform: {instances: true}\n", ("platform.instances", "not true/false")),
    "instances_false": ("platform: {instances: false}\n", ("platform.instances", "not true/false")),
    "timeout_inf": ("platform: {claude: {timeout_s: .inf}}\n", ("platform.claude.timeout_s", "finite")),
    "timeout_nan": ("platform: {claude: {timeout_s: .nan}}\n", ("platform.claude.timeout_s", "finite")),
    "instances_1e308": ("platform: {instances: 1e308}\n", ("platform.instances", "whole number")),
    "dau_huge_float": ("workload: {dau: 1e308}\n", ("workload.dau",)),
    "negative_instances": ("platform: {instances: -3}\n", ("platform.instances", ">= 1")),
    "hours_negative_inf": ("horizon: {hours: -.inf}\n", ("horizon.hours",)),
    "horizon_inside_warmup": ("horizon: {hours: 0.1, warmup_s: 600}\n",
                              ("horizon.warmup_s", "must be shorter than hours")),
    "horizon_equal_warmup": ("horizon: {hours: 1, warmup_s: 3600}\n", ("horizon.warmup_s",)),
    "slo_bool": ("slo: {p95_s: {command: true}}\n", ("slo.p95_s", "not true/false")),
    "section_is_number": ("platform: 1e308\n", ("platform", "must be a mapping")),
    "million_digit_int": ("platform: {instances: " + "1" * 1_000_000 + "}\n", ("platform.instances", "...")),
    "base60_bomb": ("platform: {instances: " + "1:" * 500_000 + "1}\n", ("platform.instances", "...")),
    "huge_string_value": ("platform: {mode: '" + "w" * 200_000 + "'}\n", ("platform.mode", "...")),
    "huge_key": ("platform:\n  " + "k" * 1000 + ": 1\n", ("platform.kkk", "...")),
    "huge_key_over_yaml_limit": ("platform: {" + "k" * 100_000 + ": 1}\n", ("YAML syntax error",)),
    "price_stars_overflow": ("costs: {tiers: {free: {share: 1, price_stars: 1e308}}}\n",
                             ("price_stars", "<=")),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_scenario_file(cli, tmp_path: Path, case: str):
    text, words = BAD_FILES[case]
    f = tmp_path / "s.yaml"
    f.write_text(text, encoding="utf-8")
    before = snapshot(tmp_path)
    cli.bad("scenario", "validate", f, names=words)
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind, words", [
    ("dev_zero", ("/dev/zero", "not a regular file")),
    ("fifo", ("fifo", "not a regular file")),
    ("directory", ("is a directory",)),
    ("missing", ("no such file",)),
    ("binary", ("binary content",)),
    ("latin1", ("not UTF-8",)),
    ("too_large", ("too large",)),
])
def test_unusable_scenario_file(cli, tmp_path: Path, kind: str, words):
    target = {"dev_zero": lambda: Path("/dev/zero"), "fifo": lambda: make_fifo(tmp_path / "fifo"),
              "directory": lambda: tmp_path, "missing": lambda: tmp_path / "nope.yaml"}.get(kind)
    if target is not None:
        path = target()
    else:
        path = tmp_path / "s.yaml"
        if kind == "binary":
            path.write_bytes(b"platform:\x00\x01\x02")
        elif kind == "latin1":
            path.write_bytes("name: caf\xe9\n".encode("latin-1"))
        else:
            with open(path, "wb") as f:
                f.truncate(11 * 1024 * 1024)   # sparse: no 11 MB written, and none read
    cli.bad("scenario", "validate", path, names=words)


def test_scenario_for_gates_file_on_a_fifo_does_not_hang(cli, tmp_path: Path):
    cli.bad("gate", make_fifo(tmp_path / "g"), tmp_path, names=("not a regular file",))


BAD_SETS = {
    "bool_for_int": ("platform.instances=true", ("platform.instances", "not true/false")),
    "inf_timeout": ("platform.claude.timeout_s=.inf", ("platform.claude.timeout_s", "finite")),
    "nan_share": ("slo.max_error_rate=.nan", ("slo.max_error_rate", "finite")),
    "1e308_is_a_number": ("platform.instances=1e308", ("platform.instances", "whole number (got 1e+308)")),
    "1e999_int": ("seed=1e999", ("seed",)),
    "negative": ("platform.instances=-1", ("platform.instances", ">= 1")),
    "unknown_key": ("platform.instancez=3", ("--set platform.instancez", "unknown key 'instancez'")),
    "unknown_top": ("nope=1", ("--set nope", "unknown key")),
    "empty_part": ("platform..instances=3", ("--set platform..instances", "empty part")),
    "empty_path": ("=3", ("--set", "empty part")),
    "no_equals": ("platform.instances", ("--set platform.instances", "expected dotted.path=value")),
    "invalid_yaml": ("platform.instances=[1, 2", ("--set platform.instances", "YAML syntax error")),
    "duplicate_key_in_value": ("platform.db={pool_size_per_instance: 1, pool_size_per_instance: 2}",
                               ("--set platform.db", "duplicate key")),
    "recursive_alias_value": ("platform=&a [*a]", ("--set platform", "alias refers to itself")),
    "billion_laughs_value": ("platform={" + BILLION_LAUGHS.replace("\n", ", ").rstrip(", ") + "}",
                             ("--set platform", "too large")),
    "list_for_section": ("platform=[1, 2]", ("platform", "must be a mapping")),
    "mapping_for_int": ("platform.instances={a: 1}", ("platform.instances",)),
    "bad_literal": ("platform.mode=ftp", ("platform.mode", "webhook")),
    "horizon_shorter_than_warmup": ("horizon.hours=0.01", ("horizon.warmup_s",)),
    "huge_value_truncated": ("platform.mode=" + "x" * 1_000_000, ("platform.mode", "...")),
    "huge_key_truncated": ("platform." + "k" * 100_000 + "=1", ("--set platform.", "...")),
    "negative_mix": ("workload.mix.command=-0.5", ("workload.mix",)),
    "price_stars_inf": ("costs.tiers.free.price_stars=.inf", ("costs.tiers.free.price_stars", "finite")),
    "price_stars_1e308": ("costs.tiers.free.price_stars=1e308", ("costs.tiers.free.price_stars", "<=")),
    "path_50000_levels_deep": ("costs.tiers.free.actions_per_user_day." + ".".join(["a"] * 50_000) + "=1",
                               ("--set costs.tiers.free", "levels deep")),
    "newline_in_value": ("platform.mode=a\nb", ("platform.mode",)),
}


@pytest.mark.parametrize("case", sorted(BAD_SETS))
def test_bad_set_value(cli, case: str):
    assignment, words = BAD_SETS[case]
    cli.bad("scenario", "validate", "--set", assignment, names=words)


def test_yaml_12_floats_and_good_sets_still_work(cli):
    r = cli.run("scenario", "validate", "--set", "workload.arrivals.rate_per_s=1e2",
                "--set", "horizon.warmup_s=3e2", "--json")
    assert r.code == 0, r.err
    assert '"valid": true' in r.out


def test_harmless_aliases_are_allowed(cli, tmp_path: Path):
    f = tmp_path / "s.yaml"
    f.write_text("x-limits: &lim {timeout_s: 30}\nplatform:\n  claude: *lim\n")
    r = cli.run("scenario", "validate", f)
    assert r.code == 2 and "x-limits" in r.err   # the anchor key itself is unknown, the alias is fine
    f.write_text("platform:\n  claude: &c {timeout_s: 30}\n")
    assert cli.run("scenario", "validate", f).code == 0


@pytest.mark.parametrize("value, words", [
    ("{dist: exponential, mean: .inf}", ("service_s.mean", "finite")),
    ("{dist: lognormal, mean: 1, cv: .nan}", ("service_s.cv", "finite")),
    ("{dist: gamma, mean: true, cv: 1}", ("service_s.mean", "not true/false")),
    ("{dist: empirical, samples: [1, .nan]}", ("service_s.samples.1", "finite")),
    ("{dist: exponential, mean: 1, colour: red}", ("service_s.colour", "unknown key")),
    (".inf", ("service_s.mean", "finite")),
    ("{dist: zipf, mean: 1}", ("service_s", "dist must be one of")),
])
def test_bad_distribution(cli, value, words):
    cli.bad("scenario", "validate", "--set", f"workload.kinds.command.service_s={value}", names=words)
