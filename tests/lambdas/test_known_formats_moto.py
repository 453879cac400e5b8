"""A recording already in the target format (moto, real ffmpeg): the converter skips it and
remembers it for the version it read; the lister then skips that version without enqueueing it,
counted skipped.known_target_format, apart from the known failures, with no read more than they cost."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest

import converter
from optimizer import known_failures, known_formats
from optimizer.conversion import run_ffmpeg
from optimizer.formats import TARGET
from tests.lambdas.test_known_failures_lister_moto import batch_get_calls
from tests.support import BUCKET, DAY, LEDGER, LambdaContext, drain, put, run_day, sqs_event, versions


@pytest.fixture(scope="module")
def alaw_wav(stereo_wav, ffmpeg, tmp_path_factory) -> bytes:
    """The stereo recording as the converter writes it: already in the target format."""
    folder = tmp_path_factory.mktemp("alaw")
    (folder / "in.wav").write_bytes(stereo_wav)
    run_ffmpeg(ffmpeg, str(folder / "in.wav"), str(folder / "out.wav"))
    return (folder / "out.wav").read_bytes()


def item(key: str) -> dict | None:
    table = boto3.client("dynamodb")
    return table.get_item(TableName=LEDGER, Key={"run": {"S": "failure#" + key}}, ConsistentRead=True).get("Item")


def remember(key: str, etag: str, format_key: str = TARGET.key, now=None) -> None:
    known_formats.remember(boto3.client("dynamodb"), LEDGER, key, etag, format_key, run="earlier-run", now=now)


def test_the_converter_remembers_a_recording_already_in_the_target_format(aws, alaw_wav, stereo_wav):
    rec = put(aws.s3, DAY + "alaw.wav", alaw_wav)
    pcm = put(aws.s3, DAY + "pcm.wav", stereo_wav)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)

    response = converter.handler(sqs_event(rec.to_body(), pcm.to_body()), LambdaContext())

    assert response == {"batchItemFailures": []} and drain(aws.dlq_url) == []
    remembered = item(rec.key)
    assert remembered is not None
    assert (remembered["format_etag"], remembered["format"]) == ({"S": rec.etag}, {"S": TARGET.key})
    assert dt.datetime.fromisoformat(remembered["seen_at"]["S"]) >= before
    # Kept apart from the failures: no `etag`, no reason, no kind; a lookup does not find a failure.
    assert not {"etag", "reason", "kind"} & set(remembered)
    found = known_failures.lookup(boto3.client("dynamodb"), LEDGER, [rec.key])
    assert found.found == {} and set(known_formats.found(found)) == {rec.key}
    # A recording it converted is not remembered (its class and tag skip it at listing).
    assert item(pcm.key) is None
    assert len(versions(aws.s3, rec.key)) == 1  # the recording itself is untouched


def test_the_lister_skips_the_remembered_version_and_enqueues_any_other(aws):
    s3 = aws.s3
    kept = s3.put_object(Bucket=BUCKET, Key=DAY + "alaw.wav", Body=b"RIFF-alaw")
    s3.put_object(Bucket=BUCKET, Key=DAY + "replaced.wav", Body=b"RIFF-new")
    other = s3.put_object(Bucket=BUCKET, Key=DAY + "other-format.wav", Body=b"RIFF-other")
    s3.put_object(Bucket=BUCKET, Key=DAY + "pcm.wav", Body=b"RIFF-pcm")
    remember(DAY + "alaw.wav", kept["ETag"])
    remember(DAY + "replaced.wav", '"etag-of-an-older-version"')
    remember(DAY + "other-format.wav", other["ETag"], format_key="another_format")
    calls = batch_get_calls()

    counts, bodies = run_day(aws.queue_url)

    assert sorted(b["key"] for b in bodies) == [DAY + "other-format.wav", DAY + "pcm.wav", DAY + "replaced.wav"]
    assert (counts["listed"], counts["enqueued"], counts["skipped_known_target_format"]) == (4, 3, 1)
    assert counts.get("skipped_known_failure", 0) == 0  # not a failure
    assert calls == [4]  # the same one request a page the known failures cost, no more


@pytest.mark.parametrize(
    "execution_input, skipped",
    [
        ({"specific_date": "01/01/2022", "retry_failed": True}, 1),  # it did not fail: still skipped
        ({"specific_date": "01/01/2022", "dry_run": True}, 1),  # the dry run counts it the same way
    ],
)
def test_retry_failed_and_a_dry_run_still_skip_it(aws, execution_input, skipped):
    kept = aws.s3.put_object(Bucket=BUCKET, Key=DAY + "alaw.wav", Body=b"RIFF-alaw")
    remember(DAY + "alaw.wav", kept["ETag"])
    counts, bodies = run_day(aws.queue_url, execution_input)
    assert bodies == [] and counts["skipped_known_target_format"] == skipped
    assert counts.get("dry_recordings", 0) == 0


def test_overwrite_converted_ignores_the_memory(aws, monkeypatch):
    kept = aws.s3.put_object(Bucket=BUCKET, Key=DAY + "alaw.wav", Body=b"RIFF-alaw")
    remember(DAY + "alaw.wav", kept["ETag"])
    monkeypatch.setenv("OVERWRITE_CONVERTED", "true")
    counts, bodies = run_day(aws.queue_url)
    assert [b["key"] for b in bodies] == [DAY + "alaw.wav"] and counts.get("skipped_known_target_format", 0) == 0


def test_an_expired_memory_is_ignored(aws):
    kept = aws.s3.put_object(Bucket=BUCKET, Key=DAY + "alaw.wav", Body=b"RIFF-alaw")
    remember(
        DAY + "alaw.wav", kept["ETag"], now=dt.datetime.now(dt.UTC) - dt.timedelta(days=known_failures.TTL_DAYS + 1)
    )
    counts, bodies = run_day(aws.queue_url)
    assert [b["key"] for b in bodies] == [DAY + "alaw.wav"] and counts.get("skipped_known_target_format", 0) == 0


def test_a_memory_that_cannot_be_written_is_logged_and_counted_not_swallowed(
    aws, alaw_wav, monkeypatch, capsys, caplog
):
    """The recording is still skipped (nothing to convert); the failed write is an error in the log
    and a KnownFormatWriteFailures count, so memories never written show on the dashboard."""
    import json

    from botocore.exceptions import ClientError

    def unavailable(*args, **kwargs):
        raise ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow"}}, "PutItem")

    monkeypatch.setattr(known_formats, "remember", unavailable)
    rec = put(aws.s3, DAY + "alaw.wav", alaw_wav)

    assert converter.handler(sqs_event(rec.to_body()), LambdaContext()) == {"batchItemFailures": []}

    assert item(rec.key) is None and drain(aws.dlq_url) == []
    (error,) = [r for r in caplog.records if r.getMessage().startswith("recording in the target format not remembered")]
    assert error.levelname == "ERROR" and error.key == rec.key and error.exc_info
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert [m["KnownFormatWriteFailures"] for m in metrics if "KnownFormatWriteFailures" in m] == [[1.0]]
