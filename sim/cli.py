"""The `botcap sim` commands (thin: parse options, call the library, print).

`sim run` exits 0 whenever it ran, whatever the SLO verdict (the verdict is in its output);
`sim capacity` is the one that exits 1 when no load meets the SLO.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from botcap.cliutil import JsonFlag, ScenarioFile, SetOption, emit_json, load, model_warnings
from botcap.errors import EXIT_GATE_FAILED
from botcap.provenance import calibration_line

sim_app = typer.Typer(no_args_is_help=True, help="Simulate the platform (SimPy model).")

SeedOption = Annotated[int | None, typer.Option("--seed", help="Base seed (default: the scenario's seed).")]
ReplicationsOption = Annotated[int | None, typer.Option(
    "--replications", help="Independent replications (default: horizon.replications).")]
HoursOption = Annotated[float | None, typer.Option(
    "--hours", help="Simulated hours per replication (default: horizon.hours).")]
WorkersOption = Annotated[int, typer.Option(
    "--workers", help="Worker processes of a local Dask cluster running replications in parallel.")]
OutOption = Annotated[Path | None, typer.Option(
    "--out", help="Folder for requests.parquet, timeseries.parquet, summary.json and PNG plots.")]


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root `botcap` app."""
    app.add_typer(sim_app, name="sim")


def _progress() -> Progress:
    """A progress bar on stderr, only when stderr is a terminal (logs and pipes stay clean)."""
    console = Console(stderr=True)
    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                    console=console, transient=True, disable=not console.is_terminal)


@sim_app.command("run")
def sim_run(file: ScenarioFile = None, set_: SetOption = None, seed: SeedOption = None,
            replications: ReplicationsOption = None, hours: HoursOption = None,
            out: OutOption = None, workers: WorkersOption = 1, json_: JsonFlag = False) -> None:
    """Simulate the scenario; print the summary (a table, or one JSON object with --json)."""
    from botcap.sim.outdir import check_out_dir, rows_folder, write_out_dir
    from botcap.sim.runner import check_options, run
    from botcap.sim.summary import summarize

    scenario = load(file, set_)
    check_options(scenario, seed=seed, replications=replications, hours=hours, workers=workers)
    if out is not None:
        check_out_dir(out)
    warnings = model_warnings(scenario)
    # with --out the rows stream to disk during the run (botcap.sim.outdir): memory holds those in flight
    with _progress() as bar, rows_folder(out) as rows_dir:
        task = bar.add_task("simulating", total=1.0)
        result = run(scenario, seed=seed, replications=replications, hours=hours, workers=workers,
                     progress=lambda f, label: bar.update(task, completed=f, description=label),
                     rows_dir=rows_dir)
        bar.update(task, description="summarising")
        summary = {**summarize(result), "warnings": warnings}   # in summary.json too
        if out is not None:
            bar.update(task, description=f"writing {out}")
            write_out_dir(result, summary, out)
    if json_:
        emit_json(summary)
    else:
        print_summary(summary, out)


