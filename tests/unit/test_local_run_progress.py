"""The local run's progress lines (emulator/local_run.py, Progress): each line printed once."""

from __future__ import annotations

import io
from types import SimpleNamespace

from emulator.local_run import Progress


def poller(completed: int) -> SimpleNamespace:
    return SimpleNamespace(totals=SimpleNamespace(completed=completed))


def lines(stream: io.StringIO) -> list[str]:
    # The elapsed seconds differ between calls; the rest is what the reader sees change.
    return [line.rsplit(" (", 1)[0] for line in stream.getvalue().splitlines()]


def test_a_one_day_run_does_not_print_its_line_again_when_the_day_is_listed() -> None:
    lambdas = SimpleNamespace(days_total=1, days_listed=set(), last_day="")
    stream = io.StringIO()
    progress = Progress(12, lambdas=lambdas, stream=stream)
    progress([poller(0)])
    lambdas.days_listed.add("2022-01-01")  # listed, which a one-day run's line does not show
    progress([poller(0)])
    progress([poller(3)])
    progress([poller(3)])
    assert lines(stream) == ["  0/12 recordings done", "  3/12 recordings done"]


def test_a_range_prints_a_line_when_a_day_is_listed() -> None:
    lambdas = SimpleNamespace(days_total=2, days_listed=set(), last_day="")
    stream = io.StringIO()
    progress = Progress(4, lambdas=lambdas, stream=stream)
    progress([poller(0)])
    lambdas.days_listed.add("2022-01-01")
    lambdas.last_day = "2022-01-01"
    progress([poller(0)])
    assert lines(stream) == [
        "  day 0/2 listed, 0/4 recordings done",
        "  day 1/2 listed (2022-01-01), 0/4 recordings done",
    ]
