"""The preflight's verdict on real bucket configurations (moto)."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from optimizer.preflight import VersioningRequired, bucket_warnings
from optimizer.settings import Settings

BUCKET = "preflight-bucket"
PREFIX = "connect/acme/CallRecordings/"


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def settings(**kw) -> Settings:
    return Settings(bucket=BUCKET, bucket_prefix=PREFIX, **kw)


def version(s3, status: str) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": status})


def rules(s3, *rules) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": list(rules)})


def rule(filt: dict, status: str = "Enabled", noncurrent: bool = True) -> dict:
    r = {"ID": "r", "Status": status, "Filter": filt}
    r.update({"NoncurrentVersionExpiration": {"NoncurrentDays": 1}} if noncurrent else {"Expiration": {"Days": 3650}})
    return r


@pytest.mark.parametrize("status", [None, "Suspended"])
def test_unversioned_or_suspended_bucket_is_refused_with_how_to_fix(s3, status):
    if status:
        version(s3, "Enabled")
        version(s3, status)
    with pytest.raises(VersioningRequired, match="put-bucket-versioning") as err:
        bucket_warnings(s3, settings())
    assert "-c require_versioning=false" in str(err.value)


def test_opting_out_turns_the_refusal_into_a_warning(s3):
    (warning,) = bucket_warnings(s3, settings(require_versioning=False))
    assert "overwritten for good" in warning


@pytest.mark.parametrize(
    "configured, warned",
    [
        (None, True),
        (rule({"Prefix": "connect/"}), False),
        (rule({"Prefix": ""}), False),
        (rule({"Prefix": PREFIX}), False),
        (rule({"Prefix": "connect/other/"}), True),
        (rule({"Prefix": "connect/"}, status="Disabled"), True),
        (rule({"Prefix": "connect/"}, noncurrent=False), True),
        (rule({"And": {"Prefix": "connect/", "Tags": [{"Key": "converted", "Value": "True"}]}}), True),
        (rule({"Tag": {"Key": "converted", "Value": "True"}}), True),
    ],
    ids=["no-rule", "parent-prefix", "whole-bucket", "same-prefix", "other-prefix", "disabled", "current-only", "prefix-and-tag", "tag-only"],
)
def test_warning_unless_a_rule_expires_noncurrent_versions_under_the_prefix(s3, configured, warned):
    version(s3, "Enabled")
    if configured:
        rules(s3, configured)
    warnings = bucket_warnings(s3, settings())
    assert bool(warnings) is warned
    if warned:
        assert "stay billed at S3 Standard" in warnings[0] and PREFIX in warnings[0]
