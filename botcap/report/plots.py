"""The report's figures: small matplotlib helpers returning base64 PNG (embedded in the page)."""

from __future__ import annotations

from collections.abc import Sequence

from botcap.report.section import png_base64

__all__ = ["lines", "bars", "scatter"]


def _fig(width: float = 6.4, height: float = 3.2):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def lines(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    hlines: dict[str, float] | None = None,
    logy: bool = False,
    logx: bool = False,
) -> str:
    """One line per series (label -> (xs, ys)); optional labelled horizontal reference lines."""
    fig, ax = _fig()
    for label, (xs, ys) in series.items():
        ax.plot(list(xs), [float("nan") if y is None else y for y in ys], marker="o", label=label)
    for label, y in (hlines or {}).items():
        ax.axhline(y, linestyle="--", color="0.4", linewidth=1)
        ax.annotate(
            label, (0.01, y), xycoords=("axes fraction", "data"), fontsize=7, color="0.3", va="bottom"
        )
    if logy:
        ax.set_yscale("log")
    if logx:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return png_base64(fig)


def bars(
    labels: Sequence[str],
    values: dict[str, Sequence[float]],
    *,
    ylabel: str,
    title: str,
    horizontal: bool = False,
) -> str:
    """Grouped bars: one group per label, one bar per series in ``values``."""
    import numpy as np

    fig, ax = _fig(6.4, max(3.2, 0.35 * len(labels)) if horizontal else 3.2)
    n = max(len(values), 1)
    width = 0.8 / n
    pos = np.arange(len(labels))
    for i, (name, ys) in enumerate(values.items()):
        ys = [0.0 if y is None else y for y in ys]
        if horizontal:
            ax.barh(pos + i * width, ys, height=width, label=name)
        else:
            ax.bar(pos + i * width, ys, width=width, label=name)
    if horizontal:
        ax.set_yticks(pos + width * (n - 1) / 2, labels, fontsize=7)
        ax.set(xlabel=ylabel, title=title)
    else:
        ax.set_xticks(pos + width * (n - 1) / 2, labels, rotation=20, ha="right", fontsize=7)
        ax.set(ylabel=ylabel, title=title)
    ax.grid(alpha=0.3, axis="x" if horizontal else "y")
    if n > 1:
        ax.legend(fontsize=7)
    return png_base64(fig)


def scatter(
    points: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str,
    highlight: tuple[float, float] | None = None,
    hline: float | None = None,
) -> str:
    """Points per series; ``highlight`` rings the recommended point; ``hline`` marks a limit."""
    fig, ax = _fig()
    for label, (xs, ys) in points.items():
        ax.plot(
            list(xs), [float("nan") if y is None else y for y in ys], marker="o", linestyle="-", label=label
        )
    if hline is not None:
        ax.axhline(hline, linestyle="--", color="0.4", linewidth=1)
    if highlight is not None:
        ax.plot(
            [highlight[0]],
            [highlight[1]],
            marker="o",
            markersize=14,
            markerfacecolor="none",
            markeredgecolor="red",
            label="recommended",
        )
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return png_base64(fig)
