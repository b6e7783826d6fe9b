"""Variants in, summaries out: the ONE place where the report asks the simulator for numbers.

Why one function: every section states its variants as ``--set`` lists and gets back summaries with
the keys of ``botcap sim run --json``. They are computed by the sweep engine
(``botcap.sim.sweep.run_sweep``: every variant x replication a task on the executor, a Dask cluster
when given, results cached in ``cache_dir`` so that a rebuilt report reuses every variant already
simulated with the same resolved scenario, window and seed). A variant's summary is the mean over
its replications of each number the sweep records (counts are per replication), with the SLO verdict
of the simulator: met when every replication's verdict is met, violations merged by name (the worst
value kept). Identical variants asked for by several sections are also memoised in this process.

Sections that need the per-request rows (a ``probe``, e.g. the minute-by-minute recovery after an
outage) get a pooled ``summarize`` of their replications instead, run as one task on the same executor
and kept in ``cache_dir/probes/`` (named by scenario hash, window and probe) for the next build.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path

import yaml

from botcap.cliutil import dumps
from botcap.scenario import Scenario, apply_set
from botcap.scenario.loader import validate

__all__ = ["Window", "scenario_hash", "with_sets", "summaries", "failed_summary", "point_of"]


@dataclass(frozen=True)
class Window:
    """The simulated span every variant runs: the morning rush (the 10:00 digests) by default."""

    start: str = "09:30"
    hours: float = 1.0
    replications: int = 2
    seed: int | None = None

    def to_dict(self) -> dict:
        return {
            "start": self.start,
            "hours": self.hours,
            "replications": self.replications,
            "seed": self.seed,
        }


def save_json(path: Path, data: dict) -> None:
    """Write a cached result atomically (temporary file, then rename): a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=str), encoding="utf-8")
    tmp.replace(path)


