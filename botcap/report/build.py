"""``build_report``: every section in order, then report.json and index.html written all or nothing.

Why one driver: the CLI, the example script and the tests build the same report; sections are
independent functions of a context (``botcap.report.context.Ctx``), so a section is added by
adding one entry to ``SECTIONS``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import Executor
from datetime import UTC, datetime
from pathlib import Path

import botcap
from botcap.cliutil import _jsonable, dumps
from botcap.errors import BadInput
from botcap.outdir import atomic_dir
from botcap.provenance import calibration_facts, calibration_line
from botcap.report import sections_arch as arch
from botcap.report import sections_cost as cost
from botcap.report import sections_econ as econ
from botcap.report import sections_faults as faults
from botcap.report import sections_growth as grow
from botcap.report import sections_plan as plan
from botcap.report.context import Ctx
from botcap.report.provenance import provenance
from botcap.report.render import render_html
from botcap.report.section import make_section
from botcap.report.variants import Window, scenario_hash
from botcap.scenario import Scenario

__all__ = ["SECTION_IDS", "build_report", "write_report", "default_window"]

SECTION_IDS = ("A1", "A2", "A3", "A4", "A6", "A7", "C4", "B6", "C1", "A5", "GROWTH", "CLAIMS", "PROVENANCE")
QUICK_DRAWS = 2000


def default_window(quick: bool, seed: int | None = None) -> Window:
    """Full: 09:30 + 1 h (the 10:00 digests inside), 2 replications; quick: 1 replication of 45 min."""
    return Window(start="09:30", hours=0.75 if quick else 1.0, replications=1 if quick else 2, seed=seed)


def failed_section(sid: str, exc: BaseException) -> dict:
    """A section the scenario does not let us answer (e.g. no tier named T3, no digests): the error, no
    numbers, no recommendation made up."""
    return make_section(
        sid,
        f"{sid} (not answered)",
        question="This section could not be computed for this scenario.",
        rule="None applied: the section failed before its rule could run.",
        variants=[],
        columns=[],
        rows=[],
        recommendation="Not answered: {error}",
        values={"error": f"{type(exc).__name__}: {str(exc)[:300]}"},
        value_fmt={"error": "text"},
    )


def build_report(
    scenario: Scenario,
    *,
    quick: bool = False,
    executor: Executor | None = None,
    cache_dir: Path | None = None,
    seed: int | None = None,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[dict, dict[str, list[str]]]:
    """(report.json object, plots per section id as base64 PNG).

    ``executor``: where the variants are simulated (a Dask cluster's, ``botcap.sim.cluster``; None =
    this process). ``cache_dir``: the sweep folder whose results a rebuild reuses (None: a fresh
    temporary one)."""
    say = progress or (lambda f, label: None)
    ctx = Ctx(
        base=scenario,
        window=default_window(quick, seed),
        quick=quick,
        executor=executor,
        cache_dir=cache_dir,
        cost_draws=QUICK_DRAWS if quick else None,
    )
    steps: list[tuple[str, Callable]] = [
        ("A1", arch.a1),
        ("A2", arch.a2),
        ("A3", cost.a3),
        ("A4", faults.a4),
        ("A6", plan.a6),
        ("A7", plan.a7),
        ("C4", econ.economics),
        ("B6", econ.b6),
        ("C1", faults.c1),
        ("A5", cost.a5),
        ("GROWTH", lambda c: grow.growth(c, sections.get("A1"))),
        ("CLAIMS", plan.claims),
        ("PROVENANCE", lambda c: provenance(c, c.cost()["prices"])),
    ]
    sections: dict = {}
    plots: dict = {}
    timing: dict = {}
    started = time.monotonic()
    for i, (sid, fn) in enumerate(steps):
        ctx.label = lambda text, i=i: say(i / len(steps), text)
        say(i / len(steps), sid)
        t0 = time.monotonic()
        ctx.notes = []
        try:
            sections[sid], plots[sid] = fn(ctx)
        except BadInput:
            raise
        except Exception as exc:  # noqa: BLE001 -- a scenario a section cannot answer: said in the section
            sections[sid], plots[sid] = failed_section(sid, exc), []
        sections[sid]["notes"] += ctx.notes
        timing[sid] = round(time.monotonic() - t0, 1)
    say(1.0, "done")
    facts = calibration_facts(scenario)
    report = {
        "scenario": scenario.name,
        "scenario_hash": scenario_hash(scenario),
        "botcap_version": botcap.__version__,
        "generated_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "window": ctx.window.to_dict(),
        "build_s": round(time.monotonic() - started, 1),
        "section_build_s": timing,
        "calibration": facts,
        "calibration_line": calibration_line(facts),
        "order": list(SECTION_IDS),
        "sections": sections,
    }
    return _jsonable(report), plots


def write_report(report: dict, plots: dict[str, list[str]], out: Path) -> Path:
    """index.html and report.json into ``out``, atomically (an earlier report there is replaced)."""
    with atomic_dir(Path(out), command="botcap report") as tmp:
        (tmp / "report.json").write_text(dumps(report) + "\n", encoding="utf-8")
        (tmp / "index.html").write_text(render_html(report, plots), encoding="utf-8")
    return Path(out)
