"""Exact per-run counts in a small on-demand DynamoDB table.

A run's counters are spread over SHARDS items, `count#<run>#<n>` (UpdateItem ADD); its total is
their sum (`read`, one BatchGetItem of consistent reads). One item for the whole run would be
hot: DynamoDB cancels a transaction that touches an item another transaction holds
(TransactionConflict, developer guide "Transaction conflict handling"), and every converter
batch and every enqueued page updates the counters. A transaction that meets a conflict is
retried, with jitter, on another shard. Two kinds of small marker items make the counts exact
under retries and SQS's at-least-once delivery, each written in the same TransactWriteItems as
the counters it guards, so a count and its marker exist together or not at all:

- `done#<run>#<key>`: the recording has its outcome in this run. The converter writes one per
  recording with `attribute_not_exists`, so a duplicate delivery (or a redriven message whose
  recording was already accounted) adds nothing; it writes once per batch and run. A conversion's
  marker also holds its chain of custody (`custody`: the original's and the new version's ids and
  SHA-256 digests, optimizer/conversion.py custody_record), which a `verify` run reads back
  (optimizer/custody.py, read_custody): no request of its own, and no write unit either while the
  item stays under 1 KB (~260 bytes of custody beside the key: keys up to ~650 bytes).
- `page#<run>#<day>#<cursor>`: which messages of a listed page are on the queue (one character
  per recording: SENT, MAYBE_SENT, UNSENT). Before it sends, the enqueuer marks the recordings it
  is about to send MAYBE_SENT and counts them `enqueued` in the same transaction; after the send it
  marks those SQS accepted SENT, and those SQS refused UNSENT, subtracting them again. So
  `enqueued` never stays behind what SQS accepted, even if the write after the send fails; a
  retried page re-sends the MAYBE_SENT ones without counting them again (the converter counts each
  recording once per run: a duplicate message is harmless).

Two more kinds belong to a day too long for one child execution (stacks/orchestration.py): its
cursor, `cursor#<run>#<day>`, saved when a round of its child execution ends, and the day's name in
the run item's `paused:<round>` string set, which the parent reads to start the next round.

A run is finished when `accounted` (outcomes) reaches `enqueued` (messages accepted by SQS).

`attempt#<run>#<key>`: the converter's own attempts at a recording in the run (`attempts`, ADD
when it starts reading the body; `killed`, ffmpeg's deaths by a signal on version `killed_etag`),
and whether its dead letter went out (`dead`: pending, then sent, with its kind and reason), so a
failure is dead-lettered once per recording and run (optimizer/outcomes.py has the policy).

Write units per recording (1 KB items, 2 units per transactional write): the converter's
transaction, 10 markers and one shard per batch of 10, is 2.2; its attempt, one UpdateItem, 1
(a message that comes back without being tried writes nothing; a retried attempt 1 more); the
enqueuer's page transaction ~0.01. About 3.2 write units a recording in all.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .vocabulary import FailureKind

TTL_DAYS = 90  # Step Functions keeps an execution's history 90 days; the counts live as long
# TransactWriteItems takes 100 actions: 99 markers and the run's counters.
MARKERS_PER_TRANSACTION = 99
# Shards of the run's counters. At 1,000 converters finishing a batch of 10 short recordings
# every second or so (~1,000 transactions/s), 64 shards take ~16 each a second, far below an
# item's 1,000 write units/s; a transaction holds its shard only while it commits, so conflicts
# are occasional and a retry on another shard clears them. Reading them all is one BatchGetItem
# (64 shards + the run's item, under its 100 keys): 65 read units a CheckRun, 130,000 for a run
# that polls 2,000 times (some $0.03).
SHARDS = 64
BATCH_GET_KEYS = 100
READ_ATTEMPTS = 8
# Transactions on the run's item conflict when two touch it at once (TransactionConflict,
# DynamoDB developer guide, "Transaction conflict handling"); botocore does not retry that.
CONFLICT_ATTEMPTS = 8


class LedgerConflict(Exception):
    """The run's counters stayed busy with other transactions after every attempt."""


