"""`sim optimize`: finds a planted optimum that an exhaustive simulation confirms; the pre-screen never
prunes a point the DES says meets the SLO; costs are costmodel's; garbage spaces exit 2.

The planted space is the M/M/c queue (lambda 3.2/s, exponential 1 s service) on 1 or 2 instances
of three sizes (cores = handlers = vCPU priced by costmodel); the p95 limit of 4 s is missed by
M/M/4 at rho 0.8 and by two M/M/2 at rho 0.8, met by M/M/8 and by two M/M/4 at rho 0.4, of which
costmodel prices two medium instances below one large one (RAM and vCPU per instance): the planted
optimum. The test simulates every configuration itself, through `sim run`'s path.
"""

from __future__ import annotations

import math

import pytest
import yaml
from botcap.costmodel.result import run_cost
from botcap.sim.optimize import expand, monthly_cost, optimize, scenario_for
from botcap.sim.prescreen import counted_input_tokens, demands, knobs, screen
from botcap.sim.runner import run
from botcap.sim.space import load_space
from botcap.sim.summary import summarize
from sweep_helpers import MMC

from botcap.cli import main
from botcap.errors import BadInput
from botcap.scenario import load_scenario

SIZES = {"small": 2, "medium": 4, "large": 8}
SPACE = {
    "window": {"start": "00:00", "hours": 0.5}, "replications": 1, "screen_replications": 1,
    "per_cost_level": 10, "runners_up": 0, "budget_runs": 50,
    "dimensions": {
        "platform.instances": [1, 2],
        "size": {"choices": {name: {"platform.cpu_cores_per_instance": c,
                                    "platform.handlers_per_instance": c,
                                    "costs.infra.railway.vcpu_per_instance": c}
                             for name, c in SIZES.items()}},
    },
}
SETS = ["slo.p95_s={work: 4.0}"]


@pytest.fixture()
def space_file(tmp_path):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(SPACE))
    return path


def test_optimizer_finds_the_planted_optimum_that_exhaustive_simulation_confirms(space_file, cluster):
    base = load_scenario(MMC, SETS)
    found = optimize(base, load_space(space_file), executor=cluster)
    # exhaustive: every configuration simulated through `sim run`'s own path, priced by costmodel
    truth = []
    for instances in (1, 2):
        for size, cores in SIZES.items():
            sc = load_scenario(MMC, [*SETS, f"platform.instances={instances}",
                                     f"platform.cpu_cores_per_instance={cores}",
                                     f"platform.handlers_per_instance={cores}",
                                     f"costs.infra.railway.vcpu_per_instance={cores}",
                                     "horizon.hours=0.5"])
            met = summarize(run(sc, seed=sc.seed, replications=1))["slo"]["met"]
            cost = run_cost(sc, draws=0).data["total"]["monthly_cost_usd"]
            truth.append((cost, instances, size, met))
    cheapest = min((t for t in truth if t[3]), key=lambda t: t[0])
    assert cheapest[1:3] == (2, "medium"), truth         # the planted optimum
    assert found["winner"]["config"] == {"platform.instances": 2, "size": "medium"}
    assert found["monthly_cost_usd"] == pytest.approx(cheapest[0], rel=1e-9)
    books = found["books"]
    assert books["pruned"] >= 1                          # one small instance: rho 1.6
    assert books["simulated"] < len(truth) - books["pruned"]  # stopped at the first confirmed level
    # every cheaper configuration that was simulated really misses the SLO
    for e in found["evaluated"]:
        if e["monthly_cost_usd"] < found["monthly_cost_usd"]:
            assert not e["runs"][-1]["met"]


def test_monthly_cost_is_costmodels_total_of_the_configured_scenario(space_file):
    base = load_scenario(MMC, SETS)
    per_cu = 419.0
    for cand in expand(load_space(space_file)):
        sc = scenario_for(base, cand, per_cu)
        assert monthly_cost(base, cand, per_cu)["total"] == pytest.approx(
            run_cost(sc, draws=0).data["total"]["monthly_cost_usd"], rel=1e-12)


