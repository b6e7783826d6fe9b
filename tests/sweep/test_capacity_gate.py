"""The capacity gate: `predicted_capacity_dau` and `predicted_p95_s{kind=...}` from a RunBundle.

Bundles here are synthetic (``sim.calibrate.synthetic``: what the harness writes had the bot behaved
like the model) for a platform whose event loop is its bottleneck: doubling the handler's CPU time
must halve the predicted capacity and fail the gate that the original passes, although both runs
pass a latency gate at their own (low) load.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from botcap.loadtest.harness.gate import evaluate, parse_gates
from botcap.sim.calibrate.synthetic import write_synthetic_bundle

from botcap.errors import BadInput
from botcap.scenario import load_scenario

HERE = Path(__file__).parent
LADDER = [(0.5, 40), (1.0, 40)]   # CI-like load: the doubled handler still below rho 0.5


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    root = tmp_path_factory.mktemp("gate")
    base = load_scenario(HERE / "gate_scenario.yaml")
    slow = load_scenario(HERE / "gate_scenario.yaml",
                         ["workload.kinds.command.service_s={dist: lognormal, mean: 0.4, cv: 0.3}"])
    return (write_synthetic_bundle(base, LADDER, root / "base", seed=5),
            write_synthetic_bundle(slow, LADDER, root / "slow", seed=5))


def _gate(lines: list[str], run: Path, baseline: Path | None = None) -> dict:
    text = "thresholds:\n" + "".join(f'  - "{line}"\n' for line in lines)
    return evaluate(parse_gates(text, "gates.yaml"), run, baseline)


def test_capacity_gate_fails_the_doubled_handler_time_and_passes_the_original(bundles):
    base, slow = bundles
    lines = ["p95_s{kind=command} < 3", "predicted_capacity_dau > 9000",
             "predicted_p95_s{kind=command} < 1.5"]
    ok, bad = _gate(lines, base), _gate(lines, slow)
    assert ok["passed"], ok["results"]
    rows = {r["metric"]: r for r in bad["results"]}
    assert rows["p95_s{kind=command}"]["verdict"] == "pass"          # the latency gate does not see it
    assert rows["predicted_capacity_dau"]["verdict"] == "fail"        # the capacity gate does
    assert not bad["passed"]
    c_ok = {r["metric"]: r for r in ok["results"]}["predicted_capacity_dau"]["value"]
    c_bad = rows["predicted_capacity_dau"]["value"]
    # one core at ~0.27 s per command as fitted (CPU with the stages the fit folds into it): ~3.7/s
    # at the busiest hour, 1.77 x the day's mean of 10 messages per DAU
    # twice the time per command: at most half the capacity (less still, as the p95 limit nears the
    # handler's own p95)
    assert 9_000 < c_ok < 20_000 and c_bad < 0.6 * c_ok


def test_relative_capacity_gate_against_a_baseline(bundles):
    base, slow = bundles
    line = ["predicted_capacity_dau > 0.95 * baseline"]
    assert not _gate(line, slow, baseline=base)["passed"]
    assert _gate(line, base, baseline=base)["passed"]


@pytest.mark.parametrize("line, message", [
    ("predicted_capacity_dau{kind=command} > 1", "has no per-kind value"),
    ("predicted_capacity > 1", "unknown metric 'predicted_capacity'"),
])
def test_bad_predicted_thresholds_are_named(line, message):
    with pytest.raises(BadInput, match=message):
        parse_gates(f'thresholds:\n  - "{line}"\n', "gates.yaml")


def test_the_example_capacity_gates_file_parses_and_is_relative_to_a_baseline():
    from botcap.loadtest.harness.gate import load_gates

    gates = load_gates(HERE.parents[1] / "loadtest" / "gates" / "capacity.yaml")
    assert {t.metric for t in gates} == {"predicted_capacity_dau", "predicted_p95_s"}
    assert all(t.relative for t in gates)
