"""The scenario loader: defaults, merging, --set, and one-line errors for bad input."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from botcap.errors import BadInput
from botcap.scenario import load_scenario


def errors_of(**kw) -> list[str]:
    with pytest.raises(BadInput) as exc:
        load_scenario(**kw)
    return exc.value.lines


def test_default_scenario_is_the_seed_platform_at_10k_dau():
    s = load_scenario()
    assert s.workload.dau == 10_000
    assert (s.platform.mode, s.platform.instances) == ("webhook", 5)
    assert (s.platform.db.pool_size_per_instance, s.platform.db.max_connections) == (50, 100)
    assert s.platform.claude.concurrency_per_instance == 10
    assert s.platform.claude.rate_limits.rpm == 4000  # Anthropic Tier 4
    assert s.scheduler.cap_per_slot is None and s.scheduler.policy == "none"  # slots off
    assert s.workload.digests.preferred_times["10:00"] == 0.5


def test_scenario_is_frozen():
    s = load_scenario()
    with pytest.raises(ValidationError):
        s.platform.instances = 7  # type: ignore[misc]


def test_partial_file_merges_over_default_and_replaces_user_keyed_maps(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("platform:\n  instances: 8\nworkload:\n  mix: {work: 1.0}\n  kinds:\n"
                 "    work: {service_s: {dist: exponential, mean: 0.1}}\n"
                 "slo: {p95_s: {work: 1.0}}\n")
    s = load_scenario(f)
    assert s.platform.instances == 8
    assert s.platform.db.max_connections == 100  # untouched sections keep their defaults
    assert list(s.workload.kinds) == ["work"]  # a user-keyed map is replaced, not merged


def test_set_overrides_any_key_with_yaml_types_and_null():
    s = load_scenario(sets=["platform.db.pooler=pgbouncer", "scheduler.cap_per_slot=40",
                            "workload.kinds.command.service_s={dist: gamma, mean: 0.01, cv: 2}",
                            "scheduler.cap_per_slot=null"])
    assert s.platform.db.pooler == "pgbouncer"
    assert s.scheduler.cap_per_slot is None
    assert s.workload.kinds["command"].service_s.dist == "gamma"


def test_unquoted_time_of_day_is_read_as_a_time(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("horizon: {start: 10:00}\n")  # YAML 1.1 reads this as the integer 600
    assert load_scenario(f).horizon.start == "10:00"


@pytest.mark.parametrize("assignment, expected", [
    ("platform.instances=0", "platform.instances: must be >= 1 (got 0)"),
    ("platform.instances=1001", "platform.instances: must be <= 1000 (got 1001)"),
    ("workload.dau=abc", "workload.dau: must be a whole number (got 'abc')"),
    ("platform.mode=kafka", "platform.mode: must be one of 'polling' or 'webhook' (got 'kafka')"),
    ("workload.mix.command=0.5", "workload.mix: must sum to 1 within 1e-6 (got 1.05)"),
    ("workload.kinds.command.service_s.mean=-1",
     "workload.kinds.command.service_s.mean: must be > 0.0 (got -1)"),
    ("workload.digests.spread_share=1.5", "workload.digests.spread_share: must be <= 1.0 (got 1.5)"),
    ("horizon.hours=745", "horizon.hours: must be <= 744.0 (got 745)"),
    ("workload.kinds.chat_simple.model=opus",
     "workload.kinds.chat_simple.model: must be one of haiku, sonnet (got 'opus')"),
])
def test_bad_values_name_path_value_and_what_is_allowed(assignment, expected):
    assert errors_of(sets=[assignment]) == [expected]


def test_unknown_set_path_lists_valid_keys_at_that_level():
    (line,) = errors_of(sets=["platform.db.max_conn=5"])
    assert "unknown key 'max_conn' at platform.db" in line
    assert "max_connections" in line and "pool_size_per_instance" in line


def test_unknown_key_in_file_lists_allowed_keys(tmp_path):
    f = tmp_path / "s.yaml"
    f.write_text("platform:\n  db:\n    max_conections: 5\n")
    (line,) = errors_of(path=f)
    assert line.startswith("platform.db.max_conections: unknown key; allowed: pool_size_per_instance")


@pytest.mark.parametrize("content, fragment", [
    (None, "no such file"),
    (b"", "empty scenario"),
    (b"\x00\x01\x02binary", "not a text file"),
    (b"\xff\xfe\xfa", "not a text file"),
    (b"platform: [unclosed\n", "YAML syntax error"),
    (b"- a\n- b\n", "must be a YAML mapping"),
])
def test_unusable_files_are_one_line_errors(tmp_path, content, fragment):
    f = tmp_path / "s.yaml"
    if content is not None:
        f.write_bytes(content)
    (line,) = errors_of(path=f)
    assert fragment in line and str(f) in line


def test_several_problems_give_one_line_each():
    lines = errors_of(sets=["platform.instances=0", "platform.db.max_connections=0"])
    assert len(lines) == 2
