"""``sim optimize --out DIR``: optimize.json and the Pareto plot (monthly cost against p95, per kind).

Every simulated candidate is a dot (filled if it met the SLO), the front a line, the SLO limit a
dashed line and the winner a star; with --growth, one more plot: monthly cost per DAU level.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from botcap.cliutil import dumps  # noqa: E402
from botcap.outdir import atomic_dir  # noqa: E402

__all__ = ["write_optimize_out", "pareto_plot"]


def pareto_plot(result: dict, path: Path) -> None:
    kinds = list(result["pareto"])
    cols = max(1, min(3, len(kinds)))
    rows = math.ceil(len(kinds) / cols) or 1
    fig, grid = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.4 * rows), squeeze=False)
    winner = result["winner"]["index"] if result["winner"] else None
    limits = result.get("slo_p95_s", {})
    for ax, kind in zip(grid.flat, kinds, strict=False):
        d = result["pareto"][kind]
        for met, marker in ((True, "o"), (False, "x")):
            pts = [p for p in d["points"] if p["met"] is met]
            ax.scatter([p["monthly_cost_usd"] for p in pts], [p["p95_s"] for p in pts], marker=marker,
                       alpha=0.6, label="met the SLO" if met else "missed it")
        ax.step([p["monthly_cost_usd"] for p in d["front"]], [p["p95_s"] for p in d["front"]], where="post",
                color="k", lw=1, label="Pareto front")
        for p in d["points"]:
            if p["index"] == winner:
                ax.scatter([p["monthly_cost_usd"]], [p["p95_s"]], marker="*", s=180, color="gold",
                           edgecolor="k", zorder=5, label="winner")
        if kind in limits:
            ax.axhline(limits[kind], ls="--", color="r", lw=1, label="SLO p95")
        ax.set_title(f"{kind}: p95 vs monthly cost", fontsize=9)
        ax.set_xlabel("monthly cost (USD)", fontsize=8)
        ax.set_ylabel("censored p95 (s)", fontsize=8)
        ax.legend(fontsize=6)
    for ax in list(grid.flat)[len(kinds):]:
        ax.set_visible(False)
    fig.suptitle(f"sim optimize at {result['dau']:,} DAU", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _growth_plot(levels: list[dict], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(5, 3.4))
    ok = [r for r in levels if r["monthly_cost_usd"] is not None]
    ax.plot([r["dau"] for r in ok], [r["monthly_cost_usd"] for r in ok], marker="o")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("DAU")
    ax.set_ylabel("cheapest monthly cost meeting the SLO (USD)")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def write_optimize_out(doc: dict, results: list[dict], out: Path) -> None:
    """optimize.json, pareto_<dau>.png per level and growth.png (with --growth), all or nothing."""
    with atomic_dir(Path(out)) as tmp:
        (tmp / "optimize.json").write_text(dumps(doc) + "\n", encoding="utf-8")
        for r in results:
            if any(d["points"] for d in r["pareto"].values()):
                pareto_plot(r, tmp / f"pareto_{r['dau']}.png")
        if len(results) > 1:
            _growth_plot(results, tmp / "growth.png")
