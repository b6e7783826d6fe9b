"""Claude model facts the price table lacks: lifecycle, replacement, minimum cacheable prefix.

Why a data file (``model_facts.yaml``) and not literals: these facts change with every model launch
and each needs its source and date, like the prices. genai-prices (the price source) carries a
``deprecated`` flag but sets it on no Anthropic model and has no replacement or prompt-cache minimum;
its flag is honoured too, should a later pinned version set it.

Used by the cost model (a prefix below a model's minimum is not cached and saves nothing), by the
fake Claude API (the same minimum decides whether it writes a cache entry) and by the CLI warnings
(a scenario naming a legacy, deprecated or retired model is told its replacement and the price change).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path

import yaml

__all__ = ["STATUSES", "OUTDATED", "ModelFacts", "model_facts", "min_cacheable_tokens", "model_warnings",
           "facts_document"]

STATUSES = ("active", "legacy", "deprecated", "retired", "unknown")
OUTDATED = ("legacy", "deprecated", "retired")
FILE = Path(__file__).with_name("model_facts.yaml")


@dataclass(frozen=True)
class ModelFacts:
    """One model's entry (``key`` is the entry's id; ``api_model`` may carry a date suffix)."""

    key: str
    status: str
    min_cacheable_tokens: int
    replacement: str | None = None
    retires: str | None = None


@cache
def facts_document() -> dict:
    """The parsed, checked data file (a broken file is a bug of the repository: ValueError)."""
    doc = yaml.safe_load(FILE.read_text(encoding="utf-8"))
    models = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(models, dict) or not isinstance(doc.get("default_min_cacheable_tokens"), int):
        raise ValueError(f"{FILE}: needs models: {{...}} and default_min_cacheable_tokens")
    for key, entry in models.items():
        if entry.get("status") not in STATUSES:
            raise ValueError(f"{FILE}: models.{key}.status: must be one of {', '.join(STATUSES)}")
        if not isinstance(entry.get("min_cacheable_tokens"), int) or entry["min_cacheable_tokens"] < 0:
            raise ValueError(f"{FILE}: models.{key}.min_cacheable_tokens: must be a whole number >= 0")
        if entry["status"] in OUTDATED and entry.get("replacement") not in models:
            raise ValueError(f"{FILE}: models.{key}.replacement: must name another entry")
    return doc


def model_facts(api_model: str) -> ModelFacts | None:
    """The entry of ``api_model`` or of its longest prefix (a dated id finds its model); None if none."""
    models = facts_document()["models"]
    keys = [k for k in models if api_model == k or api_model.startswith((k + "-", k + "@"))]
    if not keys:
        return None
    key = max(keys, key=len)
    e = models[key]
    return ModelFacts(key, e["status"], e["min_cacheable_tokens"], e.get("replacement"),
                      str(e["retires"]) if e.get("retires") else None)


def min_cacheable_tokens(api_model: str) -> int:
    """The shortest prompt prefix the API caches for ``api_model`` (shorter: processed uncached)."""
    found = model_facts(api_model)
    return found.min_cacheable_tokens if found else int(facts_document()["default_min_cacheable_tokens"])


def _genai_deprecated(api_model: str) -> bool:
    from genai_prices.data import providers  # bundled data, offline

    anthropic = next((p for p in providers if p.id == "anthropic"), None)
    model = anthropic.find_model(api_model) if anthropic is not None else None
    return bool(model is not None and getattr(model, "deprecated", False))


def _price_change(scenario, old: str, new: str, today: date | None) -> str:
    from botcap.costmodel.prices import load_price_book

    from botcap.errors import BadInput

    try:
        book = load_price_book(scenario.costs.prices, [old, new], today=today)
    except BadInput:
        return "price difference unknown (no price for one of them)"
    a, b = book.claude[old].rates_mtok_usd, book.claude[new].rates_mtok_usd
    parts = [f"{name} ${a[k]:.2f} -> ${b[k]:.2f}" + (f" ({(b[k] - a[k]) / a[k]:+.0%})" if a[k] else "")
             for k, name in (("input", "input"), ("output", "output"), ("cache_read", "cache read"))]
    return "per MTok " + ", ".join(parts)


def model_warnings(scenario, today: date | None = None) -> list[str]:
    """One line per model of the scenario that is legacy, deprecated or retired (empty when current)."""
    today = today or scenario.costs.prices.priced_on or datetime.now(UTC).date()
    lines = []
    for key, spec in scenario.platform.claude.models.items():
        facts = model_facts(spec.api_model)
        where = f"platform.claude.models.{key}.api_model"
        if facts is not None and facts.status in OUTDATED:
            state = facts.status
            if facts.retires:
                past = date.fromisoformat(facts.retires) < today
                state = f"retired since {facts.retires}" if past else f"{state}, retires {facts.retires}"
            change = _price_change(scenario, spec.api_model, facts.replacement, today)
            lines.append(f"{where}: {spec.api_model} is {state}; current replacement {facts.replacement}: "
                         f"{change} (costmodel/model_facts.yaml, as of {facts_document()['as_of']})")
        elif (facts is None or facts.status == "unknown") and _genai_deprecated(spec.api_model):
            lines.append(f"{where}: {spec.api_model} is marked deprecated in genai-prices; "
                         f"no replacement known (costmodel/model_facts.yaml has none)")
    return lines
