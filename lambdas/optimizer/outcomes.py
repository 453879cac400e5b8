"""The converter's policy for each SQS record, without AWS: when a recording is tried, what an
error means, what is dead-lettered and with which reason, and what one invocation counts.

Outcomes per record:
  converted / skipped          -> message deleted (success)
  permanent failure            -> message re-sent to the DLQ with its reason, then deleted; a
                                  content failure is also remembered for that object version
                                  (optimizer/known_failures.py), so later runs skip it
  transient failure            -> reported in batchItemFailures, SQS retries it; on the last of
                                  its max_receive_count attempts the converter gives up itself
                                  and dead-letters it with the reason
  crash / timeout              -> SQS delivers it again; received more than max_receive_count
                                  times, it is dead-lettered with that reason before any further
                                  attempt (the queue's redrive threshold sits above, so every
                                  final failure is the converter's own, with a reason and a count)
Every final outcome is counted once per recording and run in the ledger (one transaction per
batch and run: optimizer/ledger.py), which is how the run knows it is finished.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from dataclasses import dataclass

from . import known_failures
from .conversion import Outcome, PermanentFailure, TransientFailure
from .messages import BadMessage

# Time kept back so a record is not started when the invocation would be killed mid-write;
# a killed record is safe (nothing is written before verification) but costs a full retry.
RESERVED_MS = 20_000
BYTES_PER_MS = 20_000  # conservative end-to-end throughput (download + ffmpeg + upload)


class Crashed(PermanentFailure):
    """Received more times than the converter may try: each earlier attempt ended without an outcome."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, kind="crashed")


def check_attempt(receives: int, max_receive_count: int, *, remaining_ms: int | None, size: int) -> None:
    """Before a recording is tried: Crashed once it was received more than max_receive_count
    times; TransientFailure when the invocation has too little time left for its size
    (remaining_ms None: no deadline known)."""
    if receives > max_receive_count:
        raise Crashed(
            f"received {receives} times: the converter stopped without an outcome on its "
            f"{max_receive_count} attempt(s) (a crash, a timeout or running out of memory); "
            "not tried again. The converter's log group has the error"
        )
    if remaining_ms is not None and remaining_ms < RESERVED_MS + size // BYTES_PER_MS:
        raise TransientFailure("not enough time left in this invocation; deferred to a retry")


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
        return self.outcome is None


def judge(exc: Exception, receives: int, max_receive_count: int) -> Verdict:
    """The verdict on an error raised while a record was tried (its receive_count-th delivery)."""
    if isinstance(exc, PermanentFailure | BadMessage):
        reason = str(exc)
        etag = getattr(exc, "etag", None) if known_failures.remembers(exc) else None
        return Verdict(Outcome("failed", reason, kind=getattr(exc, "kind", "bad_message")), reason, etag)
    reason = f"{type(exc).__name__}: {exc}"
    if receives < max_receive_count:
        return Verdict(None, reason)
    reason = f"gave up after {receives} attempts: {reason}"
    return Verdict(Outcome("failed", reason, kind="gave_up"), reason)


def dead_letter_body(record_body: str, reason: str, now: dt.datetime | None = None) -> str:
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
    data["failure"] = {"reason": reason, "at": at}
    return json.dumps(data)


def counts(outcome: Outcome) -> Counter[str]:
    """What one final outcome adds to its run's ledger counts."""
    added: Counter[str] = Counter()
    if outcome.outcome == "skipped":
        added[f"skipped_{outcome.reason}"] += 1
    else:
        added[outcome.outcome] += 1
    if outcome.kind:
        added[f"failed_{outcome.kind}"] += 1
    if outcome.outcome == "converted":
        added["bytes_before"] += outcome.bytes_before
        added["bytes_after"] += outcome.bytes_after
    return added


@dataclass(frozen=True)
class Entry:
    message_id: str
    key: str
    counts: Counter[str]


class Batch:
    """The final outcomes of one invocation, grouped by run: accounted and published once at the end."""

    def __init__(self) -> None:
        self.by_run: dict[str, list[Entry]] = defaultdict(list)

    def add(self, run: str, key: str, message_id: str, outcome: Outcome) -> None:
        self.by_run[run].append(Entry(message_id, key, counts(outcome)))

    def to_account(self) -> dict[str, list[Entry]]:
        """The entries per named run. A message from before runs were named has no ledger to be
        counted in: it is left out here, and still counts in total()."""
        return {run: entries for run, entries in self.by_run.items() if run}

    def total(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for entries in self.by_run.values():
            for entry in entries:
                total.update(entry.counts)
        return total
