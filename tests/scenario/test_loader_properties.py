"""Property tests: no input crashes the loader; it either returns a Scenario or raises BadInput."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from botcap.errors import BadInput
from botcap.scenario import Scenario, load_scenario

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# YAML-ish values: scalars of every type YAML produces, nested a little.
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["10:00", "poisson", "webhook", "lognormal"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=8)
# Paths that exist in the schema, and some that do not.
paths = st.sampled_from([
    "seed", "horizon.hours", "horizon.start", "workload.dau", "workload.mix.command", "workload.mix",
    "workload.kinds.command.service_s", "workload.kinds.command.service_s.cv", "workload.kinds.x.model",
    "workload.arrivals.process", "workload.digests.preferred_times", "platform.instances", "platform.db",
    "platform.db.pooler", "platform.claude.rate_limits.rpm", "platform.claude.faults.outages",
    "scheduler.cap_per_slot", "slo.p95_s.command", "nope", "platform.nope.deeper", "costs",
])


def _outcome(**kw):
    try:
        return load_scenario(**kw)
    except BadInput as e:
        assert e.lines and all(isinstance(line, str) and line and "\n" not in line for line in e.lines)
        return e


@SETTINGS
@given(st.binary(max_size=300))
def test_any_bytes_as_a_file(tmp_path_factory, raw):
    f = tmp_path_factory.mktemp("p") / "s.yaml"
    f.write_bytes(raw)
    assert isinstance(_outcome(path=f), Scenario | BadInput)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_as_a_file(tmp_path_factory, text):
    f = tmp_path_factory.mktemp("p") / "s.yaml"
    f.write_text(text, encoding="utf-8")
    assert isinstance(_outcome(path=f), Scenario | BadInput)


@SETTINGS
@given(st.lists(st.tuples(paths, values), max_size=3))
def test_any_set_assignments(pairs):
    sets = [f"{p}={yaml.safe_dump(v, default_flow_style=True).strip()}" for p, v in pairs]
    assert isinstance(_outcome(sets=sets), Scenario | BadInput)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["name", "seed", "horizon", "workload", "platform", "scheduler",
                                        "slo", "costs", "extra"]), values, max_size=4))
def test_any_document_shape(doc):
    assert isinstance(_outcome(data=doc), Scenario | BadInput)
