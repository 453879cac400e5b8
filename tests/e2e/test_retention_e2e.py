"""Retention by the recording's date on the strict emulator (lambdas/expirer.py): a deployment
with `retention_days` on deletes exactly the recordings of days older than retention_days, with
delete markers only, none under an Object Lock retention or a legal hold, and its dry run names
the same keys. The truth check (tests/e2e/conftest.py) then holds each run's summary to S3."""

from __future__ import annotations

import datetime as dt
import io
import json

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from emulator import truth
from emulator.deploy import deploy
from emulator.iam import acting_as
from emulator.run import run_execution
from emulator.runtime import InProcessLambdas
from optimizer.retention import EVENTS_PER_INVOCATION, FIXED_EVENTS
from tests.e2e.conftest import CONTEXT

PREFIX = str(CONTEXT["bucket_prefix"])
RETENTION = 90


def s3():
    return boto3.client("s3", region_name="us-east-1")


@pytest.fixture
def retention_stack(shared_synthesis):
    synthesized = shared_synthesis({**CONTEXT, "retention_days": RETENTION})
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        deployment = deploy(synthesized)
        lambdas = InProcessLambdas(deployment, log_stream=io.StringIO())
        with lambdas.installed():
            yield deployment, lambdas


def logged(lambdas, message: str) -> list[tuple[str, str]]:
    """(key, version_id) of every expirer log line with this message."""
    found = []
    for line in lambdas.log_stream.getvalue().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and record.get("message") == message and record.get("service") == "expirer":
            found.append((record["key"], record["version_id"]))
    return found


def day(days_ago: int) -> dt.date:
    return dt.datetime.now(dt.UTC).date() - dt.timedelta(days=days_ago)


def key_of(when: dt.date, name: str) -> str:
    return f"{PREFIX}{when:%Y/%m/%d}/{name}"


