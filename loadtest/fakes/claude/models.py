"""Which scenario model a request's ``model`` string means, and how long that model takes.

A request names a model by its API id. It matches a scenario model by exact ``api_model``, else by
family (haiku / sonnet / opus appearing in both), so ``claude-sonnet-4-5-20250929`` finds the
``sonnet`` entry; anything else is unknown (404 not_found_error, as the API answers).
Latency = time to first token + output tokens / tokens per second, each draw from the scenario's
distributions through ``botcap.sampling.Sampler`` (pre-drawn blocks: cheap per request).
"""

from __future__ import annotations

import numpy as np
from botcap.loadtest.fakes.claude.config import ModelSpec

from botcap.sampling import Sampler

FAMILIES = ("haiku", "sonnet", "opus")


class ModelRuntime:
    """One model's samplers; ``draw(max_tokens)`` gives (output_tokens, stop_reason, ttft_s, gen_s)."""

    __slots__ = ("key", "spec", "_ttft", "_length", "_tps")

    def __init__(self, key: str, spec: ModelSpec, rng: np.random.Generator):
        self.key, self.spec = key, spec
        self._ttft = Sampler(spec.ttft_s, rng)
        self._length = Sampler(spec.output_tokens, rng)
        self._tps = spec.output_tokens_per_s

    def draw(self, max_tokens: int) -> tuple[int, str, float, float]:
        wanted = max(1, int(round(self._length())))
        tokens, stop = (wanted, "end_turn") if wanted <= max_tokens else (max_tokens, "max_tokens")
        return tokens, stop, self._ttft(), tokens / self._tps


class ModelTable:
    """Resolves request model strings (memoised: a load test sends a handful of ids)."""

    def __init__(self, models: dict[str, ModelSpec], rng: np.random.Generator):
        self._by_key = {key: ModelRuntime(key, spec, rng) for key, spec in models.items()}
        self._memo: dict[str, ModelRuntime | None] = {}

    def __iter__(self):
        return iter(self._by_key.values())

    def resolve(self, name: str) -> ModelRuntime | None:
        try:
            return self._memo[name]
        except KeyError:
            pass
        found = next((m for m in self._by_key.values() if m.spec.api_model == name), None)
        if found is None:
            family = next((f for f in FAMILIES if f in name), None)
            if family is not None:
                found = next((m for m in self._by_key.values()
                              if family in m.key or family in m.spec.api_model), None)
        if len(self._memo) < 10_000:
            self._memo[name] = found
        return found
