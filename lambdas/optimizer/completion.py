"""When a run is finished: every recording it put on the queue has its outcome in the ledger.

The state machine asks after its last day is listed, then every `wait_seconds` (CheckRun). It
stops waiting at a bound, whichever comes first:
- `limit_seconds`, the longest one of its messages can wait on the queue and be received
  (stacks/capacity.py, worst_case_message_age_s): past it, a recording without an outcome will not
  get one (SQS's redrive policy moved it, or it was deleted by hand);
- MAX_POLLS, so the execution's history stays under Step Functions' 25,000 events (each poll is
  9 events: the Wait, the task and the Choice).
Polls come every `poll_seconds` for the first half of MAX_POLLS, then stretch so that the rest
still covers `limit_seconds`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

MAX_POLLS = 2_000
STEADY_POLLS = MAX_POLLS // 2


def check(
    counts: Mapping[str, int], *, polls: int, since: int, now: int, poll_seconds: int, limit_seconds: int
) -> dict[str, Any]:
    """The next state of the wait: "finished", "given_up" or "waiting" (then wait `wait_seconds`)."""
    enqueued, accounted = int(counts.get("enqueued", 0)), int(counts.get("accounted", 0))
    polls += 1
    since = since or now
    waited = max(0, now - since)
    if accounted >= enqueued:
        state = "finished"
    elif waited >= limit_seconds or polls >= MAX_POLLS:
        state = "given_up"
    else:
        state = "waiting"
    wait = poll_seconds
    if polls >= STEADY_POLLS:
        wait = max(poll_seconds, math.ceil((limit_seconds - waited) / max(1, MAX_POLLS - polls)))
    return {
        "state": state,
        "polls": polls,
        "since": since,
        "waited_seconds": waited,
        "wait_seconds": wait,
        "enqueued": enqueued,
        "accounted": accounted,
    }