@sim_app.command("capacity")
def sim_capacity(file: ScenarioFile = None, set_: SetOption = None, seed: SeedOption = None,
                 replications: ReplicationsOption = None, hours: HoursOption = None,
                 knob: Annotated[str | None, typer.Option(
                     "--knob", help="Dotted path of the load to search (default: workload.dau, or "
                                    "workload.arrivals.rate_per_s in poisson mode).")] = None,
                 tolerance: Annotated[float, typer.Option(
                     "--tolerance", help="Stop when the failing value is within this share above.")] = 0.02,
                 json_: JsonFlag = False) -> None:
    """The largest load meeting the scenario's SLO (bisection); exit 1 if even the smallest fails."""
    from botcap.sim.capacity import find_capacity

    scenario = load(file, set_)
    with _progress() as bar:
        task = bar.add_task("searching", total=None)
        found = find_capacity(scenario, knob=knob, seed=seed, replications=replications, hours=hours,
                              rel_tol=tolerance, progress=lambda label: bar.update(task, description=label))
    if json_:
        emit_json(found)
    else:
        console = Console()
        _print_calibration(console, found.get("calibration"))
        for e in found["evaluations"]:
            verdict = "[green]meets[/]" if e["met"] else \
                "[red]fails[/] " + "; ".join(_violation_text(v) for v in e["violations"])
            console.print(f"{found['knob']} = {e['value']:<12,} p95 {_f(e['p95_s'])} s  {verdict}")
        if found["capacity"] is None:
            console.print(f"[red]no value of {found['knob']} meets the SLO[/]")
        else:
            console.print(f"[bold]capacity: {found['knob']} = {found['capacity']:,}[/]"
                          + (f" (fails at {found['failed_at']:,})" if found["failed_at"] is not None else ""))
            u = found["uncertainty"]
            rate = (u["at_capacity"] or {}).get("arrivals_per_s")
            if rate:
                console.print(f"  = {rate['mean']:.3g} user messages/s on average, {rate['peak_hour']:.3g}/s "
                              f"in the busiest hour; {u['replications']} replication(s) per run")
    if found["capacity"] is None:
        # SystemExit, not typer.Exit: click (standalone_mode=False) turns typer.Exit into a return value
        # that botcap.cli.main does not pass on
        raise SystemExit(EXIT_GATE_FAILED)


GridOption = Annotated[list[str] | None, typer.Option(
    "--grid", help="A swept key and its values: dotted.path=v1,v2,... (YAML-typed). Repeatable: "
                    "every combination.")]
RangeOption = Annotated[list[str] | None, typer.Option(
    "--range", help="With --lhs: a swept key and its range, dotted.path=lo..hi. Repeatable.")]
DaskOption = Annotated[str | None, typer.Option(
    "--dask", help="Address of an existing Dask scheduler (tcp://host:8786); default: a local cluster.")]
ClusterWorkersOption = Annotated[int, typer.Option(
    "--workers", help="Worker processes of the local Dask cluster (ignored with --dask).")]


@sim_app.command("sweep")
def sim_sweep(file: ScenarioFile = None, set_: SetOption = None, grid: GridOption = None,
              lhs: Annotated[int | None, typer.Option(
                  "--lhs", help="Latin-hypercube sample of N points over the --range keys.")] = None,
              range_: RangeOption = None, seed: SeedOption = None, replications: ReplicationsOption = None,
              hours: HoursOption = None,
              out: Annotated[Path, typer.Option("--out", help="Sweep folder (new, empty, or an earlier "
                                                "sweep's: its finished tasks are reused).")] = ...,
              workers: ClusterWorkersOption = 2, dask: DaskOption = None, json_: JsonFlag = False) -> None:
    """Simulate every point x replication on Dask; tidy parquet, CI95 per point, plots; resumable."""
    from botcap.sim.cluster import check_address, dask_executor
    from botcap.sim.runner import check_options
    from botcap.sim.space import grid_points, lhs_points, parse_grid, parse_ranges, resolve_points
    from botcap.sim.sweep import prepare_out, run_sweep

    from botcap.errors import BadInput

    scenario = load(file, set_)
    check_options(scenario, seed=seed, replications=replications, hours=hours, workers=workers)
    check_address(dask)
    if bool(grid) == (lhs is not None):
        raise BadInput("--grid / --lhs: give either --grid dotted.path=v1,v2,... or --lhs N with --range")
    if range_ and lhs is None:
        raise BadInput("--range: only with --lhs N")
    base_seed = scenario.seed if seed is None else seed
    points = grid_points(parse_grid(grid)) if grid else lhs_points(lhs, parse_ranges(range_ or []), base_seed)
    scenarios = resolve_points(scenario, points)
    n_reps = scenario.horizon.replications if replications is None else replications
    prepare_out(out, create=False)
    with _progress() as bar:
        task = bar.add_task("starting the cluster", total=len(points) * n_reps)
        with dask_executor(workers=workers, address=dask) as executor:
            result = run_sweep(points, scenarios, replications=n_reps, seed=base_seed, hours=hours,
                               executor=executor, out=out,
                               params={"grid": grid or [], "lhs": lhs, "range": range_ or []},
                               progress=lambda done, total, label: bar.update(task, completed=done,
                                                                              description=label))
    summary = {"out": str(out), **result.to_dict()}
    if json_:
        emit_json(summary)
        return
    console = Console()
    table = Table("point", *points[0].keys(), "SLO met (share of replications)", title=f"sweep -> {out}/")
    for i, p in enumerate(points):
        table.add_row(str(i), *(str(v) for v in p.values()), _f(summary["slo_met_share_by_point"].get(i)))
    console.print(table)
    console.print(f"{summary['tasks']} tasks: {summary['computed']} computed, {summary['reused']} reused; "
                  f"results.parquet, ci95.parquet, points.parquet and plots/ in {out}/")


