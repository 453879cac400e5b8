"""Enqueuer Lambda: puts one listed page on the work queue and records, with the page's counts,
which of its recordings SQS accepted (the page's marker: optimizer/page_marker.py says what is
written, optimizer/ledger.py stores it). No S3 request.

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

from optimizer import aws, ledger, names, page_marker
from optimizer.enqueueing import EnqueueFailed, enqueue, recordings_of_page
from optimizer.messages import Recording
from optimizer.settings import Settings

logger = Logger(service=names.ENQUEUER)


def enqueue_page(
    settings: Settings, sqs: Any, dynamodb: Any, run: Mapping[str, Any], page: Mapping[str, Any]
) -> dict[str, Any]:
    """Puts on the queue every recording of the page not yet accepted and records which SQS
    accepted (a dry run only counts the page); EnqueueFailed, once recorded, if some were refused."""
    page_id = page["page_id"]
    recordings = recordings_of_page(
        run["bucket"],
        page["prefix"],
        page["objects"],
        run=run["id"],
        page=page_id,
        verify=bool(run.get("verify", False)),
    )
    before = ledger.page_sent(dynamodb, settings.ledger_table, run["id"], page_id)
    # The page's listing counts, once: with the first marker the page gets.
    counts = (
        {}
        if before is not None
        else page_marker.listing_counts(page["counts"], recordings, dry_run=run["dry_run"], target=settings.target)
    )
    last_page = bool(page["counts"].get("days_done"))
    if run["dry_run"]:  # nothing is sent: the page is only counted, with the day when it is the last
        counts |= page_marker.day_done(
            last_page=last_page, complete=True, complete_before=page_marker.was_complete(before)
        )
        ledger.write_marker(
            dynamodb, settings.ledger_table, run["id"], page_id, before, ledger.SENT * len(recordings), counts
        )
        _log(page, page_id, 0, 0, dry_run=True, complete=True)
        return {"progress": page["progress"]}
    _send(settings, sqs, dynamodb, run, page, recordings, before, counts, last_page=last_page)
    # Only the cursor travels on in the state; the page's objects are dropped here.
    return {"progress": page["progress"]}


def _send(
    settings: Settings,
    sqs: Any,
    dynamodb: Any,
    run: Mapping[str, Any],
    page: Mapping[str, Any],
    recordings: list[Recording],
    before: str | None,
    counts: dict[str, int],
    *,
    last_page: bool,
) -> None:
    """The intent, the send, the outcome (optimizer/page_marker.py); the send's failure raised last."""
    page_id, table = page["page_id"], settings.ledger_table
    # 1. The intent, before anything is sent: each recording about to be sent is MAYBE_SENT and
    # counted `enqueued` now (once: one already MAYBE_SENT was counted by an earlier attempt).
    sending = page_marker.intent(page_marker.marks(before, len(recordings)))
    ledger.write_marker(
        dynamodb, table, run["id"], page_id, before, sending.marker, {**counts, "enqueued": sending.newly_counted}
    )

    # 2. The send; 3. the outcome: accepted SENT, refused UNSENT and no longer counted.
    failure: EnqueueFailed | None = None
    calls, accepted = 0, set[int]()
    try:
        calls, accepted = enqueue(
            sqs, settings.queue_url, recordings, skip=set(range(len(recordings))) - sending.pending
        )
    except EnqueueFailed as exc:
        failure, accepted = exc, exc.accepted
    result = page_marker.outcome(
        sending, accepted, last_page=last_page, complete_before=page_marker.was_complete(before)
    )
    ledger.write_marker(dynamodb, table, run["id"], page_id, sending.marker, result.marker, result.counts)
    sent = len(sending.pending) - len(result.refused)
    _log(page, page_id, sent, calls, dry_run=False, complete=not result.refused, before=before)
    if failure is not None:
        raise failure  # the state machine retries the page: only what is missing is sent again


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
    """The EnqueuePage state: enqueue_page with the function's settings and clients."""
    try:
        return enqueue_page(Settings.from_env(), aws.client("sqs"), aws.client("dynamodb"), event["run"], event["page"])
    except ledger.PageChanged as exc:
        # Another attempt at this page ran meanwhile (a timed-out one still going): retried as a
        # failed send, which reads the marker again.
        raise EnqueueFailed(str(exc)) from exc
