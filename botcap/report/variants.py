"""Variants in, summaries out: the ONE place where the report asks the simulator for numbers.

Why one function: every section states its variants as ``--set`` lists and gets back ``sim run``
summaries (``botcap.sim.summary.summarize``); when the sweep engine (``botcap.sim.sweep``, on Dask)
is available, only ``summaries`` changes. Identical variants asked for by several sections are run
once (memoised by the resolved scenario's hash, the window and the seed).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from botcap.scenario import Scenario, apply_set
from botcap.scenario.loader import validate

__all__ = ["Window", "scenario_hash", "with_sets", "summaries", "failed_summary"]


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


Probe = Callable[[object], dict]
"""A module-level function of a ``SimResult`` returning extra plain numbers (kept under ``probe``)."""


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


_MEMO: dict[tuple, dict] = {}


def summaries(
    base: Scenario,
    variants: Sequence[Sequence[str]],
    window: Window,
    *,
    workers: int = 1,
    probe: Probe | None = None,
    progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """One ``sim run`` summary per variant (``--set`` list applied to ``base``, run over ``window``).

    ``progress(n)`` is called with the number of variants finished since the last call; ``probe``
    (a module-level function, so that worker processes can run it) adds ``summary["probe"]``.
    """
    scenarios = [with_sets(base, [f"horizon.start={window.start}", *v]) for v in variants]
    tag = None if probe is None else f"{probe.__module__}.{probe.__qualname__}"
    keys = [(scenario_hash(s), window, tag) for s in scenarios]
    todo = {k: s for k, s in zip(keys, scenarios, strict=True) if k not in _MEMO}
    done_now = len(keys) - len(todo)
    if progress and done_now:
        progress(done_now)
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {k: pool.submit(_run_one, s, window, probe) for k, s in todo.items()}
            for k, f in futures.items():
                _MEMO[k] = f.result()
                if progress:
                    progress(sum(1 for kk in keys if kk == k))
    else:
        for k, s in todo.items():
            _MEMO[k] = _run_one(s, window, probe)
            if progress:
                progress(sum(1 for kk in keys if kk == k))
    return [_MEMO[k] for k in keys]
