"""Issue 18's trust boundary on the strict emulator: only the optimizer's own messages convert a
recording, and the converter's role converts a locked recording keeping its lock, or refuses it
when it cannot read the lock (never a silently unlocked version)."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.iam import acting_as
from emulator.runtime import QueuePoller
from emulator.samples import write_wav
from optimizer.conversion import PermanentFailure, convert_recording
from optimizer.messages import Recording
from tests.e2e.test_strict_iam import error_of, role_with
from tests.support import make_settings

pytestmark = pytest.mark.long  # a deployment into moto per test

DAY = "2022/01/01/"


def client(service: str):
    return boto3.client(service, region_name="us-east-1")


def prefix_of(deployment) -> str:
    return deployment.function("FunctionsConverter").environment["BUCKET_PREFIX"]


def drain_dlq(deployment) -> list[dict]:
    sqs = client("sqs")
    url = deployment.queue_url("QueuesDeadLetter")
    bodies = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in messages:
            bodies.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return bodies


def poll(deployment, lambdas) -> None:
    (poller,) = [QueuePoller(source, lambdas) for source in deployment.event_sources]
    while poller.poll_once().received:
        pass


def versions(bucket: str, key: str) -> list[dict]:
    return [
        v for v in client("s3").list_object_versions(Bucket=bucket, Prefix=key).get("Versions", []) if v["Key"] == key
    ]


def test_only_the_enqueuer_and_the_named_redrive_principals_can_send_to_the_work_queue(stack):
    deployment, _ = stack
    sqs, work = client("sqs"), deployment.queue_url("QueuesWork")
    # Any other principal of the account, even one whose own policy allows every SQS action.
    with acting_as(role_with(deployment, ["sqs:*"], "*")):
        assert error_of(sqs.send_message, QueueUrl=work, MessageBody="{}") == ("AccessDenied", 403)
        assert error_of(sqs.send_message_batch, QueueUrl=work, Entries=[{"Id": "1", "MessageBody": "{}"}]) == (
            "AccessDenied",
            403,
        )
        sqs.send_message(QueueUrl=deployment.queue_url("QueuesDeadLetter"), MessageBody="{}")  # not the work queue
    with acting_as(deployment.identities.role("FunctionsEnqueuerRole")):
        sqs.send_message(QueueUrl=work, MessageBody="{}")
    # The local deployment names its operator in redrive_principals (emulator/local_run.py).
    sqs.send_message(QueueUrl=work, MessageBody="{}")
    assert (
        int(
            sqs.get_queue_attributes(QueueUrl=work, AttributeNames=["All"])["Attributes"]["ApproximateNumberOfMessages"]
        )
        == 2
    )


def test_a_message_from_an_unknown_run_or_for_a_changed_version_converts_nothing(stack, tmp_path):
    """Both sent as the enqueuer's role (the queue policy lets it), delivered by the event source
    to the converter running as its own role."""
    deployment, lambdas = stack
    s3, sqs = client("s3"), client("sqs")
    bucket, prefix = deployment.bucket, prefix_of(deployment)
    body = write_wav(tmp_path / "call.wav", 2, seed=5).read_bytes()
    forged_key, changed_key = prefix + DAY + "forged.wav", prefix + DAY + "changed.wav"
    forged_etag = s3.put_object(Bucket=bucket, Key=forged_key, Body=body)["ETag"]
    listed_etag = s3.put_object(Bucket=bucket, Key=changed_key, Body=body)["ETag"]
    table = deployment.function("FunctionsConverter").environment["LEDGER_TABLE"]
    # A real page marker for the changed recording's run (as the enqueuer writes it before sending).
    client("dynamodb").put_item(TableName=table, Item={"run": {"S": "page#run-1#2022-01-01#"}, "sent": {"S": "1"}})
    s3.put_object(Bucket=bucket, Key=changed_key, Body=body + b"\x00\x00")  # replaced after listing
    messages = [
        Recording(bucket, forged_key, forged_etag, len(body), run="no-such-run", page="2022-01-01#", index=0),
        Recording(bucket, forged_key, forged_etag, len(body)),  # no run at all
        Recording(bucket, changed_key, listed_etag, len(body), run="run-1", page="2022-01-01#", index=0),
    ]
    with acting_as(deployment.identities.role("FunctionsEnqueuerRole")):
        for rec in messages:
            sqs.send_message(QueueUrl=deployment.queue_url("QueuesWork"), MessageBody=rec.to_body())
    poll(deployment, lambdas)

    assert len(versions(bucket, forged_key)) == 1 and len(versions(bucket, changed_key)) == 2  # nothing written
    letters = drain_dlq(deployment)
    assert sorted((letter["key"], letter["failure"]["kind"]) for letter in letters) == [
        (forged_key, "unknown_run"),
        (forged_key, "unknown_run"),
    ]
    ledger = client("dynamodb")
    scanned = [item["run"]["S"] for item in ledger.scan(TableName=table)["Items"]]
    assert not [key for key in scanned if "no-such-run" in key]  # the forged run is written to nowhere
    from optimizer import ledger as run_ledger

    assert run_ledger.read(ledger, table, "run-1") == {"accounted": 1, "skipped_changed": 1}


@pytest.fixture
def locked(stack, tmp_path):
    """The deployment's bucket made again with Object Lock on, and a recording under a GOVERNANCE
    retention and a legal hold."""
    deployment, _ = stack
    s3, bucket = client("s3"), deployment.bucket
    s3.delete_bucket(Bucket=bucket)
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    key = prefix_of(deployment) + DAY + "locked.wav"
    until = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=30)
    body = write_wav(tmp_path / "locked.wav", 2, seed=9).read_bytes()
    put = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
        ObjectLockLegalHoldStatus="ON",
        ChecksumAlgorithm="SHA256",
    )
    return Recording(bucket, key, put["ETag"], len(body), run="run-locked"), until


def converter_settings(deployment, ffmpeg):
    return make_settings(bucket=deployment.bucket, bucket_prefix=prefix_of(deployment), ffmpeg_path=ffmpeg)


def test_the_converter_role_converts_a_locked_recording_and_the_new_version_keeps_the_lock(stack, locked, ffmpeg):
    deployment, _ = stack
    rec, until = locked
    with acting_as(deployment.identities.role("FunctionsConverterRole")):
        outcome = convert_recording(rec, s3=client("s3"), settings=converter_settings(deployment, ffmpeg))
    assert outcome.outcome == "converted"
    s3 = client("s3")
    head = s3.head_object(Bucket=rec.bucket, Key=rec.key)
    assert head["ETag"] != rec.etag and head["StorageClass"] == "GLACIER_IR"
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"], head["ObjectLockLegalHoldStatus"]) == (
        "GOVERNANCE",
        until,
        "ON",
    )
    assert len(versions(rec.bucket, rec.key)) == 2  # the original stays, locked, as a noncurrent version


def without(deployment, action: str) -> None:
    """Takes `action` out of every statement of the converter's role."""
    iam = client("iam")
    role = deployment.identities.role("FunctionsConverterRole").arn.rsplit("/", 1)[-1]
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for statement in document["Statement"]:
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            statement["Action"] = [a for a in actions if a.lower() != action.lower()] or [
                "s3:GetAccelerateConfiguration"
            ]
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))