class LedgerUnavailable(Exception):
    """The run's counters could not be read (BatchGetItem left them unprocessed every time)."""


class PageChanged(Exception):
    """The page's marker changed since it was read: another attempt at the same page is running."""


def _expiry() -> dict[str, str]:
    return {"N": str(int(time.time()) + TTL_DAYS * 86400)}


def shard_key(run_id: str, shard: int) -> str:
    """The partition of one of the run's counter shards."""
    return f"count#{run_id}#{shard}"


def _other_shard(shard: int | None) -> int:
    """A shard chosen at random, never the one that just conflicted."""
    if shard is None:
        return random.randrange(SHARDS)
    return (shard + random.randrange(1, SHARDS)) % SHARDS


def _counter_update(table: str, run_id: str, counts: Mapping[str, int], *, shard: int | None = None) -> dict[str, Any]:
    """The update that adds `counts` to one of the run's shards (`shard`, or one at random)."""
    shard = random.randrange(SHARDS) if shard is None else shard
    names = {f"#c{i}": name for i, name in enumerate(sorted(counts))}
    values: dict[str, Any] = {f":c{i}": {"N": str(counts[name])} for i, name in enumerate(sorted(counts))}
    values[":ttl"] = _expiry()
    adds = ", ".join(f"#c{i} :c{i}" for i in range(len(counts)))
    return {
        "TableName": table,
        "Key": {"run": {"S": shard_key(run_id, shard)}},
        "UpdateExpression": (f"ADD {adds} " if adds else "") + "SET expires_at = if_not_exists(expires_at, :ttl)",
        **({"ExpressionAttributeNames": names} if names else {}),
        "ExpressionAttributeValues": values,
    }


def add(dynamodb: Any, table: str, run_id: str, counts: Mapping[str, int]) -> None:
    """Adds `counts` to the run's counters in one update (nothing without a table, a run or a count)."""
    counts = {name: int(value) for name, value in counts.items() if value}
    if not table or not run_id or not counts:
        return
    dynamodb.update_item(**_counter_update(table, run_id, counts))


