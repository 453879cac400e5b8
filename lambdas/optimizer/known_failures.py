"""Recordings that failed for their own content, remembered so that later runs skip them.

A content failure (ContentFailure: not a WAV we can convert, audio ffmpeg cannot decode, a
conversion that fails verification, ...) cannot turn out differently until the object does. When
the converter dead-letters one, it also writes {ETag, reason, when} to the run ledger table, one
item per object key under the partition key "failure#<object key>" (the ledger's other items are
keyed by Step Functions execution names, which cannot contain '#'). The lister reads these items
for each page's keys with BatchGetItem and drops the objects whose listed ETag is the remembered
one: they are counted `skipped_known_failure`, not enqueued, and do not fail the run again. A new
version of the object (another ETag) is enqueued as usual; the input "retry_failed": true
enqueues them all.

Only a failure of a kind the code still refuses is skipped (REMEMBERED_KINDS: the kinds
optimizer/vocabulary.py declares remembered): a kind the converter no longer refuses (the odd
data size was `partial_frame`; ffmpeg out of space or killed was `ffmpeg_failed`) is enqueued
again, whatever the memory says. Items written before the kind was stored are judged by their
reason.

Everything else the converter refuses (outside the scope, SSE-C, 10 tags already, a bad message)
and every transient failure can be fixed without changing the object, so it is never remembered:
the next run tries it again.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .conversion import ContentFailure
from .listing import Page
from .vocabulary import FailureKind, SkipReason

PARTITION_PREFIX = "failure#"
# A year. Longer than anything that re-lists a day on its own (the scheduled run's catch_up_days
# are at most 30), and than a backfill campaign is likely to last, so a bad file costs one failed
# run, not one a day. Short enough that a recording still bad after a year is tried once more
# (one dead letter, one RecordingsFailed): a yearly reminder that it is still there, and a retry
# with whatever the converter has learnt meanwhile. Each new failure starts the year again.
TTL_DAYS = 365
BATCH_KEYS = 100  # BatchGetItem's limit per request
# The reason is cut to this many UTF-8 bytes (like the DLQ's reason attribute), so that an item,
# with a 1,024-byte key, stays well under 4 KB: one read is half a read unit (eventually consistent).
MAX_REASON_BYTES = 1000
MAX_ATTEMPTS = 8  # BatchGetItem calls for one batch of keys, while some stay unprocessed
BACKOFF_BASE_S = 0.05
BACKOFF_CAP_S = 2.0


# The kinds of content failure (ContentFailure.kind) the converter refuses and remembers: the
# refusals of optimizer/wav.py (NotWav), optimizer/audio.py (AudioMismatch) and conversion.py,
# each declared `remembered` in optimizer/vocabulary.py.
REMEMBERED_KINDS = frozenset(kind for kind in FailureKind if kind.remembered)


class KnownFailuresUnavailable(Exception):
    """The remembered failures could not be read; the page is not listed (the state machine
    retries it) rather than enqueue recordings that may be known failures, or drop any."""


@dataclass(frozen=True)
class KnownFailure:
    key: str
    etag: str
    reason: str
    failed_at: str
    expires_at: int
    # As stored (not a FailureKind): a kind of this release or an earlier one; "" for an item
    # written before the kind was stored.
    kind: str = ""


def still_refused(known: KnownFailure) -> bool:
    """Whether the code still refuses a recording for the failure remembered."""
    if known.kind:
        return known.kind in REMEMBERED_KINDS
    reason = known.reason
    if "No space left on device" in reason or "could not convert the audio (exit -" in reason:
        return False
    return not ("ends inside a frame" in reason and " and 1 byte(s) more" in reason)


def remembers(exc: BaseException) -> bool:
    """Only a failure the recording's own bytes cause is remembered (see the module's docstring)."""
    return isinstance(exc, ContentFailure)


def partition_key(key: str) -> str:
    """The ledger partition that remembers a recording's failure."""
    return PARTITION_PREFIX + key


def _cut(text: str, max_bytes: int = MAX_REASON_BYTES) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def failure_item(
    key: str, etag: str, reason: str, *, run: str, now: dt.datetime, kind: FailureKind | None = None
) -> dict[str, Any]:
    """The ledger item of one remembered failure, in DynamoDB's typed form."""
    item = {
        "run": {"S": partition_key(key)},
        "etag": {"S": etag},
        "reason": {"S": _cut(reason)},
        "failed_at": {"S": now.astimezone(dt.UTC).isoformat(timespec="seconds")},
        "expires_at": {"N": str(int(now.timestamp()) + TTL_DAYS * 86400)},
    }
    if run:
        item["failed_run"] = {"S": run}
    if kind:
        item["kind"] = {"S": kind}
    return item


