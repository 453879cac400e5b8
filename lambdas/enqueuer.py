"""Enqueuer Lambda: puts one listed page on the work queue and records, with the page's counts,
which of its recordings SQS accepted (optimizer/ledger.py: the page's marker). No S3 request.

Three steps: the intent (the recordings about to be sent are marked "maybe sent" and counted
`enqueued`, with the listing's counts, in one transaction), the send, the outcome (accepted ones
marked sent; refused ones marked unsent and subtracted). `enqueued` is never behind what SQS
accepted: if the outcome cannot be written, the intent already counted them.

Safe to run again on the same page (a retry after a timeout, EnqueueFailed or a failed write): it
sends every recording not marked sent, and counts only those not counted yet. If the outcome's
write never succeeds, the day fails (RecordDayFailure names it) and `enqueued` may exceed what SQS
accepted by the recordings SQS refused in the last attempt: the run then waits for them until its
drain limit and ends RecordingsUnaccounted and DaysFailed, never early. In a dry run nothing is
sent: the page is only counted, with its projected size after conversion."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from optimizer import aws, ledger, names
from optimizer.enqueueing import EnqueueFailed, enqueue, projected_size, recordings_of_page
from optimizer.settings import Settings

logger = Logger(service=names.ENQUEUER)


def enqueue_page(
    settings: Settings, sqs: Any, dynamodb: Any, run: Mapping[str, Any], page: Mapping[str, Any]
) -> dict[str, Any]:
    page_id = page["page_id"]
    recordings = recordings_of_page(
        run["bucket"],
        page["prefix"],
        page["objects"],
        run=run["id"],
        page=page_id,
        verify=bool(run.get("verify", False)),
    )
    table = settings.ledger_table
    before = ledger.page_sent(dynamodb, table, run["id"], page_id)
    marks = list(before or ledger.UNSENT * len(recordings))
    counts: dict[str, int] = {}
    if before is None:  # the page's listing counts, once
        counts = {name: value for name, value in page["counts"].items() if name != "days_done"}
        if run["dry_run"]:
            counts.update(
                dry_recordings=len(recordings),
                dry_bytes=sum(r.size for r in recordings),
                dry_projected_bytes=sum(projected_size(r.size, settings.target) for r in recordings),
            )
    was_complete = before is not None and all(mark == ledger.SENT for mark in marks)
    last_page = bool(page["counts"].get("days_done"))
    if run["dry_run"]:  # nothing is sent: the page is only counted, with the day when it is the last
        after = ledger.SENT * len(recordings)
        if last_page and not was_complete:
            counts["days_done"] = 1
        ledger.write_marker(dynamodb, table, run["id"], page_id, before, after, counts)
        _log(page, page_id, 0, 0, dry_run=True, complete=True)
        return {"progress": page["progress"]}

    # 1. The intent, before anything is sent: each recording about to be sent is MAYBE_SENT and
    # counted `enqueued` now (once: one already MAYBE_SENT was counted by an earlier attempt).
    todo = [i for i, mark in enumerate(marks) if mark != ledger.SENT]
    counts["enqueued"] = sum(1 for i in todo if marks[i] == ledger.UNSENT)
    pending = set(todo)
    intent = "".join(ledger.MAYBE_SENT if i in pending else mark for i, mark in enumerate(marks))
    ledger.write_marker(dynamodb, table, run["id"], page_id, before, intent, counts)

    # 2. The send; 3. the outcome: accepted SENT, refused UNSENT and no longer counted.
    failure: EnqueueFailed | None = None
    calls, accepted = 0, set[int]()
    try:
        calls, accepted = enqueue(sqs, settings.queue_url, recordings, skip=set(range(len(recordings))) - pending)
    except EnqueueFailed as exc:
        failure, accepted = exc, exc.accepted
    refused = pending - accepted
    after = "".join(
        ledger.SENT if i in accepted else ledger.UNSENT if i in refused else mark for i, mark in enumerate(intent)
    )
    complete = not refused
    outcome: dict[str, int] = {"enqueued": -len(refused)}
    if complete and not was_complete and last_page:
        outcome["days_done"] = 1  # the day's last page, wholly on the queue
    ledger.write_marker(dynamodb, table, run["id"], page_id, intent, after, outcome)
    _log(page, page_id, len(todo) - len(refused), calls, dry_run=False, complete=complete, before=before)
    if failure is not None:
        raise failure  # the state machine retries the page: only what is missing is sent again
    # Only the cursor travels on in the state; the page's objects are dropped here.
    return {"progress": page["progress"]}


def _log(
    page: Mapping[str, Any],
    page_id: str,
    sent: int,
    calls: int,
    *,
    dry_run: bool,
    complete: bool,
    before: str | None = None,
) -> None:
    logger.info(
        "page enqueued",
        extra={
            "prefix": page["prefix"],
            "page_id": page_id,
            "sent": sent,
            "sent_before": (before or "").count(ledger.SENT),
            "send_batch_calls": calls,
            "dry_run": dry_run,
            "complete": complete,
        },
    )


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    try:
        return enqueue_page(Settings.from_env(), aws.client("sqs"), aws.client("dynamodb"), event["run"], event["page"])
    except ledger.PageChanged as exc:
        # Another attempt at this page ran meanwhile (a timed-out one still going): retried as a
        # failed send, which reads the marker again.
        raise EnqueueFailed(str(exc)) from exc
