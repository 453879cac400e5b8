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

from optimizer import aws, custody, known_failures, known_formats, ledger, names, outcomes, trust
from optimizer.conversion import (
    ContentFailure,
    FfmpegKilled,
    Outcome,
    PermanentFailure,
    TransientFailure,
    clear_leftovers,
    convert_recording,
)
from optimizer.messages import Recording
from optimizer.outcomes import Batch
from optimizer.settings import Settings

logger = Logger(service=names.CONVERTER)
metrics = Metrics(service=names.CONVERTER)
# A fully failed batch is reported item by item like a partial one, instead of raising: the
# invocation's Errors metric then counts crashes only, not recordings waiting for a retry.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def send_to_dead_letter(settings: Settings, record: SQSRecord, reason: str, kind: str | None) -> None:
    aws.client("sqs").send_message(
        QueueUrl=settings.dlq_url,
        MessageBody=outcomes.dead_letter_body(record.body, reason, kind),
        MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000]}},
    )


def remember_content_failure(settings: Settings, rec: Recording, etag: str, reason: str, kind: str | None) -> bool:
    """After the dead letter is sent. A failed write leaves the recording dead-lettered and the run
    failed, as before; it only means the next run tries the recording once more, so it is logged
    and counted (KnownFailureWriteFailures), not retried at the price of a second dead letter."""
    try:
        return known_failures.remember(
            aws.client("dynamodb"), settings.ledger_table, rec.key, etag, reason, run=rec.run, kind=kind or ""
        )
    except Exception:
        logger.exception(
            "content failure not remembered; the next run will try this recording again",
            extra={"key": rec.key, "etag": etag},
        )
        metrics.add_metric(name=names.KNOWN_FAILURE_WRITE_FAILURES, unit=MetricUnit.Count, value=1)
        return False


def remember_in_format(settings: Settings, rec: Recording, outcome: Outcome) -> bool:
    """A recording found already in the target format is remembered for the version read (the
    listed ETag: its GetObject asked If-Match), so that later runs skip it at listing
    (optimizer/known_formats.py). A failed write is logged, not retried: the next run downloads it
    once more and remembers it then."""
    target = known_formats.target(settings)
    if rec.verify or outcome.outcome != "skipped" or outcome.reason != target.skip_reason:
        return False
    try:
        return known_formats.remember(
            aws.client("dynamodb"), settings.ledger_table, rec.key, rec.etag, target.key, run=rec.run
        )
    except Exception:
        logger.exception(
            "recording in the target format not remembered; the next run will read it again",
            extra={"key": rec.key, "etag": rec.etag},
        )
        return False


def note_mismatch(settings: Settings, rec: Recording, reason: str) -> None:
    """A custody mismatch: logged as an error, and the key named in the run's summary (the DLQ has
    it too, with the reason: a failed write here loses only the name in the summary)."""
    logger.error("custody mismatch", extra={"key": rec.key, "run": rec.run, "reason": reason})
    try:
        custody.note_mismatch(aws.client("dynamodb"), settings.ledger_table, rec.run, rec.key)
    except Exception:
        logger.exception("mismatch not named in the run's summary; the DLQ has it", extra={"key": rec.key})


class Attempts:
    """The converter's own attempts at one recording in its run (optimizer/ledger.py's attempt
    item), and its dead letter, sent once. A message without a run (from before runs were
    named) has no ledger: its receives stand in for its attempts, as they used to. A dead letter
    redriven to the work queue (its body has `failure`) is a new generation: tried afresh."""

    def __init__(self, settings: Settings, rec: Recording | None, receives: int, generation: int = 0) -> None:
        self.settings, self.rec, self.receives, self.generation = settings, rec, receives, generation
        self.tracked = bool(rec is not None and rec.run and settings.ledger_table)
        self.state = ledger.Attempts()
        self.count = 0 if self.tracked else receives

    def _args(self) -> tuple[Any, str, str, str]:
        assert self.rec is not None
        return aws.client("dynamodb"), self.settings.ledger_table, self.rec.run, self.rec.key

    def begin(self) -> None:
        """Called by convert_recording once the recording needs converting, before its body is read."""
        if self.tracked:
            self.state = ledger.start_attempt(*self._args(), self.generation)
            self.count = self.state.attempts
            if self.state.dead and self.state.dead_generation >= self.generation:
                # dead-lettered by an earlier delivery of this message: the same outcome, not tried again
                raise PermanentFailure(self.state.dead_reason, self.state.dead_kind or "other")
        outcomes.check_attempt(self.count, self.receives, self.settings.max_receive_count)

    def killed(self, exc: FfmpegKilled) -> Exception:
        """ffmpeg died of a signal: recorded with the version; a content failure once it did on
        every attempt of the run at that version, otherwise retried."""
        if not self.tracked or exc.etag is None:
            return exc
        in_a_row = self.state.killed + 1 if self.state.killed_etag == exc.etag else 1
        try:
            ledger.record_kill(*self._args(), exc.etag, in_a_row)
        except Exception:
            logger.exception(
                "ffmpeg's death not recorded; retried as transient", extra={"key": self.rec and self.rec.key}
            )
            return exc
        if not outcomes.killed_every_time(in_a_row, self.count, self.settings.max_receive_count):
            return exc
        failure = ContentFailure(
            f"ffmpeg was killed by signal {exc.signal} on each of this run's {self.count} attempts at this version",
            "ffmpeg_killed",
        )
        failure.etag = exc.etag
        return failure

    def dead_letter(self, record: SQSRecord, verdict: outcomes.Verdict) -> bool:
        """Sends the record's dead letter unless an earlier delivery of this run did; True when
        this call sent it. Raises TransientFailure while another delivery is sending it."""
        assert verdict.outcome is not None
        kind = verdict.outcome.kind
        if not self.tracked:
            send_to_dead_letter(self.settings, record, verdict.reason, kind)
            return True
        claim = ledger.claim_dead_letter(
            *self._args(),
            kind or "other",
            verdict.reason,
            now=time.time(),
            stale_after_s=outcomes.DEAD_LETTER_STALE_S,
            generation=self.generation,
        )
        if claim is not None:
            if claim.dead == ledger.DEAD_SENT:
                return False
            raise TransientFailure("another delivery of this recording is sending its dead letter; retried later")
        send_to_dead_letter(self.settings, record, verdict.reason, kind)  # raises if the DLQ is unreachable: retried
        try:
            ledger.dead_letter_sent(*self._args())
        except Exception:  # sent already: at worst a later delivery sends it a second time, never none
            logger.exception("dead letter sent but not marked sent", extra={"key": self.rec and self.rec.key})
        return True


