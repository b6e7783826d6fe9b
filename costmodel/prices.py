"""Where prices come from: a small price-source interface over genai-prices and dated YAML files.

Why an interface: Claude prices change and so do vendors' plans; the model must say for every price
which source it came from and how old it is, and a user must be able to correct one price without
touching code. Sources, first match wins for Claude: the user's override file, then the pinned
``genai-prices`` package (its bundled data only: we import ``genai_prices.data`` and never its
updater, so no network is used), then the repo's ``prices_override.yaml``. Infrastructure plans
(Neon, Railway, Cloudflare Workers) come from the override files only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Protocol

import yaml

from botcap.errors import BadInput
from botcap.inputs import clip, short

__all__ = ["RATE_KEYS", "ModelPrice", "PriceSource", "GenaiPricesSource", "OverrideSource", "PriceBook",
           "load_price_book", "repo_override_document"]

RATE_KEYS = ("input", "output", "cache_read", "cache_write_5m", "cache_write_1h")
_GENAI_ATTR = {"input": "input_mtok", "output": "output_mtok", "cache_read": "cache_read_mtok",
               "cache_write_5m": "cache_write_mtok", "cache_write_1h": "cache_write_1h_mtok"}
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
REPO_FILE = "costmodel/prices_override.yaml"


@dataclass(frozen=True)
class ModelPrice:
    """One model's rates in US dollars per million tokens, with where they come from."""

    api_model: str
    rates_mtok_usd: dict[str, float]
    batch_rates_mtok_usd: dict[str, float] | None   # None: the source has no Batch API price for it
    source: str
    as_of: str
    long_context_threshold_tokens: int | None = None
    long_context_rates_mtok_usd: dict[str, float] | None = None
    long_context_batch_rates_mtok_usd: dict[str, float] | None = None

    def to_dict(self) -> dict:
        out = {"api_model": self.api_model, "source": self.source, "as_of": self.as_of,
               **{f"{k}_mtok_usd": v for k, v in self.rates_mtok_usd.items()},
               "batch": None if self.batch_rates_mtok_usd is None
               else {f"{k}_mtok_usd": v for k, v in self.batch_rates_mtok_usd.items()}}
        if self.long_context_threshold_tokens is not None:
            out["long_context"] = {"threshold_tokens": self.long_context_threshold_tokens,
                                   **{f"{k}_mtok_usd": v for k, v in
                                      (self.long_context_rates_mtok_usd or {}).items()}}
        return out


class PriceSource(Protocol):
    """Anything that can price a Claude model by its API id (``claude-haiku-4-5``)."""

    name: str
    as_of: str

    def model_price(self, api_model: str) -> ModelPrice | None: ...


# ---------------------------------------------------------------------------------------------
class GenaiPricesSource:
    """The pinned genai-prices package, read from its bundled snapshot (offline, no auto-update)."""

    def __init__(self, priced_on: date, as_of: str, pinned_version: str):
        installed = metadata.version("genai-prices")
        self.name = f"genai-prices {installed} (bundled data, offline)"
        # the date recorded for the pinned version; another installed version's data date is unknown
        self.as_of = as_of if installed == pinned_version else f"unknown (pinned {pinned_version})"
        self._when = datetime(priced_on.year, priced_on.month, priced_on.day, 12, tzinfo=UTC)

    def model_price(self, api_model: str) -> ModelPrice | None:
        from genai_prices.data import providers  # bundled data: importing it never touches the network

        anthropic = next((p for p in providers if p.id == "anthropic"), None)
        model = anthropic.find_model(api_model) if anthropic is not None else None
        if model is None:
            return None
        std = model.get_prices(self._when)
        batch = model.get_prices(self._when, {"processing": "batch"})
        rates, lc_start, lc_rates = _split_tiers(std)
        if any(rates.get(k) is None for k in RATE_KEYS):
            return None
        if batch == std:
            # no batch variant in the data (older models): the standard rates are known, the Batch API
            # discount is not; a tier that batches on this model is refused, the batch mitigation
            # leaves it out and says so (costmodel/unit.py), rather than refusing the whole model
            return ModelPrice(api_model, rates, None, self.name, self.as_of, lc_start,
                              lc_rates if lc_start else None, None)
        b_rates, _, b_lc_rates = _split_tiers(batch)
        return ModelPrice(api_model, rates, b_rates, self.name, self.as_of, lc_start,
                          lc_rates if lc_start else None, b_lc_rates if lc_start else None)


