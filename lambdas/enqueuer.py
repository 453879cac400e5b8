"""Enqueuer Lambda: puts one listed page on the work queue and records the page's counts in the
run's ledger once every message was accepted. No S3 request here. In a dry run nothing is sent:
the page is only counted, with its projected size after conversion."""
from __future__ import annotations

from typing import Any, Mapping

from aws_lambda_powertools import Logger

from optimizer import aws, ledger
from optimizer.enqueueing import enqueue, projected_size, recordings_of_page
from optimizer.settings import Settings

logger = Logger(service="enqueuer")


def enqueue_page(settings: Settings, sqs: Any, dynamodb: Any, run: Mapping[str, Any], page: Mapping[str, Any]) -> dict[str, Any]:
    recordings, dropped = recordings_of_page(run["bucket"], page["prefix"], page["objects"], run=run["id"])
    counts = dict(page["counts"])
    counts["skipped_not_audio"] = counts.get("skipped_not_audio", 0) + dropped
    if run["dry_run"]:
        counts.update(
            dry_recordings=len(recordings),
            dry_bytes=sum(r.size for r in recordings),
            dry_projected_bytes=sum(projected_size(r.size) for r in recordings),
        )
        calls = 0
    else:
        calls = enqueue(sqs, settings.queue_url, recordings)  # raises EnqueueFailed: nothing counted
        counts["enqueued"] = len(recordings)
    ledger.add(dynamodb, settings.ledger_table, run["id"], counts)
    logger.info("page enqueued", extra={"prefix": page["prefix"], "enqueued": counts.get("enqueued", 0), "send_batch_calls": calls, "dry_run": run["dry_run"]})
    # Only the cursor travels on in the state; the page's objects are dropped here.
    return {"progress": page["progress"]}


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    return enqueue_page(Settings.from_env(), aws.client("sqs"), aws.client("dynamodb"), event["run"], event["page"])
