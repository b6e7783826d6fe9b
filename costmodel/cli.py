"""The ``botcap cost`` command (thin: parse options, call ``botcap.costmodel.run_cost``, print or write).

Heavy imports (numpy, genai-prices, matplotlib) happen inside the command, so that registering it
costs every other botcap command nothing.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from botcap.cliutil import JsonFlag, ScenarioFile, SetOption, dumps, emit_json, load
from botcap.errors import BadInput
from botcap.outdir import atomic_dir, check_out_dir
from botcap.provenance import calibration_line

FromSimOption = Annotated[Path | None, typer.Option(
    "--from-sim", help="A `botcap sim run` summary.json: use the Claude tokens it spent (per model).")]
OutOption = Annotated[Path | None, typer.Option(
    "--out", help="Folder for cost.json and PNG plots (atomic; replaces an earlier cost output).")]
DrawsOption = Annotated[int | None, typer.Option(
    "--draws", help="Monte Carlo draws (default: costs.uncertainty.draws; 0 = skip Monte Carlo and Sobol).")]
SeedOption = Annotated[int | None, typer.Option("--seed", help="Monte Carlo seed (default: the scenario's).")]
SalibFlag = Annotated[bool, typer.Option(
    "--salib", help="Sobol indices with SALib itself (Saltelli sampling, bootstrap CIs; slower to import).")]
MAX_DRAWS = 1_000_000


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root `botcap` app."""
    app.command("cost")(cost)


def _check_out(out: Path) -> None:
    check_out_dir(out)  # the one output layer: a folder botcap may write, checked before any work


def write_out(result, out: Path) -> None:
    """cost.json and the plots into a temporary sibling folder, then renamed into place."""
    from botcap.costmodel.plots import write_plots

    with atomic_dir(out, command="cost") as tmp:
        (tmp / "cost.json").write_text(dumps(result.data) + "\n", encoding="utf-8")
        write_plots(result.data, result.samples, tmp)


def _usd(v) -> str:
    return "n/a" if v is None else f"${v:,.2f}"


def _provenance_lines(d: dict) -> list[str]:
    """The scenario's calibration line, and the --from-sim summary's if that came from other runs."""
    line = calibration_line(d.get("calibration"))
    sim_line = calibration_line(d["volumes"].get("sim", {}).get("calibration"))
    lines = [line] if line is not None else []
    if sim_line is not None and sim_line != line:
        lines.append(f"sim summary {sim_line}")
    return lines


def _summary(d: dict) -> str:
    t, be, claim = d["total"], d["break_even"], d["planners_claim"]
    lines = [f"scenario {d['scenario']}: {t['dau']:,} DAU, {t['paying_users']:,} paying; "
             f"volumes from {d['volumes']['source']}",
             f"prices: {d['prices']['source']}, as of {d['prices']['as_of']} "
             f"(priced on {d['prices']['priced_on']})",
             *_provenance_lines(d),
             "",
             f"{'tier':<6}{'users':>7}{'Stars':>7}{'claude':>10}{'db':>8}{'compute':>9}{'other':>8}"
             f"{'cost':>10}{'revenue':>10}{'margin':>10}   (USD per user-month)"]
    for name, r in d["tiers"].items():
        cells = [r[k] for k in ("claude_per_user_month_usd", "db_per_user_month_usd",
                                "compute_per_user_month_usd", "other_per_user_month_usd",
                                "cost_per_user_month_usd", "revenue_per_user_month_usd",
                                "margin_per_user_month_usd")]
        w = (10, 8, 9, 8, 10, 10, 10)
        text = "".join(f"{'-' if v is None else f'{v:.3f}':>{n}}" for v, n in zip(cells, w, strict=True))
        lines.append(f"{name:<6}{r['users']:>7,}{r['price_stars']:>7.0f}{text}")
    comp = ", ".join(f"{k} {_usd(v)}" for k, v in t["by_component_monthly_usd"].items())
    be_text = (f"{be['paying_users']:,.0f} paying users (= {be['dau']:,.0f} DAU at this tier mix) = "
               f"{be['stars_per_month']:,.0f} Stars/month (now {be['current_stars_per_month']:,.0f})"
               if be["reachable"] else "never (paying users do not cover the free users they bring)")
    lines += ["",
              f"monthly: cost {_usd(t['monthly_cost_usd'])}, revenue {_usd(t['monthly_revenue_usd'])}, "
              f"margin {_usd(t['monthly_margin_usd'])}",
              f"  by component: {comp}",
              f"  Claude share of cost: {t['claude_share_of_cost']:.1%}",
              f"planners' claim: {claim['verdict']}",
              f"break-even: {be_text}; fixed {_usd(be['fixed_monthly_usd'])}/month",
              "", "mitigations (monthly cost, saving):"]
    for name, m in d["mitigations"].items():
        lines.append(f"  {name:<15}{_usd(m['monthly_cost_usd']):>14}{_usd(m['monthly_saving_usd']):>14}"
                     f"  ({m['saving_share']:.1%})"
                     + (f"  not batched on {', '.join(m['batch_unpriced_models'])}: no Batch API price"
                        if m.get("batch_unpriced_models") else ""))
    cap = d["capacity"]
    lines.append("")
    lines.append("capacity: " + ("ok" if cap["ok"] else "PLAN CANNOT CARRY THE LOAD"))
    lines += [f"  {k}: peak {cap['peak'][k]:,.0f} / limit {cap['limits'][k]:,}" for k in cap["peak"]]
    lines += [f"  ! {f}" for f in cap["flags"]]
    unc = d["uncertainty"]
    if "monthly_cost_usd" in unc:
        c, m = unc["monthly_cost_usd"], unc["monthly_margin_usd"]
        lines += ["", f"uncertainty ({unc['draws']:,} draws): monthly cost P5 {_usd(c['p5'])} / "
                  f"P50 {_usd(c['p50'])} / P95 {_usd(c['p95'])}; "
                  f"margin P5 {_usd(m['p5'])} / P95 {_usd(m['p95'])}"]
    top = ", ".join(f"{r['input']} (±{_usd(r['swing_margin_usd'] / 2)})" for r in unc["tornado"][:3])
    lines.append(f"tornado, widest margin swings: {top}")
    return "\n".join(lines)


def cost(file: ScenarioFile = None, set_: SetOption = None, from_sim: FromSimOption = None,
         out: OutOption = None, draws: DrawsOption = None, seed: SeedOption = None, salib: SalibFlag = False,
         json_: JsonFlag = False) -> None:
    """Unit economics per tier, break-even in Stars, A3 mitigations, capacity check and uncertainty."""
    if draws is not None and not 0 <= draws <= MAX_DRAWS:
        raise BadInput(f"--draws: must be from 0 to {MAX_DRAWS:,} (got {draws})")
    if seed is not None and seed < 0:
        raise BadInput(f"--seed: must be >= 0 (got {seed})")
    scenario = load(file, set_)
    if out is not None:
        _check_out(out)
    from botcap.costmodel.result import run_cost

    result = run_cost(scenario, from_sim=str(from_sim) if from_sim is not None else None, draws=draws,
                      seed=seed, sobol_method="salib" if salib else "numpy")
    for line in result.data["warnings"]:
        sys.stderr.write(f"warning: {line}\n")
    if out is not None:
        write_out(result, out)
    if json_:
        emit_json(result.data)
    else:
        typer.echo(_summary(result.data))
        if out is not None:
            typer.echo(f"\nwrote {out}/cost.json and {out}/*.png")
