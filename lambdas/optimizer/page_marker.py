"""What the enqueuer writes to a listed page's marker in the run's ledger, and with which counts
(optimizer/ledger.py stores it: one character per recording, SENT, MAYBE_SENT or UNSENT).

Pure: the enqueuer (lambdas/enqueuer.py) reads the marker, asks these functions for the next one
and its counts, and writes it with ledger.write_marker. Three writes for a page sent: the intent
(the recordings about to be sent MAYBE_SENT and counted `enqueued` once), the send, the outcome
(accepted ones SENT, refused ones UNSENT and subtracted again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .enqueueing import projected_size
from .formats import TARGET, TargetFormat
from .ledger import MAYBE_SENT, SENT, UNSENT
from .messages import Recording


def marks(before: str | None, recordings: int) -> str:
    """The page's marker as read, or all UNSENT when the page has none yet."""
    return before or UNSENT * recordings


def was_complete(before: str | None) -> bool:
    """Whether an earlier attempt already had every recording of the page accepted."""
    return before is not None and all(mark == SENT for mark in before)


def listing_counts(
    page_counts: Mapping[str, int], recordings: Sequence[Recording], *, dry_run: bool, target: TargetFormat = TARGET
) -> dict[str, int]:
    """The listing's counts of a page seen for the first time, without days_done (counted once the
    page is wholly on the queue); a dry run adds the page's recordings, bytes and projected bytes (in
    the deployment's `target` format)."""
    counts = {name: value for name, value in page_counts.items() if name != "days_done"}
    if dry_run:
        counts.update(
            dry_recordings=len(recordings),
            dry_bytes=sum(r.size for r in recordings),
            dry_projected_bytes=sum(projected_size(r.size, target) for r in recordings),
        )
    return counts


def day_done(*, last_page: bool, complete: bool, complete_before: bool) -> dict[str, int]:
    """{"days_done": 1} when this write completes the day's last page, once: {} otherwise."""
    return {"days_done": 1} if last_page and complete and not complete_before else {}


@dataclass(frozen=True)
class Intent:
    """The marker written before the send: what is to be sent is MAYBE_SENT."""

    marker: str
    pending: frozenset[int]  # the recordings to send: every one not SENT yet
    newly_counted: int  # those counted `enqueued` now: an earlier attempt counted the MAYBE_SENT ones


def intent(current: str) -> Intent:
    """The intent after the marker `current`: every recording not SENT is sent (again)."""
    pending = frozenset(i for i, mark in enumerate(current) if mark != SENT)
    return Intent(
        marker="".join(MAYBE_SENT if i in pending else mark for i, mark in enumerate(current)),
        pending=pending,
        newly_counted=sum(1 for i in pending if current[i] == UNSENT),
    )


@dataclass(frozen=True)
class Outcome:
    """The marker written after the send, and the change of counts written with it."""

    marker: str
    refused: frozenset[int]
    counts: dict[str, int]


def outcome(sent: Intent, accepted: set[int], *, last_page: bool, complete_before: bool) -> Outcome:
    """Accepted recordings SENT, refused ones UNSENT and no longer counted `enqueued`."""
    refused = frozenset(sent.pending - accepted)
    marker = "".join(SENT if i in accepted else UNSENT if i in refused else mark for i, mark in enumerate(sent.marker))
    counts = {
        "enqueued": -len(refused),
        **day_done(last_page=last_page, complete=not refused, complete_before=complete_before),
    }
    return Outcome(marker, refused, counts)
