"""Turn an :class:`~estimator.model.Estimate` into totals, JSON and text tables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import article
from .model import Estimate

YEAR_KEYS = (
    "year",
    "minutes",
    "minutes_recorded",
    "storage_tb",
    "optimized_storage_tb",
    "standard_cost",
    "processing_cost",
    "optimized_cost",
)


def payback_month(est: Estimate) -> int | None:
    """First month from which the cumulative saving stays non-negative to the horizon.

    The optimizer has no up-front cost in this model, so this is usually
    month 1; it is later (or None, never) when running it costs more than it
    saves, e.g. with no noncurrent-version rule.
    """
    saving, last_negative = 0.0, 0
    for month, (std, opt) in enumerate(zip(est.monthly_standard, est.monthly_optimized, strict=True), start=1):
        saving += std - opt
        if saving < 0:
            last_negative = month
    return None if last_negative == len(est.monthly_standard) else last_negative + 1


def totals(est: Estimate) -> dict[str, Any]:
    std = sum(r.standard_cost for r in est.years)
    opt = sum(r.optimized_cost for r in est.years)
    return {
        "minutes": round(est.years[-1].minutes),
        "standard_cost": round(std, 2),
        "processing_cost": round(sum(r.processing_cost for r in est.years), 2),
        "optimized_cost": round(opt, 2),
        "saving": round(std - opt, 2),
        "saving_pct": round(100 * (std - opt) / std, 2) if std else 0.0,
        "payback_month": payback_month(est),
    }


def to_json(est: Estimate, inputs: Mapping[str, Any] | None = None, compare: bool = False) -> dict[str, Any]:
    years = []
    for r in est.years:
        row = {k: getattr(r, k) for k in YEAR_KEYS}
        row["minutes"], row["minutes_recorded"] = round(r.minutes), round(r.minutes_recorded)
        for k in ("storage_tb", "optimized_storage_tb"):
            row[k] = round(row[k], 3)
        for k in ("standard_cost", "processing_cost", "optimized_cost"):
            row[k] = round(row[k], 2)
        row["saving"] = round(r.standard_cost - r.optimized_cost, 2)
        row["breakdown"] = {k: round(v, 2) for k, v in r.breakdown.items()}
        years.append(row)
    out: dict[str, Any] = {"assumptions": est.assumptions, "years": years, "totals": totals(est)}
    if inputs is not None:
        out["inputs"] = dict(inputs)
    if compare:
        cells = article.compare(est)
        out["article_comparison"] = {
            "cells": [
                {
                    "year": c.year,
                    "column": c.column,
                    "article": c.article,
                    "model": round(c.model, 2),
                    "rel_error": round(c.rel_error, 6),
                }
                for c in cells
            ],
            "max_rel_error_cost": max(abs(c.rel_error) for c in cells if c.column in article.COST_COLUMNS),
            "totals_row_discrepancies": article.totals_discrepancies(),
        }
    return out


def _money(x: float) -> str:
    return f"{round(x) or 0:,.0f}"  # "or 0" turns -0 into 0


def _usd(x: float) -> str:
    return ("-$" if round(x) < 0 else "$") + _money(abs(x))


def render_table(est: Estimate) -> str:
    head = ("Year", "Minutes (cum.)", "Storage TB", "S3 Standard $", "Processing $", "Optimized $", "Saving $")
    lines = [head]
    for r in est.years:
        lines.append(
            (
                str(r.year),
                f"{r.minutes:,.0f}",
                f"{r.storage_tb:,.1f}",
                _money(r.standard_cost),
                _money(r.processing_cost),
                _money(r.optimized_cost),
                _money(r.standard_cost - r.optimized_cost),
            )
        )
    t = totals(est)
    lines.append(
        (
            "Total",
            f"{t['minutes']:,.0f}",
            "",
            _money(t["standard_cost"]),
            _money(t["processing_cost"]),
            _money(t["optimized_cost"]),
            _money(t["saving"]),
        )
    )
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    text = [
        "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
        for row in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    text.insert(-1, text[1])
    pb = t["payback_month"]
    text.append("")
    text.append(
        f"Before {_usd(t['standard_cost'])}, after {_usd(t['optimized_cost'])}: saving "
        f"{_usd(t['saving'])} ({t['saving_pct']:.1f} %) over {len(est.years)} years; payback: "
        + ("never within the horizon" if pb is None else f"month {pb}")
    )
    return "\n".join(text)


def render_comparison(est: Estimate) -> str:
    """Each reproduced cell next to Table 2, the largest cost error, and the totals-row problems."""
    cells = article.compare(est)
    rows = [("Year", "Column", "Article", "Model", "Error")]
    for c in cells:
        note = " (other reading)" if c.column not in article.COST_COLUMNS and c.rel_error else ""
        rows.append(
            (str(c.year), c.column, f"{c.article:,.0f}", f"{c.model:,.1f}", f"{100 * c.rel_error:+.3f} %{note}")
        )
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    text = ["  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in rows]
    worst = max((abs(c.rel_error) for c in cells if c.column in article.COST_COLUMNS), default=0.0)
    text.append(f"Largest relative error over the cost cells: {100 * worst:.3f} %")
    text.append("Table 2's totals row against its own rows:")
    text.extend(f"  - {d}" for d in article.totals_discrepancies())
    return "\n".join(text)


def render_header(est: Estimate, inputs: Mapping[str, Any]) -> str:
    """Two or three lines saying which model and inputs produced the table."""
    i = inputs
    lines = [
        f"Assumptions: {est.assumptions}. {i['minutes_per_month']:,.0f} minutes/month, growth "
        f"{100 * i['growth']:g} %/month, {i['years']} years, PCM kept {i['age_days']:g} days in S3 Standard."
    ]
    if "storage_class" in i:
        cl = i["call_length"]
        nc, ret = i["noncurrent_days"], i["retention_days"]
        kept = "never expired (no rule)" if nc == "never" else f"kept {nc:g} day(s) after conversion"
        retention = (
            "beyond the horizon" if ret is None else f"{ret:g} days from the {i.get('retention_from', 'recording')}"
        )
        lock = f"; Object Lock {i['lock_days']:g} days" if i.get("lock_days") else ""
        lines.append(
            f"Target {i['storage_class']}, {i['target_format']}; originals {kept}; retention "
            f"{retention}{lock}; calls {cl['kind']} mean "
            f"{cl['mean_minutes']:g} min; Lambda {i['architecture']} {i['lambda_memory_mb']:g} MB x "
            f"{i['seconds_per_recording']:g} s/recording."
        )
        lines.append(
            f"Rules off: {', '.join(i['rules_off']) or 'none'}. Prices: {i['prices']['region']}, "
            f"{i['prices']['retrieved']} ({os.path.relpath(i['prices']['path'])})."
        )
    else:
        lines.append(
            "Article figures: 2 MB/min PCM, 0.5 MB/min A-law, $0.023 and $0.004 per GB-month (flat), "
            "$0.11 per 1,000 minutes processed, storage billed on the end-of-month volume."
        )
    return "\n".join(lines) + "\n"


def render_breakdown(est: Estimate) -> str:
    """Where the optimized scenario's money goes over the whole horizon, largest first."""
    keys = est.years[0].breakdown.keys()
    sums = {k: sum(r.breakdown[k] for r in est.years) for k in keys}
    total = sum(sums.values()) or 1.0
    parts = [
        f"{k} ${v:,.0f} ({100 * v / total:.1f} %)"
        for k, v in sorted(sums.items(), key=lambda kv: -kv[1])
        if round(v) != 0
    ]
    return "Optimized cost by item over the horizon: " + "; ".join(parts) + "."