def scenario_hash(scenario: Scenario) -> str:
    """sha256 of the resolved scenario (every default filled in), as canonical JSON."""
    doc = json.dumps(scenario.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(doc.encode()).hexdigest()


def with_sets(base: Scenario, sets: Sequence[str]) -> Scenario:
    """``base`` with ``--set``-style overrides applied and validated (BadInput on a bad one)."""
    doc = base.model_dump(mode="json")
    for s in sets:
        apply_set(doc, s)
    return validate(doc)


def point_of(sets: Sequence[str]) -> dict:
    """A variant as a sweep point: {dotted.path: value} (values YAML-typed, as --set reads them)."""
    point = {}
    for s in sets:
        path, _, text = s.partition("=")
        point[path.strip()] = yaml.safe_load(text) if text.strip() else None
    return point


def failed_summary(exc: BaseException) -> dict:
    """A variant whose simulation raised: no data (nothing completed, the verdict not met), the error named.

    Why not re-raise: one broken variant must not take the whole report down, nor vanish from it; the
    section shows it as failed with the error, and no rule can pick it (nothing completed).
    """
    text = f"simulation failed: {type(exc).__name__}: {str(exc)[:200]}"
    return {
        "error": text,
        "requests": {"completed": 0},
        "slo": {"met": False, "violations": [{"what": "simulation", "text": text}]},
    }


Probe = Callable[[object], dict]
"""A module-level function of a ``SimResult`` returning extra plain numbers (kept under ``probe``)."""


def _run_one(scenario: Scenario, window: Window, probe: Probe | None = None) -> dict:
    from botcap.sim.runner import run
    from botcap.sim.summary import summarize

    try:
        result = run(scenario, seed=window.seed, replications=window.replications, hours=window.hours)
    except (RecursionError, RuntimeError, ValueError, ArithmeticError) as exc:
        return failed_summary(exc)
    summary = summarize(result)
    if probe is not None:
        summary["probe"] = probe(result)
    return summary


def _nest(flat: dict[str, float]) -> dict:
    out: dict = {}
    for name, value in flat.items():
        node = out
        *parents, leaf = name.split(".")
        for p in parents:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                break
        else:
            node[leaf] = value
    return out


def _merge_verdicts(verdicts: list[dict]) -> dict:
    """Met when every replication's verdict is; each violation once, with its worst value."""
    worst: dict[str, dict] = {}
    for v in verdicts:
        for item in v.get("violations", []):
            item = item if isinstance(item, dict) else {"what": str(item), "text": str(item)}
            key = str(item.get("what"))
            old = worst.get(key)
            if old is None or (
                isinstance(item.get("value"), int | float) and item["value"] > (old.get("value") or -math.inf)
            ):
                worst[key] = item
    return {"met": bool(verdicts) and all(v.get("met") for v in verdicts), "violations": list(worst.values())}


def _sweep(
    scenarios: list[Scenario],
    variants: list[Sequence[str]],
    window: Window,
    *,
    executor: Executor | None,
    cache_dir: Path,
    progress: Callable[[int], None] | None,
) -> list[dict]:
    from botcap.sim.runner import replication_seeds
    from botcap.sim.sweep import run_sweep
    from botcap.sim.sweep import scenario_hash as sweep_hash

    seed = scenarios[0].seed if window.seed is None else window.seed
    seen = [0]

    def step(done: int, total: int, label: str) -> None:
        if progress is not None and window.replications:
            finished = done // window.replications
            if finished > seen[0]:
                progress(finished - seen[0])
                seen[0] = finished

    result = run_sweep(
        [point_of(v) for v in variants],
        scenarios,
        replications=window.replications,
        seed=seed,
        hours=window.hours,
        executor=executor,
        out=cache_dir,
        progress=step,
        plots=False,  # the sections draw their own: the sweep's PNGs were most of a quick build's serial time
    )
    seeds = replication_seeds(seed, window.replications)
    out = []
    for i, sc in enumerate(scenarios):
        rows = result.ci95[result.ci95.point == i]
        summary = _nest(
            {
                m: (float(v) if math.isfinite(v) else math.nan)
                for m, v in zip(rows.metric, rows["mean"], strict=True)
            }
        )
        h = sweep_hash(sc, window.hours)[:32]
        verdicts = [
            json.loads((cache_dir / "cache" / f"{h}-{s}.json").read_text(encoding="utf-8"))["slo"]
            for s in seeds
        ]
        summary["slo"] = _merge_verdicts(verdicts)
        summary["replications"] = window.replications
        out.append(summary)
    return out


_MEMO: dict[tuple, dict] = {}


def _probe_file(folder: Path | None, key: tuple) -> Path | None:
    """Where a probed variant's summary is kept in the cache: its scenario hash, window and probe."""
    if folder is None:
        return None
    h, window, tag = key
    name = hashlib.sha256(json.dumps([h, window.to_dict(), tag], sort_keys=True).encode()).hexdigest()[:32]
    return folder / f"{name}.json"


def summaries(
    base: Scenario,
    variants: Sequence[Sequence[str]],
    window: Window,
    *,
    executor: Executor | None = None,
    cache_dir: Path | None = None,
    probe: Probe | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """One summary per variant (``--set`` list applied to ``base``, run over ``window``).

    ``executor``: where the simulations run (None: in this process). ``cache_dir``: the sweep folder
    whose cache is reused and extended (None: a temporary one). ``progress(n)`` is called with the
    number of variants finished since the last call; ``probe`` (module-level, so that workers can run
    it) adds ``summary["probe"]``.
    """
    scenarios = [with_sets(base, [f"horizon.start={window.start}", *v]) for v in variants]
    tag = None if probe is None else f"{probe.__module__}.{probe.__qualname__}"
    keys = [(scenario_hash(s), window, tag) for s in scenarios]
    todo: dict[tuple, tuple[Scenario, Sequence[str]]] = {}
    for k, s, v in zip(keys, scenarios, variants, strict=True):
        if k not in _MEMO and k not in todo:
            todo[k] = (s, v)
    if progress and len(keys) > len(todo):
        progress(len(keys) - len(todo))
    if todo and probe is None:
        scratch = tempfile.TemporaryDirectory(prefix="botcap-report-") if cache_dir is None else None
        folder = Path(cache_dir) if cache_dir is not None else Path(scratch.name)  # scratch: removed below
        folder.mkdir(parents=True, exist_ok=True)
        # one sweep per set of swept paths: a sweep's columns then hold one type each (its tables and
        # plots need that), and a variant at the defaults is a point of its own
        groups: dict[tuple, list[tuple]] = {}
        for k, (s, v) in todo.items():
            groups.setdefault(tuple(point_of(v)), []).append((k, s, v))
        for members in groups.values():
            keys_g = [k for k, _, _ in members]
            try:
                done = _sweep(
                    [s for _, s, _ in members],
                    [v for _, _, v in members],
                    window,
                    executor=executor,
                    cache_dir=folder,
                    progress=progress,
                )
            except (RecursionError, RuntimeError, ValueError, ArithmeticError):
                # one variant's simulation raised: the others are cached by now; find which, one by one
                done = []
                for _, s, v in members:
                    try:
                        done += _sweep(
                            [s], [v], window, executor=executor, cache_dir=folder, progress=progress
                        )
                    except (RecursionError, RuntimeError, ValueError, ArithmeticError) as exc:
                        done.append(failed_summary(exc))
            _MEMO.update(zip(keys_g, done, strict=True))
        if scratch is not None:
            scratch.cleanup()
    elif todo:
        folder = Path(cache_dir) / "probes" if cache_dir is not None else None
        files = {k: _probe_file(folder, k) for k in todo}
        for k, path in files.items():
            if path is not None and path.is_file():
                try:
                    _MEMO[k] = json.loads(path.read_text(encoding="utf-8"))
                    if progress:
                        progress(1)
                except (OSError, ValueError):
                    pass  # a damaged entry is recomputed
        futures = {
            k: (executor.submit(_run_one, s, window, probe) if executor is not None else None)
            for k, (s, _) in todo.items()
            if k not in _MEMO
        }
        for k, f in futures.items():
            _MEMO[k] = f.result() if f is not None else _run_one(todo[k][0], window, probe)
            if files[k] is not None and "error" not in _MEMO[k]:
                files[k].parent.mkdir(parents=True, exist_ok=True)
                tmp = files[k].with_suffix(".tmp")
                tmp.write_text(dumps(_MEMO[k]), encoding="utf-8")
                tmp.replace(files[k])
            if progress:
                progress(1)
    return [_MEMO[k] for k in keys]
