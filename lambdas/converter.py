"""Converter Lambda: SQS batch -> convert each recording independently -> partial batch response.

Outcomes per record:
  converted / skipped          -> message deleted (success)
  permanent failure            -> message re-sent to the DLQ with its reason, then deleted
  transient failure or unknown -> reported in batchItemFailures; SQS retries, then its redrive
                                  policy moves it to the DLQ after max_receive_count receives
"""
from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from optimizer import aws
from optimizer.conversion import Outcome, PermanentFailure, TransientFailure, convert_recording
from optimizer.messages import BadMessage, Recording
from optimizer.settings import Settings

logger = Logger(service="converter")
# A fully failed batch is reported item by item like a partial one, instead of raising: the
# invocation's Errors metric then counts crashes only, not recordings waiting for a retry.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# Time kept back so a record is not started when the invocation would be killed mid-write;
# a killed record is safe (nothing is written before verification) but costs a full retry.
RESERVED_MS = 20_000
BYTES_PER_MS = 20_000  # conservative end-to-end throughput (download + ffmpeg + upload)


def dead_letter_body(record_body: str, reason: str) -> str:
    """The original message plus why it failed: redriving it later still works."""
    try:
        data = json.loads(record_body)
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        data = {"raw_body": record_body}
    failure = {"reason": reason, "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    if isinstance(data.get("failure"), dict):  # failed again after a redrive: keep the history
        data["earlier_failures"] = [*data.get("earlier_failures", []), data["failure"]]
    data["failure"] = failure
    return json.dumps(data)


def send_to_dead_letter(settings: Settings, record: SQSRecord, reason: str) -> None:
    aws.client("sqs").send_message(
        QueueUrl=settings.dlq_url,
        MessageBody=dead_letter_body(record.body, reason),
        MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000]}},
    )


def process_record(record: SQSRecord, settings: Settings, context: Any) -> Outcome:
    started = time.monotonic()
    key = None
    try:
        rec = Recording.from_body(record.body)
        key = rec.key
        if context is not None and context.get_remaining_time_in_millis() < RESERVED_MS + rec.size // BYTES_PER_MS:
            raise TransientFailure("not enough time left in this invocation; deferred to a retry")
        outcome = convert_recording(rec, s3=aws.client("s3"), settings=settings)
    except (PermanentFailure, BadMessage) as exc:
        send_to_dead_letter(settings, record, str(exc))  # raises if the DLQ is unreachable: retried
        outcome = Outcome("failed", str(exc))
    except Exception as exc:
        logger.warning(
            "recording",
            extra={"key": key, "outcome": "retry", "reason": f"{type(exc).__name__}: {exc}",
                   "seconds": round(time.monotonic() - started, 3), "receive_count": record.attributes.approximate_receive_count},
        )
        raise
    logger.info(
        "recording",
        extra={"key": key, "outcome": outcome.outcome, "reason": outcome.reason, "bytes_before": outcome.bytes_before,
               "bytes_after": outcome.bytes_after, "seconds": round(time.monotonic() - started, 3)},
    )
    return outcome


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    settings = Settings.from_env()

    def record_handler(record: SQSRecord) -> Outcome:
        return process_record(record, settings, context)

    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
