"""Cumulative-cost chart. matplotlib is imported here only, and lazily, so the
rest of the package (and the dry run that shares prices.py) works without it."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path

UNITS = ((1e6, "M"), (1e3, "k"), (1.0, ""))


def money_labels(ticks: Sequence[float]) -> list[str]:
    """Axis labels for these tick values, in one unit chosen by the largest ($, $k from $10k, $M from
    $1M) and with as many decimals as the step between ticks needs, so that no two read the same:
    $0, $250, ... $2,000 at a small volume, $0, $50k, ... at a large one, $0.0M, $0.5M, ... above."""
    values = list(ticks)
    if not values:
        return []
    top = max(abs(v) for v in values)
    scale, suffix = next(((s, u) for s, u in UNITS if top >= (10 * s if u == "k" else s)), (1.0, ""))
    steps = [abs(b - a) / scale for a, b in zip(values, values[1:], strict=False) if b != a]
    decimals = 0
    while steps and decimals < 6 and any(abs(round(step, decimals) - step) > 1e-9 * max(1.0, step) for step in steps):
        decimals += 1
    return [f"{'-' if v < 0 else ''}${abs(v) / scale:,.{decimals}f}{suffix}" if v else "$0" for v in values]


# Standard red, the costly variant orange, the recommended one green: readable in greyscale too.
STYLES = ("#c0392b", "#e67e22", "#1e8449", "#7f7f7f")


def write_chart(
    path: str | Path, curves: Sequence[tuple[str, Sequence[float]]], title: str, note: str = ""
) -> list[str]:
    """Plot each (label, monthly costs) as a cumulative curve and save a PNG to ``path``; returns the
    cost axis's labels."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedFormatter, FixedLocator

    fig, ax = plt.subplots(figsize=(9, 5.2), dpi=110)
    months = 0
    for (label, monthly), colour in zip(curves, STYLES, strict=False):
        cum = list(accumulate(monthly))
        months = max(months, len(cum))
        xs = [(m + 1) / 12 for m in range(len(cum))]
        ax.plot(xs, cum, label=label, color=colour, linewidth=2.2)
        # End value at the right edge so the reader needs no gridline arithmetic.
        ax.annotate(
            f"${cum[-1]:,.0f}",
            (xs[-1], cum[-1]),
            xytext=(6, 0),
            textcoords="offset points",
            va="center",
            color=colour,
            fontsize=9,
            fontweight="bold",
        )
    ax.set_xlim(0, months / 12 * 1.16)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("Years after deployment")
    ax.set_ylabel("Cumulative cost (USD)")
    bottom, top = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if bottom <= t <= top]
    labels = money_labels(ticks)
    ax.yaxis.set_major_locator(FixedLocator(ticks))
    ax.yaxis.set_major_formatter(FixedFormatter(labels))
    ax.grid(True, alpha=0.3)
    ax.set_title(title, fontsize=11)
    ax.legend(loc="upper left", frameon=False)
    if note:
        fig.text(0.01, 0.01, note, fontsize=7.5, color="#555555")
    fig.tight_layout(rect=(0, 0.03 if note else 0, 1, 1))
    fig.savefig(path, format="png")
    plt.close(fig)
    return labels
