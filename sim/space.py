"""The points a sweep visits (``--grid p=v1,v2``, ``--lhs N --range p=lo..hi``) and the optimizer's space.

Why apart from the sweep: parsing and validating the axes is plain data work that must finish (and
fail, with one line per problem) before any cluster starts. Each point is a dict ``{dotted path:
value}`` applied to the base scenario like ``--set``; every point is validated up front, so a bad
value is reported before anything runs, never halfway through a sweep.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from botcap.errors import BadInput
from botcap.inputs import load_yaml, read_text
from botcap.scenario import Scenario, apply_set
from botcap.scenario.base import Spec
from botcap.scenario.loader import format_errors, validate
from botcap.scenario.model import _check_hhmm

__all__ = ["parse_grid", "parse_ranges", "grid_points", "lhs_points", "resolve_points", "MAX_POINTS", "Space",
           "load_space", "HAIKU", "DEFAULT_SPACE"]

MAX_POINTS = 100_000


def _yaml_value(text: str, where: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        raise BadInput(f"{where}: {text!r} is not a YAML value") from None


def parse_grid(specs: list[str]) -> dict[str, list]:
    """``["path=v1,v2", ...]`` -> {path: [v1, v2]} (values YAML-typed; a path at most once)."""
    axes: dict[str, list] = {}
    problems = []
    for spec in specs:
        path, eq, values = spec.partition("=")
        path = path.strip()
        if not eq or not path or not values.strip():
            problems.append(f"--grid {spec!r}: expected dotted.path=v1,v2,... "
                            f"(e.g. platform.instances=3,5,8)")
            continue
        if path in axes:
            problems.append(f"--grid {path}: given twice")
            continue
        parsed = [_yaml_value(v.strip(), f"--grid {path}") for v in values.split(",")]
        if len({repr(v) for v in parsed}) != len(parsed):
            problems.append(f"--grid {path}: values must be distinct (got {values})")
        axes[path] = parsed
    if problems:
        raise BadInput(problems)
    return axes


def parse_ranges(specs: list[str]) -> dict[str, tuple[float, float]]:
    """``["path=lo..hi", ...]`` -> {path: (lo, hi)}; integers when both ends are integers."""
    ranges: dict[str, tuple] = {}
    problems = []
    for spec in specs:
        path, eq, rng = spec.partition("=")
        path = path.strip()
        lo_s, dots, hi_s = rng.partition("..")
        lo = _yaml_value(lo_s.strip(), f"--range {path}") if dots else None
        hi = _yaml_value(hi_s.strip(), f"--range {path}") if dots else None
        ok = all(_number(v) for v in (lo, hi))
        if not eq or not path or not ok:
            problems.append(f"--range {spec!r}: expected dotted.path=lo..hi with numbers (e.g. "
                            f"platform.instances=2..10)")
        elif not lo < hi:
            problems.append(f"--range {path}: lo must be < hi (got {lo}..{hi})")
        elif path in ranges:
            problems.append(f"--range {path}: given twice")
        else:
            ranges[path] = (lo, hi)
    if problems:
        raise BadInput(problems)
    return ranges


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def grid_points(axes: dict[str, list]) -> list[dict]:
    """Every combination of the axes' values, the first axis varying slowest."""
    size = math.prod(len(v) for v in axes.values())
    if size > MAX_POINTS:
        raise BadInput(f"--grid: {size:,} points; at most {MAX_POINTS:,}")
    return [dict(zip(axes, combo, strict=True)) for combo in itertools.product(*axes.values())]


def lhs_points(n: int, ranges: dict[str, tuple], seed: int) -> list[dict]:
    """``n`` Latin-hypercube points over the ranges (scipy's LatinHypercube, seeded: reproducible)."""
    if not 1 <= n <= MAX_POINTS:
        raise BadInput(f"--lhs: must be in 1..{MAX_POINTS} (got {n})")
    if not ranges:
        raise BadInput("--lhs: needs at least one --range dotted.path=lo..hi")
    from scipy.stats import qmc

    unit = qmc.LatinHypercube(d=len(ranges), seed=np.random.default_rng(seed)).random(n)
    points = []
    for row in unit:
        point = {}
        for u, (path, (lo, hi)) in zip(row, ranges.items(), strict=True):
            if isinstance(lo, int) and isinstance(hi, int):
                point[path] = int(min(hi, math.floor(lo + u * (hi - lo + 1))))
            else:
                point[path] = float(lo + u * (hi - lo))
        points.append(point)
    return points


def resolve_points(base: Scenario, points: list[dict]) -> list[Scenario]:
    """Each point applied to the base scenario and validated; all problems reported at once."""
    doc = base.model_dump(mode="json")
    out, problems, seen = [], [], set()
    for i, point in enumerate(points):
        d = yaml.safe_load(yaml.safe_dump(doc))  # a deep copy the validator may not share with others
        try:
            for path, value in point.items():
                apply_set(d, f"{path}={json_yaml(value)}")
            out.append(validate(d))
        except BadInput as exc:
            for line in exc.lines:
                if line not in seen:
                    seen.add(line)
                    problems.append(f"point {i} ({_label(point)}): {line}")
    if problems:
        raise BadInput(problems[:20] + ([f"... and {len(problems) - 20} more"] if len(problems) > 20 else []))
    return out


def json_yaml(value) -> str:
    """A value as YAML flow text that apply_set parses back to the same value."""
    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()


def _label(point: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in point.items())


# ---------------------------------------------------------------------------------------------
# the optimizer's space file (sim/scenarios/optimize_space.yaml)
HAIKU = "haiku_routing_share"
DEFAULT_SPACE = Path(__file__).parent / "scenarios" / "optimize_space.yaml"


class Window(Spec):
    start: str = Field(description='simulated clock at t=0, "HH:MM"')
    hours: float = Field(gt=0, le=24)

    @field_validator("start", mode="before")
    @classmethod
    def _start(cls, v) -> str:
        return _check_hhmm(v)


class Choice(Spec):
    choices: dict[str, dict[str, Any]] = Field(min_length=1, description="label -> {dotted path: value}")


class Space(Spec):
    """What ``sim optimize`` may change, how each candidate is judged, and how much it may simulate."""

    window: Window
    replications: int = Field(ge=1, le=100)
    screen_replications: int = Field(ge=1, le=100)
    per_cost_level: int = Field(ge=1, le=10_000)
    runners_up: int = Field(ge=0, le=100)
    budget_runs: int = Field(ge=1, le=100_000)
    dimensions: dict[str, list[Any] | Choice] = Field(min_length=1)

    @model_validator(mode="after")
    def _dims(self) -> Space:
        problems = []
        for name, values in self.dimensions.items():
            if isinstance(values, list):
                if not values:
                    problems.append(f"dimensions.{name}: must list at least one value")
                if name == HAIKU and not all(_number(v) and 0 <= v < 1 for v in values):
                    problems.append(f"dimensions.{HAIKU}: shares must be >= 0 and < 1 (got {values})")
        if problems:
            raise ValueError("; ".join(problems))
        return self


def load_space(path: str | Path | None) -> Space:
    """The optimizer's space (default: sim/scenarios/optimize_space.yaml), or BadInput naming each problem."""
    p = Path(path) if path is not None else DEFAULT_SPACE
    doc = load_yaml(read_text(p), str(p))
    if not isinstance(doc, dict):
        raise BadInput(f"--space {p}: must be a YAML mapping with window, dimensions, ... (got "
                       f"{type(doc).__name__})")
    try:
        return Space.model_validate(doc)
    except ValidationError as e:
        raise BadInput([f"--space {p}: {line}" for line in format_errors(e)]) from None
