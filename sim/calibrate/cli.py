"""``botcap calibrate RUN_DIR...``: a thin Typer command over ``botcap.sim.calibrate.core.calibrate``.

Exit 0 when it ran (the held-out errors are in the output, not in the exit code); exit 2 with one line
per problem for unusable input, and then nothing is written.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from botcap.cliutil import JsonFlag, emit_json
from botcap.outdir import atomic_dir, check_out_dir

__all__ = ["register", "calibrate_command"]


def register(app: typer.Typer) -> None:
    """Add ``calibrate`` to the root ``botcap`` app and ``replay`` to its ``sim`` group (registered before
    this module: ``botcap.cli.COMMAND_MODULES``)."""
    app.command("calibrate")(calibrate_command)
    from botcap.sim.cli import sim_app

    if not any(c.name == "replay" for c in sim_app.registered_commands):   # register() may run again
        sim_app.command("replay")(replay_command)


def replay_command(
    bundle: Annotated[Path, typer.Argument(help="A RunBundle folder (botcap loadtest run --out DIR).",
                                           show_default=False)],
    scenario: Annotated[Path | None, typer.Option(
        "--scenario", help="Scenario to replay with, e.g. one botcap calibrate --out wrote "
                           "(default: the one the load used).")] = None,
    replications: Annotated[int, typer.Option(
        "--replications", help="Model replays (seeds); at 3 a near-knee p95 moved 15% between seeds.")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Base seed of the model replays.")] = 1,
    json_: JsonFlag = False,
) -> None:
    """Feed a load test's own arrivals through the model until it drains; measured vs predicted per level."""
    from botcap.sim.calibrate.replay_bundle import replay_bundle

    result = replay_bundle(bundle, scenario_file=scenario, replications=replications, seed=seed)
    if json_:
        emit_json(result)
    else:
        print_replay(result)


def print_replay(r: dict) -> None:
    console = Console()
    console.print(f"[bold]replayed[/] {r['bundle']} through {r['scenario']} scenario "
                  f"({r['replications']} replications, Claude x{r['claude_time_scale']:g})")
    t = Table("rate /s", "kind", "sent", "unanswered meas/pred", "throughput /s meas/pred", "p50 s meas/pred",
              "p95 s meas/pred", "errors meas/pred", title="measured vs predicted per load level")
    for lv in r["levels"]:
        rows = [("[bold]all[/]", lv["measured"], lv["predicted"])]
        rows += [(k, v["measured"], v["predicted"]) for k, v in lv["by_kind"].items()]
        for i, (kind, m, p) in enumerate(rows):
            t.add_row(f"{lv['rate_per_s']:g}" if i == 0 else "", kind, str(m.get("sent", "")),
                      f"{m.get('unanswered', 0)} / {p.get('unanswered', 0)}",
                      f"{_f(m['throughput_per_s'])} / {_f(p['throughput_per_s'])}",
                      f"{_f(m['p50_s'])} / {_f(p['p50_s'])}", f"{_f(m['p95_s'])} / {_f(p['p95_s'])}",
                      f"{_pct(m['error_rate'])} / {_pct(p['error_rate'])}")
            if "first_p95_s" in p:
                t.add_row("", f"{kind} first text", "", "", "",
                          f"{_f(m.get('first_p50_s'))} / {_f(p['first_p50_s'])}",
                          f"{_f(m.get('first_p95_s'))} / {_f(p['first_p95_s'])}", "")
    console.print(t)
    if r["not_replayed"]:
        console.print("[yellow]not replayed[/] (kinds the scenario lacks): "
                      + ", ".join(f"{k} {n}" for k, n in r["not_replayed"].items()))


