"""Short windows of the default scenario around the 10:00 digest burst, run once per set of overrides.

3,000 DAU over 09:50-10:20 without warm-up: the burst (915 digests) and a user load that queues on
Claude, in about a second a run on an idle core.
"""

from __future__ import annotations

import functools

from botcap.sim.runner import run
from botcap.sim.summary import summarize

from botcap.scenario import load_scenario

BASE = ("workload.dau=3000", "horizon.start=09:50", "horizon.warmup_s=0")
HOURS = 0.5
SEED = 42


@functools.lru_cache(maxsize=64)
def summary_of(*sets: str, hours: float = HOURS) -> dict:
    """The summary of one replication of BASE plus ``sets`` (cached: tests share runs)."""
    return summarize(run(load_scenario(None, [*BASE, *sets]), seed=SEED, replications=1, hours=hours))