def read_item(dynamodb: Any, table: str, run_id: str, *, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """The run's item as DynamoDB returns it (its failed days: day_failures), with the run's
    counters summed over its shards merged in (and any counter the item holds itself), so that
    counts_of() gives the run's counts. Consistent reads, one BatchGetItem per 100 keys;
    UnprocessedKeys are asked again with jittered backoff."""
    keys = [run_id, *(shard_key(run_id, n) for n in range(SHARDS))]
    items: dict[str, dict[str, Any]] = {}
    for start in range(0, len(keys), BATCH_GET_KEYS):
        request: dict[str, Any] = {
            table: {"Keys": [{"run": {"S": k}} for k in keys[start : start + BATCH_GET_KEYS]], "ConsistentRead": True}
        }
        for attempt in range(READ_ATTEMPTS):
            if attempt:
                sleep(_conflict_wait(attempt))
            response = dynamodb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                items[item["run"]["S"]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request.get(table, {}).get("Keys"):
                break
        else:
            raise LedgerUnavailable(f"the counters of run {run_id} stayed unprocessed after {READ_ATTEMPTS} reads")
    merged = dict(items.get(run_id, {}))
    totals = counts_of(merged)
    for n in range(SHARDS):
        for name, value in counts_of(items.get(shard_key(run_id, n), {})).items():
            totals[name] = totals.get(name, 0) + value
    merged.update({name: {"N": str(value)} for name, value in totals.items()})
    return merged


def counts_of(item: Mapping[str, Any]) -> dict[str, int]:
    """The counters of a run's ledger item, by name."""
    return {name: int(value["N"]) for name, value in item.items() if "N" in value and name != "expires_at"}


def read(dynamodb: Any, table: str, run_id: str) -> dict[str, int]:
    """The run's counters, read consistently, by name."""
    return counts_of(read_item(dynamodb, table, run_id))


def _reasons(error: ClientError) -> list[str]:
    return [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]


def _conflict_wait(attempt: int) -> float:
    return random.uniform(0, min(2.0, 0.05 * 2**attempt))  # full jitter


def account(
    dynamodb: Any,
    table: str,
    run_id: str,
    outcomes: Iterable[tuple[str, Mapping[str, int]]],
    *,
    sleep: Callable[[float], None] = time.sleep,
    custody: Mapping[str, Mapping[str, str]] | None = None,
) -> int:
    """Counts each (key, counts) once for the run: returns how many were new to it. `custody`
    (by key) goes into the key's done# marker, written in the same transaction.

    A recording whose marker exists (accounted by an earlier delivery) is dropped from the
    transaction and the rest written again; the counters only ever hold marked recordings."""
    if not table or not run_id:
        return 0
    unique: dict[str, Mapping[str, int]] = {}
    for key, counts in outcomes:
        unique.setdefault(key, counts)  # the same message twice in one batch: one outcome
    pending = list(unique.items())
    added = 0
    for start in range(0, len(pending), MARKERS_PER_TRANSACTION):
        chunk = pending[start : start + MARKERS_PER_TRANSACTION]
        added += _account_chunk(dynamodb, table, run_id, chunk, sleep, custody or {})
    return added


def _done_item(run_id: str, key: str, custody: Mapping[str, str] | None) -> dict[str, Any]:
    item: dict[str, Any] = {"run": {"S": done_key(run_id, key)}, "expires_at": _expiry()}
    if custody:
        item["custody"] = {"M": {name: {"S": str(value)} for name, value in custody.items()}}
    return item


def read_custody(dynamodb: Any, table: str, run_id: str, key: str) -> dict[str, str] | None:
    """The chain of custody the converter recorded for `key` in run `run_id` (None: no record, or
    it expired after TTL_DAYS). One consistent GetItem."""
    item = dynamodb.get_item(TableName=table, Key={"run": {"S": done_key(run_id, key)}}, ConsistentRead=True).get(
        "Item"
    )
    if not item or "M" not in item.get("custody", {}):
        return None
    return {name: value.get("S", "") for name, value in item["custody"]["M"].items()}


def _account_chunk(
    dynamodb: Any,
    table: str,
    run_id: str,
    chunk: list[tuple[str, Mapping[str, int]]],
    sleep: Callable[[float], None],
    custody: Mapping[str, Mapping[str, str]],
) -> int:
    conflicts = 0
    shard: int | None = None
    while chunk:
        shard = _other_shard(shard)
        total: dict[str, int] = {"accounted": len(chunk)}
        for _, counts in chunk:
            for name, value in counts.items():
                if value:
                    total[name] = total.get(name, 0) + int(value)
        markers = [
            {
                "Put": {
                    "TableName": table,
                    "Item": _done_item(run_id, key, custody.get(key)),
                    "ConditionExpression": "attribute_not_exists(#run)",
                    "ExpressionAttributeNames": {"#run": "run"},
                }
            }
            for key, _ in chunk
        ]
        try:
            update = _counter_update(table, run_id, total, shard=shard)
            dynamodb.transact_write_items(TransactItems=[*markers, {"Update": update}])
            return len(chunk)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = _reasons(error)
            accounted_before = {i for i, code in enumerate(reasons[: len(chunk)]) if code == "ConditionalCheckFailed"}
            if accounted_before:
                chunk = [entry for i, entry in enumerate(chunk) if i not in accounted_before]
                continue
            if "TransactionConflict" not in reasons:
                raise
            conflicts += 1
            if conflicts >= CONFLICT_ATTEMPTS:
                raise LedgerConflict(f"the run's counters stayed busy after {conflicts} attempts") from error
            # the next attempt takes another shard (_other_shard)
            sleep(_conflict_wait(conflicts))
    return 0


@dataclass(frozen=True)
class Attempts:
    """What the attempt item says about a recording in a run (see the module's docstring)."""

    attempts: int = 0
    killed: int = 0  # ffmpeg killed by a signal, on the version killed_etag
    killed_etag: str = ""
    dead: str = ""  # "" (no dead letter yet), DEAD_PENDING or DEAD_SENT
    dead_at: int = 0  # epoch seconds of the claim
    dead_kind: str = ""  # as stored: converter.py reads it with FailureKind.stored
    dead_reason: str = ""
    generation: int = 0  # of the message: 0 as enqueued, n after its n-th dead letter was redriven
    dead_generation: int = 0

    @classmethod
    def of(cls, item: Mapping[str, Any] | None) -> Attempts:
        """The attempts a ledger item records (None: none yet)."""
        item = item or {}

        def num(name: str) -> int:
            return int(item.get(name, {}).get("N", "0"))

        def text(name: str) -> str:
            return str(item.get(name, {}).get("S", ""))

        return cls(
            attempts=num("attempts"),
            killed=num("killed"),
            killed_etag=text("killed_etag"),
            dead=text("dead"),
            dead_at=num("dead_at"),
            dead_kind=text("dead_kind"),
            dead_reason=text("dead_reason"),
            generation=num("gen"),
            dead_generation=num("dead_gen"),
        )


DEAD_PENDING, DEAD_SENT = "pending", "sent"
MAX_REASON_BYTES = 1000


def attempt_key(run_id: str, key: str) -> str:
    """The partition of a recording's attempts in a run."""
    return f"attempt#{run_id}#{key}"


def _attempt_item_key(run_id: str, key: str) -> dict[str, Any]:
    return {"run": {"S": attempt_key(run_id, key)}}


def start_attempt(dynamodb: Any, table: str, run_id: str, key: str, generation: int = 0) -> Attempts:
    """Counts one more attempt of the converter at the recording in the run; returns the item
    as it is now (this attempt included). One UpdateItem: 1 write unit. A redriven dead letter
    (`generation` above the item's) starts afresh: its attempts, kills and dead letter are reset,
    as SQS resets a redriven message's receive count."""
    key_of = _attempt_item_key(run_id, key)
    try:
        response = dynamodb.update_item(
            TableName=table,
            Key=key_of,
            UpdateExpression=(
                "ADD attempts :one SET gen = if_not_exists(gen, :g), expires_at = if_not_exists(expires_at, :ttl)"
            ),
            ConditionExpression="attribute_not_exists(gen) OR gen >= :g",
            ExpressionAttributeValues={":one": {"N": "1"}, ":g": {"N": str(generation)}, ":ttl": _expiry()},
            ReturnValues="ALL_NEW",
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
        response = dynamodb.update_item(
            TableName=table,
            Key=key_of,
            UpdateExpression=(
                "SET attempts = :one, gen = :g, expires_at = if_not_exists(expires_at, :ttl) "
                "REMOVE killed, killed_etag, dead, dead_at, dead_kind, dead_reason, dead_gen"
            ),
            ExpressionAttributeValues={":one": {"N": "1"}, ":g": {"N": str(generation)}, ":ttl": _expiry()},
            ReturnValues="ALL_NEW",
        )
    return Attempts.of(response.get("Attributes"))


def read_attempts(dynamodb: Any, table: str, run_id: str, key: str) -> Attempts:
    """The recording's attempts in the run, read consistently."""
    item = dynamodb.get_item(TableName=table, Key=_attempt_item_key(run_id, key), ConsistentRead=True).get("Item")
    return Attempts.of(item)


def record_kill(dynamodb: Any, table: str, run_id: str, key: str, etag: str, killed: int) -> None:
    """ffmpeg died of a signal on this attempt: `killed` deaths in a row on version `etag`."""
    dynamodb.update_item(
        TableName=table,
        Key=_attempt_item_key(run_id, key),
        UpdateExpression="SET killed = :n, killed_etag = :etag, expires_at = if_not_exists(expires_at, :ttl)",
        ExpressionAttributeValues={":n": {"N": str(killed)}, ":etag": {"S": etag}, ":ttl": _expiry()},
    )


def claim_dead_letter(
    dynamodb: Any,
    table: str,
    run_id: str,
    key: str,
    kind: FailureKind,
    reason: str,
    *,
    now: float,
    stale_after_s: float,
    generation: int = 0,
) -> Attempts | None:
    """Before a dead letter is sent: None when this delivery is to send it (the item now says
    pending, with the kind and reason); otherwise the item as another delivery left it: its dead
    letter sent, or pending for less than `stale_after_s` (being sent right now). A claim left
    pending longer (a crash between the claim and the send) is taken over, so a failure is never
    left without its dead letter."""
    cut = reason.encode("utf-8")[:MAX_REASON_BYTES].decode("utf-8", errors="ignore")
    try:
        dynamodb.update_item(
            TableName=table,
            Key=_attempt_item_key(run_id, key),
            UpdateExpression=(
                "SET dead = :pending, dead_at = :now, dead_kind = :kind, dead_reason = :reason, dead_gen = :g, "
                "expires_at = if_not_exists(expires_at, :ttl)"
            ),
            ConditionExpression=(
                "attribute_not_exists(dead) OR dead_gen < :g OR (dead = :pending AND dead_at < :stale)"
            ),
            ExpressionAttributeValues={
                ":pending": {"S": DEAD_PENDING},
                ":now": {"N": str(int(now))},
                ":stale": {"N": str(int(now - stale_after_s))},
                ":kind": {"S": kind},
                ":reason": {"S": cut},
                ":g": {"N": str(generation)},
                ":ttl": _expiry(),
            },
        )
        return None
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise
    return read_attempts(dynamodb, table, run_id, key)


def dead_letter_sent(dynamodb: Any, table: str, run_id: str, key: str) -> None:
    """Records that the recording's dead letter was sent, so that no attempt sends it again."""
    dynamodb.update_item(
        TableName=table,
        Key=_attempt_item_key(run_id, key),
        UpdateExpression="SET dead = :sent",
        ExpressionAttributeValues={":sent": {"S": DEAD_SENT}},
    )


def done_key(run_id: str, key: str) -> str:
    """The partition that records a recording's outcome as counted in a run."""
    return f"done#{run_id}#{key}"


def page_key(run_id: str, page_id: str) -> str:
    """The partition of a listed page's marker."""
    return f"page#{run_id}#{page_id}"


def page_sent(dynamodb: Any, table: str, run_id: str, page_id: str) -> str | None:
    """The page's marker: one character per recording, "1" once SQS accepted it; None if new."""
    item = dynamodb.get_item(
        TableName=table, Key={"run": {"S": page_key(run_id, page_id)}}, ConsistentRead=True, ProjectionExpression="sent"
    ).get("Item")
    return None if item is None else item.get("sent", {}).get("S", "")


def record_page(
    dynamodb: Any,
    table: str,
    run_id: str,
    page_id: str,
    before: str | None,
    after: str,
    counts: Mapping[str, int],
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Writes the page's new marker and adds `counts`, together, if the marker is still `before`."""
    counts = {name: int(value) for name, value in counts.items() if value}
    if before is not None and before == after and not counts:
        return
    condition: dict[str, Any] = (
        {"ConditionExpression": "attribute_not_exists(#run)", "ExpressionAttributeNames": {"#run": "run"}}
        if before is None
        else {"ConditionExpression": "sent = :before", "ExpressionAttributeValues": {":before": {"S": before}}}
    )
    marker = {
        "Put": {
            "TableName": table,
            "Item": {"run": {"S": page_key(run_id, page_id)}, "sent": {"S": after}, "expires_at": _expiry()},
            **condition,
        }
    }
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            dynamodb.transact_write_items(TransactItems=[marker, {"Update": _counter_update(table, run_id, counts)}])
            return
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = _reasons(error)
            if reasons and reasons[0] == "ConditionalCheckFailed":
                raise PageChanged(
                    f"page {page_id!r} of run {run_id} was recorded by another attempt meanwhile"
                ) from error
            if "TransactionConflict" not in reasons:
                raise
            sleep(_conflict_wait(attempt))
    raise LedgerConflict(f"the run's counters stayed busy after {CONFLICT_ATTEMPTS} attempts")


SENT, MAYBE_SENT, UNSENT = "1", "?", "0"


def write_marker(
    dynamodb: Any, table: str, run_id: str, page_id: str, before: str | None, after: str, counts: Mapping[str, int]
) -> None:
    """The page's marker goes from `before` (None: no marker yet) to `after`, with `counts` in the
    same transaction when there are any (a plain conditional PutItem otherwise: 1 write unit
    instead of 4). PageChanged if the marker is no longer `before`."""
    counts = {name: int(value) for name, value in counts.items() if value}
    if counts or before is None:
        record_page(dynamodb, table, run_id, page_id, before, after, counts)
        return
    if before == after:
        return
    try:
        dynamodb.put_item(
            TableName=table,
            Item={"run": {"S": page_key(run_id, page_id)}, "sent": {"S": after}, "expires_at": _expiry()},
            ConditionExpression="sent = :before",
            ExpressionAttributeValues={":before": {"S": before}},
        )
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise PageChanged(f"page {page_id!r} of run {run_id} was recorded by another attempt meanwhile") from error
        raise


def cursor_key(run_id: str, day: str) -> str:
    """The partition of a paused day's progress."""
    return f"cursor#{run_id}#{day}"


PAUSED_ATTRIBUTE = "paused:"  # + the round: a string set of the days whose child paused in it


def pause_day(dynamodb: Any, table: str, run_id: str, day: str, round_: int, progress: Mapping[str, Any]) -> None:
    """Saves a day's progress at the end of a round and names the day for the next round. Both
    writes are idempotent (a retried PauseDay writes the same), and the cursor comes first: a day
    named for the next round always has its cursor."""
    dynamodb.update_item(
        TableName=table,
        Key={"run": {"S": cursor_key(run_id, day)}},
        UpdateExpression="SET progress = :progress, expires_at = :ttl",
        ExpressionAttributeValues={":progress": {"S": json.dumps(progress)}, ":ttl": _expiry()},
    )
    dynamodb.update_item(
        TableName=table,
        Key={"run": {"S": run_id}},
        UpdateExpression="ADD #paused :day SET expires_at = if_not_exists(expires_at, :ttl)",
        ExpressionAttributeNames={"#paused": f"{PAUSED_ATTRIBUTE}{int(round_)}"},
        ExpressionAttributeValues={":day": {"SS": [day]}, ":ttl": _expiry()},
    )


def saved_progress(dynamodb: Any, table: str, run_id: str, day: str) -> dict[str, Any] | None:
    """The progress PauseDay saved for the day, None if none was saved."""
    item = dynamodb.get_item(TableName=table, Key={"run": {"S": cursor_key(run_id, day)}}, ConsistentRead=True).get(
        "Item"
    )
    return None if item is None else json.loads(item["progress"]["S"])


def paused_days(dynamodb: Any, table: str, run_id: str, round_: int) -> list[str]:
    """The days whose child execution paused in `round_`, read again the same by a retry."""
    item = dynamodb.get_item(
        TableName=table,
        Key={"run": {"S": run_id}},
        ConsistentRead=True,
        ProjectionExpression="#paused",
        ExpressionAttributeNames={"#paused": f"{PAUSED_ATTRIBUTE}{int(round_)}"},
    ).get("Item", {})
    return sorted(item.get(f"{PAUSED_ATTRIBUTE}{int(round_)}", {}).get("SS", []))
