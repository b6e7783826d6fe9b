"""``botcap sim optimize``: the cheapest configuration that meets the SLO at N DAU (Vidur-Search's idea).

Why this search and not optuna: the objective (monthly cost) is known exactly without simulating -
costmodel prices every configuration in milliseconds - and only the constraint (the SLO verdict)
needs the DES. So the search walks configurations in increasing cost and stops at the first one the
simulation confirms: nothing cheaper is left unexamined except what the analytic pre-screen proved
cannot meet the SLO, or what the per-level cap skipped (reported). A black-box optimiser would spend
simulations learning a cost function we already have. Inside each cost level, successive halving:
rung 0 runs ``screen_replications`` (dropping what fails), rung 1 confirms with ``replications``; all
candidates use the same seeds (common random numbers), so they are compared on equal draws.

Steps: expand the space (cartesian; a slot size or policy is meaningless without a cap per slot, so
those collapse) -> pre-screen (``sim.prescreen``) -> price (``costmodel.run_cost``, one call per
distinct cost-relevant choice) -> DES in cost order on a Dask executor -> the winner, runners-up and
the Pareto front (monthly cost vs censored p95 per kind) over every simulated candidate. The SLO
judge is the summary's own (``summary["slo"]``), not a second one.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass, field

from botcap.sim.prescreen import demands, knobs, screen
from botcap.sim.runner import run
from botcap.sim.space import HAIKU, Choice, Space
from botcap.sim.summary import summarize

from botcap.errors import BadInput
from botcap.scenario import Scenario, apply_set
from botcap.scenario.loader import validate

__all__ = ["Candidate", "expand", "scenario_for", "monthly_cost", "optimize", "pareto_front", "MAX_CONFIGS"]

MAX_CONFIGS = 2_000_000
COST_PATH_PREFIXES = ("costs.", "platform.instances", "platform.claude.models", "workload.")
Progress = Callable[[str], None]


@dataclass
class Candidate:
    """One configuration: its labels (what people read), the scenario paths it sets, and its verdicts."""

    index: int
    labels: dict                 # dimension -> value or choice label
    overrides: dict              # dotted path -> value (choices expanded; haiku share apart)
    haiku_share: float
    screen: dict = field(default_factory=dict)
    cost: dict | None = None
    runs: list = field(default_factory=list)   # [{"rung", "replications", "met", "p95_s", "violations"}]

    def to_dict(self) -> dict:
        return {"index": self.index, "config": self.labels,
                "monthly_cost_usd": (self.cost or {}).get("total"),
                "cost_by_component_usd": (self.cost or {}).get("by_component"),
                "screen": {"pruned": self.screen.get("pruned"), "reasons": self.screen.get("reasons", []),
                           "score": self.screen.get("score")},
                "runs": self.runs}


def expand(space: Space) -> list[Candidate]:
    """Every combination of the dimensions (first varying slowest), slot settings collapsed without a cap."""
    names = list(space.dimensions)
    options = []
    for name in names:
        dim = space.dimensions[name]
        options.append(list(dim.choices.items()) if isinstance(dim, Choice) else [(v, None) for v in dim])
    size = math.prod(len(o) for o in options)
    if size > MAX_CONFIGS:
        raise BadInput(f"--space: {size:,} configurations; at most {MAX_CONFIGS:,} (give fewer values per "
                       f"dimension)")
    out, seen = [], set()
    for combo in itertools.product(*options):
        labels, overrides, haiku = {}, {}, 0.0
        for name, (value, sets) in zip(names, combo, strict=True):
            labels[name] = value
            if sets is not None:
                overrides.update(sets)
            elif name == HAIKU:
                haiku = float(value)
            else:
                overrides[name] = value
        if overrides.get("scheduler.cap_per_slot", "unset") is None:  # slots off: size and policy unused
            for key in ("scheduler.slot_minutes", "scheduler.policy"):
                if key in overrides:
                    overrides[key] = space.dimensions[key][0] if key != "scheduler.policy" else "none"
                    labels[key] = overrides[key]
        key = tuple(labels.values())
        if key not in seen:
            seen.add(key)
            out.append(Candidate(len(out), labels, overrides, haiku))
    return out


def _max_connections(base: Scenario, overrides: dict, per_cu: float) -> dict:
    """A Neon compute size carries its max_connections (price file's max_connections_per_cu)."""
    if "costs.infra.neon.compute_cu" in overrides and "platform.db.max_connections" not in overrides:
        overrides = {**overrides, "platform.db.max_connections":
                     max(1, int(per_cu * float(overrides["costs.infra.neon.compute_cu"])))}
    return overrides


def _apply(doc: dict, overrides: dict) -> dict:
    doc = copy.deepcopy(doc)
    for path, value in overrides.items():
        node = doc
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        if isinstance(value, dict) and isinstance(node.get(keys[-1]), dict):
            node[keys[-1]] = {**node[keys[-1]], **value}
        else:
            node[keys[-1]] = value
    return doc


def scenario_for(base: Scenario, cand: Candidate, per_cu: float) -> Scenario:
    """The simulated scenario of a candidate: its overrides, and the Haiku share as a split kind.

    The routed share runs as its own kind (same stages, the Haiku model); ``_judge`` labels its
    requests back to the user's kind before the summary, so the SLO judges each kind as users see it.
    """
    doc = _apply(base.model_dump(mode="json"), _max_connections(base, cand.overrides, per_cu))
    h = cand.haiku_share
    if h > 0:
        target = doc["costs"]["mitigations"]["haiku_model"]
        wl = doc["workload"]
        for kind, spec in list(wl["kinds"].items()):
            if spec.get("model") not in (None, target) and wl["mix"].get(kind, 0) > 0:
                routed = f"{kind}{ROUTED}{target}"
                wl["kinds"][routed] = {**spec, "model": target}
                wl["mix"][routed] = wl["mix"][kind] * h
                wl["mix"][kind] = wl["mix"][kind] * (1 - h)
    return validate(doc)


ROUTED = "_routed_to_"


def _routed_kinds(sc: Scenario) -> dict[str, str]:
    """{split kind: the user's kind}: a routed message is still that kind to the user and the SLO."""
    return {k: k.split(ROUTED)[0] for k in sc.workload.kinds if ROUTED in k}


def _cost_key(cand: Candidate) -> tuple:
    relevant = {k: v for k, v in cand.overrides.items() if k.startswith(COST_PATH_PREFIXES)}
    return repr(sorted(relevant.items(), key=lambda kv: kv[0])), cand.haiku_share


def monthly_cost(base: Scenario, cand: Candidate, per_cu: float) -> dict:
    """Monthly cost of a candidate by costmodel (``run_cost``, no Monte Carlo): infrastructure + Claude.

    The Haiku share is priced as the costmodel's own haiku_routing mitigation applied to every tier.
    """
    from botcap.costmodel.mitigations import mitigated_tiers
    from botcap.costmodel.result import run_cost

    doc = _apply(base.model_dump(mode="json"), _max_connections(base, cand.overrides, per_cu))
    doc["costs"]["mitigations"]["haiku_routing_share"] = cand.haiku_share
    sc = validate(doc)
    if cand.haiku_share > 0:
        sc = sc.model_copy(update={"costs": sc.costs.model_copy(
            update={"tiers": mitigated_tiers("haiku_routing", sc)})})
    total = run_cost(sc, draws=0).data["total"]
    return {"total": float(total["monthly_cost_usd"]),
            "by_component": {k: float(v) for k, v in total["by_component_monthly_usd"].items()}}


def _neon_per_cu(base: Scenario) -> float:
    from botcap.costmodel.prices import load_price_book

    api = sorted({m.api_model for m in base.platform.claude.models.values()})
    return float(load_price_book(base.costs.prices, api).plan("neon").get("max_connections_per_cu", 419))


def _judge(scenario: Scenario, seed: int, replications: int, hours: float) -> dict:
    """One DES evaluation (a Dask task): the summary's SLO verdict and the per-kind censored p95."""
    result = run(scenario, seed=seed, replications=replications, hours=hours)
    routed = _routed_kinds(scenario)
    if routed:
        for r in result.replications:
            r.requests["kind"] = r.requests["kind"].astype(str).replace(routed)
        result.__dict__.pop("requests", None)  # the pooled rows are rebuilt from the relabelled ones
    s = summarize(result)
    lat = s.get("latency_censored_by_kind_s") or s["latency_by_kind_s"]
    return {"met": bool(s["slo"]["met"]),
            "violations": [v["text"] if isinstance(v, dict) else str(v) for v in s["slo"]["violations"]],
            "p95_s": {k: v.get("p95") for k, v in lat.items()},
            "digest_lateness_max_s": s["digests"]["lateness_s"]["max"],
            "throughput_per_s": s["throughput_per_s"]}


def optimize(base: Scenario, space: Space, *, dau: int | None = None, seed: int | None = None,
             executor: Executor | None = None, progress: Progress | None = None) -> dict:
    """The cheapest candidate whose DES meets the SLO, runners-up, the Pareto front and the books."""
    say = progress or (lambda label: None)
    if dau is not None:
        if not 1 <= dau <= 100_000_000:
            raise BadInput(f"--dau: must be in 1..100000000 (got {dau})")
        doc = base.model_dump(mode="json")
        apply_set(doc, f"workload.dau={dau}")
        doc["horizon"].update(start=space.window.start, hours=space.window.hours)
        base = validate(doc)
    else:
        base = base.model_copy(update={"horizon": base.horizon.model_copy(
            update={"start": space.window.start, "hours": space.window.hours})})
    seed = base.seed if seed is None else seed
    per_cu = _neon_per_cu(base)
    check_values(base, space, per_cu)
    cands = expand(space)
    say(f"pre-screening {len(cands):,} configurations")
    d = demands(base, start=space.window.start, hours=space.window.hours)
    base_knobs = knobs(base)
    screened: dict = {}  # the screen reads only the knobs: configurations differing elsewhere (slot
    for c in cands:      # size, Haiku share) share one verdict; ~90K configurations, a few K screens
        kv = knobs(base, _max_connections(base, c.overrides, per_cu), start=base_knobs)
        key = tuple(sorted(kv.items()))
        if key not in screened:
            screened[key] = screen(d, kv)
        c.screen = screened[key]
    alive = [c for c in cands if not c.screen["pruned"]]
    say(f"pricing {len(alive):,} survivors")
    prices: dict = {}
    for c in alive:
        key = _cost_key(c)
        if key not in prices:
            prices[key] = monthly_cost(base, c, per_cu)
        c.cost = prices[key]
    alive.sort(key=lambda c: (round(c.cost["total"], 2), c.screen["score"], c.index))
    levels = [list(g) for _, g in itertools.groupby(alive, key=lambda c: round(c.cost["total"], 2))]
    confirmed, simulated, runs_used, skipped, invalid = [], [], 0, 0, []
    over_budget: list[dict] = []   # candidates the budget left unsimulated (or unconfirmed) in their level
    stop = None
    submit = executor.submit if executor is not None else _inline_submit

    def rung(batch: list[Candidate], reps: int, name: int) -> list[Candidate]:
        """Submit each candidate's run while the budget holds it; the rest are listed, not run."""
        nonlocal runs_used
        futures = {}
        for c in batch:
            if runs_used + reps > space.budget_runs:
                over_budget.append({"index": c.index, "config": c.labels, "monthly_cost_usd": c.cost["total"],
                                    "rung": name, "replications": reps})
                continue
            try:
                sc = scenario_for(base, c, per_cu)
            except BadInput as exc:
                invalid.append({"config": c.labels, "problems": exc.lines})
                continue
            futures[submit(_judge, sc, seed, reps, space.window.hours)] = c
            runs_used += reps
        for f in as_completed(futures):
            c = futures[f]
            c.runs.append({"rung": name, "replications": reps, **f.result()})
        return [c for c in batch if c.runs and c.runs[-1]["rung"] == name and c.runs[-1]["met"]]

    for level in levels:
        if len(confirmed) > space.runners_up:
            break
        if runs_used >= space.budget_runs:
            stop = f"budget of {space.budget_runs} simulated replications used"
            break
        batch, rest = level[:space.per_cost_level], level[space.per_cost_level:]
        skipped += len(rest)
        say(f"${batch[0].cost['total']:,.0f}/month: simulating {len(batch)} of {len(level)} configurations "
            f"({len(confirmed)} confirmed, {runs_used} runs)")
        passed = rung(batch, space.screen_replications, 0)
        simulated += [c for c in batch if c.runs]
        if space.replications > space.screen_replications and passed:
            passed = rung(passed, space.replications, 1)
        confirmed += passed
        if over_budget:  # honoured inside the level: nothing more is submitted, and the output says what
            cut = ", ".join(f"#{o['index']} (rung {o['rung']})" for o in over_budget)
            stop = (f"budget of {space.budget_runs} simulated replications used inside the "
                    f"${batch[0].cost['total']:,.0f}/month level: not simulated {cut}")
            break
    winner = confirmed[0] if confirmed else None
    return {
        "dau": base.workload.dau, "window": space.window.model_dump(), "seed": seed,
        "slo_p95_s": dict(base.slo.p95_s),
        "replications": space.replications, "screen_replications": space.screen_replications,
        "winner": winner.to_dict() if winner else None,
        "monthly_cost_usd": winner.cost["total"] if winner else None,
        "monthly_cost_per_dau_usd": winner.cost["total"] / base.workload.dau if winner else None,
        "runners_up": [c.to_dict() for c in confirmed[1:1 + space.runners_up]],
        "pareto": pareto_front(simulated, list(base.slo.p95_s)),
        "books": {"configurations": len(cands), "pruned": len(cands) - len(alive), "priced": len(alive),
                  "cost_levels": len(levels), "simulated": len(simulated), "skipped_by_level_cap": skipped,
                  "confirmed": len(confirmed), "simulated_replications": runs_used, "invalid": invalid,
                  "not_simulated_by_budget": over_budget,
                  "stopped": stop or ("winner and runners-up confirmed" if len(confirmed) > space.runners_up
                                      else "every cost level examined")},
        "prune_reasons": _reason_counts(cands),
        "evaluated": [c.to_dict() for c in simulated],
    }


def check_values(base: Scenario, space: Space, per_cu: float) -> None:
    """Every value of every dimension applied alone to the base scenario must validate: a typo in a
    path or a value out of range is reported (naming the dimension) before anything is priced or run."""
    problems = []
    for name, dim in space.dimensions.items():
        if name == HAIKU:
            continue
        options = dim.choices.items() if isinstance(dim, Choice) else [(v, {name: v}) for v in dim]
        for label, sets in options:
            try:
                validate(_apply(base.model_dump(mode="json"), _max_connections(base, sets, per_cu)))
            except BadInput as exc:
                problems += [f"--space dimensions.{name} = {label}: {line}" for line in exc.lines]
    if problems:
        raise BadInput(problems[:20])


def _inline_submit(fn, *args):
    from concurrent.futures import Future

    f: Future = Future()
    f.set_result(fn(*args))
    return f


def _reason_counts(cands: list[Candidate]) -> dict:
    counts: dict = {}
    for c in cands:
        for r in c.screen.get("reasons", []):
            key = r.split(":")[0]
            counts[key] = counts.get(key, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def pareto_front(simulated: list[Candidate], kinds: list[str]) -> dict:
    """Per kind: the simulated candidates no other beats on both monthly cost and that kind's p95."""
    out = {}
    for kind in kinds:
        pts = []
        for c in simulated:
            last = c.runs[-1] if c.runs else None
            p95 = (last or {}).get("p95_s", {}).get(kind)
            if p95 is not None and math.isfinite(p95):
                pts.append((c.cost["total"], p95, c.index, bool(last["met"])))
        pts.sort()
        front, best = [], math.inf
        for cost, p95, idx, met in pts:
            if p95 < best:
                front.append({"index": idx, "monthly_cost_usd": cost, "p95_s": p95, "met": met})
                best = p95
        out[kind] = {"front": front, "points": [{"index": i, "monthly_cost_usd": c, "p95_s": p, "met": m}
                                                for c, p, i, m in pts]}
    return out
