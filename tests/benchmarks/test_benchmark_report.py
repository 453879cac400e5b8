"""The benchmark's goals table: no label or figure said twice, and a recommendation is always
shown next to the stack's defaults (a --quick run's is only indicative)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

from benchmarks import report

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = json.loads((ROOT / "docs" / "benchmarks-results.json").read_text())


def results(*, quick: bool, recommended_memory: int, recommended_concurrency: int) -> dict:
    r = copy.deepcopy(COMMITTED)
    r["quick"] = quick
    r["configuration"] = {
        "converter_memory_mb": 512,
        "converter_batch_size": 10,
        "converter_max_concurrency": 50,
        "storage_class": "GLACIER_IR",
    }
    r["cost"]["per_1000_minutes"]["settings"]["memory_mb"] = 512
    r["cost"]["recommended"].update(
        converter_memory_mb=recommended_memory,
        converter_max_concurrency=recommended_concurrency,
        converter_batch_size=10,
    )
    return r


def row(goals: list[dict], starts: str) -> dict:
    (found,) = [g for g in goals if g["measure"].startswith(starts)]
    return found


def test_the_cost_is_not_repeated_when_the_recommended_memory_is_the_configured_one():
    goals = report.goals(results(quick=True, recommended_memory=512, recommended_concurrency=70))
    cost = row(goals, "cost per 1,000 call-minutes")["measured"]
    assert cost.count("at 512 MB") == 1
    other = row(
        report.goals(results(quick=False, recommended_memory=1024, recommended_concurrency=50)), "cost per 1,000"
    )["measured"]
    assert "at 512 MB" in other and "at 1024 MB" in other


def test_measures_are_distinct_even_truncated_in_the_text_table():
    goals = report.goals(results(quick=True, recommended_memory=512, recommended_concurrency=70))
    labels = [line[:70] for line in report.text({"goals": goals}).splitlines()[2:]]
    assert len(labels) == len(set(labels))


def test_a_quick_recommendation_names_the_stacks_defaults_and_says_it_is_indicative():
    text = row(
        report.goals(results(quick=True, recommended_memory=512, recommended_concurrency=70)), "recommended defaults"
    )["measured"]
    assert text.startswith("512 MB / 10 / 70; the stack's defaults: 512 MB / 10 / 50")
    assert "--quick" in text and "docs/benchmarks.md" in text


def test_a_full_run_agreeing_with_the_defaults_says_so():
    text = row(
        report.goals(results(quick=False, recommended_memory=512, recommended_concurrency=50)), "recommended defaults"
    )["measured"]
    assert text == "512 MB / 10 / 50 = the stack's defaults"
