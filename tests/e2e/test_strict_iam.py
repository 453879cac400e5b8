"""The strict emulator refuses what IAM and S3 refuse (emulator.iam): each handler's requests
run with its own role from the synthesized template, and S3 answers as AWS does.

Not evaluable here (moto ignores conditions but those emulator/conditions.py evaluates; nothing
evaluates KMS key policies, SNS topic policies or alarm actions): tests/infra/test_template.py
asserts those on the template. The trust boundary's conditions: tests/e2e/test_trust_boundary.py."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from emulator.iam import Identity, acting_as, assume
from tests.support import make_settings

pytestmark = pytest.mark.long  # a deployment into moto per test

PREFIX = "connect/local-instance/CallRecordings/"
ROOT = Path(__file__).resolve().parents[2]


def client(service: str):
    return boto3.client(service, region_name="us-east-1")


def error_of(call, *args, **kwargs) -> tuple[str, int]:
    with pytest.raises(ClientError) as caught:
        call(*args, **kwargs)
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


_roles = 0


def role_with(deployment, actions: list[str], resource: str | list[str]) -> Identity:
    """A role trusted by the operator with one Allow statement, and its credentials."""
    global _roles
    _roles += 1
    iam = client("iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": deployment.identities.operator.arn}, "Action": "sts:AssumeRole"}
        ],
    }
    arn = iam.create_role(RoleName=f"probe-{_roles}", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}
    iam.put_role_policy(RoleName=f"probe-{_roles}", PolicyName="probe", PolicyDocument=json.dumps(policy))
    return assume(client("sts"), f"probe-{_roles}", arn)


def test_each_handler_runs_with_its_own_role(stack):
    deployment, _ = stack
    s3, sqs, ddb = client("s3"), client("sqs"), client("dynamodb")
    s3.put_object(Bucket=deployment.bucket, Key=PREFIX + "in.wav", Body=b"x")
    s3.put_object(Bucket=deployment.bucket, Key="elsewhere/out.wav", Body=b"x")
    table = deployment.function("FunctionsConverter").environment["LEDGER_TABLE"]
    converter = deployment.identity_of(deployment.function("FunctionsConverter").name)
    lister = deployment.identity_of(deployment.function("FunctionsLister").name)
    enqueuer = deployment.identity_of(deployment.function("FunctionsEnqueuer").name)

    with acting_as(converter):
        assert s3.get_object(Bucket=deployment.bucket, Key=PREFIX + "in.wav")["Body"].read() == b"x"
        assert error_of(s3.get_object, Bucket=deployment.bucket, Key="elsewhere/out.wav") == ("AccessDenied", 403)
        # s3:ListBucket, on purpose: a key deleted since listing then answers 404, not 403.
        assert s3.list_objects_v2(Bucket=deployment.bucket, Prefix=PREFIX)["KeyCount"] == 1
        assert error_of(s3.delete_object, Bucket=deployment.bucket, Key=PREFIX + "in.wav") == ("AccessDenied", 403)
        # Each DynamoDB action on its own item prefixes only (dynamodb:LeadingKeys): the attempt
        # items (GetItem, UpdateItem), the counter shards (UpdateItem), never the run's item.
        assert error_of(ddb.get_item, TableName=table, Key={"run": {"S": "r"}}) == ("AccessDeniedException", 400)
        assert "Item" not in ddb.get_item(TableName=table, Key={"run": {"S": "attempt#r#k"}})

        def add(key: str) -> dict:
            return {
                "TableName": table,
                "Key": {"run": {"S": key}},
                "UpdateExpression": "ADD n :one",
                "ExpressionAttributeValues": {":one": {"N": "1"}},
            }

        ddb.update_item(**add("attempt#r#k"))
        ddb.update_item(**add("count#r#7"))
        assert error_of(ddb.update_item, **add("r")) == ("AccessDeniedException", 400)
        assert error_of(ddb.update_item, **add("page#r#2022-01-01#")) == ("AccessDeniedException", 400)
        # TransactWriteItems is authorized per action and item: the marker's PutItem and the
        # counters' UpdateItem on a shard; on the run's own item the whole transaction is refused.
        marker = {"Put": {"TableName": table, "Item": {"run": {"S": "done#r#k"}}}}
        ddb.transact_write_items(TransactItems=[marker, {"Update": add("count#r#3")}])
        assert error_of(ddb.transact_write_items, TransactItems=[marker, {"Update": add("r")}]) == (
            "AccessDeniedException",
            400,
        )
        assert error_of(
            ddb.transact_write_items, TransactItems=[{"Put": {"TableName": table, "Item": {"run": {"S": "r"}}}}]
        ) == ("AccessDeniedException", 400)
    with acting_as(lister):
        # No PutItem for the lister: a transaction holding one is refused as a whole.
        assert error_of(
            ddb.transact_write_items,
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"run": {"S": "r"}},
                        "UpdateExpression": "ADD n :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
                {"Put": {"TableName": table, "Item": {"run": {"S": "done#r#other"}}}},
            ],
        ) == ("AccessDeniedException", 400)
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=deployment.bucket, Prefix=PREFIX)["Contents"]] == [
            PREFIX + "in.wav"
        ]
        # GetObject under the prefix only: the preflight's read probe.
        assert s3.get_object(Bucket=deployment.bucket, Key=PREFIX + "in.wav", Range="bytes=0-0")["Body"].read() == b"x"
        assert error_of(s3.get_object, Bucket=deployment.bucket, Key="elsewhere/out.wav") == ("AccessDenied", 403)
        assert error_of(s3.put_object, Bucket=deployment.bucket, Key=PREFIX + "in.wav", Body=b"y") == (
            "AccessDenied",
            403,
        )
        assert error_of(sqs.send_message, QueueUrl=deployment.queue_url("QueuesWork"), MessageBody="{}") == (
            "AccessDenied",
            403,
        )
    with acting_as(enqueuer):
        sqs.send_message_batch(QueueUrl=deployment.queue_url("QueuesWork"), Entries=[{"Id": "1", "MessageBody": "{}"}])
        assert error_of(sqs.send_message, QueueUrl=deployment.queue_url("QueuesDeadLetter"), MessageBody="{}") == (
            "AccessDenied",
            403,
        )
    # SendMessageBatch (above) is authorized by sqs:SendMessage, DeleteMessageBatch by sqs:DeleteMessage.
    with acting_as(converter):
        (message,) = sqs.receive_message(QueueUrl=deployment.queue_url("QueuesWork"))["Messages"]
        entry = [{"Id": "1", "ReceiptHandle": message["ReceiptHandle"]}]
    with acting_as(enqueuer):
        assert error_of(sqs.delete_message_batch, QueueUrl=deployment.queue_url("QueuesWork"), Entries=entry) == (
            "AccessDenied",
            403,
        )
    with acting_as(converter):
        assert sqs.delete_message_batch(QueueUrl=deployment.queue_url("QueuesWork"), Entries=entry)["Successful"]


def test_the_state_machine_role_invokes_its_two_functions_and_reads_its_two_queues(stack):
    deployment, _ = stack
    lam, sqs = client("lambda"), client("sqs")
    other = sqs.create_queue(QueueName="not-the-stacks")["QueueUrl"]
    lister = deployment.function("FunctionsLister")
    [published] = lister.versions
    with acting_as(deployment.identities.state_machine):
        response = lam.invoke(FunctionName=published, Payload=json.dumps({"action": "nonsense"}))
        assert response["StatusCode"] == 200 and "FunctionError" in response  # it ran, and refused the action
        # Only the published versions (issue 16, item 9): an execution keeps the code it started with.
        assert error_of(lam.invoke, FunctionName=lister.arn, Payload=b"{}") == ("AccessDeniedException", 403)
        assert error_of(lam.invoke, FunctionName=deployment.function("FunctionsConverter").arn, Payload=b"{}") == (
            "AccessDeniedException",
            403,
        )
        # The CDK grants "sqs:getQueueAttributes": IAM matches actions case-insensitively.
        assert sqs.get_queue_attributes(QueueUrl=deployment.queue_url("QueuesWork"), AttributeNames=["All"])[
            "Attributes"
        ]
        assert error_of(sqs.get_queue_attributes, QueueUrl=other, AttributeNames=["All"]) == ("AccessDenied", 403)


def test_put_object_with_tags_needs_put_object_tagging(stack):
    deployment, _ = stack
    key = PREFIX + "tagged.wav"
    without = role_with(deployment, ["s3:PutObject"], f"arn:aws:s3:::{deployment.bucket}/*")
    with_tagging = role_with(deployment, ["s3:PutObject", "s3:PutObjectTagging"], f"arn:aws:s3:::{deployment.bucket}/*")
    s3 = client("s3")
    with acting_as(without):
        s3.put_object(Bucket=deployment.bucket, Key=key, Body=b"x")
        assert error_of(s3.put_object, Bucket=deployment.bucket, Key=key, Body=b"x", Tagging="converted=True") == (
            "AccessDenied",
            403,
        )
    with acting_as(with_tagging):
        s3.put_object(Bucket=deployment.bucket, Key=key, Body=b"x", Tagging="converted=True")
    assert s3.get_object_tagging(Bucket=deployment.bucket, Key=key)["TagSet"] == [{"Key": "converted", "Value": "True"}]


@pytest.fixture
def lock_bucket(stack):
    s3 = client("s3")
    s3.create_bucket(Bucket="locked-recordings", ObjectLockEnabledForBucket=True)
    return "locked-recordings"


def in_a_year() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=365)


def test_put_object_with_lock_headers_needs_retention_and_legal_hold_permissions(stack, lock_bucket):
    deployment, _ = stack
    objects = f"arn:aws:s3:::{lock_bucket}/*"
    s3 = client("s3")
    lock = {"ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": in_a_year(), "ChecksumAlgorithm": "SHA256"}
    hold = {"ObjectLockLegalHoldStatus": "ON", "ChecksumAlgorithm": "SHA256"}
    with acting_as(role_with(deployment, ["s3:PutObject"], objects)):
        assert error_of(s3.put_object, Bucket=lock_bucket, Key="a.wav", Body=b"x", **lock) == ("AccessDenied", 403)
        assert error_of(s3.put_object, Bucket=lock_bucket, Key="a.wav", Body=b"x", **hold) == ("AccessDenied", 403)
    with acting_as(role_with(deployment, ["s3:PutObject", "s3:PutObjectRetention", "s3:PutObjectLegalHold"], objects)):
        s3.put_object(Bucket=lock_bucket, Key="a.wav", Body=b"x", **lock)
        s3.put_object(Bucket=lock_bucket, Key="b.wav", Body=b"x", **hold)


def test_lock_headers_are_returned_only_with_the_read_permissions(stack, lock_bucket):
    deployment, _ = stack
    objects = f"arn:aws:s3:::{lock_bucket}/*"
    s3 = client("s3")
    s3.put_object(
        Bucket=lock_bucket,
        Key="a.wav",
        Body=b"x",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=in_a_year(),
        ObjectLockLegalHoldStatus="ON",
        ChecksumAlgorithm="SHA256",
    )
    lock_fields = {"ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus"}
    with acting_as(role_with(deployment, ["s3:GetObject"], objects)):
        assert not lock_fields & set(s3.get_object(Bucket=lock_bucket, Key="a.wav"))
        assert not lock_fields & set(s3.head_object(Bucket=lock_bucket, Key="a.wav"))
    with acting_as(role_with(deployment, ["s3:GetObject", "s3:GetObjectRetention"], objects)):
        assert set(s3.get_object(Bucket=lock_bucket, Key="a.wav")) & lock_fields == {
            "ObjectLockMode",
            "ObjectLockRetainUntilDate",
        }
    with acting_as(role_with(deployment, ["s3:GetObject", "s3:GetObjectRetention", "s3:GetObjectLegalHold"], objects)):
        assert lock_fields <= set(s3.head_object(Bucket=lock_bucket, Key="a.wav"))


def test_a_missing_key_is_access_denied_without_list_bucket(stack):
    deployment, _ = stack
    s3 = client("s3")
    s3.create_bucket(Bucket="unversioned-recordings")
    for bucket in (deployment.bucket, "unversioned-recordings"):
        s3.put_object(Bucket=bucket, Key=PREFIX + "deleted.wav", Body=b"x")
        s3.delete_object(Bucket=bucket, Key=PREFIX + "deleted.wav")
    objects = [f"arn:aws:s3:::{b}/*" for b in (deployment.bucket, "unversioned-recordings")]
    buckets = [f"arn:aws:s3:::{b}" for b in (deployment.bucket, "unversioned-recordings")]
    with acting_as(role_with(deployment, ["s3:GetObject"], objects)):
        assert error_of(s3.get_object, Bucket=deployment.bucket, Key=PREFIX + "never.wav") == ("AccessDenied", 403)
        assert error_of(s3.head_object, Bucket=deployment.bucket, Key=PREFIX + "never.wav")[1] == 403
        # Versioned bucket, current version a delete marker: 404; unversioned, deleted: 403.
        assert error_of(s3.get_object, Bucket=deployment.bucket, Key=PREFIX + "deleted.wav") == ("NoSuchKey", 404)
        assert error_of(s3.get_object, Bucket="unversioned-recordings", Key=PREFIX + "deleted.wav") == (
            "AccessDenied",
            403,
        )
    with acting_as(role_with(deployment, ["s3:GetObject", "s3:ListBucket"], objects + buckets)):
        assert error_of(s3.get_object, Bucket=deployment.bucket, Key=PREFIX + "never.wav") == ("NoSuchKey", 404)
        assert error_of(s3.get_object, Bucket="unversioned-recordings", Key=PREFIX + "deleted.wav") == (
            "NoSuchKey",
            404,
        )


def test_a_retain_until_date_in_the_past_is_refused(stack, lock_bucket):
    s3 = client("s3")
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    code = error_of(
        s3.put_object,
        Bucket=lock_bucket,
        Key="late.wav",
        Body=b"x",
        ObjectLockMode="COMPLIANCE",
        ObjectLockRetainUntilDate=past,
        ChecksumAlgorithm="SHA256",
    )
    assert code == ("InvalidArgument", 400)
    assert "Contents" not in s3.list_objects_v2(Bucket=lock_bucket)


def test_the_deployed_definition_passes_asl_validator(stack, tmp_path):
    deployment, _ = stack
    path = tmp_path / "definition.json"
    path.write_text(json.dumps(deployment.definition))
    validator = ROOT / "node_modules" / ".bin" / "asl-validator"
    result = subprocess.run([str(validator), "--json-path", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_batch_get_item_is_judged_against_the_table_it_names(stack):
    """moto leaves a BatchGetItem's resource as "*"; AWS judges it against each table named."""
    deployment, _ = stack
    table = deployment.function("FunctionsLister").environment["LEDGER_TABLE"]
    keys = {table: {"Keys": [{"run": {"S": "failure#x.wav"}}]}}
    dynamodb = client("dynamodb")
    with acting_as(
        role_with(deployment, ["dynamodb:BatchGetItem"], "arn:aws:dynamodb:us-east-1:123456789012:table/other")
    ):
        assert error_of(dynamodb.batch_get_item, RequestItems=keys)[0] == "AccessDeniedException"
    with acting_as(deployment.identities.role("FunctionsListerRole")):  # grant_read_data: the ledger only
        assert dynamodb.batch_get_item(RequestItems=keys)["Responses"] == {table: []}
    with acting_as(deployment.identities.role("FunctionsEnqueuerRole")):  # it only adds counts
        assert error_of(dynamodb.batch_get_item, RequestItems=keys)[0] == "AccessDeniedException"


