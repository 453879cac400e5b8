"""The strict emulator's Object Lock reads (emulator.iam): GetObjectRetention, GetObjectLegalHold
and GetObjectLockConfiguration are authorized by their own IAM actions (moto asks s3:GetObject
and s3:ListBucket), answer as S3 does for a version without a lock, and DeleteObject with a
version id needs s3:DeleteObjectVersion. What lambdas/expirer.py relies on."""

from __future__ import annotations

import datetime as dt

import pytest

from emulator.iam import acting_as
from tests.e2e.test_strict_iam import client, error_of, role_with

pytestmark = pytest.mark.long  # a deployment into moto per test


def test_lock_reads_need_their_own_actions_and_say_when_there_is_no_lock(stack):
    deployment, _ = stack
    s3 = client("s3")
    bucket = "locked-recordings"
    s3.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    until = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=365)
    version = s3.put_object(
        Bucket=bucket,
        Key="a.wav",
        Body=b"x",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
        ObjectLockLegalHoldStatus="ON",
        ChecksumAlgorithm="SHA256",
    )["VersionId"]
    plain = s3.put_object(Bucket=bucket, Key="b.wav", Body=b"x")["VersionId"]
    objects, bucket_arn = f"arn:aws:s3:::{bucket}/*", f"arn:aws:s3:::{bucket}"
    read = {"Bucket": bucket, "Key": "a.wav", "VersionId": version}
    with acting_as(
        role_with(deployment, ["s3:GetObject", "s3:GetObjectVersion", "s3:ListBucket"], [objects, bucket_arn])
    ):
        assert error_of(s3.get_object_retention, **read) == ("AccessDenied", 403)
        assert error_of(s3.get_object_legal_hold, **read) == ("AccessDenied", 403)
        assert error_of(s3.get_object_lock_configuration, Bucket=bucket) == ("AccessDenied", 403)
    reader = role_with(
        deployment,
        ["s3:GetObjectRetention", "s3:GetObjectLegalHold", "s3:GetBucketObjectLockConfiguration"],
        [objects, bucket_arn],
    )
    with acting_as(reader):
        retention = s3.get_object_retention(**read)["Retention"]
        assert retention["Mode"] == "GOVERNANCE" and retention["RetainUntilDate"] == until
        assert s3.get_object_legal_hold(**read)["LegalHold"]["Status"] == "ON"
        none = {"Bucket": bucket, "Key": "b.wav", "VersionId": plain}
        assert error_of(s3.get_object_retention, **none)[0] == "NoSuchObjectLockConfiguration"
        assert error_of(s3.get_object_legal_hold, **none)[0] == "NoSuchObjectLockConfiguration"
        assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]["ObjectLockEnabled"] == (
            "Enabled"
        )
        assert error_of(s3.get_object, Bucket=bucket, Key="a.wav") == ("AccessDenied", 403)
    with acting_as(role_with(deployment, ["s3:DeleteObject"], objects)):
        assert error_of(s3.delete_object, Bucket=bucket, Key="b.wav", VersionId=plain) == ("AccessDenied", 403)
        assert s3.delete_object(Bucket=bucket, Key="b.wav")["DeleteMarker"] is True
