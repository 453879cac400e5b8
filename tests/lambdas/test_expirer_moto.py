"""The expirer against moto (lambdas/expirer.py): the cap per run, a run carried over several
invocations and pages, the versioning guard, and a lock it cannot read. The strict emulator's
end-to-end proof is tests/e2e/test_retention_e2e.py."""

from __future__ import annotations

import datetime as dt
from typing import Any

import boto3
import expirer
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from optimizer.retention import new_progress
from tests.support import BUCKET, PREFIX, make_settings

NOW = dt.datetime.now(dt.UTC)
DAY = (NOW - dt.timedelta(days=400)).date()


def run(days: int = 1, dry_run: bool = False) -> dict[str, Any]:
    return {
        "id": "exec-1",
        "bucket": BUCKET,
        "dry_run": dry_run,
        "expire": True,
        "start_date": DAY.isoformat(),
        "end_date": (DAY + dt.timedelta(days=days - 1)).isoformat(),
        "days": days,
        "prefix": PREFIX,
    }


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def put(s3, day: dt.date, *names: str) -> list[str]:
    keys = [f"{PREFIX}{day:%Y/%m/%d}/{name}" for name in names]
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    return keys


def current(s3) -> set[str]:
    return {o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=PREFIX).get("Contents", [])}


def until_done(settings, s3, the_run) -> tuple[dict[str, Any], int]:
    progress, invocations = None, 0
    while True:
        answer = expirer.expire_page(settings, s3, the_run, progress, NOW)
        invocations += 1
        progress = answer["progress"]
        if progress["done"]:
            return answer["summary"], invocations


def test_the_cap_stops_the_run_says_where_and_the_next_run_goes_on(s3):
    keys = put(s3, DAY, *(f"call-{i}.wav" for i in range(5)))
    settings = make_settings(retention_days=90, retention_max_deletes=2)
    summary, _ = until_done(settings, s3, run())
    assert summary["expired"]["deleted"] == 2 and summary["expired"]["complete"] is False
    assert current(s3) == set(keys[2:])  # the first two by key, the rest left
    assert "reached retention_max_deletes=2" in summary["warnings"][0] and f"after {keys[1]}" in summary["warnings"][0]
    summary, _ = until_done(settings, s3, run())
    assert summary["expired"]["deleted"] == 2 and current(s3) == {keys[4]}


def test_a_run_goes_on_across_invocations_and_pages_and_counts_each_recording_once(s3, monkeypatch):
    monkeypatch.setattr(expirer, "MAX_CANDIDATES", 2)
    keys = put(s3, DAY, *(f"call-{i}.wav" for i in range(5)), "notes.json")
    later = put(s3, DAY + dt.timedelta(days=2), "late.wav")
    settings = make_settings(retention_days=90, page_keys=2)  # ListObjectVersions pages of 2 keys
    summary, invocations = until_done(settings, s3, run(days=3, dry_run=True))
    assert summary["expired"] == {
        "listed": 7,
        "would_delete": 6,
        "kept": {"retention": 0, "legal_hold": 0, "unchecked": 0},
        "not_audio": 1,
        "max_deletes": 10_000,
        "complete": True,
        "invocations": 3,
    }
    assert invocations == 3 and current(s3) == {*keys, *later}  # a dry run deletes nothing
    summary, _ = until_done(settings, s3, run(days=3))
    assert summary["expired"]["deleted"] == 6 and current(s3) == {keys[-1]}


def test_a_bucket_whose_versioning_is_not_enabled_is_refused_before_any_deletion(s3):
    keys = put(s3, DAY, "a.wav")
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Suspended"})
    with pytest.raises(expirer.VersioningRequired, match="versioning Suspended: a deletion there would remove"):
        expirer.expire_page(make_settings(retention_days=90), s3, run(), new_progress(), NOW)
    assert current(s3) == set(keys)


class LockUnreadable:
    """The bucket's S3, but a recording's lock cannot be read (a denial, as from an SCP)."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def get_object_lock_configuration(self, **_: Any) -> dict[str, Any]:
        return {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}}

    def get_object_retention(self, **_: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "GetObjectRetention")

    def get_object_legal_hold(self, **_: Any) -> dict[str, Any]:
        return {"LegalHold": {"Status": "OFF"}}


def test_a_recording_whose_lock_cannot_be_read_is_kept(s3):
    keys = put(s3, DAY, "a.wav")
    summary, _ = until_done(make_settings(retention_days=90), LockUnreadable(s3), run())
    assert summary["expired"]["deleted"] == 0 and summary["expired"]["kept"]["unchecked"] == 1
    assert current(s3) == set(keys) and "1 whose lock could not be read" in summary["warnings"][0]


def test_without_a_noncurrent_rule_the_output_says_the_deleted_versions_stay_stored(s3):
    put(s3, DAY, "a.wav")
    settings = make_settings(retention_days=90)
    summary, _ = until_done(settings, s3, run(dry_run=True))
    assert summary["warnings"] == [
        f"no enabled lifecycle rule expires noncurrent versions under {PREFIX}: each recording this run would delete "
        "is hidden behind a delete marker, but its versions stay stored, billed and readable by version id until "
        'such a rule removes them; "deleted retention_days after the call" needs it (docs/operations.md#originals-'
        "versioning-and-the-lifecycle-rule)"
    ]
    rule = {"ID": "originals", "Status": "Enabled", "Filter": {"Prefix": PREFIX}}
    s3.put_bucket_lifecycle_configuration(
        Bucket=BUCKET,
        LifecycleConfiguration={"Rules": [{**rule, "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}]},
    )
    summary, _ = until_done(settings, s3, run())
    assert summary["warnings"] == [] and summary["expired"]["deleted"] == 1
