"""Enqueuer Lambda: puts one listed page on the work queue and records, with the page's counts,
which of its recordings SQS accepted (optimizer/ledger.py: the page's marker). No S3 request.

Safe to run again on the same page (a retry after a timeout or EnqueueFailed): it sends only the
recordings the marker does not hold yet, and each is counted once. In a dry run nothing is sent:
the page is only counted, with its projected size after conversion."""

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
    recordings = recordings_of_page(run["bucket"], page["prefix"], page["objects"], run=run["id"])
    page_id = page["page_id"]
    before = ledger.page_sent(dynamodb, settings.ledger_table, run["id"], page_id)
    already = {i for i, mark in enumerate(before or "") if mark == "1"}
    counts: dict[str, int] = {}
    if before is None:  # the page's listing counts, once
        counts = {name: value for name, value in page["counts"].items() if name != "days_done"}
        if run["dry_run"]:
            counts.update(
                dry_recordings=len(recordings),
                dry_bytes=sum(r.size for r in recordings),
                dry_projected_bytes=sum(projected_size(r.size) for r in recordings),
            )
    failure: EnqueueFailed | None = None
    calls, accepted = 0, set(range(len(recordings))) if run["dry_run"] else set()
    if not run["dry_run"]:
        try:
            calls, accepted = enqueue(sqs, settings.queue_url, recordings, skip=already)
        except EnqueueFailed as exc:
            failure, accepted = exc, exc.accepted
    sent = already | accepted
    if not run["dry_run"]:
        counts["enqueued"] = len(sent - already)
    complete = len(sent) == len(recordings)
    was_complete = before is not None and len(already) == len(recordings)
    if complete and not was_complete and page["counts"].get("days_done"):
        counts["days_done"] = 1  # the day's last page, wholly on the queue
    after = ledger.sent_marker([i in sent for i in range(len(recordings))])
    ledger.record_page(dynamodb, settings.ledger_table, run["id"], page_id, before, after, counts)
    logger.info(
        "page enqueued",
        extra={
            "prefix": page["prefix"],
            "page_id": page_id,
            "enqueued": counts.get("enqueued", 0),
            "sent_before": len(already),
            "send_batch_calls": calls,
            "dry_run": run["dry_run"],
            "complete": complete,
        },
    )
    if failure is not None:
        raise failure  # the state machine retries the page: only what is missing is sent again
    # Only the cursor travels on in the state; the page's objects are dropped here.
    return {"progress": page["progress"]}


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    try:
        return enqueue_page(Settings.from_env(), aws.client("sqs"), aws.client("dynamodb"), event["run"], event["page"])
    except ledger.PageChanged as exc:
        # Another attempt at this page ran meanwhile (a timed-out one still going): retried as a
        # failed send, which reads the marker again.
        raise EnqueueFailed(str(exc)) from exc
