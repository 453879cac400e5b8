"""The bounds of a day's rounds (optimizer/rounds.py): every execution under 25,000 events."""

from __future__ import annotations

from optimizer import completion, rounds
from optimizer.listing import NO_CHECK_YET, new_progress


def test_a_round_at_its_budget_leaves_room_for_retries_under_the_quota():
    worst = rounds.round_events()
    assert worst == rounds.ROUND_EVENTS + 600 * 19 + 500 * 15 == 18_920
    assert worst < rounds.HISTORY_LIMIT
    # ~2,000 retried attempts in one round before the quota could be reached
    assert rounds.retries_within_margin() == (25_000 - 1 - 18_920) // 3 >= 2_000


def test_the_parents_rounds_and_polls_fit_in_one_history():
    parent = rounds.PARENT_FIXED_EVENTS + rounds.MAX_ROUNDS * rounds.PARENT_ROUND_EVENTS + completion.MAX_POLLS * 9
    assert parent < rounds.HISTORY_LIMIT
    # What the bound means for a day: 300,000 pages, 120 million recordings at ~410 a page.
    assert rounds.MAX_ROUNDS * rounds.PAGES_PER_ROUND * 410 >= 120_000_000


def test_a_resumed_day_keeps_its_cursor_and_its_waits_without_progress():
    saved = {
        "cursor": {"start_after": "k", "done": False},
        "pages": 600,
        "waits": {"n": 500, "stalled": 42, "last": 19_999},
    }
    assert rounds.resumed(saved) == {
        "cursor": {"start_after": "k", "done": False},
        "pages": 0,
        "waits": {"n": 0, "stalled": 42, "last": 19_999},
    }
    assert rounds.resumed(None) == new_progress()
    assert rounds.resumed({"cursor": {"start_after": "k", "done": False}})["waits"] == {
        "n": 0,
        "stalled": 0,
        "last": NO_CHECK_YET,
    }
