"""The converter remembers a content failure for the object version it read (moto, real ffmpeg),
and only a content failure: a tag-limit or out-of-scope refusal is dead-lettered but not remembered."""

from __future__ import annotations

import datetime as dt
import functools
import json
from urllib.parse import urlencode

import boto3
from botocore.exceptions import ClientError

import converter
from optimizer import known_failures
from optimizer.conversion import TransientFailure, convert_recording
from tests import support
from tests.support import BUCKET, DAY, LEDGER, LambdaContext, assert_untouched, drain, sqs_event

# Each message names its run, as the enqueuer writes it: the memory records which run failed.
put = functools.partial(support.put, run="exec-1")


def remembered(key: str) -> dict | None:
    return (
        boto3.client("dynamodb")
        .get_item(TableName=LEDGER, Key={"run": {"S": "failure#" + key}}, ConsistentRead=True)
        .get("Item")
    )


def recording_logs(caplog) -> list[tuple[str, bool]]:
    """(outcome, remembered) of each per-recording log line."""
    return [
        (r.outcome, r.remembered) for r in caplog.records if r.name == "converter" and r.getMessage() == "recording"
    ]


def test_a_content_failure_is_dead_lettered_and_remembered_for_that_version(aws, caplog):
    s3 = aws.s3
    rec = put(s3, DAY + "bad.wav", b"RIFF\x24\x00\x00\x00WAVEthis is not audio")
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)

    assert converter.handler(sqs_event(rec.to_body()), LambdaContext()) == {"batchItemFailures": []}

    (letter,) = drain(aws.dlq_url)
    item = remembered(rec.key)
    assert item is not None
    assert item["etag"] == {"S": rec.etag}
    assert item["reason"]["S"] == letter["failure"]["reason"] and item["reason"]["S"]
    assert item["failed_run"] == {"S": "exec-1"}
    assert dt.datetime.fromisoformat(item["failed_at"]["S"]) >= before
    lifetime = int(item["expires_at"]["N"]) - dt.datetime.fromisoformat(item["failed_at"]["S"]).timestamp()
    assert abs(lifetime - known_failures.TTL_DAYS * 86400) <= 2
    assert recording_logs(caplog) == [("failed", True)]
    # The original is untouched: the memory is all that changed.
    assert_untouched(s3, rec.key, b"RIFF\x24\x00\x00\x00WAVEthis is not audio")


def test_a_tag_limit_failure_is_dead_lettered_but_not_remembered(aws, stereo_wav, caplog):
    s3 = aws.s3
    rec = put(s3, DAY + "tagged.wav", stereo_wav, Tagging=urlencode({f"k{i}": "v" for i in range(10)}))

    converter.handler(sqs_event(rec.to_body()), LambdaContext())

    (letter,) = drain(aws.dlq_url)
    assert "10 tags" in letter["failure"]["reason"]
    assert remembered(rec.key) is None
    assert recording_logs(caplog) == [("failed", False)]


def test_a_recording_outside_the_scope_is_not_remembered(aws, stereo_wav):
    s3 = aws.s3
    rec = put(s3, "elsewhere/2022/01/01/x.wav", stereo_wav)
    converter.handler(sqs_event(rec.to_body()), LambdaContext())
    (letter,) = drain(aws.dlq_url)
    assert "outside this optimizer's scope" in letter["failure"]["reason"]
    assert remembered(rec.key) is None


def test_a_transient_failure_given_up_is_not_remembered(aws, stereo_wav, monkeypatch):
    s3 = aws.s3
    rec = put(s3, DAY + "flaky.wav", stereo_wav)

    def failing_every_time(ffmpeg, src, dst):
        raise TransientFailure("S3 slowed down; retried later")

    monkeypatch.setattr(
        converter, "convert_recording", functools.partial(convert_recording, convert=failing_every_time)
    )
    # Three real attempts (the converter's own, in the ledger), not a receive count of 3.
    for receive in (1, 2, 3):
        converter.handler(sqs_event(rec.to_body(), receive_count=receive), LambdaContext())
    (letter,) = drain(aws.dlq_url)
    assert letter["failure"]["reason"].startswith("gave up after 3 attempts")
    assert letter["failure"]["kind"] == "gave_up"
    assert remembered(rec.key) is None


def test_a_version_replaced_after_listing_is_neither_read_nor_remembered(aws):
    """The GetObject asks for the listed version only (If-Match): the replacement is left to a
    later run, which lists it with its own ETag; nothing is dead-lettered or remembered."""
    s3 = aws.s3
    listed = support.put(s3, DAY + "swapped.wav", b"RIFF\x24\x00\x00\x00WAVEfirst bytes")
    s3.put_object(Bucket=BUCKET, Key=listed.key, Body=b"RIFF\x24\x00\x00\x00WAVEother bytes")  # replaced
    assert converter.handler(sqs_event(listed.to_body()), LambdaContext()) == {"batchItemFailures": []}
    assert remembered(listed.key) is None and drain(aws.dlq_url) == []


def test_when_the_memory_cannot_be_written_the_recording_is_still_dead_lettered(aws, monkeypatch, capsys, caplog):
    s3 = aws.s3

    def unavailable(*args, **kwargs):
        raise ClientError(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutItem"
        )

    # The run's ledger takes the outcome; only the memory of the failure cannot be written.
    monkeypatch.setattr(known_failures, "remember", unavailable)
    rec = put(s3, DAY + "bad.wav", b"not audio at all")

    assert converter.handler(sqs_event(rec.to_body()), LambdaContext()) == {"batchItemFailures": []}

    (letter,) = drain(aws.dlq_url)
    assert letter["key"] == rec.key and "not a RIFF/WAVE" in letter["failure"]["reason"]
    (error,) = [r for r in caplog.records if r.getMessage().startswith("content failure not remembered")]
    assert error.levelname == "ERROR" and error.key == rec.key and error.exc_info  # with the DynamoDB error
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m["KnownFailureWriteFailures"] for m in metrics if "KnownFailureWriteFailures" in m] == [[1.0]]
    assert recording_logs(caplog) == [("failed", False)]
