"""What every section is given: the base scenario, the window, the run budget and the two engines.

Why a context object: sections ask ``ctx.sim(variants)`` for simulated summaries and ``ctx.cost(sets)``
for the cost model's JSON and know nothing of processes, memoisation or progress bars.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path

from botcap.report.variants import Probe, Window, summaries, with_sets
from botcap.scenario import Scenario

__all__ = ["Ctx"]


@dataclass
class Ctx:
    base: Scenario
    window: Window
    quick: bool = False
    executor: Executor | None = None  # where simulations run (a Dask cluster); None = this process
    cache_dir: Path | None = None  # the sweep folder reused across builds
    cost_draws: int | None = None
    label: Callable[[str], None] = lambda text: None
    notes: list[str] = field(default_factory=list)  # failed variants, said in their section
    _costs: dict = field(default_factory=dict)

    def sim(
        self,
        variants: Sequence[Sequence[str]],
        probe: Probe | None = None,
        what: str = "",
        window: Window | None = None,
    ) -> list[dict]:
        """Summaries of ``variants`` (``--set`` lists on the base scenario) over the report's window
        (or ``window``, for a section whose effects reach further, e.g. digests moved to later slots)."""
        done = [0]

        def step(n: int) -> None:
            done[0] += n
            self.label(f"{what}: {done[0]}/{len(variants)} variants simulated")

        self.label(f"{what}: 0/{len(variants)} variants simulated")
        out = summaries(
            self.base,
            variants,
            window or self.window,
            executor=self.executor,
            cache_dir=self.cache_dir,
            probe=probe,
            progress=step,
        )
        for sets, summary in zip(variants, out, strict=True):
            if "error" in summary:
                self.notes.append(f"variant {list(sets)}: {summary['error']}")
        return out

    def scenario(self, sets: Sequence[str] = ()) -> Scenario:
        return with_sets(self.base, sets)

    def cost(self, sets: Sequence[str] = (), *, uncertainty: bool = False) -> dict:
        """``botcap cost --json`` of the base scenario with ``sets`` (Monte Carlo only when asked)."""
        from botcap.costmodel.result import run_cost

        key = (tuple(sets), uncertainty)
        if key not in self._costs:
            draws = self.cost_draws if uncertainty else 0
            self._costs[key] = run_cost(self.scenario(sets), draws=draws).data
        return self._costs[key]