def _split_tiers(price) -> tuple[dict[str, float], int | None, dict[str, float]]:
    """Base rates, the first long-context threshold (if any) and the rates above it."""
    base: dict[str, float] = {}
    over: dict[str, float] = {}
    start: int | None = None
    for key, attr in _GENAI_ATTR.items():
        value = getattr(price, attr, None)
        if value is None:
            continue
        if hasattr(value, "tiers"):
            base[key] = float(value.base)
            if value.tiers:
                start = value.tiers[0].start if start is None else min(start, value.tiers[0].start)
                over[key] = float(value.tiers[0].price)
        else:
            base[key] = float(value)
    for key in base:
        over.setdefault(key, base[key])
    return base, start, over


# ---------------------------------------------------------------------------------------------
class OverrideSource:
    """Claude prices from a price document (the repo's file, or a user's file of the same shape)."""

    def __init__(self, doc: dict, name: str):
        self.name = name
        self._claude = doc.get("claude") or {}
        dates = sorted(str(e.get("as_of")) for e in self._claude.values() if isinstance(e, dict))
        self.as_of = dates[0] if dates else "unknown"

    def model_price(self, api_model: str) -> ModelPrice | None:
        entry = self._claude.get(api_model)
        if entry is None:
            return None
        where = f"{self.name}: claude.{api_model}"
        rates = {k: _number(entry, f"{k}_mtok_usd", where) for k in RATE_KEYS}
        discount = _number(entry, "batch_discount", where, high=1.0)
        threshold = entry.get("long_context_threshold_tokens")
        lc = lc_batch = None
        if threshold is not None:
            mult = entry.get("long_context_mult") or {}
            lc = {k: rates[k] * float(mult.get(k, 1.0)) for k in RATE_KEYS}
            lc_batch = {k: v * discount for k, v in lc.items()}
        return ModelPrice(api_model, rates, {k: v * discount for k, v in rates.items()},
                          f"{self.name} ({entry.get('source', 'no source given')})",
                          _date(entry, where), threshold, lc, lc_batch)


def _number(entry: dict, key: str, where: str, high: float | None = None) -> float:
    value = entry.get(key)
    ok = (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
          and value >= 0)
    if not ok or (high is not None and value > high):
        allowed = f"a finite number from 0 to {high}" if high is not None else "a finite number >= 0"
        raise BadInput(f"{where}.{key}: must be {allowed} (got {short(value)})")
    return float(value)


def _date(entry: dict, where: str) -> str:
    value = str(entry.get("as_of", ""))
    if not _DATE.match(value):
        raise BadInput(f"{where}.as_of: must be a date YYYY-MM-DD (got {short(entry.get('as_of'))})")
    return value


# ---------------------------------------------------------------------------------------------
@dataclass
class PriceBook:
    """Claude prices by API model id and infrastructure plan prices, each with source and date."""

    claude: dict[str, ModelPrice]
    plans: dict
    source: str
    as_of: str
    sources_used: list[str] = field(default_factory=list)

    def plan(self, *path: str) -> dict:
        """A plan's price entry (``plan("neon", "launch")``) or BadInput naming what exists."""
        node = self.plans
        for i, key in enumerate(path):
            if not isinstance(node, dict) or key not in node:
                have = ", ".join(k for k in node if isinstance(node.get(k), dict)) if isinstance(node, dict) \
                    else ""
                raise BadInput(f"prices: no entry {'.'.join(path[:i + 1])} in the price files "
                               f"(have: {have or 'none'})")
            node = node[key]
        return node


