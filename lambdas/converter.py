"""Converter Lambda: SQS batch -> convert each recording independently -> partial batch response.

Outcomes per record:
  converted / skipped          -> message deleted (success)
  permanent failure            -> message re-sent to the DLQ with its reason, then deleted; a
                                  content failure is also remembered for that object version
                                  (optimizer/known_failures.py), so later runs skip it
  transient failure            -> reported in batchItemFailures, SQS retries it; on the last of
                                  its max_receive_count attempts the converter gives up itself
                                  and dead-letters it with the reason
  crash / timeout              -> SQS delivers it again; received more than max_receive_count
                                  times, it is dead-lettered with that reason before any further
                                  attempt (the queue's redrive threshold sits above, so every
                                  final failure is the converter's own, with a reason and a count)
Every final outcome is counted once per recording and run in the ledger (one transaction per
batch and run: optimizer/ledger.py), which is how the run knows it is finished, and published as
CloudWatch metrics (embedded metric format).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections import Counter, defaultdict
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from optimizer import aws, known_failures, ledger, names
from optimizer.conversion import Outcome, PermanentFailure, TransientFailure, convert_recording
from optimizer.messages import BadMessage, Recording
from optimizer.settings import Settings

logger = Logger(service=names.CONVERTER)
metrics = Metrics(service=names.CONVERTER)
# A fully failed batch is reported item by item like a partial one, instead of raising: the
# invocation's Errors metric then counts crashes only, not recordings waiting for a retry.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
# Time kept back so a record is not started when the invocation would be killed mid-write;
# a killed record is safe (nothing is written before verification) but costs a full retry.
RESERVED_MS = 20_000
BYTES_PER_MS = 20_000  # conservative end-to-end throughput (download + ffmpeg + upload)


class Crashed(PermanentFailure):
    """Received more times than the converter may try: each earlier attempt ended without an outcome."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, kind="crashed")