@sim_app.command("optimize")
def sim_optimize(file: ScenarioFile = None, set_: SetOption = None,
                 dau: Annotated[int | None, typer.Option("--dau", help="Daily active users to plan for "
                                                          "(default: the scenario's workload.dau).")] = None,
                 space: Annotated[Path | None, typer.Option("--space", help="Search space YAML (default: "
                                                              "sim/scenarios/optimize_space.yaml).")] = None,
                 growth: Annotated[str | None, typer.Option(
                     "--growth", help="DAU levels, comma-separated (1000,10000,100000): the cheapest plan "
                                      "per level.")] = None,
                 seed: SeedOption = None,
                 budget: Annotated[int | None, typer.Option(
                     "--budget", help="Simulated replications at most per DAU level (default: the "
                                      "space's budget_runs).")] = None,
                 out: Annotated[Path | None, typer.Option("--out", help="Folder for optimize.json and the "
                                                           "Pareto plot.")] = None,
                 workers: ClusterWorkersOption = 2, dask: DaskOption = None, json_: JsonFlag = False) -> None:
    """The cheapest configuration meeting the SLO (pre-screen, then DES in cost order); exit 1 if none."""
    from botcap.sim.cluster import check_address, dask_executor
    from botcap.sim.optimize import optimize
    from botcap.sim.outdir import check_out_dir
    from botcap.sim.runner import check_options
    from botcap.sim.space import load_space

    from botcap.errors import BadInput

    scenario = load(file, set_)
    check_options(scenario, seed=seed, workers=workers)
    check_address(dask)
    sp = load_space(space)
    if budget is not None:
        if not 1 <= budget <= 100_000:
            raise BadInput(f"--budget: must be in 1..100000 (got {budget})")
        sp = sp.model_copy(update={"budget_runs": budget})
    if growth is not None and dau is not None:
        raise BadInput("--growth / --dau: give one of them")
    levels = [dau] if growth is None else _dau_list(growth)
    if dau is not None and not 1 <= dau <= 100_000_000:
        raise BadInput(f"--dau: must be in 1..100000000 (got {dau})")
    if out is not None:
        check_out_dir(out)
    results = []
    with _progress() as bar, dask_executor(workers=workers, address=dask) as executor:
        task = bar.add_task("optimizing", total=None)
        for level in levels:
            results.append(optimize(scenario, sp, dau=level, seed=seed, executor=executor,
                                    progress=lambda label, lv=level: bar.update(
                                        task, description=f"{lv or scenario.workload.dau:,} DAU: {label}")))
    doc = results[0] if growth is None else {"growth": [_growth_row(r) for r in results], "levels": results}
    if out is not None:
        from botcap.sim.optimize_plots import write_optimize_out

        write_optimize_out(doc, results, out)
    if json_:
        emit_json(doc)
    else:
        _print_optimize(results, growth is not None, out)
    if any(r["winner"] is None for r in results):
        raise SystemExit(EXIT_GATE_FAILED)


