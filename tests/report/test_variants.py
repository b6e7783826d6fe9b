"""The one variants -> summaries function: through the sweep engine, reused from its cache, probes kept."""

from __future__ import annotations

import pytest

from botcap.report import variants as V
from botcap.report.sections_arch import burst_probe
from botcap.scenario import load_scenario

SMALL = load_scenario(sets=["workload.dau=300", "platform.instances=1"])
WINDOW = V.Window(start="09:50", hours=0.25, replications=2)


@pytest.fixture(autouse=True)
def fresh_memo(monkeypatch):
    monkeypatch.setattr(V, "_MEMO", {})


def test_summaries_come_from_the_sweep_and_a_rebuild_reuses_its_cache(tmp_path, monkeypatch):
    import botcap.sim.sweep as sweep

    variants = [[], ["platform.instances=2"]]
    first = V.summaries(SMALL, variants, WINDOW, cache_dir=tmp_path)
    assert [s["replications"] for s in first] == [2, 2]
    assert all(s["requests"]["completed"] > 0 for s in first)
    assert all(isinstance(s["slo"]["met"], bool) and "violations" in s["slo"] for s in first)

    monkeypatch.setattr(V, "_MEMO", {})  # a new process: only the cache on disk remains

    def no_simulation(*args, **kwargs):
        raise AssertionError("a cached variant was simulated again")

    monkeypatch.setattr(sweep, "evaluate", no_simulation)
    again = V.summaries(SMALL, variants, WINDOW, cache_dir=tmp_path)
    assert again == first


def test_probed_variants_are_kept_for_the_next_build(tmp_path, monkeypatch):
    (first,) = V.summaries(SMALL, [[]], WINDOW, cache_dir=tmp_path, probe=burst_probe)
    assert len(first["probe"]["minutes"]) == 40
    monkeypatch.setattr(V, "_MEMO", {})
    monkeypatch.setattr(V, "_run_one", lambda *a: pytest.fail("a cached probe was simulated again"))
    (again,) = V.summaries(SMALL, [[]], WINDOW, cache_dir=tmp_path, probe=burst_probe)
    assert again["probe"] == first["probe"]


def test_merged_verdict_is_met_only_when_every_replication_is():
    v_ok = {"met": True, "violations": []}
    v_bad = {
        "met": False,
        "violations": [{"what": "error_rate", "value": 0.2, "limit": 0.01, "text": "e 0.2"}],
    }
    v_worse = {
        "met": False,
        "violations": [{"what": "error_rate", "value": 0.5, "limit": 0.01, "text": "e 0.5"}],
    }
    assert V._merge_verdicts([v_ok, v_ok])["met"] is True
    merged = V._merge_verdicts([v_ok, v_bad, v_worse])
    assert merged["met"] is False and [v["text"] for v in merged["violations"]] == ["e 0.5"]
    assert V._merge_verdicts([])["met"] is False  # no evidence is no pass


def test_point_of_reads_values_as_set_does():
    assert V.point_of(["platform.instances=3", "scheduler.cap_per_slot=null", "platform.mode=polling"]) == {
        "platform.instances": 3,
        "scheduler.cap_per_slot": None,
        "platform.mode": "polling",
    }
