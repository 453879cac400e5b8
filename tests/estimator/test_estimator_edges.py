"""The estimator's edges (issue 19): axis labels readable at every volume, a growth over 100 % a
month only with its '%', no overflow, and the storage classes the stack refuses refused here too."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from estimator.__main__ import main
from estimator.chart import money_labels
from estimator.model import MAX_MINUTES_PER_MONTH, Volume
from stacks.config import REFUSED_CLASSES, ConfigError, OptimizerConfig
from tests.support import PREFIX

ROOT = Path(__file__).resolve().parents[2]


def _status(argv: list[str]) -> int | str | None:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's own errors
        return exc.code


def _value(label: str) -> float:
    """'$1.5M' -> 1,500,000: what a reader takes the label to say."""
    found = re.fullmatch(r"(-?)\$([\d,.]+)([kM]?)", label)
    assert found, label
    sign = -1 if found.group(1) else 1
    return sign * float(found.group(2).replace(",", "")) * {"": 1, "k": 1e3, "M": 1e6}[found.group(3)]


@pytest.mark.parametrize(
    "ticks",
    [
        [0, 250, 500, 750, 1000, 1250, 1500, 1750, 2000],  # the small volume: was $0k ... $2k
        [0, 0.2, 0.4, 0.6, 0.8],
        [0, 2500, 5000, 7500, 10000, 12500],
        [0, 50_000, 100_000, 150_000, 200_000, 250_000, 300_000, 350_000],
        [0, 200_000, 400_000, 600_000, 800_000, 1_000_000],
        [0, 500_000, 1_000_000, 1_500_000, 2_000_000],
        [0, 50_000_000, 100_000_000, 150_000_000],
    ],
)
def test_axis_labels_are_distinct_and_say_their_value(ticks):
    labels = money_labels(ticks)
    assert len(set(labels)) == len(labels), labels
    step = ticks[1] - ticks[0]
    for tick, label in zip(ticks, labels, strict=True):
        assert _value(label) == pytest.approx(tick, abs=step / 100), (tick, label)
    assert labels[0] == "$0"


def test_the_unit_scales_with_the_volume():
    assert money_labels([0, 1000, 2000])[-1] == "$2,000"
    assert money_labels([0, 100_000, 200_000])[-1] == "$200k"
    assert money_labels([0, 1_000_000, 2_000_000])[-1] == "$2M"


@pytest.mark.parametrize("minutes", ["1000", "3000000", "5e8"])
def test_the_chart_labels_are_readable_at_every_volume(tmp_path, minutes, monkeypatch):
    """The whole chart, at three volumes: the cost axis's labels are distinct (at 1,000 minutes a
    month they used to read $0k, $0k, ...)."""
    import estimator.chart as chart

    seen: list[list[str]] = []
    original = chart.write_chart
    monkeypatch.setattr(chart, "write_chart", lambda *a, **k: seen.append(original(*a, **k)))
    assert main(["--minutes-per-month", minutes, "--chart", str(tmp_path / "c.png")]) == 0
    (labels,) = seen
    assert len(labels) >= 3 and len(set(labels)) == len(labels), labels
    values = [_value(label) for label in labels]
    assert values == sorted(values) and values[0] == 0


@pytest.mark.parametrize(
    "given, fraction",
    [("0.02", 0.02), ("2%", 0.02), ("200%", None), ("-0.5", -0.5), ("-50%", -0.5), ("0", 0.0), ("1.5 %", 0.015)],
)
def test_growth_is_a_fraction_or_a_percentage(capsys, given, fraction):
    import json

    status = _status([f"--growth={given}", "--minutes-per-month", "1000", "--years", "1", "--json"])
    out = capsys.readouterr()
    assert status == 0, out.err
    assert json.loads(out.out)["inputs"]["growth"] == pytest.approx(2.0 if fraction is None else fraction)


@pytest.mark.parametrize("given, means", [("2", "200"), ("1", "100"), ("200", "20,000"), ("-3", "-300")])
def test_a_plain_growth_of_1_or_more_needs_its_percent_sign(capsys, given, means):
    assert _status([f"--growth={given}"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"--growth {given} without '%' would mean {means} % a month" in err
    assert f"write --growth {given}% for {given} % a month" in err


def test_the_help_says_the_rule():
    done = subprocess.run(
        [sys.executable, "-m", "estimator", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    text = " ".join(done.stdout.split())
    assert "over 100 % a month needs the % sign (200%)" in text and "a plain number of 1 or more is refused" in text


def test_growth_200_exits_with_a_message_and_no_traceback():
    """The issue's own command, as the user runs it."""
    done = subprocess.run(
        [sys.executable, "-m", "estimator", "--growth", "200"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("estimator: error:") and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--growth", "200%"], "a growth of 200 % a month over 6 years takes 3,000,000 minutes a month to about 10^"),
        (["--growth", "50%", "--years", "6"], "more than the 10,000,000,000 the estimator models"),
        (["--growth", "5%", "--years", "100"], "lower the growth, the years or the minutes"),
        (["--minutes-per-month", "1e11"], "100,000,000,000 minutes a month is more than the 10,000,000,000"),
        (["--lambda-memory-mb", "1e308"], "outside 128 to 10240"),
        (["--seconds-per-recording", "1e308"], "outside 0 to 900"),
    ],
)
def test_an_input_too_large_is_refused_before_any_overflow(capsys, argv, says):
    assert _status(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("estimator: error:") and err.count("\n") == 1 and says in err, err


def test_the_largest_volume_allowed_still_computes(capsys):
    import json

    # 1,000,000 minutes a month growing to just under the ceiling in the last month of 6 years.
    percent = f"{((MAX_MINUTES_PER_MONTH / 1e6) ** (1 / 71) - 1) * 100 - 0.001:.3f}"
    Volume(1e6, 6, float(percent) / 100)
    status = _status(["--minutes-per-month", "1000000", "--growth", f"{percent}%", "--json"])
    out = capsys.readouterr()
    assert status == 0, out.err
    totals = json.loads(out.out)["totals"]
    assert all(isinstance(v, (int, float)) and v == v and abs(v) < float("inf") for v in totals.values() if v)


@pytest.mark.parametrize("name", sorted(REFUSED_CLASSES) + ["glacier"])
def test_the_classes_the_stack_refuses_are_refused_with_the_same_reason(capsys, name):
    with pytest.raises(ConfigError) as stack:
        OptimizerConfig.from_mapping({"bucket_name": "my-b", "bucket_prefix": PREFIX, "storage_class": name})
    stack_reason = str(stack.value).split(" is refused: ", 1)[1]
    assert _status(["--storage-class", name]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{name.upper()} is refused, as the stack refuses it: {stack_reason}" in err
    assert "instantly playable" in err


def test_the_estimator_takes_the_refusals_from_the_stacks_declaration(monkeypatch, capsys):
    """One declaration: a class added to the stack's refusals is refused here too, with its reason."""
    import stacks.config

    monkeypatch.setitem(stacks.config.REFUSED_CLASSES, "ONEZONE_IA", "ONEZONE_IA is lost with its zone")
    assert _status(["--storage-class", "ONEZONE_IA"]) == 2
    assert "ONEZONE_IA is lost with its zone" in capsys.readouterr().err