def process_record(record: SQSRecord, settings: Settings, context: Any, batch: Batch | None = None) -> Outcome:
    started = time.monotonic()
    rec: Recording | None = None
    remembered = False
    receives = int(record.attributes.approximate_receive_count or 1)
    attempts = Attempts(settings, None, receives)
    refused_key: str | None = None
    try:
        rec = Recording.from_body(record.body)
        try:
            trust.check_message(rec, aws.client("dynamodb"), settings.ledger_table)
        except trust.UnknownRun as refused:
            # Not one of this optimizer's messages: dead-lettered, untracked, and counted in no
            # run (its run, if it names one, is not written to).
            refused_key, rec = rec.key, None
            raise PermanentFailure(str(refused), refused.kind) from None
        attempts = Attempts(settings, rec, receives, outcomes.generation(record.body))
        remaining_ms = None if context is None else context.get_remaining_time_in_millis()
        outcomes.check_time(remaining_ms=remaining_ms, size=rec.size)
        if rec.verify:  # a verify run's message: checked against its chain of custody, nothing written to S3
            outcome = custody.verify_recording(
                rec,
                s3=aws.client("s3"),
                dynamodb=aws.client("dynamodb"),
                settings=settings,
                begin_attempt=attempts.begin,
            )
        else:
            outcome = convert_recording(rec, s3=aws.client("s3"), settings=settings, begin_attempt=attempts.begin)
            remembered = remember_in_format(settings, rec, outcome)
    except Exception as caught:
        exc: Exception = attempts.killed(caught) if isinstance(caught, FfmpegKilled) else caught
        verdict = outcomes.judge(exc, attempts.count, settings.max_receive_count, receives=receives)
        if verdict.outcome is None:
            metrics.add_metric(name=names.RECORDINGS_RETRIED, unit=MetricUnit.Count, value=1)
            logger.warning(
                "recording",
                extra={
                    "key": rec.key if rec else refused_key,
                    "outcome": "retry",
                    "reason": verdict.reason,
                    "receive_count": receives,
                    "attempts": attempts.count,
                    "seconds": round(time.monotonic() - started, 3),
                },
            )
            raise
        sent = attempts.dead_letter(record, verdict)
        outcome = verdict.outcome
        if sent and rec is not None and verdict.remember_etag:
            remembered = remember_content_failure(settings, rec, verdict.remember_etag, verdict.reason, outcome.kind)
        if rec is not None and rec.run and outcome.kind == custody.KIND:
            note_mismatch(settings, rec, verdict.reason)
    seconds = time.monotonic() - started
    logger.info(
        "recording",
        extra={
            "key": rec.key if rec else refused_key,
            "outcome": outcome.outcome,
            "reason": outcome.reason,
            "bytes_before": outcome.bytes_before,
            "bytes_after": outcome.bytes_after,
            "seconds": round(seconds, 3),
            "remembered": remembered,
            "attempts": attempts.count,
            "audio": outcome.audio,
            # a conversion's chain of custody: both version ids, both SHA-256 digests
            "custody": outcome.custody,
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

    Those are handed back to SQS (batchItemFailures): delivered again, they get the same outcome
    again without a new attempt (a recording this run converted is recognised by its provenance
    and counted converted with its bytes; a dead-lettered one keeps its dead letter, not sent
    twice), so the run still finishes with every recording accounted."""
    unrecorded: list[str] = []
    for run, entries in batch.to_account().items():
        try:
            ledger.account(
                aws.client("dynamodb"),
                settings.ledger_table,
                run,
                [(e.key, e.counts) for e in entries],
                custody={e.key: e.custody for e in entries if e.custody},
            )
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
    cleared = clear_leftovers()
    if cleared:
        logger.info("cleared leftovers of earlier invocations from /tmp", extra={"folders": len(cleared)})
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