def test_haiku_routing_lowers_claude_cost_and_keeps_the_users_kind():
    space = load_space(None)
    base = load_scenario(None, ["workload.dau=1000"])
    cands = {c.haiku_share: c for c in expand(space) if c.labels["platform.instances"] == 2}
    costs = {h: monthly_cost(base, c, 419.0)["by_component"]["claude"] for h, c in cands.items()}
    assert costs[0.0] > costs[0.5] > costs[0.95]
    sc = scenario_for(base, cands[0.5], 419.0)
    routed = [k for k in sc.workload.kinds if "_routed_to_" in k]
    assert routed == ["chat_deep_routed_to_haiku"]
    assert sc.workload.mix["chat_deep"] == pytest.approx(base.workload.mix["chat_deep"] / 2)
    assert sc.workload.kinds[routed[0]].model == "haiku"


# the pre-screen against the DES: (scenario sets, knob overrides) over a grid near the pruning edge
MMC_GRID = [(["horizon.hours=0.5", f"workload.arrivals.rate_per_s={rate}",
              f"platform.cpu_cores_per_instance={c}", f"platform.handlers_per_instance={c}"])
            for rate in (2.0, 3.3, 4.2, 5.0) for c in (2, 3, 4, 5)]
# the default at 2K DAU with chat limits Sonnet's own time can meet: the digest rush decides
DEFAULT_GRID = [(["workload.dau=2000", "horizon.start=09:30", "horizon.hours=1", f"platform.instances={n}",
                  "slo.p95_s={command: 1.0, note: 1.0, chat_simple: 10.0, chat_deep: 45.0}",
                  f"scheduler.concurrency={conc}", f"platform.claude.concurrency_per_instance={claude}"])
                for n in (1, 2) for conc, claude in ((2, 10), (20, 10), (50, 40))]
# the same with a 90% prompt cache, where the input-TPM limit decides: chat_simple's ~1,500-token prompt
# is below Haiku 4.5's 4,096-token cacheable minimum (the cache saves nothing: pruned at 8K itpm, and the
# DES fails) but above Haiku 5.5's 512 (saved: not pruned, met); the 3,000-token digests are cached, so
# the 10:00 rush drains at 100K itpm (counting the whole prompt, the screen pruned this point: the DES
# meets it)
_2K = ["workload.dau=2000", "horizon.start=09:30", "horizon.hours=1",
       "slo.p95_s={command: 1.0, note: 1.0, chat_simple: 10.0, chat_deep: 45.0}"]
_CACHED = [*_2K, "platform.claude.prompt_cache_hit_rate=0.9"]
_ITPM = "platform.claude.rate_limits={{rpm: 4000, itpm: {}, otpm: 400000}}"
CACHE_GRID = [[*_CACHED, "workload.digests.subscribers_share=0", _ITPM.format(8000),
               f"platform.claude.models.haiku.api_model=claude-haiku-{v}"] for v in ("4-5", "5-5")]
CACHE_GRID += [[*_CACHED, "platform.instances=2", "platform.claude.concurrency_per_instance=40",
                "scheduler.concurrency=50", _ITPM.format(itpm)] for itpm in (40_000, 100_000)]


@pytest.mark.parametrize("path, grid", [(MMC, MMC_GRID), (None, DEFAULT_GRID), (None, CACHE_GRID)],
                         ids=["mmc", "default-2k", "default-2k-prompt-cache"])
def test_prescreen_never_prunes_a_point_the_des_says_meets_the_slo(path, grid, cluster):
    scenarios = [load_scenario(path, sets) for sets in grid]
    verdicts = [f.result() for f in [cluster.submit(_met, sc) for sc in scenarios]]
    pruned = []
    for sc, met in zip(scenarios, verdicts, strict=True):
        s = screen(demands(sc), knobs(sc))
        if s["pruned"]:
            pruned.append(s["reasons"])
            assert not met, (sc.platform, s["reasons"])
    assert pruned and len(pruned) < len(grid)  # the grid straddles the edge: some pruned, some not
    assert any(verdicts)


