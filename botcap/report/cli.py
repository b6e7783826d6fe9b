"""``botcap report``: build the architects' and planners' page (thin: options, progress, write)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer

from botcap.cliutil import JsonFlag, ScenarioFile, SetOption, dumps, load
from botcap.errors import BadInput

OutOption = Annotated[
    Path | None,
    typer.Option(
        "--out",
        help="Folder for index.html and report.json (default reports/<scenario file name or 'default'>).",
    ),
]
QuickFlag = Annotated[bool, typer.Option("--quick", help="Fewer variants, 1 replication of 45 min (for CI).")]
WorkersOption = Annotated[
    int, typer.Option("--workers", help="Dask worker processes of the local cluster (1 = no cluster).")
]
DaskOption = Annotated[
    str | None,
    typer.Option("--dask", help="An existing Dask scheduler (tcp://host:8786) instead of a local one."),
]
CacheOption = Annotated[
    Path, typer.Option("--cache", help="Sweep folder whose simulated variants a rebuild reuses.")
]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Base seed (default: the scenario's).")]


def register(app: typer.Typer) -> None:
    """Add ``botcap report`` to the root app."""
    app.command("report")(report)


def check_out(out: Path) -> None:
    """Refuse an --out botcap may not write (the one output policy, ``botcap.outdir.check_out_dir``)."""
    from botcap.outdir import check_out_dir

    check_out_dir(out)


def check_cache(cache: Path) -> None:
    """The sweep cache folder: new, empty, or an earlier sweep folder (it has sweep.json)."""
    if cache.exists() and not cache.is_dir():
        raise BadInput(f"--cache {cache}: exists and is not a folder")
    if cache.is_dir() and any(cache.iterdir()) and not (cache / "sweep.json").is_file():
        raise BadInput(f"--cache {cache}: folder is not empty and is no sweep folder (no sweep.json)")


def report(
    file: ScenarioFile = None,
    set_: SetOption = None,
    out: OutOption = None,
    quick: QuickFlag = False,
    workers: WorkersOption = 1,
    dask: DaskOption = None,
    cache: CacheOption = Path(".botcap/report-sweeps"),
    seed: SeedOption = None,
    json_: JsonFlag = False,
) -> None:
    """Build index.html (self-contained) and report.json: each section with its derived recommendation."""
    if not 1 <= workers <= 64:
        raise BadInput(f"--workers: must be in 1..64 (got {workers})")
    if seed is not None and not 0 <= seed <= 2**63 - 1:
        raise BadInput(f"--seed: must be in 0..{2**63 - 1} (got {seed})")
    scenario = load(file, set_)
    out = out if out is not None else Path("reports") / (file.stem if file is not None else "default")
    check_out(out)
    check_cache(cache)
    from botcap.sim.cluster import check_address, dask_executor

    check_address(dask)
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from botcap.report.build import build_report, write_report

    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("report", total=1.0)
        with ExitStack() as stack:
            executor = None
            if dask is not None or workers > 1:
                bar.update(task, description="starting Dask")
                executor = stack.enter_context(dask_executor(workers=workers, address=dask))
            data, plots = build_report(
                scenario,
                quick=quick,
                executor=executor,
                cache_dir=cache,
                seed=seed,
                progress=lambda f, label: bar.update(task, completed=f, description=label),
            )
        write_report(data, plots, out)
    if json_:
        typer.echo(dumps(data))
    else:
        typer.echo(f"wrote {out}/index.html and {out}/report.json ({data['build_s']:g} s)")
        for line in summary_lines(data):
            typer.echo(line)


def summary_lines(data: dict) -> list[str]:
    """The printed summary: each section's recommendation with its build seconds, then the sections
    by time (what to shorten first when the build is too slow)."""
    from botcap.report.fmt import format_value

    seconds = data.get("section_build_s", {})
    lines = []
    for sid in data["order"]:
        rec = data["sections"][sid]["recommendation"]
        text = rec["template"].format(**{k: format_value(v, rec["fmt"][k]) for k, v in rec["values"].items()})
        lines.append(f"  {sid} ({seconds.get(sid, 0):g} s): {text}")
    slowest = sorted(seconds.items(), key=lambda kv: -kv[1])
    lines.append("seconds per section: " + ", ".join(f"{sid} {s:g}" for sid, s in slowest))
    return lines
