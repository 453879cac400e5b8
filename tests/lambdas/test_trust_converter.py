"""The converter's trust checks through its handler on moto: only the listed version is read, a
message of an unknown run is refused, and a suspended bucket stops conversions for a while."""

from __future__ import annotations

import dataclasses

import boto3

import converter
from optimizer import ledger
from tests.support import DAY, LEDGER, LambdaContext, assert_untouched, drain, put, sqs_event, versions

NO_FAILURES: dict[str, list[dict[str, str]]] = {"batchItemFailures": []}
RETRIED = {"batchItemFailures": [{"itemIdentifier": "m0"}]}


def test_a_message_of_another_size_than_the_object_converts_nothing(aws, stereo_wav):
    rec = put(aws.s3, DAY + "resized.wav", stereo_wav)
    assert converter.handler(sqs_event(dataclasses.replace(rec, size=rec.size + 1).to_body()), LambdaContext()) == (
        NO_FAILURES
    )
    assert_untouched(aws.s3, rec.key, stereo_wav)
    assert ledger.read(boto3.client("dynamodb"), LEDGER, rec.run) == {"accounted": 1, "skipped_changed": 1}


def test_a_message_of_an_unknown_run_is_dead_lettered_untouched_and_counted_nowhere(aws, stereo_wav):
    rec = put(aws.s3, DAY + "forged.wav", stereo_wav)
    forged = dataclasses.replace(rec, run="someone-elses")
    assert converter.handler(sqs_event(forged.to_body()), LambdaContext()) == NO_FAILURES
    (letter,) = drain(aws.dlq_url)
    assert letter["failure"]["kind"] == "unknown_run" and "nothing was read" in letter["failure"]["reason"]
    assert_untouched(aws.s3, rec.key, stereo_wav)
    items = boto3.client("dynamodb").scan(TableName=LEDGER)["Items"]
    assert not [i for i in items if "someone-elses" in i["run"]["S"]]


def test_a_suspended_bucket_stops_conversions_until_versioning_is_back(aws, stereo_wav):
    rec = put(aws.s3, DAY + "suspended.wav", stereo_wav)
    aws.s3.put_bucket_versioning(Bucket=rec.bucket, VersioningConfiguration={"Status": "Suspended"})
    assert converter.handler(sqs_event(rec.to_body()), LambdaContext()) == RETRIED  # transient
    assert len(versions(aws.s3, rec.key)) == 1 and drain(aws.dlq_url) == []
    aws.s3.put_bucket_versioning(Bucket=rec.bucket, VersioningConfiguration={"Status": "Enabled"})
    assert converter.handler(sqs_event(rec.to_body(), receive_count=2), LambdaContext()) == NO_FAILURES
    assert len(versions(aws.s3, rec.key)) == 2
    assert ledger.read(boto3.client("dynamodb"), LEDGER, rec.run)["converted"] == 1


class _HeadFails:
    """An S3 client whose HEAD (after the GetObject's 412) answers `code`."""

    def __init__(self, code: str, status: int) -> None:
        self.code, self.status = code, status

    def head_object(self, **_):
        from botocore.exceptions import ClientError

        raise ClientError(
            {"Error": {"Code": self.code, "Message": "x"}, "ResponseMetadata": {"HTTPStatusCode": self.status}},
            "HeadObject",
        )


def test_a_failed_head_after_a_412_is_not_taken_for_a_changed_recording(stereo_wav):
    """A throttled HEAD says nothing about the object: counted `changed`, a conversion of this
    very run whose outcome was lost would be miscounted. It goes up to be retried; a 404 is gone."""
    import pytest
    from botocore.exceptions import ClientError

    from optimizer.conversion import PermanentFailure, _changed_since_listed
    from optimizer.messages import Recording

    rec = Recording(bucket="b", key=DAY + "k.wav", etag='"e"', size=10, run="r", page="p", index=0)
    with pytest.raises(ClientError):
        _changed_since_listed(_HeadFails("SlowDown", 503), rec)
    with pytest.raises(PermanentFailure):
        _changed_since_listed(_HeadFails("AccessDenied", 403), rec)
    assert _changed_since_listed(_HeadFails("404", 404), rec).reason == "gone"