def calibrate_command(
    run_dirs: Annotated[list[Path], typer.Argument(help="RunBundle folders (botcap loadtest run --out DIR).",
                                                   show_default=False)],
    scenario: Annotated[Path | None, typer.Option(
        "--scenario", help="Scenario to calibrate (default: the one the runs used); its platform section "
                           "is replaced by the measured one.")] = None,
    holdout: Annotated[str | None, typer.Option(
        "--holdout", help="Arrival rates of the levels to predict but not fit, e.g. 1,3,5; 'none' fits all "
                          "(default: every second level when there are 4 or more).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Write the calibrated scenario YAML here (plots beside it in NAME.plots/).")] = None,
    replications: Annotated[int, typer.Option(
        "--replications", help="Model replays per bundle (at 3, a near-knee p95 moved 15%).")] = 10,
    seed: Annotated[int, typer.Option("--seed", help="Base seed of the model replays.")] = 1,
    bootstrap: Annotated[int, typer.Option(
        "--bootstrap", help="Bootstrap draws over the fitted requests: the 95% interval of each fitted mean "
                            "and predicted p95 (0 = none).")] = 10,
    json_: JsonFlag = False,
) -> None:
    """Fit the model's service times from load-test runs and check it on held-out load levels."""
    from botcap.sim.calibrate.core import calibrate, parse_holdout
    from botcap.sim.calibrate.writer import check_scenario_out

    if out is not None:  # both outputs checked before any work: the user's files are never replaced
        check_scenario_out(out)
        check_out_dir(out.with_suffix(".plots"), flag="--out (its NAME.plots/ folder)")
    result = calibrate(run_dirs, scenario_file=scenario, holdout=parse_holdout(holdout), out=out,
                       replications=replications, seed=seed, bootstrap_draws=bootstrap)
    if out is not None:
        from botcap.sim.calibrate.plots import write_plots

        plots = out.with_suffix(".plots")
        with atomic_dir(plots, command="botcap calibrate", flag="--out (its NAME.plots/ folder)") as tmp:
            names = [p.name for p in write_plots(result.report, tmp)]
        result.report["plots"] = [str(plots / n) for n in names]
    if json_:
        emit_json(result.report)
    else:
        print_report(result.report)


def _pct(v) -> str:
    return "–" if v is None or not math.isfinite(v) else f"{100 * v:.1f}%"


def _f(v) -> str:
    if v == math.inf:
        return "∞ (censored)"
    return "–" if v is None or not math.isfinite(v) else f"{v:.3g}"


def _halfwidth(e: dict) -> float:
    lo, hi = e["predicted_ci95"]
    p = e["predicted"]
    return (hi - lo) / 2 / p if all(map(math.isfinite, (lo, hi, p))) and p else -1.0


