"""A day of any size: its child execution runs in rounds, each within Step Functions' quotas.

Step Functions ends an execution that reaches 25,000 history events, and that failure cannot be
caught (Step Functions service quotas, "Maximum execution history size"). A day's child
execution (stacks/orchestration.py) therefore lists at most PAGES_PER_ROUND pages and waits for
room in the queue at most WAITS_PER_ROUND times; then PauseDay saves its progress (the cursor and
the count of waits without progress) in the run's ledger, names the day for the next round, and
the child ends. After the Map, the parent's NextRound returns the paused days and the Map runs
again over them: each resumes from its saved progress (ResumeDay). The parent's own events per
round are few and bounded by MAX_ROUNDS.

The events, as Step Functions records them (and the strict emulator counts them, emulator/quotas.py):
- a page: CheckQueueRoom (5: entered, scheduled, started, succeeded, exited), QueueHasRoom (2),
  ListPage (5), EnqueuePage (5), MorePages (2): PAGE_EVENTS = 19;
- a wait: CheckQueueRoom (5), QueueHasRoom (2), Shrank (2), ResetStall or CountStall (2),
  StillWaiting (2), WaitForRoom (2): WAIT_EVENTS = 15;
- a round's own: the execution's start and end (2), StartDay (2), Resuming (2), ResumeDay (5),
  PauseDay (5) or RecordDayFailure and its Pass (7), the final Succeed (2): at most ROUND_EVENTS;
- an undo's page (its own loop, stacks/orchestration.py): ListUndoPage (5), UndoPage (5),
  MoreUndoPages (2): 12, within PAGE_EVENTS; its round starts with ResumeUndoDay in ResumeDay's place;
- a retried attempt adds 3 (its failure, then the next attempt's scheduled and started).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .listing import fresh_waits, new_progress

HISTORY_LIMIT = 25_000
PAGE_EVENTS = 19
WAIT_EVENTS = 15
ROUND_EVENTS = 20
RETRY_EVENTS = 3
PAGES_PER_ROUND = 600
WAITS_PER_ROUND = 500
# The parent's events per round: the Map (entered, Map Run started and succeeded, exited: 4),
# NextRound (5), MoreRounds (2). Its other events are bounded too: ~30 fixed, and CheckRun's polls
# (optimizer/completion.py, MAX_POLLS x 9). 500 rounds of 600 pages: 300,000 pages a day, ~120
# million Connect recordings (~410 a 48 KB page), before the day is recorded DayTooLong.
PARENT_ROUND_EVENTS = 11
PARENT_FIXED_EVENTS = 30
MAX_ROUNDS = 500
TOO_LONG = "DayTooLong"


def round_events(pages: int = PAGES_PER_ROUND, waits: int = WAITS_PER_ROUND) -> int:
    """The most events a day's child execution records in one round, without retries."""
    return ROUND_EVENTS + pages * PAGE_EVENTS + waits * WAIT_EVENTS


def retries_within_margin() -> int:
    """How many retried attempts one round may hold before it could reach the quota."""
    return (HISTORY_LIMIT - 1 - round_events()) // RETRY_EVENTS


def resumed(saved: Mapping[str, Any] | None) -> dict[str, Any]:
    """The progress a new round starts from: the saved cursor and waits without progress, with
    this round's pages and waits at 0."""
    if saved is None:
        return new_progress()
    waits = saved.get("waits") or {}
    kept = {name: int(waits[name]) for name in ("stalled", "last") if name in waits}
    return {"cursor": dict(saved["cursor"]), "pages": 0, "waits": {**fresh_waits(), **kept}}


def too_long_cause() -> str:
    """The cause recorded for a day still unlisted after MAX_ROUNDS rounds, with what to do."""
    return (
        f"the day still had recordings to list after {MAX_ROUNDS} rounds of at most {PAGES_PER_ROUND} pages "
        "(its child executions' history bound): re-run it; what this run converted is skipped as already converted"
    )
