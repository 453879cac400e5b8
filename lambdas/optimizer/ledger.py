"""Exact per-run counts in a small on-demand DynamoDB table.

One item per run holds its counters (UpdateItem ADD). Two kinds of small marker items make the
counts exact under retries and SQS's at-least-once delivery, each written in the same
TransactWriteItems as the counters it guards, so a count and its marker exist together or not
at all:

- `done#<run>#<key>`: the recording has its outcome in this run. The converter writes one per
  recording with `attribute_not_exists`, so a duplicate delivery (or a redriven message whose
  recording was already accounted) adds nothing; it writes once per batch and run.
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
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from botocore.exceptions import ClientError

TTL_DAYS = 90  # Step Functions keeps an execution's history 90 days; the counts live as long
# TransactWriteItems takes 100 actions: 99 markers and the run's counters.
MARKERS_PER_TRANSACTION = 99
# Transactions on the run's item conflict when two touch it at once (TransactionConflict,
# DynamoDB developer guide, "Transaction conflict handling"); botocore does not retry that.
CONFLICT_ATTEMPTS = 8


class LedgerConflict(Exception):
    """The run's counters stayed busy with other transactions after every attempt."""


class PageChanged(Exception):
    """The page's marker changed since it was read: another attempt at the same page is running."""


def _expiry() -> dict[str, str]:
    return {"N": str(int(time.time()) + TTL_DAYS * 86400)}


def _counter_update(table: str, run_id: str, counts: Mapping[str, int]) -> dict[str, Any]:
    names = {f"#c{i}": name for i, name in enumerate(sorted(counts))}
    values: dict[str, Any] = {f":c{i}": {"N": str(counts[name])} for i, name in enumerate(sorted(counts))}
    values[":ttl"] = _expiry()
    adds = ", ".join(f"#c{i} :c{i}" for i in range(len(counts)))
    return {
        "TableName": table,
        "Key": {"run": {"S": run_id}},
        "UpdateExpression": (f"ADD {adds} " if adds else "") + "SET expires_at = if_not_exists(expires_at, :ttl)",
        **({"ExpressionAttributeNames": names} if names else {}),
        "ExpressionAttributeValues": values,
    }


def add(dynamodb: Any, table: str, run_id: str, counts: Mapping[str, int]) -> None:
    counts = {name: int(value) for name, value in counts.items() if value}
    if not table or not run_id or not counts:
        return
    dynamodb.update_item(**_counter_update(table, run_id, counts))


def read_item(dynamodb: Any, table: str, run_id: str) -> dict[str, Any]:
    """The run's item as DynamoDB returns it: its counters, and its failed days (day_failures)."""
    return dynamodb.get_item(TableName=table, Key={"run": {"S": run_id}}, ConsistentRead=True).get("Item", {})


def counts_of(item: Mapping[str, Any]) -> dict[str, int]:
    return {name: int(value["N"]) for name, value in item.items() if "N" in value and name != "expires_at"}


def read(dynamodb: Any, table: str, run_id: str) -> dict[str, int]:
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
) -> int:
    """Counts each (key, counts) once for the run: returns how many were new to it.

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
        added += _account_chunk(dynamodb, table, run_id, pending[start : start + MARKERS_PER_TRANSACTION], sleep)
    return added


def _account_chunk(
    dynamodb: Any, table: str, run_id: str, chunk: list[tuple[str, Mapping[str, int]]], sleep: Callable[[float], None]
) -> int:
    conflicts = 0
    while chunk:
        total: dict[str, int] = {"accounted": len(chunk)}
        for _, counts in chunk:
            for name, value in counts.items():
                if value:
                    total[name] = total.get(name, 0) + int(value)
        markers = [
            {
                "Put": {
                    "TableName": table,
                    "Item": {"run": {"S": done_key(run_id, key)}, "expires_at": _expiry()},
                    "ConditionExpression": "attribute_not_exists(#run)",
                    "ExpressionAttributeNames": {"#run": "run"},
                }
            }
            for key, _ in chunk
        ]
        try:
            dynamodb.transact_write_items(TransactItems=[*markers, {"Update": _counter_update(table, run_id, total)}])
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
            sleep(_conflict_wait(conflicts))
    return 0


def done_key(run_id: str, key: str) -> str:
    return f"done#{run_id}#{key}"


def page_key(run_id: str, page_id: str) -> str:
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


def sent_marker(accepted: Sequence[bool]) -> str:
    return "".join(SENT if ok else UNSENT for ok in accepted)


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