def print_report(r: dict) -> None:
    console = Console()
    console.print(f"[bold]calibrated from[/] {', '.join(r['runs'])}")
    fits = Table("stage", "dist", "mean", "cv / tokens/s", "fit", title="fitted stages")
    for name, f in r["fits"].items():
        p, g = f["params"], f["gof"]
        second = _f(p.get("cv")) if "cv" in p else _f(p.get("tokens_per_s"))
        fits.add_row(name, f["dist"], _f(p.get("mean", p.get("intercept_s"))), second,
                     f"{g['statistic']} {_f(g['value'])}")
    console.print(fits)
    t = Table("rate /s", "held out", "kind", "throughput meas/pred", "p50 s meas/pred",
              "p95 s meas [95% CI]/pred", "err thr", "err p50", "err p95",
              title="measured vs predicted per load level")
    for lv in sorted(r["levels"], key=lambda x: x["rate_per_s"]):
        m, p, e = lv["measured"], lv["predicted"], lv["error"]
        t.add_row(f"{lv['rate_per_s']:g}", "yes" if lv["held_out"] else "", "[bold]all[/]",
                  f"{_f(m['throughput_per_s'])} / {_f(p['throughput_per_s'])}",
                  f"{_f(m['p50_s'])} / {_f(p['p50_s'])}", f"{_f(m['p95_s'])} / {_f(p['p95_s'])}",
                  _pct(e["throughput"]), _pct(e["p50"]), _pct(e["p95"]))
        for kind, k in lv["by_kind"].items():
            km, kp, ke = k["measured"], k["predicted"], k["error"]
            note = "" if k["counted"] else f" (n={km['n']})"
            ci = k.get("measured_ci95", {}).get("p95_s", [math.nan, math.nan])
            t.add_row("", "", kind + note, f"{_f(km['throughput_per_s'])} / {_f(kp['throughput_per_s'])}",
                      f"{_f(km['p50_s'])} / {_f(kp['p50_s'])}",
                      f"{_f(km['p95_s'])} [{_f(ci[0])}–{_f(ci[1])}] / {_f(kp['p95_s'])}",
                      _pct(ke["throughput"]), _pct(ke["p50"]), _pct(ke["p95"]))
            if "first_p95_s" in kp:   # a streaming bot: its time to first answer too
                t.add_row("", "", f"{kind} first text", "",
                          f"{_f(km.get('first_p50_s'))} / {_f(kp['first_p50_s'])}",
                          f"{_f(km.get('first_p95_s'))} / {_f(kp['first_p95_s'])}", "",
                          _pct(ke.get("first_p50")), _pct(ke.get("first_p95")))
    console.print(t)
    for lv in sorted(r["levels"], key=lambda x: x["rate_per_s"]):
        if lv["held_out"] and lv.get("stages"):
            parts = [f"{name[:-2]} {1000 * v['measured_mean_s']:.3g}/{1000 * v['predicted_mean_s']:.3g}"
                     for name, v in lv["stages"].items()
                     if math.isfinite(v["measured_mean_s"]) and math.isfinite(v["predicted_mean_s"])]
            console.print(f"stages at {lv['rate_per_s']:g}/s, mean ms measured/predicted: "
                          + ", ".join(parts))
    mx = r["max_holdout_error"]
    console.print(f"largest held-out error ({mx['levels']} levels): throughput {_pct(mx['throughput'])}, "
                  f"p50 {_pct(mx['p50'])}, p95 {_pct(mx['p95'])} per kind")
    s = r["saturation"]
    console.print(f"saturation (largest rate meeting the SLO): measured {_f(s['measured_rate_per_s'])}/s, "
                  f"predicted {_f(s['predicted_rate_per_s'])}/s")
    u = r["usl"]
    console.print(f"USL: sigma {_f(u['sigma'])}, kappa {_f(u['kappa'])}, gamma {_f(u['gamma'])}/s; "
                  f"{len(u.get('disagreements', []))} level(s) where USL and DES differ by > 10%")
    fl = r.get("fitted_levels_max_error") or {}
    console.print(f"largest error on the fitted levels themselves: throughput {_pct(fl.get('throughput'))}, "
                  f"p50 {_pct(fl.get('p50'))}, p95 {_pct(fl.get('p95'))} per kind")
    st = r.get("stability") or {}
    if st.get("draws"):
        worst = max(st["p95_s"], key=lambda e: _halfwidth(e), default=None)
        if worst:
            lo, hi = worst["predicted_ci95"]
            console.print(f"stability ({st['draws']} bootstrap draws): predicted p95 within +-"
                          f"{_pct(st['max_p95_halfwidth'])} (95% interval; widest: {worst['kind']} at "
                          f"{worst['rate_per_s']:g}/s, {_f(lo)}-{_f(hi)} s)")
    lad = st.get("ladders") or {}
    if lad.get("cross"):
        widest = max(lad["spread"].items(), key=lambda kv: kv[1], default=(None, math.nan))
        mx = lad["max_cross_error"]
        console.print(f"stability ({lad['ladders']} ladders, each fitted alone): stage means apart by up to "
                      f"{_pct(widest[1])} ({widest[0]}); each ladder's fit replaying the others: throughput "
                      f"{_pct(mx['throughput'])}, p50 {_pct(mx['p50'])}, p95 {_pct(mx['p95'])} per kind")
    elif lad.get("why"):
        console.print(f"stability across ladders: not computed ({lad['why']})")
    if r.get("blackbox"):
        s = r["structure"]
        none = "no limit seen"
        console.print(f"black box: {s['mode']['value']}; handlers {s['updates_in_flight']['limit'] or none}, "
                      f"Claude calls {s['claude_in_flight']['limit'] or none}, work outside Claude "
                      f"{s['work_outside_claude']['limit'] or none}")
        for a in r.get("assumed", []):
            console.print(f"[yellow]assumed:[/] {a['key']} = {a['value']} ({a['why']})")
    for note in r.get("notes", []):
        console.print(f"[yellow]note:[/] {note}")
    if r.get("scenario_out"):
        console.print(f"calibrated scenario written to {r['scenario_out']}")
