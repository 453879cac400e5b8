"""The converter's policy for each SQS record, without AWS: when a recording is tried, what an
error means, what is dead-lettered and with which reason, and what one invocation counts.

Outcomes per record:
  converted / skipped          -> message deleted (success)
  permanent failure            -> message re-sent to the DLQ with its reason and kind, then
                                  deleted; a content failure is also remembered for that object
                                  version (optimizer/known_failures.py), so later runs skip it.
                                  Dead-lettered once per recording and run: the attempt item says
                                  whether its dead letter went out (optimizer/ledger.py)
  transient failure            -> reported in batchItemFailures, SQS retries it; on the last of
                                  its max_receive_count attempts the converter gives up itself
                                  and dead-letters it with the reason
  crash / timeout              -> SQS delivers it again; when an attempt would be the
                                  (max_receive_count + 1)-th, the recording is dead-lettered as
                                  `crashed` instead of tried
Attempts are the converter's own, counted in the ledger when it starts reading a recording that
needs converting, not SQS's receives: a message that Lambda throttled, that came back with its
whole batch, or whose outcome the ledger could not take uses up none, and a recording this run
already converted is counted converted, never dead-lettered. The queue lets a message be received
RECEIVE_ROOM more times than it may be tried; past that the converter dead-letters it itself
(`gave_up`, never tried again), and DEAD_LETTER_ROOM receives more are left before SQS's redrive
policy moves it without a reason (for a message whose dead-lettering failed).
Every final outcome is counted once per recording and run in the ledger (one transaction per
batch and run: optimizer/ledger.py), which is how the run knows it is finished.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from . import known_failures
from .conversion import Outcome, PermanentFailure, TransientFailure
from .messages import BadMessage
from .receives import (  # noqa: F401 - re-exported: the policy reads them from here
    DEAD_LETTER_ROOM,
    EXTRA_RECEIVES,
    RECEIVE_ROOM,
    receive_limit,
    redrive_threshold,
)
from .vocabulary import SKIPPED_PREFIX, FailureKind

# Time kept back so a record is not started when the invocation would be killed mid-write;
# a killed record is safe (nothing is written before verification) but costs a full retry.
RESERVED_MS = 20_000
BYTES_PER_MS = 20_000  # conservative end-to-end throughput (download + ffmpeg + upload)
# A dead letter claimed (pending) longer than this, never marked sent: its sender crashed before
# or after SendMessage; another delivery sends it (a failure must stay visible).
DEAD_LETTER_STALE_S = 60


class Crashed(PermanentFailure):
    """Tried max_receive_count times already: each earlier attempt ended without an outcome."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, kind=FailureKind.CRASHED)


def check_time(*, remaining_ms: int | None, size: int) -> None:
    """Before a recording is read: TransientFailure when the invocation has too little time left
    for its size (remaining_ms None: no deadline known). Uses up no attempt."""
    if remaining_ms is not None and remaining_ms < RESERVED_MS + size // BYTES_PER_MS:
        raise TransientFailure("not enough time left in this invocation; deferred to a retry")


def check_attempt(attempt: int, receives: int, max_attempts: int) -> None:
    """When the converter starts its `attempt`-th attempt at a recording (receives: the message's
    ApproximateReceiveCount): Crashed when the earlier max_attempts attempts all ended without an
    outcome; a permanent `gave_up` when the message was received more often than the queue leaves
    room for, so that the converter, not SQS's redrive, dead-letters it with a reason."""
    if attempt > max_attempts:
        raise Crashed(
            f"tried {attempt - 1} times: each attempt stopped without an outcome (a crash, a timeout or "
            "running out of memory); not tried again. The converter's log group has the error"
        )
    if receives > receive_limit(max_attempts):
        raise PermanentFailure(
            f"gave up after {receives} receives and {attempt - 1} attempts: the message kept coming back without "
            "an outcome (throttled, returned with its batch, or a failed ledger write)",
            FailureKind.GAVE_UP,
        )


def killed_every_time(killed_in_a_row: int, attempt: int, max_attempts: int) -> bool:
    """ffmpeg killed by a signal becomes a content failure only when the same version killed it on
    every attempt of the run, and this was the last attempt."""
    return attempt >= max_attempts and killed_in_a_row >= attempt