def test_prescreen_counts_input_tokens_as_the_des_does_with_the_cacheable_minimum():
    # chat_simple on Haiku 4.5 (cacheable minimum 4,096 tokens) with prompts of mean 4,096, cv 0.4: about
    # half the prompt tokens are in calls long enough to cache (lognormal: Phi(s / 2), s^2 = ln 1.16)
    tokens = "{dist: lognormal, mean: 4096, cv: 0.4}"
    sc = load_scenario(None, [*_CACHED, "workload.digests.subscribers_share=0",
                              f"workload.kinds.chat_simple.input_tokens={tokens}"])
    d = demands(sc)
    rows = run(sc, replications=1).requests
    for kind, mean in (("chat_simple", 4096), ("chat_deep", 6000)):
        done = rows[(rows.kind == kind) & rows.ok]
        counted = (done.claude_input_tokens + done.claude_cache_write_tokens).sum()
        prompt = counted + done.claude_cache_read_tokens.sum()
        # the share of prompt tokens counted against itpm: the screen's expectation and the DES's draws
        # (~260 and ~180 calls: within 3%; 0.481 and 0.481 at this seed for chat_simple)
        share = d.kinds[kind]["in_tokens"] / mean
        assert share == pytest.approx(counted / prompt, rel=0.03), (kind, len(done), share)
    assert d.kinds["chat_simple"]["in_tokens"] > 4 * 0.1 * 4096     # the minimum matters: ~1,950, not 410
    assert d.kinds["chat_deep"]["in_tokens"] == pytest.approx(0.1 * 6000, rel=1e-3)  # 6,000 >> Sonnet's 512
    assert counted_input_tokens(3000.0, 0.9, "claude-haiku-4-5") == 3000.0      # constant, below: all counted
    assert counted_input_tokens(3000.0, 0.9, "claude-sonnet-5-5") == pytest.approx(300.0)


def _met(sc) -> bool:
    return bool(summarize(run(sc, replications=1))["slo"]["met"])


def test_erlang_bound_matches_mmc_theory():
    sc = load_scenario(MMC)  # M/M/4 at rho 0.8: P(wait) = 0.596, p95 wait = ln(0.596/0.05) / 0.8 = 3.10 s
    s = screen(demands(sc), knobs(sc))
    assert s["utilisation"]["cpu"] == pytest.approx(0.8)
    assert s["erlang_p95_wait_s"]["cpu"] == pytest.approx(math.log(0.5964 / 0.05) / 0.8, rel=2e-3)
    assert not s["pruned"]