def test_a_key_deleted_after_listing_is_gone_for_the_converter_on_both_paths(stack, ffmpeg):
    """With s3:ListBucket the converter's GetObject answers 404 whether a delete marker or nothing
    is left, so the recording ends skipped.gone, never a 403 retried as if transient."""
    from optimizer.conversion import convert_recording
    from optimizer.messages import Recording

    deployment, _ = stack
    s3 = client("s3")
    settings = make_settings(
        bucket=deployment.bucket,
        bucket_prefix=deployment.function("FunctionsConverter").environment["BUCKET_PREFIX"],
        ffmpeg_path=ffmpeg,
    )
    for name, all_versions in (("marker.wav", False), ("purged.wav", True)):
        key = settings.bucket_prefix + "2022/01/01/" + name
        etag = s3.put_object(Bucket=deployment.bucket, Key=key, Body=b"RIFF")["ETag"]
        if all_versions:
            for version in s3.list_object_versions(Bucket=deployment.bucket, Prefix=key)["Versions"]:
                s3.delete_object(Bucket=deployment.bucket, Key=key, VersionId=version["VersionId"])
        else:
            s3.delete_object(Bucket=deployment.bucket, Key=key)
        with acting_as(deployment.identities.role("FunctionsConverterRole")):
            outcome = convert_recording(
                Recording(bucket=deployment.bucket, key=key, etag=etag, size=4), s3=client("s3"), settings=settings
            )
        assert (outcome.outcome, outcome.reason) == ("skipped", "gone"), name