def dead_letter_body(record_body: str, reason: str) -> str:
    """The original message plus why it failed: redriving it later still works."""
    try:
        data = json.loads(record_body)
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        data = {"raw_body": record_body}
    failure = {"reason": reason, "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}
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


class Batch:
    """The final outcomes of one invocation, accounted per run and published once at the end."""

    def __init__(self) -> None:
        self.by_run: dict[str, list[tuple[str, str, Counter]]] = defaultdict(list)  # (message id, key, counts)

    def count(self, run: str, key: str, message_id: str, outcome: Outcome) -> None:
        counts: Counter = Counter()
        if outcome.outcome == "skipped":
            counts[f"skipped_{outcome.reason}"] += 1
        else:
            counts[outcome.outcome] += 1
        if outcome.kind:
            counts[f"failed_{outcome.kind}"] += 1
        if outcome.outcome == "converted":
            counts["bytes_before"] += outcome.bytes_before
            counts["bytes_after"] += outcome.bytes_after
        self.by_run[run].append((message_id, key, counts))
        metrics.add_metric(name=names.recordings_metric(outcome.outcome), unit=MetricUnit.Count, value=1)

    def flush(self, settings: Settings) -> list[str]:
        """Accounts every outcome; returns the message ids whose outcome could not be recorded.

        Those are handed back to SQS (batchItemFailures): delivered again, they get an outcome
        again (a converted recording is then skipped as already converted), so the run still
        finishes with every recording accounted."""
        unrecorded: list[str] = []
        total: Counter = Counter()
        for run, entries in self.by_run.items():
            for _, _, counts in entries:
                total.update(counts)
            if not run:
                continue  # a message from before runs were named: no ledger to count it in
            try:
                ledger.account(
                    aws.client("dynamodb"), settings.ledger_table, run, [(key, counts) for _, key, counts in entries]
                )
            except Exception:
                logger.exception(
                    "ledger write failed; the recordings go back to the queue to be accounted", extra={"run": run}
                )
                metrics.add_metric(name=names.LEDGER_WRITE_FAILURES, unit=MetricUnit.Count, value=1)
                unrecorded += [message_id for message_id, _, _ in entries]
        if total["bytes_before"]:
            metrics.add_metric(name=names.BYTES_BEFORE, unit=MetricUnit.Bytes, value=total["bytes_before"])
            metrics.add_metric(name=names.BYTES_AFTER, unit=MetricUnit.Bytes, value=total["bytes_after"])
        return unrecorded


class ReadVersion:
    """The S3 client, keeping the ETag of the object version convert_recording read: a content
    failure is remembered for those bytes, also when the object changed after it was listed."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3
        self.etag: str | None = None

    def get_object(self, **kwargs: Any) -> Any:
        response = self._s3.get_object(**kwargs)
        self.etag = response.get("ETag")
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)


def remember_content_failure(settings: Settings, rec: Recording, etag: str | None, reason: str) -> bool:
    """After the dead letter is sent. A failed write leaves the recording dead-lettered and the run
    failed, as before; it only means the next run tries the recording once more, so it is logged
    and counted (KnownFailureWriteFailures), not retried at the price of a second dead letter."""
    if not etag:
        return False  # nothing was read: no version to tie the failure to
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
    key, run, rec = None, "", None
    s3 = ReadVersion(aws.client("s3"))
    remembered = False
    receives = int(record.attributes.approximate_receive_count or 1)
    try:
        rec = Recording.from_body(record.body)
        key, run = rec.key, rec.run
        if receives > settings.max_receive_count:
            raise Crashed(
                f"received {receives} times: the converter stopped without an outcome on its "
                f"{settings.max_receive_count} attempt(s) (a crash, a timeout or running out of memory); "
                "not tried again. The converter's log group has the error"
            )
        if context is not None and context.get_remaining_time_in_millis() < RESERVED_MS + rec.size // BYTES_PER_MS:
            raise TransientFailure("not enough time left in this invocation; deferred to a retry")
        outcome = convert_recording(rec, s3=s3, settings=settings)
    except (PermanentFailure, BadMessage) as exc:
        send_to_dead_letter(settings, record, str(exc))  # raises if the DLQ is unreachable: retried
        outcome = Outcome("failed", str(exc), kind=getattr(exc, "kind", "bad_message"))
        if rec is not None and known_failures.remembers(exc):
            remembered = remember_content_failure(settings, rec, s3.etag, str(exc))
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if receives < settings.max_receive_count:
            metrics.add_metric(name=names.RECORDINGS_RETRIED, unit=MetricUnit.Count, value=1)
            logger.warning(
                "recording",
                extra={
                    "key": key,
                    "outcome": "retry",
                    "reason": reason,
                    "receive_count": receives,
                    "seconds": round(time.monotonic() - started, 3),
                },
            )
            raise
        reason = f"gave up after {receives} attempts: {reason}"
        send_to_dead_letter(settings, record, reason)
        outcome = Outcome("failed", reason, kind="gave_up")
    seconds = time.monotonic() - started
    logger.info(
        "recording",
        extra={
            "key": key,
            "outcome": outcome.outcome,
            "reason": outcome.reason,
            "bytes_before": outcome.bytes_before,
            "bytes_after": outcome.bytes_after,
            "seconds": round(seconds, 3),
            "remembered": remembered,
            "audio": outcome.audio,
        },
    )
    if outcome.outcome == "converted":
        metrics.add_metric(name=names.CONVERSION_SECONDS, unit=MetricUnit.Seconds, value=round(seconds, 3))
    if batch is not None:
        batch.count(run, key or f"message:{record.message_id}", record.message_id, outcome)
    return outcome


@metrics.log_metrics
def handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    settings = Settings.from_env()
    batch = Batch()

    def record_handler(record: SQSRecord) -> Outcome:
        return process_record(record, settings, context, batch)

    try:
        response = process_partial_response(
            event=event, record_handler=record_handler, processor=processor, context=context
        )
    finally:
        unrecorded = batch.flush(settings)
    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    response["batchItemFailures"] += [{"itemIdentifier": m} for m in unrecorded if m not in failed]
    return response