@dataclass(frozen=True)
class Verdict:
    """What an error means for the record. `outcome` None: handed back to SQS for a retry
    (`reason` says why); otherwise the record is dead-lettered with outcome.reason, and the
    failure remembered for the object version `remember_etag` if that is set."""

    outcome: Outcome | None
    reason: str
    remember_etag: str | None = None

    @property
    def retry(self) -> bool:
        """Whether the recording is to be tried again (no final outcome yet)."""
        return self.outcome is None


def judge(exc: Exception, attempts: int, max_attempts: int, *, receives: int = 1) -> Verdict:
    """The verdict on an error raised while a record was handled: `attempts` the converter's own
    so far (this one included), `receives` the message's. A transient error is retried until
    the last attempt, or the last receive the queue leaves room for."""
    if isinstance(exc, PermanentFailure | BadMessage):
        reason = str(exc)
        etag = getattr(exc, "etag", None) if known_failures.remembers(exc) else None
        kind = exc.kind if isinstance(exc, PermanentFailure) else FailureKind.BAD_MESSAGE
        return Verdict(Outcome("failed", reason, kind=kind), reason, etag)
    reason = f"{type(exc).__name__}: {exc}"
    if attempts < max_attempts and receives < receive_limit(max_attempts):
        return Verdict(None, reason)
    reason = (
        f"gave up after {attempts} attempts: {reason}"
        if attempts >= max_attempts
        else f"gave up after {receives} receives and {attempts} attempts: {reason}"
    )
    return Verdict(Outcome("failed", reason, kind=FailureKind.GAVE_UP), reason)


def dead_letter_body(
    record_body: str, reason: str, kind: FailureKind | None = None, now: dt.datetime | None = None
) -> str:
    """The original message plus why it failed: redriving it later still works."""
    try:
        data = json.loads(record_body)
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        data = {"raw_body": record_body}
    at = (now or dt.datetime.now(dt.UTC)).isoformat(timespec="seconds")
    if isinstance(data.get("failure"), dict):  # failed again after a redrive: keep the history
        data["earlier_failures"] = [*data.get("earlier_failures", []), data["failure"]]
    data["failure"] = {"reason": reason, "at": at, "kind": kind or FailureKind.OTHER}
    return json.dumps(data)


def generation(record_body: str) -> int:
    """0 for a message as the enqueuer sent it; n for a dead letter redriven n times (its body
    keeps each failure: dead_letter_body)."""
    try:
        data = json.loads(record_body)
    except ValueError:
        return 0
    if not isinstance(data, dict) or not isinstance(data.get("failure"), dict):
        return 0
    earlier = data.get("earlier_failures")
    return 1 + (len(earlier) if isinstance(earlier, list) else 0)


def counts(outcome: Outcome) -> Counter[str]:
    """What one final outcome adds to its run's ledger counts."""
    added: Counter[str] = Counter()
    if outcome.outcome == "skipped":
        added[SKIPPED_PREFIX + str(outcome.reason)] += 1
    else:
        added[outcome.outcome] += 1
    if outcome.outcome == "verified" and outcome.reason:  # verified without the original, or its record
        added[f"verified_{outcome.reason}"] += 1
    if outcome.kind:
        added[outcome.kind.counter] += 1
    if outcome.outcome == "converted":
        added["bytes_before"] += outcome.bytes_before
        added["bytes_after"] += outcome.bytes_after
        if outcome.retain_until_carried:
            added["retain_until_carried"] += 1
    return added


@dataclass(frozen=True)
class Entry:
    message_id: str
    key: str
    counts: Counter[str]
    custody: Mapping[str, str] | None = None  # a conversion's chain of custody, for its done# marker


class Batch:
    """The final outcomes of one invocation, grouped by run: accounted and published once at the end."""

    def __init__(self) -> None:
        self.by_run: dict[str, list[Entry]] = defaultdict(list)

    def add(self, run: str, key: str, message_id: str, outcome: Outcome) -> None:
        """Records a message's outcome under its run."""
        self.by_run[run].append(Entry(message_id, key, counts(outcome), outcome.custody))

    def to_account(self) -> dict[str, list[Entry]]:
        """The entries per named run. A message from before runs were named has no ledger to be
        counted in: it is left out here, and still counts in total()."""
        return {run: entries for run, entries in self.by_run.items() if run}

    def total(self) -> Counter[str]:
        """Every run's counts, added up."""
        total: Counter[str] = Counter()
        for entries in self.by_run.values():
            for entry in entries:
                total.update(entry.counts)
        return total