def test_retention_deletes_exactly_the_old_unlocked_recordings_with_delete_markers(retention_stack):
    deployment, lambdas = retention_stack
    bucket = deployment.bucket
    client = s3()
    # Object Lock on the (still empty) bucket, without a default retention: per-object locks only.
    client.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    old, oldest, young = day(RETENTION + 1), day(400), day(RETENTION)  # young: a call there may be < 90 days old
    until = dt.datetime.now(dt.UTC) + dt.timedelta(days=365)
    lock = {"ChecksumAlgorithm": "SHA256"}
    plain = [key_of(old, "a.wav"), key_of(oldest, "b.wav"), key_of(oldest, "twice.wav")]
    for key in plain:
        client.put_object(Bucket=bucket, Key=key, Body=b"RIFF-original", **lock)
    client.put_object(Bucket=bucket, Key=key_of(oldest, "twice.wav"), Body=b"RIFF-converted", **lock)
    retained = key_of(oldest, "retained.wav")
    client.put_object(
        Bucket=bucket, Key=retained, Body=b"x", ObjectLockMode="GOVERNANCE", ObjectLockRetainUntilDate=until, **lock
    )
    held = key_of(old, "held.wav")
    client.put_object(Bucket=bucket, Key=held, Body=b"x", ObjectLockLegalHoldStatus="ON", **lock)
    kept_young = key_of(young, "young.wav")
    notes = key_of(old, "notes.json")
    for key in (kept_young, notes):
        client.put_object(Bucket=bucket, Key=key, Body=b"x", **lock)
    before = {v["VersionId"] for v in client.list_object_versions(Bucket=bucket, Prefix=PREFIX)["Versions"]}
    current = {key: client.head_object(Bucket=bucket, Key=key)["VersionId"] for key in plain}

    # A day that still holds calls younger than retention_days is refused, "force" or not.
    refused = run_execution(deployment, lambdas, {"expire": True, "specific_date": young.isoformat()})
    assert (refused.status, refused.error) == ("FAILED", "InvalidInput")
    assert "younger than retention_days=90" in str(refused.cause)

    rng = {"expire": True, "start_date": oldest.isoformat(), "end_date": old.isoformat()}
    dry = run_execution(deployment, lambdas, {**rng, "dry_run": True})
    assert dry.status == "SUCCEEDED", dry.cause
    would = logged(lambdas, "would delete")
    assert sorted(would) == sorted(current.items())  # the current version of each plain recording
    assert dry.output["expired"] == {
        "listed": 6,
        "would_delete": 3,
        "kept": {"retention": 1, "legal_hold": 1, "unchecked": 0},
        "not_audio": 1,
        "max_deletes": 10_000,
        "complete": True,
        "invocations": 7,
    }
    assert not client.list_object_versions(Bucket=bucket, Prefix=PREFIX).get("DeleteMarkers")

    real = run_execution(deployment, lambdas, rng)
    assert real.status == "SUCCEEDED", real.cause
    # Each execution's history: 13 events of its own and 7 an invocation (optimizer/retention.py's
    # bound: MAX_INVOCATIONS keeps it under 25,000); its largest state is ResolveRun's list of days.
    for execution in (dry, real):
        invocations = execution.output["expired"]["invocations"]
        assert execution.history_events == FIXED_EVENTS + EVENTS_PER_INVOCATION * invocations
        assert invocations == 7  # 310 days, at most 50 listed an invocation
        assert (execution.limits or {}).get("largest_state") == "ResolveRun"  # the strict emulator's count
    assert sorted(logged(lambdas, "deleted")) == sorted(would)  # the same keys as its dry run
    assert real.output["expired"]["deleted"] == 3 and real.output["dry_run"] is False
    kept, no_rule = real.output["warnings"]
    assert "1 under an Object Lock retention, 1 under a legal hold" in kept
    assert no_rule.startswith("no enabled lifecycle rule expires noncurrent versions under " + PREFIX)
    listing = client.list_object_versions(Bucket=bucket, Prefix=PREFIX)
    markers = {m["Key"] for m in listing["DeleteMarkers"] if m["IsLatest"]}
    assert markers == set(plain)  # delete markers over exactly the recordings past retention_days
    # No version was removed: every version from before is still there, now noncurrent where deleted.
    assert {v["VersionId"] for v in listing["Versions"]} == before
    for key in (retained, held, kept_young, notes):
        assert client.head_object(Bucket=bucket, Key=key)["ContentLength"] == 1
    with pytest.raises(ClientError):
        client.head_object(Bucket=bucket, Key=plain[0])
    # The truth check (run again after the test by tests/e2e/conftest.py) sees the same: each run's
    # delete markers, none over a locked version, the dry run's none.
    checks = {check.run.id: check for check in truth.check(deployment)}
    assert [checks[arn_name].differences for arn_name in checks] == [[]] * 3
    by_markers = sorted(check.truth.delete_markers for check in checks.values() if check.run.expire)
    assert by_markers == [[], sorted(plain)]
    # The version a marker hides is still there, byte for byte, until the noncurrent rule removes it.
    hidden = client.get_object(Bucket=bucket, Key=plain[2], VersionId=current[plain[2]])
    assert hidden["Body"].read() == b"RIFF-converted"


@pytest.mark.long  # a deployment of its own; the template test asserts the same role exactly
def test_the_expirers_role_adds_delete_markers_and_cannot_remove_a_version(retention_stack):
    deployment, _ = retention_stack
    bucket, client = deployment.bucket, s3()
    expirer = deployment.identity_of(deployment.function("FunctionsExpirer").name)
    inside, outside = key_of(day(200), "a.wav"), "elsewhere/a.wav"
    version = client.put_object(Bucket=bucket, Key=inside, Body=b"x")["VersionId"]
    client.put_object(Bucket=bucket, Key=outside, Body=b"x")

    def denied(call, **kwargs) -> bool:
        try:
            call(**kwargs)
        except ClientError as exc:
            return exc.response["Error"]["Code"] == "AccessDenied"
        return False

    with acting_as(expirer):
        assert denied(client.delete_object, Bucket=bucket, Key=inside, VersionId=version)  # DeleteObjectVersion
        assert denied(client.delete_object, Bucket=bucket, Key=outside)
        assert denied(client.get_object, Bucket=bucket, Key=inside)  # it never reads a recording
        assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
        marker = client.delete_object(Bucket=bucket, Key=inside)
        assert marker["DeleteMarker"] is True
    assert [v["VersionId"] for v in client.list_object_versions(Bucket=bucket, Prefix=inside)["Versions"]] == [version]
    # Undelete, by someone allowed s3:DeleteObjectVersion (not the expirer): the recording is back.
    client.delete_object(Bucket=bucket, Key=inside, VersionId=marker["VersionId"])
    assert client.get_object(Bucket=bucket, Key=inside)["Body"].read() == b"x"
