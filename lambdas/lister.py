"""Lister Lambda: resolves the day of a run, then pages through its recordings.

Events (from the state machine):
  {"action": "resolve", "input": <execution input>}            -> {"run", "page": {"progress"}}
  {"action": "list", "run": {...}, "progress": {...}}           -> {"progress", "objects"}
  {"action": "summarize", "run", "progress", "dlq": {"before", "after"}} -> {"failed", "cause", "output"}
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterator, Mapping

from aws_lambda_powertools import Logger

from optimizer import aws
from optimizer.dates import InvalidInput, day_prefix, resolve_date
from optimizer.listing import advance, new_progress, take_page
from optimizer.settings import Settings

logger = Logger(service="lister")


def resolve(settings: Settings, execution_input: Any, today: dt.date) -> dict[str, Any]:
    day, source = resolve_date(execution_input, today=today, num_days_age=settings.num_days_age)
    run = {"bucket": settings.bucket, "date": day.isoformat(), "prefix": day_prefix(settings.bucket_prefix, day), "source": source}
    return {"run": run, "page": {"progress": new_progress()}}


def iter_objects(s3: Any, bucket: str, prefix: str, start_after: str | None) -> Iterator[Mapping[str, Any]]:
    """ListObjectsV2, lazily: a request is made only when the page still has room.

    boto3 asks S3 for URL-encoded keys and decodes them, so keys arrive exactly as stored.
    """
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": 1000}
    if start_after:
        kwargs["StartAfter"] = start_after
    while True:
        response = s3.list_objects_v2(**kwargs)
        yield from response.get("Contents", [])
        if not response.get("IsTruncated"):
            return
        kwargs["ContinuationToken"] = response["NextContinuationToken"]


def list_page(settings: Settings, s3: Any, run: Mapping[str, Any], progress: Mapping[str, Any]) -> dict[str, Any]:
    objects = iter_objects(s3, run["bucket"], run["prefix"], progress["cursor"]["start_after"])
    page = take_page(objects, prefix=run["prefix"], target_class=settings.target_class, overwrite=settings.overwrite_converted)
    logger.info("page listed", extra={"prefix": run["prefix"], "listed": page.listed, "to_enqueue": len(page.items), "done": page.exhausted})
    return {"progress": advance(progress, page), "objects": page.items}


def summarize(run: Mapping[str, Any], progress: Mapping[str, Any], dlq: Mapping[str, Any]) -> dict[str, Any]:
    """The execution's output; `failed` > 0 makes the state machine end in RecordingsFailed."""
    failed = max(0, int(dlq["after"]) - int(dlq["before"]))
    totals = progress["totals"]
    output = {
        "date": run["date"],
        "prefix": run["prefix"],
        "listed": totals["listed"],
        "enqueued": totals["enqueued"],
        "skipped": totals["skipped"],
        "failed": failed,
    }
    cause = None
    if failed:
        cause = (
            f"{failed} recording(s) of {run['prefix']} landed in the dead-letter queue during this run; "
            "their originals are untouched. Read the reasons in the DLQ messages, fix the cause, then redrive."
        )
    return {"failed": failed, "cause": cause, "output": output}


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    settings = Settings.from_env()
    action = event.get("action")
    if action == "resolve":
        try:
            return resolve(settings, event.get("input"), dt.datetime.now(dt.timezone.utc).date())
        except InvalidInput as exc:
            logger.warning("invalid input", extra={"input": event.get("input"), "reason": str(exc)})
            raise
    if action == "list":
        return list_page(settings, aws.client("s3"), event["run"], event["progress"])
    if action == "summarize":
        return summarize(event["run"], event["progress"], event["dlq"])
    raise ValueError(f"unknown action {action!r}")
