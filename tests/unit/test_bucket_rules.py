"""The bucket's own rules (optimizer/bucket_rules.py) and what the rewrite does to them
(optimizer/effects.py): which rules reach the prefix, the dry run's projection, the empty listing."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest
from moto import mock_aws

from optimizer import bucket_rules, effects
from optimizer.bucket_rules import BucketRules, Expiring

PREFIX = "connect/acme/CallRecordings/"


def rule(filt: dict | None = None, days: int | None = 365, status: str = "Enabled", **extra) -> dict:
    r = {"ID": "r", "Status": status, **extra}
    if filt is not None:
        r["Filter"] = filt
    if days:
        r["Expiration"] = {"Days": days}
    return r


@pytest.mark.parametrize(
    ("lifecycle", "reaches"),
    [
        (rule({"Prefix": "connect/"}), True),  # above the prefix: every recording
        (rule({"Prefix": PREFIX + "2022/"}), True),  # under it: some recordings
        (rule({}), True),  # the whole bucket
        (rule(None, Prefix="connect/"), True),  # the legacy form
        (rule({"Tag": {"Key": "retention", "Value": "6y"}}), True),  # tags: the converted version keeps them
        (rule({"And": {"Prefix": "connect/", "Tags": [{"Key": "k", "Value": "v"}]}}), True),
        (rule({"Prefix": "chat/"}), False),  # another prefix
        (rule({"And": {"Prefix": "chat/", "Tags": [{"Key": "k", "Value": "v"}]}}), False),
        (rule({"Prefix": "connect/"}, status="Disabled"), False),
        (rule({"Prefix": "connect/"}, days=None, NoncurrentVersionExpiration={"NoncurrentDays": 30}), False),
        (rule({"Prefix": "connect/"}, days=None, Expiration={"Date": "2030-01-01T00:00:00Z"}), False),  # absolute
    ],
)
def test_which_current_version_expirations_reach_the_prefix(lifecycle, reaches):
    assert bool(bucket_rules.current_expirations([lifecycle], PREFIX)) is reaches


def test_a_tag_rule_names_its_tags_in_the_warning():
    (found,) = bucket_rules.current_expirations(
        [rule({"And": {"Prefix": "connect/", "Tags": [{"Key": "retention", "Value": "6y"}]}}, days=2190)], PREFIX
    )
    assert found == Expiring("r", 2190, "every recording under connect/ tagged retention=6y")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Days": 30}}}, 30),
        ({"ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Years": 2}}}, 730),
        ({"ObjectLockEnabled": "Enabled"}, 0),  # lock without a default retention
        ({}, 0),
    ],
)
def test_default_retention_in_days(config, expected):
    assert bucket_rules.default_retention(config)[1] == expected


def test_replication_reaching_the_prefix_only():
    config = {
        "Rules": [
            {"Status": "Enabled", "Filter": {"Prefix": "connect/"}, "Destination": {"Bucket": "arn:aws:s3:::dr"}},
            {"Status": "Enabled", "Filter": {"Prefix": "chat/"}, "Destination": {"Bucket": "arn:aws:s3:::chats"}},
            {"Status": "Disabled", "Filter": {}, "Destination": {"Bucket": "arn:aws:s3:::off"}},
        ]
    }
    assert bucket_rules.replication_destinations(config, PREFIX) == ["dr"]


def test_the_rules_survive_the_state_machine_as_json():
    rules = BucketRules([Expiring("r", 90, "every recording")], "COMPLIANCE", 30, ["dr"], [])
    assert BucketRules.of_state(rules.to_state()) == rules
    assert BucketRules.of_state(None) == BucketRules()  # an execution started before the field existed


@mock_aws
def test_read_on_a_bucket_without_rules_and_with_them():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="plain")
    assert bucket_rules.read(s3, "plain", PREFIX) == BucketRules()
    s3.create_bucket(Bucket="locked", ObjectLockEnabledForBucket=True)
    s3.put_object_lock_configuration(
        Bucket="locked",
        ObjectLockConfiguration={
            "ObjectLockEnabled": "Enabled",
            "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 10}},
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket="locked",
        LifecycleConfiguration={"Rules": [rule({"Prefix": "connect/"}, days=400)]},
    )
    found = bucket_rules.read(s3, "locked", PREFIX)
    assert (found.expiration_days, found.lock_mode, found.lock_days) == (400, "GOVERNANCE", 10)
    assert len(found.warnings(PREFIX)) == 2


RUN = {"start_date": "2022-01-01", "end_date": "2022-01-10", "source": "range"}
TODAY = dt.date(2022, 12, 31)  # 364 days after the first day, 355 after the last


def test_the_projection_of_a_restarted_expiration_is_the_recordings_ages():
    counts = {"dry_recordings": 3, "dry_bytes": 300}
    counts |= {"dry_age_days": 364 + 360 + 355, "dry_age_byte_days": 100 * (364 + 360 + 355)}
    effect = effects.projection(RUN, counts, BucketRules(expirations=[Expiring("r", 2190, "")]), TODAY, 0.023)
    assert effect == {
        "restarted_expiration": {
            "rule_days": 2190,
            "recordings": 3,
            "average_days_longer": 359.7,
            "most_days_longer": 364,
        }
    }


def test_locked_originals_are_exact_when_every_recording_is_still_locked_and_bounded_otherwise():
    gib = 1024**3
    counts = {"dry_recordings": 2, "dry_bytes": 2 * gib, "dry_age_days": 364 + 355}
    counts["dry_age_byte_days"] = gib * (364 + 355)
    exact = effects.projection(RUN, counts, BucketRules(lock_mode="COMPLIANCE", lock_days=400), TODAY, 1.0)
    locked = exact["locked_originals"]
    assert locked["gb_months_at_least"] == locked["gb_months_at_most"] == round(((400 - 364) + (400 - 355)) / 30, 4)
    # A lock of 360 days: the older recording's original is free already, the younger's 5 more days.
    bounded = effects.projection(RUN, counts, BucketRules(lock_mode="COMPLIANCE", lock_days=360), TODAY, 1.0)
    locked = bounded["locked_originals"]
    assert locked["gb_months_at_least"] <= 5 / 30 <= locked["gb_months_at_most"]
    assert effects.projection(RUN, {"dry_recordings": 0}, BucketRules(lock_days=400), TODAY, 1.0) == {}


@mock_aws
@pytest.mark.parametrize(("keys", "says"), [([], "nothing at all is under"), (["x/y.wav"], None)])
def test_a_run_that_listed_nothing_says_the_prefix_may_be_wrong(keys, says):
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="bkt")
    for key in keys:
        s3.put_object(Bucket="bkt", Key="connect/" + key, Body=b"")
    (hint,) = effects.empty_listing_hints(s3, "bkt", "connect/", RUN, TODAY, 10)
    assert "connect/<instance-alias>/CallRecordings/YYYY/MM/DD/" in hint
    assert (says or "the first key under the prefix is connect/x/y.wav") in hint


@mock_aws
def test_the_scheduled_run_probes_its_last_days():
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key=PREFIX + "2020/01/01/old.wav", Body=b"")
    scheduled = {**RUN, "source": "schedule"}
    (hint,) = effects.empty_listing_hints(s3, "bkt", PREFIX, scheduled, TODAY, 10)
    assert "none of the last 10 days (num_days_age + catch_up_days) has a recording" in hint
    s3.put_object(Bucket="bkt", Key=PREFIX + "2022/12/25/new.wav", Body=b"")
    (hint,) = effects.empty_listing_hints(s3, "bkt", PREFIX, scheduled, TODAY, 10)
    assert f"{PREFIX}2022/12/25/ has recordings: the prefix is right" in hint


def test_a_conversion_that_carried_a_retain_until_date_is_counted():
    from optimizer.conversion import Outcome, put_arguments
    from optimizer.outcomes import counts

    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    original = {"ETag": '"e"', "ObjectLockMode": "GOVERNANCE", "ObjectLockRetainUntilDate": future}
    assert "ObjectLockRetainUntilDate" in put_arguments(original, {}, storage_class="GLACIER_IR")
    assert counts(Outcome("converted", None, 10, 3, retain_until_carried=True))["retain_until_carried"] == 1
    assert "retain_until_carried" not in counts(Outcome("converted", None, 10, 3))


def test_read_denied_on_a_kms_object_names_the_aws_managed_connect_key():
    from optimizer.preflight import _denied

    head = {"SSEKMSKeyId": "arn:aws:kms:us-east-1:123456789012:key/1234"}
    message = str(_denied("bkt", 3, "k.wav", {"Code": "AccessDenied", "Message": "denied"}, head))
    assert "-c kms_key_arn" in message and "aws/connect" in message
    assert "no role can decrypt it outside Amazon Connect" in message and "cannot help" in message
    assert "aws/connect" not in str(_denied("bkt", 1, "k.wav", {"Code": "AccessDenied"}, {}))  # not encrypted
