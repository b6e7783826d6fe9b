"""The Claude stage of the reference bot: time to first token and tokens/s per model, by least squares."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from botcap.sim.calibrate.fit import fit_positive
from botcap.sim.calibrate.patch import set_key as _set

from botcap.errors import BadInput
from botcap.scenario import Scenario

if TYPE_CHECKING:
    from botcap.sim.calibrate.stages import StageFits

__all__ = ["fit_claude", "MAX_TOKENS_PER_S"]

MAX_TOKENS_PER_S = 100_000.0   # the schema's cap on output_tokens_per_s: "generation takes no time"


def fit_claude(out: StageFits, good: pd.DataFrame, base: Scenario, n_min: int) -> None:
    models = base.platform.claude.models
    has_tokens = "claude_output_tokens" in good.columns
    for model in models:
        kinds = [k for k, spec in base.workload.kinds.items() if spec.model == model]
        rows = good[good["kind"].isin(kinds) & (good["claude_call_s"] > 0)]
        if not len(rows):
            continue
        call = rows["claude_call_s"].to_numpy(dtype=float)
        stage = f"claude.{model}.ttft_s"
        if has_tokens and rows["claude_output_tokens"].notna().all():
            tokens = rows["claude_output_tokens"].to_numpy(dtype=float)
            tps, intercept, r2 = _line(tokens, call, stage, n_min)
            ttft = call - tokens / tps
            out.regressions[f"claude.{model}.output_tokens_per_s"] = {
                "dist": "regression",
                "params": {"tokens_per_s": tps, "intercept_s": intercept, "n": len(call)},
                "gof": {"statistic": "r2", "value": r2}}
        else:
            tps, ttft = MAX_TOKENS_PER_S, call
            out.notes.append(f"claude.{model}: no per-call output tokens in stages.parquet; the whole call "
                             "time is fitted as ttft_s (tokens/s not identifiable)")
        f = fit_positive(stage, ttft, min_samples=n_min)
        out.fits[stage] = f
        _set(out.patch, f"platform.claude.models.{model}.ttft_s", f.scenario_value())
        _set(out.patch, f"platform.claude.models.{model}.output_tokens_per_s", float(tps))
    if any(k.startswith("claude.") for k in out.fits):
        _set(out.patch, "platform.network_rtt_s.claude", 0.0)


def _line(tokens: np.ndarray, call: np.ndarray, stage: str, n_min: int) -> tuple[float, float, float]:
    """(tokens per second, intercept, R²) of call time against output tokens by least squares."""
    if tokens.size < n_min or np.ptp(tokens) == 0:
        raise BadInput(f"{stage}: too few calls with distinct output token counts to separate time to "
                       f"first token from tokens/s ({tokens.size} calls; at least {n_min} needed)")
    slope, intercept = np.polyfit(tokens, call, 1)
    if not slope > 0:
        raise BadInput(f"{stage}: Claude call time does not grow with output tokens "
                       f"(slope {slope:.3g} s/token)")
    pred = intercept + slope * tokens
    ss_res = float(((call - pred) ** 2).sum())
    ss_tot = float(((call - call.mean()) ** 2).sum())
    r2 = 1 - ss_res / ss_tot if ss_tot > 0 else 1.0
    return float(min(1.0 / slope, MAX_TOKENS_PER_S)), float(intercept), r2