@pytest.mark.parametrize("action", ["s3:GetObjectRetention", "s3:GetObjectLegalHold"])
def test_without_a_lock_read_permission_the_locked_recording_fails_and_nothing_is_written(
    stack, locked, ffmpeg, action
):
    deployment, _ = stack
    rec, _ = locked
    without(deployment, action)
    with acting_as(deployment.identities.role("FunctionsConverterRole")), pytest.raises(PermanentFailure) as failed:
        convert_recording(rec, s3=client("s3"), settings=converter_settings(deployment, ffmpeg))
    assert failed.value.kind == "access_denied" and action in str(failed.value)
    assert len(versions(rec.bucket, rec.key)) == 1


def test_the_converter_role_writes_only_conditionally_and_never_lifts_or_hardens_a_lock(stack, locked):
    deployment, _ = stack
    rec, until = locked
    s3 = client("s3")
    lock = {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": until, "ChecksumAlgorithm": "SHA256"}
    with acting_as(deployment.identities.role("FunctionsConverterRole")):
        # No If-Match: refused (s3:if-match must be present).
        assert error_of(s3.put_object, Bucket=rec.bucket, Key=rec.key, Body=b"x", ChecksumAlgorithm="SHA256") == (
            "AccessDenied",
            403,
        )
        # A legal hold set OFF, a COMPLIANCE retention, one longer than carried_retention_max_days.
        for refused in (
            {"ObjectLockLegalHoldStatus": "OFF", "ChecksumAlgorithm": "SHA256"},
            {**lock, "ObjectLockMode": "COMPLIANCE"},
            {**lock, "ObjectLockRetainUntilDate": until + dt.timedelta(days=3653)},
        ):
            assert error_of(s3.put_object, Bucket=rec.bucket, Key=rec.key, Body=b"x", IfMatch=rec.etag, **refused) == (
                "AccessDenied",
                403,
            ), refused
        # The standalone lock APIs carry the same keys: a hold cannot be lifted that way either.
        with pytest.raises(ClientError):
            s3.put_object_legal_hold(Bucket=rec.bucket, Key=rec.key, LegalHold={"Status": "OFF"})
        s3.put_object(
            Bucket=rec.bucket, Key=rec.key, Body=b"x", IfMatch=rec.etag, ObjectLockLegalHoldStatus="ON", **lock
        )
    assert len(versions(rec.bucket, rec.key)) == 2
