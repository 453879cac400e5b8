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
from optimizer.vocabulary import FailureKind

logger = Logger(service=names.CONVERTER)
metrics = Metrics(service=names.CONVERTER)
# A fully failed batch is reported item by item like a partial one, instead of raising: the
# invocation's Errors metric then counts crashes only, not recordings waiting for a retry.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def send_to_dead_letter(settings: Settings, record: SQSRecord, reason: str, kind: FailureKind | None) -> None:
    """Sends the recording's message to the dead-letter queue with the reason and kind of its failure."""
    aws.client("sqs").send_message(
        QueueUrl=settings.dlq_url,
        MessageBody=outcomes.dead_letter_body(record.body, reason, kind),
        MessageAttributes={"reason": {"DataType": "String", "StringValue": reason[:1000]}},
    )


def remember_content_failure(
    settings: Settings, rec: Recording, etag: str, reason: str, kind: FailureKind | None
) -> bool:
    """After the dead letter is sent. A failed write leaves the recording dead-lettered and the run
    failed, as before; it only means the next run tries the recording once more, so it is logged
    and counted (KnownFailureWriteFailures), not retried at the price of a second dead letter."""
    try:
        return known_failures.remember(
            aws.client("dynamodb"), settings.ledger_table, rec.key, etag, reason, run=rec.run, kind=kind
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
    once more and remembers it then; counted (KnownFormatWriteFailures), so that memories that are
    never written show on the dashboard instead of as downloads repeated every run."""
    target = settings.target
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
        metrics.add_metric(name=names.KNOWN_FORMAT_WRITE_FAILURES, unit=MetricUnit.Count, value=1)
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
                raise PermanentFailure(self.state.dead_reason, FailureKind.stored(self.state.dead_kind))
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
            FailureKind.FFMPEG_KILLED,
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
            kind or FailureKind.OTHER,
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


class _Delivery:
    """One delivery of a message, as far as it got: its recording once read (None before, and for
    a message refused as not this optimizer's: `refused_key` names that one's key), and the
    converter's attempts at it (counted in its run once the message is trusted)."""

    def __init__(self, record: SQSRecord, settings: Settings) -> None:
        self.record, self.settings = record, settings
        self.started = time.monotonic()
        self.receives = int(record.attributes.approximate_receive_count or 1)
        self.rec: Recording | None = None
        self.refused_key: str | None = None
        self.attempts = Attempts(settings, None, self.receives)
        self.remembered = False

    @property
    def key(self) -> str | None:
        return self.rec.key if self.rec is not None else self.refused_key

    def seconds(self) -> float:
        return time.monotonic() - self.started


def _read_message(delivery: _Delivery) -> Recording:
    """Step 1, read: the message's recording, once the message is known as one of this
    optimizer's (its run in the ledger); its attempts then counted in that run."""
    rec = delivery.rec = Recording.from_body(delivery.record.body)
    try:
        trust.check_message(rec, aws.client("dynamodb"), delivery.settings.ledger_table)
    except trust.UnknownRun as refused:
        # Not one of this optimizer's messages: dead-lettered, untracked, and counted in no
        # run (its run, if it names one, is not written to).
        delivery.refused_key, delivery.rec = rec.key, None
        raise PermanentFailure(str(refused), refused.kind) from None
    delivery.attempts = Attempts(delivery.settings, rec, delivery.receives, outcomes.generation(delivery.record.body))
    return rec


def _convert_or_verify(delivery: _Delivery, rec: Recording, context: Any) -> Outcome:
    """Step 2, convert: the recording converted, or, for a verify run's message, checked against
    its chain of custody (nothing written to S3); refused first when the invocation has too little
    time left for its size."""
    remaining_ms = None if context is None else context.get_remaining_time_in_millis()
    outcomes.check_time(remaining_ms=remaining_ms, size=rec.size)
    settings, begin = delivery.settings, delivery.attempts.begin
    if rec.verify:
        return custody.verify_recording(
            rec, s3=aws.client("s3"), dynamodb=aws.client("dynamodb"), settings=settings, begin_attempt=begin
        )
    outcome = convert_recording(rec, s3=aws.client("s3"), settings=settings, begin_attempt=begin)
    delivery.remembered = remember_in_format(settings, rec, outcome)
    return outcome


def _judge_failure(delivery: _Delivery, caught: Exception) -> outcomes.Verdict:
    """What a failure means (optimizer/outcomes.py): retried (no outcome), or an outcome. A retry
    is logged and counted here."""
    attempts = delivery.attempts
    exc: Exception = attempts.killed(caught) if isinstance(caught, FfmpegKilled) else caught
    verdict = outcomes.judge(exc, attempts.count, delivery.settings.max_receive_count, receives=delivery.receives)
    if verdict.outcome is None:
        metrics.add_metric(name=names.RECORDINGS_RETRIED, unit=MetricUnit.Count, value=1)
        logger.warning(
            "recording",
            extra={
                "key": delivery.key,
                "outcome": "retry",
                "reason": verdict.reason,
                "receive_count": delivery.receives,
                "attempts": attempts.count,
                "seconds": round(delivery.seconds(), 3),
            },
        )
    return verdict


def _dead_letter(delivery: _Delivery, verdict: outcomes.Verdict) -> Outcome:
    """Step 3, account a failure: its dead letter sent (once per run), a content failure
    remembered for the version read, a custody mismatch named in the run's summary."""
    assert verdict.outcome is not None
    rec, outcome = delivery.rec, verdict.outcome
    sent = delivery.attempts.dead_letter(delivery.record, verdict)
    if sent and rec is not None and verdict.remember_etag:
        delivery.remembered = remember_content_failure(
            delivery.settings, rec, verdict.remember_etag, verdict.reason, outcome.kind
        )
    if rec is not None and rec.run and outcome.kind == custody.KIND:
        note_mismatch(delivery.settings, rec, verdict.reason)
    return outcome


def _report(delivery: _Delivery, outcome: Outcome, batch: Batch | None) -> None:
    """Step 4, write: the outcome logged, counted in the metrics, and added to the batch for the
    run's ledger (a refused message under its message id, in no run)."""
    seconds = delivery.seconds()
    logger.info(
        "recording",
        extra={
            "key": delivery.key,
            "outcome": outcome.outcome,
            "reason": outcome.reason,
            "bytes_before": outcome.bytes_before,
            "bytes_after": outcome.bytes_after,
            "seconds": round(seconds, 3),
            "remembered": delivery.remembered,
            "attempts": delivery.attempts.count,
            "audio": outcome.audio,
            # a conversion's chain of custody: both version ids, both SHA-256 digests
            "custody": outcome.custody,
        },
    )
    metrics.add_metric(name=names.recordings_metric(outcome.outcome), unit=MetricUnit.Count, value=1)
    if outcome.outcome == "converted":
        metrics.add_metric(name=names.CONVERSION_SECONDS, unit=MetricUnit.Seconds, value=round(seconds, 3))
    if batch is not None:
        rec = delivery.rec
        key = rec.key if rec is not None else f"message:{delivery.record.message_id}"
        batch.add(rec.run if rec is not None else "", key, delivery.record.message_id, outcome)


def process_record(record: SQSRecord, settings: Settings, context: Any, batch: Batch | None = None) -> Outcome:
    """One message, in steps: read it, convert (or verify) its recording; a failure is judged,
    then retried (raised: SQS delivers it again) or dead-lettered; the outcome is logged, counted
    and added to the batch."""
    delivery = _Delivery(record, settings)
    try:
        outcome = _convert_or_verify(delivery, _read_message(delivery), context)
    except Exception as caught:
        verdict = _judge_failure(delivery, caught)
        if verdict.outcome is None:
            raise
        outcome = _dead_letter(delivery, verdict)
    _report(delivery, outcome, batch)
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
    """The SQS event source's entry point: each message's recording converted (or verified), the
    outcomes accounted, the messages whose outcome could not be recorded handed back to SQS."""
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
