"""Enqueuer Lambda: puts one listed page on the work queue. No S3 request here."""
from __future__ import annotations

from typing import Any, Mapping

from aws_lambda_powertools import Logger

from optimizer import aws
from optimizer.enqueueing import enqueue, recordings_of_page
from optimizer.settings import Settings

logger = Logger(service="enqueuer")


def enqueue_page(settings: Settings, sqs: Any, run: Mapping[str, Any], page: Mapping[str, Any]) -> dict[str, Any]:
    recordings, dropped = recordings_of_page(run["bucket"], run["prefix"], page["objects"])
    calls = enqueue(sqs, settings.queue_url, recordings)
    progress = page["progress"]
    totals = progress["totals"]
    skipped = dict(totals["skipped"])
    skipped["not_audio"] = skipped.get("not_audio", 0) + dropped
    logger.info("page enqueued", extra={"prefix": run["prefix"], "enqueued": len(recordings), "send_batch_calls": calls})
    # The page's objects are dropped here: only the progress travels on in the state.
    return {"progress": {"cursor": progress["cursor"], "totals": {**totals, "enqueued": totals["enqueued"] + len(recordings), "skipped": skipped}}}


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    return enqueue_page(Settings.from_env(), aws.client("sqs"), event["run"], event["page"])
