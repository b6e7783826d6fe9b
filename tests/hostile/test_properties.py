"""Property tests: arbitrary input gives exit 0 or 2 (1 for a judged bundle), never a traceback or a
hang, and nothing is written outside the output folder.

Inputs are drawn both as raw text (anything at all) and as YAML/JSON built from the shapes the
readers expect, so that examples get past the parser and into the schema checks.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from botcap.loadtest.harness.gate import evaluate, parse_gates
from botcap.loadtest.harness.validate import validate_bundle
from hostile_helpers import Cli, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botcap.errors import BadInput, IncompleteBundle
from botcap.outdir import atomic_dir

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))

scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30), st.floats(),
                    st.text(max_size=10), st.sampled_from(["1e308", ".inf", "10:00", "&a x", "*a", "true"]))
yamlish = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
sections = st.sampled_from(["horizon", "workload", "platform", "scheduler", "slo", "costs", "seed", "name",
                            "faults", "calibration"])
keys = st.sampled_from(["instances", "hours", "warmup_s", "dau", "mode", "timeout_s", "mix", "claude",
                        "db", "p95_s", "tiers", "start", "rate_per_s"])
scenario_like = st.dictionaries(sections, st.one_of(yamlish, st.dictionaries(keys, yamlish, max_size=4)),
                                max_size=4)


def _text_of(doc) -> str:
    try:
        return yaml.safe_dump(doc, allow_unicode=True)
    except (yaml.YAMLError, ValueError):
        return "x: 1\n"


@SETTINGS
@given(text=st.one_of(st.text(max_size=300), scenario_like.map(_text_of)))
def test_any_scenario_file_is_exit_0_or_2(capsys, tmp_path_factory, text):
    folder = tmp_path_factory.mktemp("s")
    f = folder / "s.yaml"
    if _encodable(text):
        f.write_text(text, encoding="utf-8")
    else:
        f.write_bytes(b"\xff")
    before = snapshot(folder)
    r = Cli(capsys).run("scenario", "validate", f)
    assert r.code in (0, 2) and "Traceback" not in r.err
    if r.code == 2:
        assert r.lines and all(len(line) < 400 for line in r.lines)
    assert snapshot(folder) == before


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


set_paths = st.one_of(st.text(max_size=30), st.lists(keys | sections, min_size=1, max_size=4).map(".".join))


@SETTINGS
@given(path=set_paths, value=st.one_of(st.text(max_size=60), yamlish.map(lambda v: json.dumps(v)[:200])))
def test_any_set_is_exit_0_or_2(capsys, path, value):
    if "\x00" in path + value:
        return  # an argv cannot hold NUL
    r = Cli(capsys).run("scenario", "validate", "--set", f"{path}={value}")
    assert r.code in (0, 2) and "Traceback" not in r.err
    if r.code == 2:
        assert r.lines and all(len(line) < 400 for line in r.lines)


metric = st.sampled_from(["p95_s", "error_rate", "throughput_per_s", "dropped_rate", "failed", "p9", "x"])
threshold = st.builds(lambda m, k, op, rhs: f"{m}{k} {op} {rhs}", metric,
                      st.sampled_from(["", "{kind=command}", "{kind=}", "{kind=a b}"]),
                      st.sampled_from(["<", "<=", ">", ">=", "==", "=", "~"]),
                      st.one_of(st.floats().map(repr), st.sampled_from(["baseline", "0.9 * baseline",
                                                                        "baseline - 1", "1e999", "x"])))
gates_doc = st.one_of(st.text(max_size=200),
                      st.lists(st.one_of(threshold, yamlish), max_size=4).map(
                          lambda items: _text_of({"thresholds": items})),
                      yamlish.map(_text_of))


@SETTINGS
@given(text=gates_doc)
def test_any_gates_text_parses_or_is_bad_input(text):
    try:
        thresholds = parse_gates(text, "g.yaml")
    except BadInput as e:
        assert e.lines and all(line.startswith("g.yaml") and len(line) < 400 for line in e.lines)
    else:
        assert thresholds and all(math.isfinite(t.factor) for t in thresholds if t.factor is not None)


json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-5, 10**6),
                                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5)),
                           lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
run_keys = st.sampled_from(["complete", "duration_s", "counts", "levels", "reason", "claude_time_scale",
                            "rate_per_s", "scenario"])
count_maps = st.dictionaries(st.sampled_from(["requests", "dropped", "ok", "failed"]),
                             st.one_of(st.integers(-2, 30), json_values), max_size=4)
columns = {
    "kind": st.sampled_from([["command"] * 3, ["a", None, "b"], [1, 2, 3], ["", "x", "y"]]),
    "sent_at": st.sampled_from([[1.0, 2.0, 3.0], [np.inf, 1.0, 2.0], ["a", "b", "c"]]),
    "latency_s": st.sampled_from([[0.1, 0.2, np.nan], [-1.0, 0.1, 0.2], [np.inf, 0.1, 0.2], [0.1, 0.2, 0.3]]),
    "ok": st.sampled_from([[True, True, False], ["True", "False", "True"], [1, 0, 1], [True, True, True]]),
    "level": st.sampled_from([[0, 0, 1], [-1, 0, 0], [np.nan, 0.0, 1.0]]),
}


run_docs = st.fixed_dictionaries(
    {"complete": st.sampled_from([True, False, "true", None, 1])},
    optional={"duration_s": st.one_of(st.floats(-1, 100), json_values),
              "counts": st.one_of(count_maps, json_values), "levels": json_values})
run_docs = st.one_of(run_docs, st.tuples(run_docs, st.dictionaries(run_keys, json_values, max_size=2)).map(
    lambda pair: {**pair[0], **pair[1]}))


@SETTINGS
@given(run=run_docs,
       present=st.lists(st.sampled_from(sorted(columns)), unique=True), data=st.data())
def test_any_bundle_is_valid_bad_or_incomplete(tmp_path_factory, run, present, data):
    folder = tmp_path_factory.mktemp("b")
    (folder / "run.json").write_text(json.dumps(run))
    frame = pd.DataFrame({c: data.draw(columns[c]) for c in present})
    frame.to_parquet(folder / "requests.parquet", index=False)
    before = snapshot(folder)
    try:
        info = validate_bundle(folder)
    except (BadInput, IncompleteBundle) as e:
        assert e.lines and all(len(line) < 400 for line in e.lines)
    else:   # accepted: every number the gate reads from it is usable
        assert info.complete and len(info.requests) and info.duration_s > 0
        result = evaluate(parse_gates("thresholds: ['p95_s < 10', 'error_rate < 1', 'dropped_rate < 1']"),
                          folder)
        assert all(isinstance(r["verdict"], str) for r in result["results"])
    assert snapshot(folder) == before


@SETTINGS
@given(name=st.text(st.characters(codec="utf-8", exclude_characters="\x00/"), min_size=1, max_size=20),
       sub=st.sampled_from(["", "a/", "a/b/", "../", "./"]))
def test_atomic_dir_never_writes_outside_out(tmp_path_factory, name, sub):
    root = tmp_path_factory.mktemp("o")
    cwd = root / "cwd"
    cwd.mkdir()
    (root / "keep.txt").write_text("keep")
    old = os.getcwd()
    os.chdir(cwd)
    try:
        out = Path(sub + name)
        try:
            with atomic_dir(out) as tmp:
                (tmp / "r.txt").write_text("r")
        except (BadInput, OSError):
            assert (root / "keep.txt").read_text() == "keep"
            return
        final = out.resolve()
        changed = {p for p in root.rglob("*") if p.is_file()} - {root / "keep.txt"}
        assert changed == {final / "r.txt", final / ".botcap-out.json"}
    finally:
        os.chdir(old)