@cache
def repo_override_document() -> dict:
    # next to this module (resources.files("botcap.costmodel") can resolve to a same-named test folder)
    text = Path(__file__).with_name("prices_override.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _user_document(path: str) -> dict:
    from botcap.scenario import read_document  # same file checks and messages as scenario files

    try:
        doc = read_document(Path(path))
        check_override_document(doc, repo_override_document())
        return doc
    except BadInput as e:
        raise BadInput([f"costs.prices.override_file: {path}: {line}"
                        if not line.startswith(str(path)) else f"costs.prices.override_file: {line}"
                        for line in e.lines]) from None


_CLAUDE_KEYS = (*(f"{k}_mtok_usd" for k in RATE_KEYS), "batch_discount", "long_context_threshold_tokens",
                "long_context_mult", "source", "as_of", "verified", "disagrees_with_genai_prices")


def check_override_document(doc: dict, repo: dict) -> None:
    """A user's price file, checked whole before any price is read: one BadInput line per problem.

    Claude entries: a mapping per model with every rate a finite number >= 0 (``_number``), a date,
    known keys only. Plan entries (neon, railway, cloudflare_workers) follow the repo file's shape:
    known keys only (a new plan name takes the shape of its sibling plans), a number where the repo
    file has a number (finite, >= 0; not text, not null, not true/false), a mapping where it has one.
    """
    problems: list[str] = []
    allowed_top = [k for k in repo if k != "genai_prices"]
    for key, value in doc.items():
        if key not in allowed_top:
            problems.append(f"{_key(key)}: unknown key (allowed: {', '.join(allowed_top)})")
        elif key == "claude":
            problems += _check_claude(value)
        else:
            problems += _check_shape(value, repo[key], str(key))
    if problems:
        raise BadInput(problems)


def _check_claude(claude) -> list[str]:
    if not isinstance(claude, dict):
        return [f"claude: must be a mapping of model id to prices (got {short(claude)})"]
    problems = []
    for model, entry in claude.items():
        where = f"claude.{_key(model)}"
        if not isinstance(entry, dict):
            problems.append(f"{where}: must be a mapping of prices (got {short(entry)})")
            continue
        unknown = [k for k in entry if k not in _CLAUDE_KEYS]
        if unknown:
            problems.append(f"{where}.{_key(unknown[0])}: unknown key "
                            f"(allowed: {', '.join(_CLAUDE_KEYS)})")
            continue
        try:
            OverrideSource({"claude": {model: entry}}, "").model_price(model)
            _check_long_context(entry, where)
        except BadInput as e:
            problems += [line.removeprefix(": ") for line in e.lines]   # the source name "" -> ": claude.X"
    return problems


def _key(key) -> str:
    return clip(key) if isinstance(key, str) else short(key)


def _check_long_context(entry: dict, where: str) -> None:
    threshold = entry.get("long_context_threshold_tokens")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int)
                                  or threshold < 1):
        raise BadInput(f"{where}.long_context_threshold_tokens: must be a whole number >= 1 or null "
                       f"(got {short(threshold)})")
    mult = entry.get("long_context_mult")
    if mult is None:
        return
    if not isinstance(mult, dict):
        raise BadInput(f"{where}.long_context_mult: must be a mapping of rate to multiplier "
                       f"(got {short(mult)})")
    for k in mult:
        if k not in RATE_KEYS:
            raise BadInput(f"{where}.long_context_mult.{_key(k)}: unknown key "
                           f"(allowed: {', '.join(RATE_KEYS)})")
        _number(mult, k, f"{where}.long_context_mult")


def _check_shape(value, like, where: str) -> list[str]:
    """``value`` against the repo file's ``like`` at the same place (see check_override_document)."""
    if isinstance(like, dict):
        if not isinstance(value, dict):
            return [f"{where}: must be a mapping (got {short(value)})"]
        problems = []
        for k, v in value.items():
            if k in like:
                problems += _check_shape(v, like[k], f"{where}.{k}")
            else:   # a new plan name could not be chosen either: the scenario's plan is a fixed list
                problems.append(f"{where}.{_key(k)}: unknown key (allowed: {', '.join(map(str, like))})")
        return problems
    if isinstance(like, bool) or like is None:
        return []
    if isinstance(like, int | float):
        ok = (isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
              and value >= 0)
        return [] if ok else [f"{where}: must be a finite number >= 0 (got {short(value)})"]
    if isinstance(like, str):
        if where.endswith(".as_of") and not (isinstance(value, str) and _DATE.match(value)):
            return [f"{where}: must be a date YYYY-MM-DD (got {short(value)})"]
        return [] if isinstance(value, str) else [f"{where}: must be text (got {short(value)})"]
    return []


def load_price_book(prices_spec, api_models: list[str], today: date | None = None) -> PriceBook:
    """Look up every model the scenario uses; BadInput naming the model if no source prices it."""
    repo = repo_override_document()
    user = _user_document(prices_spec.override_file) if prices_spec.override_file else None
    priced_on = prices_spec.priced_on or today or datetime.now(UTC).date()
    chain: list[PriceSource] = []
    if user is not None:
        chain.append(OverrideSource(user, f"user file {prices_spec.override_file}"))
    if prices_spec.source == "genai-prices":
        g = repo.get("genai_prices", {})
        chain.append(GenaiPricesSource(priced_on, str(g.get("as_of")), str(g.get("version"))))
    chain.append(OverrideSource(repo, REPO_FILE))

    claude: dict[str, ModelPrice] = {}
    used: list[PriceSource] = []
    for api_model in api_models:
        for src in chain:
            found = src.model_price(api_model)
            if found is not None:
                claude[api_model] = found
                if src not in used:
                    used.append(src)
                break
        else:
            known = sorted(repo.get("claude", {}))
            raise BadInput(f"platform.claude.models: no price for api_model {api_model!r} in "
                           f"{' / '.join(s.name for s in chain)} (the override file has: {', '.join(known)})")
    plans = _merge({k: v for k, v in repo.items() if k not in ("claude", "genai_prices")},
                   {k: v for k, v in (user or {}).items() if k != "claude"})
    source = " + ".join([s.name for s in used] + [f"{REPO_FILE} (infrastructure plans)"])
    as_of = min([s.as_of for s in used if _DATE.match(s.as_of)] or ["unknown"])
    return PriceBook(claude, plans, source, as_of, [s.name for s in used])
