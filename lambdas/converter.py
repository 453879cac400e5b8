"""Converter Lambda: SQS batch -> convert each recording independently -> partial batch response.

The I/O only: S3 (convert_recording), the dead-letter queue, the run ledger and the remembered
content failures, logs and CloudWatch metrics (embedded metric format). The policy (what is
retried, dead-lettered with which reason, remembered, counted) is optimizer/outcomes.py.
"""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from optimizer import aws, known_failures, ledger, names, outcomes
from optimizer.conversion import Outcome, convert_recording
from optimizer.messages import Recording
from optimizer.outcomes import Batch
from optimizer.settings import Settings

logger = Logger(service=names.CONVERTER)
metrics = Metrics(service=names.CONVERTER)
# A fully failed batch is reported item by item like a partial one, instead of raising: the
# invocation's Errors metric then counts crashes only, not recordings waiting for a retry.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def send_to_dead_letter(settings: Settings, record: SQSRecord, reason: str) -> None:
    aws.client("sqs").send_message(
        QueueUrl=settings.dlq_url,
        MessageBody=outcomes.dead_letter_body(record.body, reason),
        MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000]}},
    )


def remember_content_failure(settings: Settings, rec: Recording, etag: str, reason: str) -> bool:
    """After the dead letter is sent. A failed write leaves the recording dead-lettered and the run
    failed, as before; it only means the next run tries the recording once more, so it is logged
    and counted (KnownFailureWriteFailures), not retried at the price of a second dead letter."""
    try:
        return known_failures.remember(
            aws.client("dynamodb"), settings.ledger_table, rec.key, etag, reason, run=rec.run
        )
    except Exception:
        logger.exception(
            "content failure not remembered; the next run will try this recording again",
            extra={"key": rec.key, "etag": etag},
        )
        metrics.add_metric(name=names.KNOWN_FAILURE_WRITE_FAILURES, unit=MetricUnit.Count, value=1)
        return False


def process_record(record: SQSRecord, settings: Settings, context: Any, batch: Batch | None = None) -> Outcome:
    started = time.monotonic()
    rec: Recording | None = None
    remembered = False
    receives = int(record.attributes.approximate_receive_count or 1)
    try:
        rec = Recording.from_body(record.body)
        remaining_ms = None if context is None else context.get_remaining_time_in_millis()
        outcomes.check_attempt(receives, settings.max_receive_count, remaining_ms=remaining_ms, size=rec.size)
        outcome = convert_recording(rec, s3=aws.client("s3"), settings=settings)
    except Exception as exc:
        verdict = outcomes.judge(exc, receives, settings.max_receive_count)
        if verdict.outcome is None:
            metrics.add_metric(name=names.RECORDINGS_RETRIED, unit=MetricUnit.Count, value=1)
            logger.warning(
                "recording",
                extra={
                    "key": rec.key if rec else None,
                    "outcome": "retry",
                    "reason": verdict.reason,
                    "receive_count": receives,
                    "seconds": round(time.monotonic() - started, 3),
                },
            )
            raise
        send_to_dead_letter(settings, record, verdict.reason)  # raises if the DLQ is unreachable: retried
        outcome = verdict.outcome
        if rec is not None and verdict.remember_etag:
            remembered = remember_content_failure(settings, rec, verdict.remember_etag, verdict.reason)
    seconds = time.monotonic() - started
    logger.info(
        "recording",
        extra={
            "key": rec.key if rec else None,
            "outcome": outcome.outcome,
            "reason": outcome.reason,
            "bytes_before": outcome.bytes_before,
            "bytes_after": outcome.bytes_after,
            "seconds": round(seconds, 3),
            "remembered": remembered,
            "audio": outcome.audio,
        },
    )
    metrics.add_metric(name=names.recordings_metric(outcome.outcome), unit=MetricUnit.Count, value=1)
    if outcome.outcome == "converted":
        metrics.add_metric(name=names.CONVERSION_SECONDS, unit=MetricUnit.Seconds, value=round(seconds, 3))
    if batch is not None:
        key = rec.key if rec is not None else f"message:{record.message_id}"
        batch.add(rec.run if rec is not None else "", key, record.message_id, outcome)
    return outcome


def account(batch: Batch, settings: Settings) -> list[str]:
    """Accounts every outcome; returns the message ids whose outcome could not be recorded.

    Those are handed back to SQS (batchItemFailures): delivered again, they get an outcome
    again (a converted recording is then skipped as already converted), so the run still
    finishes with every recording accounted."""
    unrecorded: list[str] = []
    for run, entries in batch.to_account().items():
        try:
            ledger.account(aws.client("dynamodb"), settings.ledger_table, run, [(e.key, e.counts) for e in entries])
        except Exception:
            logger.exception(
                "ledger write failed; the recordings go back to the queue to be accounted", extra={"run": run}
            )
            metrics.add_metric(name=names.LEDGER_WRITE_FAILURES, unit=MetricUnit.Count, value=1)
            unrecorded += [e.message_id for e in entries]
    total = batch.total()
    if total["bytes_before"]:
        metrics.add_metric(name=names.BYTES_BEFORE, unit=MetricUnit.Bytes, value=total["bytes_before"])
        metrics.add_metric(name=names.BYTES_AFTER, unit=MetricUnit.Bytes, value=total["bytes_after"])
    return unrecorded


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    settings = Settings.from_env()
    batch = Batch()
    try:
        response = process_partial_response(
            event=event,
            record_handler=lambda record: process_record(record, settings, context, batch),
            processor=processor,
            context=context,
        )
    finally:
        unrecorded = account(batch, settings)
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    response["batchItemFailures"] += [{"itemIdentifier": m} for m in unrecorded if m not in failed]
    return response
