"""What the Claude client spent, what it spent for nothing, and how long users failed after an outage.

Why (issue 15, A4): a circuit breaker's worth is not in the failure counts alone. Against an outage it
changes how many attempts hit the API (load on a recovering service), what is billed without an answer
(timed-out attempts: the prompt and the output generated until the client hung up; 429s and 529s are
not billed) and how long after the outage users still fail (a breaker still open fails them fast until
its cool-down ends). These figures put those differences in the summary:

- ``claude.spend_usd`` / ``claude.wasted_usd``: the tokens of answered calls / of timed-out attempts,
  priced by the scenario's price book (``botcap.costmodel.prices``, genai-prices); NaN if unpriced;
- ``claude.outages``: per outage window of the run, the user requests that failed on Claude arriving
  in it or after it, and ``recovery_s``: from the outage's end to the last such failure (0 = none after
  the end; the run's end bounds it, so it is a lower bound when failures continue to the end).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from botcap.errors import BadInput
from botcap.scenario import hhmm_to_s

__all__ = ["usd", "outages"]

DAY_S = 86400.0


def usd(tokens_by_model: dict, sc) -> float:
    """Dollars of ``{model key: {"input", "output", "cache_read", "cache_write"}}`` at the scenario's
    prices (5-minute cache writes, no batch, no long-context tier, as ``costmodel.result`` prices the sim)."""
    if not any(any(t.values()) for t in tokens_by_model.values()):
        return 0.0
    from botcap.costmodel.prices import load_price_book

    models = sc.platform.claude.models
    try:
        book = load_price_book(sc.costs.prices, sorted({models[k].api_model for k in tokens_by_model}))
    except BadInput:
        return math.nan
    total = 0.0
    for key, t in tokens_by_model.items():
        r = book.claude[models[key].api_model].rates_mtok_usd
        total += (t["input"] * r["input"] + t["output"] * r["output"] + t["cache_read"] * r["cache_read"]
                  + t["cache_write"] * r["cache_write_5m"]) / 1e6
    return total


def outages(users: pd.DataFrame, sc, simulated_s: float) -> list[dict]:
    """Per outage window inside [0, simulated_s] (simulated seconds; windows repeat daily)."""
    start_clock_s = hhmm_to_s(sc.horizon.start)
    windows = []
    for o in sc.platform.claude.faults.outages:
        for d in range(-1, math.ceil((start_clock_s + simulated_s) / DAY_S) + 1):
            a = d * DAY_S + hhmm_to_s(o.start) - start_clock_s
            if a + o.duration_s > 0 and a < simulated_s:
                windows.append((a, a + o.duration_s))
    windows.sort()
    error = users["error"].astype(str).to_numpy() if len(users) else np.empty(0, dtype=str)
    on_claude = np.char.startswith(error.astype(str), "claude_") if error.size else np.empty(0, dtype=bool)
    arrival = users["arrival_s"].to_numpy(dtype=float)
    done = users["done_s"].to_numpy(dtype=float)
    out = []
    for i, (a, b) in enumerate(windows):
        until = windows[i + 1][0] if i + 1 < len(windows) else simulated_s
        hit = on_claude & (arrival >= a) & (arrival < until)
        after = hit & (done > b)
        out.append({"start_s": float(a), "end_s": float(b), "failed_requests": int(hit.sum()),
                    "failed_after_end": int(after.sum()),
                    "recovery_s": float(done[after].max() - b) if after.any() else 0.0})
    return out
