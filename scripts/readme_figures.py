"""The figures the docs quote (README.md, docs/), in one committed file that this command regenerates.

    .venv/bin/python scripts/readme_figures.py            rewrites docs/readme-figures.json
    .venv/bin/python scripts/readme_figures.py --check    exit 1 when the file is not what the code gives now
    .venv/bin/python scripts/readme_figures.py --measure  also re-measures the local run's wall time (~15 s)
    .venv/bin/python scripts/readme_figures.py --setup-times  also times both quick-start commands, cold
                          (a fresh clone of HEAD, an empty pip cache) and warm (~20 minutes)

Each figure has the text the docs quote and where it comes from:
  estimator   the savings estimator at the docs' volume (recomputed: deterministic)
  sample_day  the local run's generated sample day and the converter's exact A-law size (recomputed)
  benchmark   docs/benchmarks-results-strict.json, written by `python -m benchmarks --json ...` (minutes to run);
              the converter's memory from docs/benchmarks-results-memory.json (`--only memory`, ~20 s)
  measured    wall times, kept from the last --measure (a shared machine's timing is no constant)
tests/infra/test_docs.py fails when a page quotes a figure this file does not hold, or the file
is stale.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "docs" / "readme-figures.json"
# The newest full run, on the strict emulator (docs/benchmarks.md, "Re-measured after per-run
# accounting"). docs/benchmarks-results.json, the run before it, still sets the converter's
# defaults and the estimator's converter time (tests/estimator checks those against it).
BENCHMARK = ROOT / "docs" / "benchmarks-results-strict.json"
# The converter's memory, re-measured alone from /proc after the full run above (issue 16, item 10):
# `python -m benchmarks --only memory --json docs/benchmarks-results-memory.json`.
MEMORY = ROOT / "docs" / "benchmarks-results-memory.json"
sys.path[:0] = [str(ROOT), str(ROOT / "lambdas")]


def _usd(x: float) -> str:
    return f"${x:,.0f}"


def estimator_figures() -> dict[str, Any]:
    from estimator import article
    from estimator.model import Corrected, Volume, article_estimate, corrected_estimate
    from estimator.prices import load_prices

    prices = load_prices()
    volume = Volume(3_000_000, 6, 0.0)
    corrected = corrected_estimate(volume, Corrected(), prices)
    no_rule = corrected_estimate(volume, Corrected(noncurrent_days=None), prices)
    # The recommended noncurrent window, which leaves time to undo (docs/operations.md#undo), against 1 day.
    window = corrected_estimate(volume, Corrected(noncurrent_days=30), prices)
    one_day = corrected_estimate(volume, Corrected(noncurrent_days=1), prices)
    window_total = sum(y.optimized_cost for y in window.years)
    one_day_total = sum(y.optimized_cost for y in one_day.years)
    standard = sum(y.standard_cost for y in corrected.years)
    optimized = sum(y.optimized_cost for y in corrected.years)
    processing = sum(y.processing_cost for y in corrected.years)
    cells = article.compare(article_estimate(article.VOLUME))
    worst = max(abs(c.rel_error) for c in cells if c.column in article.COST_COLUMNS)
    est = article_estimate(article.VOLUME)
    rows = []
    for y in est.years:
        a = article.TABLE2[y.year]
        rows.append(
            f"| {y.year} | {a[2]:,} / {y.standard_cost:,.0f} | {a[3]:,} / {y.processing_cost:,.0f} | {a[4]:,} / "
            f"{y.optimized_cost:,.1f} |"
        )
    t = article.TABLE2_TOTALS
    rows.append(
        f"| Total | **{t[2]:,}** / {sum(y.standard_cost for y in est.years):,.0f} | {t[3]:,} / "
        f"{sum(y.processing_cost for y in est.years):,.0f} | "
        f"{t[4]:,} / {sum(y.optimized_cost for y in est.years):,.1f} |"
    )
    return {
        "corrected_standard_total": {"value": standard, "text": _usd(standard)},
        "corrected_optimized_total": {"value": optimized, "text": _usd(optimized)},
        "corrected_processing_total": {"value": processing, "text": _usd(processing)},
        "corrected_processing_per_year": {
            "value": processing / 6,
            "text": f"~${round(processing / 6, -1):,.0f} a year",
        },
        "corrected_saving_pct": {
            "value": 100 * (standard - optimized) / standard,
            "text": f"{100 * (standard - optimized) / standard:.1f} %",
        },
        "corrected_short": {
            "value": [standard, optimized],
            "text": f"${standard / 1000:,.0f}k → ${optimized / 1000:,.0f}k",
        },
        "no_rule_optimized_total": {
            "value": sum(y.optimized_cost for y in no_rule.years),
            "text": _usd(sum(y.optimized_cost for y in no_rule.years)),
        },
        "noncurrent_30_optimized_total": {"value": window_total, "text": _usd(window_total)},
        "noncurrent_1_optimized_total": {"value": one_day_total, "text": _usd(one_day_total)},
        "noncurrent_30_saving_pct": {
            "value": 100 * (standard - window_total) / standard,
            "text": f"{100 * (standard - window_total) / standard:.1f} %",
        },
        "noncurrent_30_more_a_month": {
            "value": (window_total - one_day_total) / 72,
            "text": f"about ${(window_total - one_day_total) / 72:,.0f} a month more",
        },
        "article_worst_cost_error_pct": {"value": 100 * worst, "text": f"within {100 * worst:.2f} %"},
        "article_table_rows": {"value": rows, "text": "\n".join(rows)},
    }


def sample_day_figures() -> dict[str, Any]:
    from emulator.samples import write_sample_day
    from optimizer.wav import read_wav_info

    with tempfile.TemporaryDirectory() as scratch:
        files = write_sample_day(Path(scratch))
        before = sum(p.stat().st_size for p in files)
        # The converter's output: the same frames, 1 byte per mono sample, behind a 58-byte A-law header.
        after = sum(read_wav_info(str(p)).data_bytes // 4 + 58 for p in files)
    return {
        "recordings": {"value": len(files), "text": f"{len(files)} Connect-style calls"},
        "bytes_before": {"value": before, "text": f"{before:,}"},
        "bytes_after": {"value": after, "text": f"{after:,}"},
        "megabytes": {"value": [before, after], "text": f"{before / 1e6:.1f} MB → {after / 1e6:.1f} MB"},
    }


def benchmark_figures() -> dict[str, Any]:
    r = json.loads(BENCHMARK.read_text())
    memory = json.loads(MEMORY.read_text())
    # The peak of Python + ffmpeg at one instant (what Lambda's memory limit sees), over every length.
    m = max(
        (row["memory"] for row in memory["converter"]["rows"] if "memory" in row), key=lambda m: m["peak_together_mb"]
    )
    per_1000 = r["cost"]["recommended"]["usd_per_1000_minutes"]
    b = r["backfill"]
    return {
        "converter_peak_mb": {
            "value": m["peak_together_mb"],
            "text": f"{m['peak_together_mb']:.0f} MB (Python {m['python_at_peak_together_mb']:.0f} MB + ffmpeg "
            f"{m['ffmpeg_at_peak_together_mb']:.0f} MB at the same instant)",
        },
        "cost_per_1000_minutes": {"value": per_1000, "text": f"${per_1000:.3f} per 1,000 call-minutes"},
        "largest_state_kb": {
            "value": r["day"]["max_state_bytes"],
            "text": f"{r['day']['max_state_bytes'] / 1000:.0f} KB",
        },
        "backfill": {
            "value": [b["days"], b["seconds"], b["parent_history_events"], b["largest_child_history_events"]],
            "text": f"a {b['days']:,}-day backfill succeeded in {b['seconds']:.0f} s on the emulator: "
            f"{b['parent_history_events']} history events "
            f"in the parent execution, {b['child_executions']:,} child executions, the largest with "
            f"{b['largest_child_history_events']} events",
        },
    }


def measure_local_run() -> dict[str, Any]:
    from emulator import local_run

    with tempfile.TemporaryDirectory() as scratch:
        started = time.monotonic()
        code = local_run.main(["--report", str(Path(scratch) / "report.json")])
        seconds = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"the local run failed (exit {code}): nothing measured")
    return {
        "local_run_seconds": {
            "value": round(seconds, 1),
            "text": f"about {round(seconds):.0f} s",
            "command": "./cdk-deploy.sh --local, after set-up, on this machine",
        }
    }


def measure_setup_times() -> dict[str, Any]:
    """Both quick-start commands (README.md#quick-start) on a fresh clone of HEAD: the first time (empty
    pip and npm caches) and again."""
    import os
    import subprocess

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="setup-times-") as scratch:
        clone = Path(scratch) / "clone"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(
            [
                "git",
                "-C",
                str(clone),
                "checkout",
                "-q",
                subprocess.run(
                    ["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
                ).stdout.strip(),
            ],
            check=True,
        )
        env = {
            **os.environ,
            "PIP_CACHE_DIR": str(Path(scratch) / "pip"),
            "npm_config_cache": str(Path(scratch) / "npm"),
            "CDK_DISABLE_VERSION_CHECK": "1",
        }
        for name, command in (
            ("local_run", ["./cdk-deploy.sh", "--local"]),
            ("tests", ["./run-tests.sh", "-q", "-p", "no:cacheprovider"]),
        ):
            for when in ("cold", "warm"):
                started = time.monotonic()
                done = subprocess.run(command, cwd=clone, env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(
                        f"{' '.join(command)} failed ({when}):\n{done.stdout[-2000:]}{done.stderr[-2000:]}"
                    )
                seconds = round(time.monotonic() - started)
                out[f"{name}_{when}_seconds"] = {
                    "value": seconds,
                    "text": f"{seconds} s",
                    "command": " ".join(command) + f" ({when}, fresh clone)",
                }
    return out


def compute(previous: dict[str, Any], measure: bool, setup_times: bool) -> dict[str, Any]:
    measured = dict(previous.get("measured", {}))
    if measure:
        measured.update(measure_local_run())
    if setup_times:
        measured.update(measure_setup_times())
    return {
        "command": ".venv/bin/python scripts/readme_figures.py [--measure] [--setup-times]",
        "estimator": estimator_figures(),
        "sample_day": sample_day_figures(),
        "benchmark": {
            "source": "docs/benchmarks-results-strict.json; memory: docs/benchmarks-results-memory.json",
            **benchmark_figures(),
        },
        "measured": measured,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/readme_figures.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--measure", action="store_true")
    parser.add_argument("--setup-times", action="store_true")
    args = parser.parse_args(argv)
    previous = json.loads(FIGURES.read_text()) if FIGURES.exists() else {}
    current = compute(previous, args.measure, args.setup_times)
    text = json.dumps(current, indent=2, ensure_ascii=False) + "\n"
    if args.check:
        if FIGURES.exists() and FIGURES.read_text() == text:
            return 0
        print(f"{FIGURES.relative_to(ROOT)} is stale: run .venv/bin/python scripts/readme_figures.py", file=sys.stderr)
        return 1
    FIGURES.write_text(text)
    print(f"wrote {FIGURES.relative_to(ROOT)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
