"""The estimator's converter defaults come from the benchmark, and --chart refuses what it cannot
write before computing anything (run as the user runs it: a subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from estimator import model
from stacks.config import OptimizerConfig

ROOT = Path(__file__).resolve().parents[2]


def estimator(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "estimator", *argv], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_converter_defaults_are_the_benchmarks_and_the_stacks():
    results = json.loads((ROOT / "docs" / "benchmarks-results.json").read_text())
    recommended = results["cost"]["recommended"]
    assert model.CONVERTER_MEMORY_MB == recommended["converter_memory_mb"] == OptimizerConfig.converter_memory_mb
    assert (
        round(recommended["seconds_per_recording"] / results["cost"]["measured"]["call_minutes"], 3)
        == model.CONVERTER_SECONDS_PER_AUDIO_MINUTE
    )
    assert model.Corrected().lambda_memory_mb == OptimizerConfig.converter_memory_mb


def test_help_calls_nothing_a_placeholder():
    help_text = " ".join(estimator("--help").stdout.split())  # argparse wraps lines
    assert "placeholder" not in help_text.lower()
    assert "default 512" in help_text and "0.124 s per audio minute" in help_text


@pytest.mark.parametrize(
    "name, says",
    [
        ("chart.jpg", "give a file name ending in .png, not"),
        ("chart", "ending in .png"),
        ("missing/folder/chart.png", "does not exist"),
    ],
)
def test_a_chart_it_cannot_write_is_one_line_and_status_2(tmp_path, name, says):
    target = tmp_path / name
    result = estimator("--years", "1", "--chart", str(target))
    assert result.returncode == 2
    assert result.stderr.startswith("estimator: error: argument --chart:") and says in result.stderr
    assert "Errno" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not target.exists() and result.stdout == ""  # nothing computed, nothing written


def test_png_in_any_case_is_written(tmp_path):
    target = tmp_path / "Chart.PNG"
    result = estimator("--years", "1", "--chart", str(target))
    assert result.returncode == 0, result.stderr
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