@pytest.mark.parametrize("doc, message", [
    ({**SPACE, "window": {"start": "25:00", "hours": 1}}, "window.start"),
    ({**SPACE, "replications": 0}, "replications"),
    ({**SPACE, "dimensions": {"haiku_routing_share": [1.5]}}, "haiku_routing_share"),
    ({**SPACE, "surprise": 1}, "surprise"),
    ([1, 2], "must be a YAML mapping"),
    ({**SPACE, "dimensions": {"platform.instances": [1, 0]}}, "--space dimensions.platform.instances = 0: "
                                                               "platform.instances: must be >= 1"),
    ({**SPACE, "dimensions": {"platform.nope": [1]}}, "--space dimensions.platform.nope = 1: platform.nope"),
])
def test_bad_space_files_exit_2_naming_the_key(tmp_path, capsys, doc, message):
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump(doc))
    code = main(["sim", "optimize", MMC, "--space", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err, err
    if "dimensions." not in message:  # the file itself is bad; the others fail against the scenario
        with pytest.raises(BadInput):
            load_space(path)


@pytest.mark.parametrize("args, message", [
    (["--growth", "1000,abc"], "--growth"), (["--growth", "0"], "--growth"), (["--dau", "0"], "--dau"),
    (["--dau", "10", "--growth", "10,20"], "--growth / --dau"), (["--dask", "x"], "--dask"),
    (["--budget", "0"], "--budget: must be in 1..100000"),
])
def test_bad_options_exit_2(space_file, capsys, args, message):
    code = main(["sim", "optimize", MMC, "--space", str(space_file), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err


def test_capacity_reports_its_bracket_ci_and_arrivals_per_s():
    from botcap.sim.capacity import find_capacity

    sc = load_scenario(MMC, ["horizon.hours=0.5"])
    found = find_capacity(sc, replications=2, rel_tol=0.05)
    u = found["uncertainty"]
    assert u["bracket"] == [found["capacity"], found["failed_at"]] and u["replications"] == 2
    assert u["at_capacity"]["met"] and not u["at_failed"]["met"]
    assert u["at_capacity"]["arrivals_per_s"]["mean"] == found["capacity"]  # poisson: the knob is the rate
    lo, hi = u["capacity_ci95"]
    assert lo < found["capacity"] < hi
    # M/M/4 with a 6 s p95 limit on the sojourn: theory puts the edge between rho 0.8 and 0.95
    assert 3.2 < found["capacity"] < 3.8
    day = load_scenario(None)
    from botcap.sim.capacity import arrivals_per_s

    rate = arrivals_per_s(day, "workload.dau", 10_000)
    assert rate["mean"] == pytest.approx(10_000 * 2.5 * 4 / 86_400)
    weights = day.workload.arrivals.hourly_weights
    assert rate["peak_hour"] == pytest.approx(rate["mean"] * max(weights) / (sum(weights) / 24))


def test_the_run_budget_is_honoured_inside_a_cost_level_and_the_cut_candidates_are_named(tmp_path, cluster):
    # a dimension that changes neither the cost nor the M/M/c queue: three candidates per cost level
    dims = {**SPACE["dimensions"], "platform.claude.concurrency_per_instance": [5, 10, 20]}
    doc = {**SPACE, "replications": 2, "dimensions": dims}
    base = load_scenario(MMC, SETS)
    # rung 0 of the first level simulated (1 replication each) has room for 2 of its 3 candidates
    path = tmp_path / "space.yaml"
    path.write_text(yaml.safe_dump({**doc, "budget_runs": 2}))
    cut0 = optimize(base, load_space(path), executor=cluster)
    b = cut0["books"]
    assert b["simulated_replications"] == 2 and b["simulated"] == 2 and cut0["winner"] is None
    assert [(o["rung"], o["replications"]) for o in b["not_simulated_by_budget"]] == [(0, 1)]
    cut = b["not_simulated_by_budget"][0]
    assert cut["index"] not in {e["index"] for e in cut0["evaluated"]}
    assert cut["monthly_cost_usd"] == cut0["evaluated"][0]["monthly_cost_usd"]   # the same level
    assert f"not simulated #{cut['index']} (rung 0)" in b["stopped"]
    # enough for every rung 0 up to the planted optimum's level and ONE confirmation (2 replications):
    # the winner is confirmed, its two equal-cost twins are named as not confirmed, nothing overspends
    levels = 3  # one medium instance, two small ones, two medium ones: three candidates each
    path.write_text(yaml.safe_dump({**doc, "budget_runs": 3 * levels + 2}))
    cut1 = optimize(base, load_space(path), executor=cluster)
    b = cut1["books"]
    assert cut1["winner"]["config"] == {"platform.instances": 2, "size": "medium",
                                        "platform.claude.concurrency_per_instance": 5}
    assert b["simulated_replications"] == 3 * levels + 2
    assert [o["rung"] for o in b["not_simulated_by_budget"]] == [1, 1]
    assert {o["monthly_cost_usd"] for o in b["not_simulated_by_budget"]} == {cut1["monthly_cost_usd"]}
    assert "not simulated" in b["stopped"]
