"""PNG plots of a cost result: breakdown by tier and component, break-even, tornado, Monte Carlo.

Why from the result dict: the plots show exactly the numbers the JSON reports (plus the Monte
Carlo draws), so a figure can never disagree with ``--json``. Each figure's footer names the price
source and its date and, for a calibrated scenario, the load-test runs behind it
(``botcap.provenance``). matplotlib is imported here only, on the Agg backend (no display needed).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from botcap.provenance import FOOTNOTE_FONTSIZE, FOOTNOTE_LINE_IN, footnote

__all__ = ["write_plots", "PLOT_FILES"]

PLOT_FILES = ("cost_breakdown.png", "break_even.png", "tornado.png", "monte_carlo.png")
COMPONENTS = (("claude_per_user_month_usd", "Claude"), ("db_per_user_month_usd", "DB (Neon)"),
              ("compute_per_user_month_usd", "compute (Railway, Workers)"),
              ("other_per_user_month_usd", "other fixed"))


def _footer(fig, data: dict) -> float:
    """Prices line at the foot, the calibration footnote (if any) above it; returns the share of the
    figure's height they take (the bottom of ``tight_layout``'s rect)."""
    p = data["prices"]
    height_in = fig.get_figheight()
    fig.text(0.01, 0.03 / height_in, f"prices: {p['source']}; as of {p['as_of']} "
             f"(priced on {p['priced_on']})", fontsize=FOOTNOTE_FONTSIZE, color="0.35")
    return FOOTNOTE_LINE_IN / height_in + footnote(fig, data.get("calibration"), below_in=FOOTNOTE_LINE_IN)


def _save(plt, fig, data: dict, path: Path) -> None:
    fig.tight_layout(rect=(0, _footer(fig, data), 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _breakdown(plt, data: dict, path: Path) -> None:
    tiers = data["tiers"]
    names = list(tiers)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
    bottom = np.zeros(len(names))
    for key, label in COMPONENTS:
        vals = np.array([tiers[t][key] or 0.0 for t in names])
        ax1.bar(names, vals, bottom=bottom, label=label)
        bottom += vals
    ax1.plot(names, [tiers[t]["revenue_per_user_month_usd"] or 0.0 for t in names], "k_", markersize=28,
             mew=2, label="revenue")
    ax1.set_ylabel("USD per user-month")
    ax1.set_title("Cost per user-month by tier and component")
    ax1.legend(fontsize=7)
    bottom = np.zeros(len(names))
    for key, label in COMPONENTS:
        vals = np.array([(tiers[t][key] or 0.0) * tiers[t]["users"] for t in names])
        ax2.bar(names, vals, bottom=bottom, label=label)
        bottom += vals
    tot = data["total"]
    ax2.set_ylabel("USD per month")
    ax2.set_title(f"Monthly cost by tier: ${tot['monthly_cost_usd']:,.0f}, "
                  f"Claude {tot['claude_share_of_cost']:.1%}")
    _save(plt, fig, data, path)


def _break_even(plt, data: dict, path: Path) -> None:
    be = data["break_even"]
    fixed = be["fixed_monthly_usd"]
    rev = be["revenue_per_paying_user_month_usd"] or 0.0
    contrib = be["contribution_per_paying_user_month_usd"] or 0.0
    free = be["free_users_cost_per_paying_user_month_usd"] or 0.0
    var = rev - contrib + free                     # variable cost per paying user, free users included
    current = be["current_paying_users"]
    top = max(current, (be["paying_users"] or 0.0) * 2, 10.0) * 1.1
    x = np.linspace(0, top, 200)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    ax.plot(x, rev * x, label="revenue")
    ax.plot(x, fixed + var * x, label="cost (fixed + variable, free users included)")
    if be["paying_users"] is not None:
        ax.axvline(be["paying_users"], color="0.4", ls="--", lw=1)
        stars = be.get("stars_per_month")
        label = f"break-even {be['paying_users']:,.0f} paying users" + (
            f" = {stars:,.0f} Stars/month" if stars is not None else "")
        ax.annotate(label, (be["paying_users"], fixed), textcoords="offset points", xytext=(5, 10),
                    fontsize=8)
    else:
        ax.set_title("No break-even: each paying user adds less than their share of free users' cost")
    ax.axvline(current, color="green", ls=":", lw=1, label=f"scenario: {current:,.0f} paying users")
    ax.set_xlabel("paying users")
    ax.set_ylabel("USD per month")
    per_user = be.get("stars_per_paying_user_month")
    if per_user:  # the same axis in Stars paid per month (Stars <-> USD at the scenario's payout rate)
        top_ax = ax.secondary_xaxis("top", functions=(lambda u: u * per_user, lambda s: s / per_user))
        top_ax.set_xlabel("Stars paid per month", fontsize=8)
    if be["paying_users"] is not None:
        ax.set_title("Break-even at the scenario's tier mix")
    ax.legend(fontsize=8)
    _save(plt, fig, data, path)


def _tornado(plt, data: dict, path: Path) -> None:
    rows = data["uncertainty"]["tornado"]
    base = data["total"]["monthly_margin_usd"]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    for i, row in enumerate(reversed(rows)):
        lo, hi = row["monthly_margin_usd"]
        ax.barh(i, lo - base, left=base, color="tab:red", alpha=0.7)
        ax.barh(i, hi - base, left=base, color="tab:blue", alpha=0.7)
    labels = [f"{r['input']} [{r['low']:.3g}, {r['high']:.3g}]" for r in reversed(rows)]
    ax.set_yticks(range(len(rows)), labels, fontsize=7)
    ax.axvline(base, color="k", lw=1)
    ax.set_xlabel("monthly margin, USD (red: input at low end, blue: high end)")
    ax.set_title("Tornado: one input at a time")
    _save(plt, fig, data, path)


def _monte_carlo(plt, data: dict, samples: dict, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    unc = data["uncertainty"]
    if "monthly_cost" in samples:
        ax.hist(samples["monthly_cost"], bins=60, color="tab:orange", alpha=0.8)
        for q in ("p5", "p50", "p95"):
            ax.axvline(unc["monthly_cost_usd"][q], color="k", ls="--", lw=1)
            ax.annotate(q, (unc["monthly_cost_usd"][q], 0), textcoords="offset points", xytext=(2, 5),
                        fontsize=8)
        ax.set_title(f"Monte Carlo: monthly cost, {unc['draws']:,} draws (seed {unc['seed']})")
    else:
        ax.set_title("Monte Carlo skipped (--draws 0)")
    ax.set_xlabel("monthly cost, USD")
    ax.set_ylabel("draws")
    _save(plt, fig, data, path)


def write_plots(data: dict, samples: dict, folder: Path) -> list[Path]:
    """Write the four PNGs into ``folder`` and return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(folder)
    paths = [folder / name for name in PLOT_FILES]
    _breakdown(plt, data, paths[0])
    _break_even(plt, data, paths[1])
    _tornado(plt, data, paths[2])
    _monte_carlo(plt, data, samples, paths[3])
    return paths
