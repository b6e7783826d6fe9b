"""The CLI's exit-code policy, run as a real process: 0 ok, 2 bad input with one line per problem."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

BOTCAP = [sys.executable, "-m", "botcap.cli"]


def botcap(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*BOTCAP, *args], capture_output=True, text=True, cwd=cwd, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})


def test_validate_default_scenario_exits_0():
    r = botcap("scenario", "validate")
    assert r.returncode == 0, r.stderr
    assert "valid" in r.stdout


def test_show_prints_the_resolved_scenario_as_yaml_with_sets_applied():
    r = botcap("scenario", "show", "--set", "platform.instances=7")
    assert r.returncode == 0, r.stderr
    doc = yaml.safe_load(r.stdout)
    assert doc["platform"]["instances"] == 7
    assert doc["platform"]["db"]["max_connections"] == 100  # defaults filled in


def test_validate_json_is_one_parseable_object():
    r = botcap("scenario", "validate", "--json")
    assert r.returncode == 0
    assert json.loads(r.stdout)["scenario"]["name"] == "aist-10k-dau"


def test_bad_value_exits_2_with_one_line_and_nothing_on_stdout():
    r = botcap("scenario", "validate", "--set", "platform.instances=0")
    assert r.returncode == 2
    assert r.stdout == ""
    assert r.stderr.strip() == "platform.instances: must be >= 1 (got 0)"
    assert "Traceback" not in r.stderr


def test_missing_file_exits_2(tmp_path):
    r = botcap("scenario", "show", str(tmp_path / "nope.yaml"))
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.strip().endswith("nope.yaml: no such file")


def test_unknown_command_or_option_exits_2():
    assert botcap("scenario", "frobnicate").returncode == 2
    assert botcap("scenario", "show", "--no-such-option").returncode == 2
