"""The converter remembers a content failure for the object version it read (moto, real ffmpeg),
and only a content failure: a tag-limit or out-of-scope refusal is dead-lettered but not remembered."""
from __future__ import annotations

import datetime as dt
import functools
import json
from urllib.parse import urlencode

import boto3
from botocore.exceptions import ClientError
import pytest
from moto import mock_aws

import converter
from emulator.samples import write_wav
from optimizer import known_failures
from optimizer.conversion import convert_recording, run_ffmpeg
from optimizer.messages import Recording

BUCKET = "connect-recordings-test"
PREFIX = "connect/acme/CallRecordings/"
DAY = PREFIX + "2022/01/01/"


@pytest.fixture(scope="module")
def stereo_wav(tmp_path_factory) -> bytes:
    return write_wav(tmp_path_factory.mktemp("wav") / "call.wav", 2, seed=3).read_bytes()


@pytest.fixture
def env(ffmpeg, monkeypatch):
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dlq = boto3.client("sqs").create_queue(QueueName="dlq")["QueueUrl"]
        boto3.client("dynamodb").create_table(
            TableName="ledger", KeySchema=[{"AttributeName": "run", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "run", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        for name, value in {"BUCKET_NAME": BUCKET, "BUCKET_PREFIX": PREFIX, "STORAGE_CLASS": "GLACIER_IR", "DLQ_URL": dlq,
                            "FFMPEG_PATH": ffmpeg, "LEDGER_TABLE": "ledger", "MAX_RECEIVE_COUNT": "3"}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        yield s3, dlq


class Context:
    def get_remaining_time_in_millis(self) -> int:
        return 600_000


def sqs_event(*bodies: str) -> dict:
    return {
        "Records": [
            {"messageId": f"m{i}", "receiptHandle": f"r{i}", "body": body, "attributes": {"ApproximateReceiveCount": "1"},
             "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:work", "awsRegion": "us-east-1"}
            for i, body in enumerate(bodies)
        ]
    }  # fmt: skip


def put(s3, key: str, body: bytes, **extra) -> Recording:
    response = s3.put_object(Bucket=BUCKET, Key=key, Body=body, **extra)
    return Recording(bucket=BUCKET, key=key, etag=response["ETag"], size=len(body), run="exec-1")


def remembered(key: str) -> dict | None:
    return boto3.client("dynamodb").get_item(TableName="ledger", Key={"run": {"S": "failure#" + key}}, ConsistentRead=True).get("Item")


def dead_letters(url: str) -> list[dict]:
    messages = boto3.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    return [json.loads(m["Body"]) for m in messages]


def recording_logs(caplog) -> list[tuple[str, bool]]:
    """(outcome, remembered) of each per-recording log line."""
    return [(r.outcome, r.remembered) for r in caplog.records if r.name == "converter" and r.getMessage() == "recording"]


def test_a_content_failure_is_dead_lettered_and_remembered_for_that_version(env, caplog):
    s3, dlq = env
    rec = put(s3, DAY + "bad.wav", b"RIFF\x24\x00\x00\x00WAVEthis is not audio")
    before = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)

    assert converter.handler(sqs_event(rec.to_body()), Context()) == {"batchItemFailures": []}

    (letter,) = dead_letters(dlq)
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
    assert s3.get_object(Bucket=BUCKET, Key=rec.key)["Body"].read() == b"RIFF\x24\x00\x00\x00WAVEthis is not audio"


def test_a_tag_limit_failure_is_dead_lettered_but_not_remembered(env, stereo_wav, caplog):
    s3, dlq = env
    rec = put(s3, DAY + "tagged.wav", stereo_wav, Tagging=urlencode({f"k{i}": "v" for i in range(10)}))

    converter.handler(sqs_event(rec.to_body()), Context())

    (letter,) = dead_letters(dlq)
    assert "10 tags" in letter["failure"]["reason"]
    assert remembered(rec.key) is None
    assert recording_logs(caplog) == [("failed", False)]


def test_a_recording_outside_the_scope_is_not_remembered(env, stereo_wav):
    s3, dlq = env
    rec = put(s3, "elsewhere/2022/01/01/x.wav", stereo_wav)
    converter.handler(sqs_event(rec.to_body()), Context())
    (letter,) = dead_letters(dlq)
    assert "outside this optimizer's scope" in letter["failure"]["reason"]
    assert remembered(rec.key) is None


def test_a_transient_failure_given_up_is_not_remembered(env, stereo_wav, monkeypatch):
    s3, dlq = env
    rec = put(s3, DAY + "flaky.wav", stereo_wav)

    def changed_every_time(ffmpeg, src, dst):
        run_ffmpeg(ffmpeg, src, dst)
        s3.put_object(Bucket=BUCKET, Key=rec.key, Body=stereo_wav + b"\0\0")

    monkeypatch.setattr(converter, "convert_recording", functools.partial(convert_recording, convert=changed_every_time))
    event = sqs_event(rec.to_body())
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "3"
    converter.handler(event, Context())
    (letter,) = dead_letters(dlq)
    assert letter["failure"]["reason"].startswith("gave up after 3 attempts")
    assert remembered(rec.key) is None


def test_the_etag_remembered_is_the_version_read_not_the_one_listed(env):
    s3, dlq = env
    listed = put(s3, DAY + "swapped.wav", b"RIFF\x24\x00\x00\x00WAVEfirst bytes")
    read = s3.put_object(Bucket=BUCKET, Key=listed.key, Body=b"RIFF\x24\x00\x00\x00WAVEother bytes")  # replaced after listing
    converter.handler(sqs_event(listed.to_body()), Context())
    assert remembered(listed.key)["etag"] == {"S": read["ETag"]} and read["ETag"] != listed.etag


def test_when_the_memory_cannot_be_written_the_recording_is_still_dead_lettered(env, monkeypatch, capsys, caplog):
    s3, dlq = env
    from optimizer import known_failures

    def unavailable(*args, **kwargs):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "PutItem")

    monkeypatch.setattr(known_failures, "remember", unavailable)
    rec = put(s3, DAY + "bad.wav", b"not audio at all")

    assert converter.handler(sqs_event(rec.to_body()), Context()) == {"batchItemFailures": []}

    (letter,) = dead_letters(dlq)
    assert letter["key"] == rec.key and "not a RIFF/WAVE" in letter["failure"]["reason"]
    (error,) = [r for r in caplog.records if r.getMessage().startswith("content failure not remembered")]
    assert error.levelname == "ERROR" and error.key == rec.key and error.exc_info  # with the DynamoDB error
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m["KnownFailureWriteFailures"] for m in metrics if "KnownFailureWriteFailures" in m] == [[1.0]]
    assert recording_logs(caplog) == [("failed", False)]