def _dau_list(text: str) -> list[int]:
    from botcap.errors import BadInput

    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise BadInput(f"--growth: must be DAU levels such as 1000,10000,100000 (got {text!r})") from None
    if not values or any(not 1 <= v <= 100_000_000 for v in values) or len(set(values)) != len(values):
        raise BadInput(f"--growth: distinct DAU levels in 1..100000000 (got {text!r})")
    return sorted(values)


def _growth_row(r: dict) -> dict:
    return {"dau": r["dau"], "monthly_cost_usd": r["monthly_cost_usd"],
            "monthly_cost_per_dau_usd": r["monthly_cost_per_dau_usd"],
            "config": r["winner"]["config"] if r["winner"] else None, "stopped": r["books"]["stopped"]}


def _print_optimize(results: list[dict], growth: bool, out: Path | None) -> None:
    console = Console()
    for r in results:
        b = r["books"]
        console.print(f"[bold]{r['dau']:,} DAU[/]: {b['configurations']:,} configurations, {b['pruned']:,} "
                      f"pruned by the pre-screen, {b['simulated']} simulated ({b['simulated_replications']} "
                      f"replications), {b['confirmed']} confirmed; {b['stopped']}")
        if r["winner"] is None:
            console.print("[red]no configuration in the space meets the SLO[/]")
            continue
        table = Table("rank", "monthly $", "$/DAU", *r["winner"]["config"].keys(),
                      title="cheapest meeting the SLO")
        for rank, c in enumerate([r["winner"], *r["runners_up"]], start=1):
            table.add_row(str(rank), f"{c['monthly_cost_usd']:,.0f}",
                          f"{c['monthly_cost_usd'] / r['dau']:.3f}",
                          *(str(v) for v in c["config"].values()))
        console.print(table)
        for kind, d in r["pareto"].items():
            front = ", ".join(f"${p['monthly_cost_usd']:,.0f} -> {_f(p['p95_s'])} s" for p in d["front"])
            limit = _f(r["slo_p95_s"].get(kind))
            console.print(f"Pareto front, {kind} p95 (limit {limit} s): {front or '-'}")
    if out is not None:
        console.print(f"results written to {out}/ (optimize.json, pareto_<dau>.png)")