def remember(
    dynamodb: Any,
    table: str,
    key: str,
    etag: str,
    reason: str,
    *,
    run: str = "",
    kind: FailureKind | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Writes (or replaces: the latest reason, a new lifetime) the object's failure. False when
    there is no table to write to."""
    if not table:
        return False
    now = now or dt.datetime.now(dt.UTC)
    dynamodb.put_item(TableName=table, Item=failure_item(key, etag, reason, run=run, now=now, kind=kind))
    return True


def parse_item(item: Mapping[str, Any]) -> KnownFailure | None:
    """The remembered failure a ledger item holds, None if it holds none."""
    partition = item.get("run", {}).get("S", "")
    if not partition.startswith(PARTITION_PREFIX) or "etag" not in item:
        return None
    return KnownFailure(
        key=partition[len(PARTITION_PREFIX) :],
        etag=item["etag"]["S"],
        reason=item.get("reason", {}).get("S", ""),
        failed_at=item.get("failed_at", {}).get("S", ""),
        expires_at=int(item.get("expires_at", {}).get("N", "0")),
        kind=item.get("kind", {}).get("S", ""),
    )


@dataclass
class Lookup:
    found: dict[str, KnownFailure] = field(default_factory=dict)  # by object key
    # The other items of the same keys, by object key: what optimizer/known_formats.py remembers
    # (a recording already in the target format), read by the same requests and kept apart here.
    others: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    requests: int = 0  # BatchGetItem calls, retries included (each is billed)
    read_units: float = 0.0  # as DynamoDB reported them (ReturnConsumedCapacity)


def chunks(seq: Sequence[Any], size: int = BATCH_KEYS) -> Iterable[Sequence[Any]]:
    """`seq` in consecutive slices of at most `size` (a BatchGetItem's keys)."""
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def lookup(
    dynamodb: Any,
    table: str,
    keys: Iterable[str],
    *,
    max_attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> Lookup:
    """The remembered failures of these object keys: BatchGetItem, 100 keys a request, eventually
    consistent (a failure remembered a moment ago may be missed once: it is then tried again, as
    before this existed). UnprocessedKeys are asked again with jittered exponential backoff;
    throttling errors are retried by the client's own retry mode."""
    result = Lookup()
    unique = list(dict.fromkeys(keys))  # BatchGetItem refuses duplicate keys
    if not table or not unique:
        return result
    projection = {
        "ProjectionExpression": "#p, #e, #r, #f, #x, #k, #fe, #fo, #fs",
        "ExpressionAttributeNames": {
            "#p": "run",
            "#e": "etag",
            "#r": "reason",
            "#f": "failed_at",
            "#x": "expires_at",
            "#k": "kind",
            # optimizer/known_formats.py's item (its ETag, its format, when it was seen)
            "#fe": "format_etag",
            "#fo": "format",
            "#fs": "seen_at",
        },
    }
    for batch in chunks(unique):
        request: dict[str, Any] = {table: {"Keys": [{"run": {"S": partition_key(k)}} for k in batch], **projection}}
        for attempt in range(max_attempts):
            if attempt:
                sleep(min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**attempt) * random.uniform(0.5, 1.0))
            response = dynamodb.batch_get_item(RequestItems=request, ReturnConsumedCapacity="TOTAL")
            result.requests += 1
            result.read_units += sum(float(c.get("CapacityUnits", 0)) for c in response.get("ConsumedCapacity", []))
            for item in response.get("Responses", {}).get(table, []):
                known = parse_item(item)
                if known is not None:
                    result.found[known.key] = known
                elif item.get("run", {}).get("S", "").startswith(PARTITION_PREFIX):
                    result.others[item["run"]["S"][len(PARTITION_PREFIX) :]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request.get(table, {}).get("Keys"):
                break
        else:
            left = len(request[table]["Keys"])
            raise KnownFailuresUnavailable(
                f"{left} of {len(batch)} keys still unprocessed after {max_attempts} BatchGetItem calls on {table}"
            )
    return result


def is_known(item: Sequence[Any], known: KnownFailure | None, now_epoch: float) -> bool:
    """A listed item [relative key, ETag, size] is a known failure when the very version that failed
    is listed again (same ETag) and the memory has not expired (DynamoDB deletes expired items
    only within a few days, so the lifetime is checked here), and the code still refuses that
    kind of failure (still_refused)."""
    return known is not None and known.etag == item[1] and known.expires_at > now_epoch and still_refused(known)


def drop_known_failures(
    page: Page, prefix: str, known: Mapping[str, KnownFailure], now_epoch: float
) -> list[KnownFailure]:
    """Removes the page's known failures from its items and counts them; returns them (to log).

    The page may then end in a partial SQS batch (one more SendMessageBatch for that page)."""
    kept, dropped = [], []
    for item in page.items:
        remembered = known.get(prefix + item[0])
        if remembered is not None and is_known(item, remembered, now_epoch):
            dropped.append(remembered)
        else:
            kept.append(item)
    page.items = kept
    page.skipped[SkipReason.KNOWN_FAILURE] = page.skipped.get(SkipReason.KNOWN_FAILURE, 0) + len(dropped)
    return dropped