def _f(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _print_calibration(console: Console, facts: dict | None) -> None:
    """The "calibrated from runs: …" line, verbatim (no markup, no wrapping); nothing if uncalibrated."""
    line = calibration_line(facts)
    if line is not None:
        console.print(line, markup=False, highlight=False, soft_wrap=True)


def _print_failures(console: Console, title: str, by_reason: dict) -> None:
    if by_reason:
        console.print(f"  {title}: " + ", ".join(f"{n} {reason}" for reason, n in by_reason.items()))


def _violation_text(v) -> str:
    return v["text"] if isinstance(v, dict) else str(v)


def print_summary(s: dict, out: Path | None = None) -> None:
    """The summary for people: latency per kind, waits, utilisation, Claude, digests, the SLO."""
    console = Console()
    req = s["requests"]
    console.print(f"[bold]{s['scenario']}[/]  seed {s['seed']}  {s['replications']} replication(s) of "
                  f"{s['simulated_s'] / 3600:.3g} h  ·  {req['arrived']} requests = {req['completed']} "
                  f"completed + {req['failed']} failed + {req['in_flight']} in flight + "
                  f"{req['missed']} missed  ·  {_f(s['throughput_per_s'])} /s")
    _print_failures(console, "requests failed", req["failed_by_reason"])
    _print_calibration(console, s.get("calibration"))
    lat = Table("kind", "count", "mean s", "p50 s", "p95 s", "p99 s", "p95 s all", "errors",
                title="latency, arrival → reply (of replies; 'p95 s all': failures as ∞, unfinished "
                      "at their age)")
    cens, by_kind = s.get("latency_censored_by_kind_s", {}), s.get("requests_by_kind", {})
    for kind, d in s["latency_by_kind_s"].items():
        lat.add_row(kind, str(d["count"]), *(_f(d[k]) for k in ("mean", "p50", "p95", "p99")),
                    _f(cens.get(kind, {}).get("p95")), _f(by_kind.get(kind, {}).get("error_rate")))
    lat.add_row("[bold]all[/]", str(req["completed"]),
                *(_f(s["latency_s"][k]) for k in ("mean", "p50", "p95", "p99")),
                _f(s.get("latency_censored_s", {}).get("p95")), _f(s.get("error_rate")))
    console.print(lat)
    waits = Table("resource", "wait mean s", "wait p95 s", "share waited", "p95 s of those waiting",
                  "utilisation", title="where requests wait (utilisation of db_server: busy connections)")
    util = s["utilization"]
    util_of = {"handler": "handlers", "db_pool": "db_connections", "claude_semaphore": "claude_concurrency",
               "telegram_send": "telegram_send", "cpu": "cpu", "webhook": "webhook_connections",
               "db_server": "db_server_busy"}
    for key, d in s["wait_s"].items():
        waits.add_row(key, _f(d["mean"]), _f(d["p95"]), _f(d.get("share_waited")),
                      _f(d.get("p95_of_waiting")),
                      _f(util.get(util_of.get(key, ""), math.nan)))
    console.print(waits)
    c, dg, db = s["claude"], s["digests"], s["db"]
    tokens = ", ".join(f"{m}: {t['input']:,} in / {t['output']:,} out"
                       for m, t in c["tokens"].items()) or "none"
    console.print(f"claude: {c['calls']} calls, {c['http_429']}×429, {c['http_529']}×529, "
                  f"{c['retries']} retries; tokens {tokens}; spend ${_f(c.get('spend_usd'))}, wasted on "
                  f"timeouts ${_f(c.get('wasted_usd'))}; breaker open {_f(c['breaker_open_s'])} s "
                  f"({c.get('breaker_openings', 0)} openings)")
    for o in c.get("outages", []):
        console.print(f"  outage {_f(o['start_s'])}-{_f(o['end_s'])} s: {o['failed_requests']} requests "
                      f"failed, {o['failed_after_end']} after its end; recovered {_f(o['recovery_s'])} s "
                      "after it")
    late = dg["lateness_s"]
    console.print(f"digests: {dg['scheduled']} scheduled = {dg['sent']} sent + {dg['failed']} failed + "
                  f"{dg['in_flight']} in flight + {dg['missed']} missed; {dg['duplicate_sends']} duplicates; "
                  f"lateness of sent p50 {_f(late['p50'])} s, p95 {_f(late['p95'])} s, "
                  f"max {_f(late['max'])} s; "
                  f"of all not failed (unsent: their age), max "
                  f"{_f(dg['lateness_censored_s']['max_not_failed'])} s; "
                  f"max per slot {dg['max_per_slot']}")
    _print_failures(console, "digests failed", dg["failed_by_reason"])
    console.print(f"db: peak server connections {db['peak_server_connections']}, "
                  f"acquire timeouts {db['acquire_timeouts']}")
    for mech in s.get("mechanisms", []):
        console.print(f"  mechanism: {mech['text']}", markup=False, highlight=False)
    for key, (lo, hi) in s.get("ci95", {}).items():
        if not key.startswith("latency_by_kind_s"):
            console.print(f"95% CI {key}: [{_f(lo)}, {_f(hi)}]")
    slo = s["slo"]
    console.print("SLO: [green]met[/]" if slo["met"] else
                  "SLO: [red]not met[/]\n  " + "\n  ".join(_violation_text(v) for v in slo["violations"]))
    if out is not None:
        console.print(f"results written to {out}/")
