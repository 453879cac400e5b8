"""Undo's pure parts (optimizer/undo.py, the undo inputs of optimizer/dates.py, the local run's
input sequence): what an undo copies, what it leaves alone, which inputs it takes."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.exceptions import ClientError

from optimizer import undo
from optimizer.dates import InvalidInput, resolve_request
from optimizer.provenance import Provenance
from optimizer.summary import UNDO_OUTCOMES

TODAY = dt.date(2026, 12, 5)
UNTIL = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def resolve(execution_input: Any):
    return resolve_request(execution_input, today=TODAY, num_days_age=7)


def test_undo_and_redo_take_a_day_or_a_range():
    request = resolve({"specific_date": "01/01/2022", "undo": True, "dry_run": True})
    assert (request.undo, request.redo, request.dry_run, request.days) == (True, False, True, (dt.date(2022, 1, 1),))
    request = resolve({"start_date": "2022-01-01", "end_date": "2022-01-03", "redo": True, "retry_failed": True})
    assert (request.undo, request.redo, len(request.days), request.retry_failed) == (False, True, 3, True)
    # An undo of a young day needs no force (it converts nothing); today is still refused.
    assert resolve({"specific_date": "12/04/2026", "undo": True}).days == (dt.date(2026, 12, 4),)
    with pytest.raises(InvalidInput, match="is today"):
        resolve({"specific_date": "12/05/2026", "undo": True})


@pytest.mark.parametrize(
    "execution_input, says",
    [
        ({"undo": True}, '"undo": true needs the days it applies to'),
        ({"redo": True}, '"redo": true needs the days it applies to'),
        ({"specific_date": "01/01/2022", "undo": True, "redo": True}, "cannot be combined with 'redo'"),
        ({"specific_date": "01/01/2022", "undo": True, "retry_failed": True}, "cannot be combined with 'retry_failed'"),
        ({"specific_date": "01/01/2022", "undo": True, "force": True}, "an undo needs no force"),
        ({"specific_date": "01/01/2022", "undo": True, "verify": True}, "unknown input key|cannot be combined"),
        ({"specific_date": "01/01/2022", "undo": "yes"}, "undo must be true or false"),
    ],
)
def test_an_undo_input_that_cannot_be_acted_on_is_refused_saying_why(execution_input, says):
    with pytest.raises(InvalidInput, match=says):
        resolve(execution_input)


def original_head(**extra: Any) -> dict[str, Any]:
    return {"VersionId": "v1", "ETag": '"e1"', "ContentLength": 100, "Metadata": {"agent": "7"}, **extra}


def test_the_copy_keeps_everything_the_original_had():
    args = undo.copy_arguments(
        "b",
        "k.wav",
        original_head(
            StorageClass="STANDARD_IA",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId="arn:aws:kms:us-east-1:1:key/x",
            BucketKeyEnabled=True,
            ObjectLockMode="GOVERNANCE",
            ObjectLockRetainUntilDate=UNTIL,
            ObjectLockLegalHoldStatus="ON",
        ),
        now=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )
    assert args == {
        "Bucket": "b",
        "Key": "k.wav",
        "CopySource": {"Bucket": "b", "Key": "k.wav", "VersionId": "v1"},
        "CopySourceIfMatch": '"e1"',
        "MetadataDirective": "COPY",
        "TaggingDirective": "COPY",
        "StorageClass": "STANDARD_IA",
        "ServerSideEncryption": "aws:kms",
        "SSEKMSKeyId": "arn:aws:kms:us-east-1:1:key/x",
        "BucketKeyEnabled": True,
        "ObjectLockMode": "GOVERNANCE",
        "ObjectLockRetainUntilDate": UNTIL,
        "ObjectLockLegalHoldStatus": "ON",
    }
    # Without a class in its HEAD the original was STANDARD; a past retention is not given again.
    past = undo.copy_arguments(
        "b", "k.wav", original_head(ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=UNTIL), now=UNTIL
    )
    assert (
        past["StorageClass"] == "STANDARD" and "ObjectLockMode" not in past and "ObjectLockRetainUntilDate" not in past
    )


class FakeS3:
    """HeadObject over a dict of versions; CopyObject recorded."""

    def __init__(self, versions: dict[str, dict[str, Any]], current: str | None) -> None:
        self.versions, self.current = versions, current
        self.copies: list[dict[str, Any]] = []

    def head_object(self, Bucket: str, Key: str, VersionId: str | None = None) -> dict[str, Any]:
        which = VersionId or self.current
        if which not in self.versions:
            raise ClientError({"Error": {"Code": "404"}, "ResponseMetadata": {"HTTPStatusCode": 404}}, "HeadObject")
        return {"VersionId": which, **self.versions[which]}

    def copy_object(self, **kwargs: Any) -> dict[str, Any]:
        self.copies.append(kwargs)
        return {"VersionId": "restored"}


class FakeDynamo:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def put_item(self, TableName: str, Item: dict[str, Any]) -> None:
        self.items.append(Item)


def converted(original: str, size: int = 100, run: str = "run-1") -> dict[str, Any]:
    return {"ETag": '"c"', "ContentLength": 25, "Metadata": Provenance(run, original, size, "0" * 64).to_metadata()}


def run_undo(s3: FakeS3, dynamodb: FakeDynamo | None = None, marker: Any = None, dry_run: bool = False) -> undo.Result:
    return undo.undo_recording(
        s3, dynamodb or FakeDynamo(), "t", bucket="b", key="k.wav", run="undo-run", marker=marker, dry_run=dry_run
    )


def test_the_chain_of_conversions_is_followed_back_to_the_original_which_is_remembered_then_copied():
    s3 = FakeS3({"v1": original_head(), "v2": converted("v1"), "v3": converted("v2", size=25, run="run-2")}, "v3")
    dynamodb, named = FakeDynamo(), list[str]()
    result = undo.undo_recording(
        s3,
        dynamodb,
        "t",
        bucket="b",
        key="k.wav",
        run="undo-run",
        marker=None,
        dry_run=False,
        before_write=lambda: named.append("day") if not dynamodb.items else None,
    )
    assert (result.outcome, result.original_version, result.restored_version) == ("undone", "v1", "restored")
    (copy,) = s3.copies
    assert copy["CopySource"]["VersionId"] == "v1"
    (marker,) = dynamodb.items
    assert named == ["day"]  # the day is named before the first marker
    assert marker["run"] == {"S": "undone#k.wav"} and marker["original_version"] == {"S": "v1"}
    assert marker["converted_version"] == {"S": "v3"} and "expires_at" not in marker  # undone stays undone


@pytest.mark.parametrize(
    "versions, current, marker, outcome",
    [
        ({"v1": original_head()}, "v1", None, "not_ours"),  # never converted, or changed since
        ({"v1": original_head()}, None, None, "not_ours"),  # deleted since listed
        ({"v2": converted("v1")}, "v2", None, "not_restorable"),  # the original expired
        ({"v1": original_head(StorageClass="GLACIER"), "v2": converted("v1")}, "v2", None, "archived"),
        ({"v1": original_head(ContentLength=99), "v2": converted("v1")}, "v2", None, "differs"),
        ({"v1": original_head()}, "v1", {"undone_by": {"S": "an-earlier-run"}}, "already_undone"),
        ({"v1": original_head()}, "v1", {"undone_by": {"S": "undo-run"}}, "undone"),  # its own, retried
    ],
)
def test_what_the_undo_leaves_alone_writes_nothing(versions, current, marker, outcome):
    s3, dynamodb = FakeS3(versions, current), FakeDynamo()
    assert run_undo(s3, dynamodb, marker).outcome == outcome
    assert s3.copies == [] and dynamodb.items == []
    assert outcome in UNDO_OUTCOMES


def test_a_dry_run_undo_says_what_it_would_restore_and_writes_nothing():
    s3, dynamodb = FakeS3({"v1": original_head(), "v2": converted("v1")}, "v2"), FakeDynamo()
    result = run_undo(s3, dynamodb, dry_run=True)
    assert (result.outcome, result.original_version) == ("undone", "v1")
    assert s3.copies == [] and dynamodb.items == []


def test_a_run_carries_the_undone_days_it_holds_and_every_day_past_the_bound():
    class Days:
        def get_item(self, **kwargs: Any) -> dict[str, Any]:
            return {"Item": {"days": {"SS": ["2022-01-01", "2022-01-03", "2023-01-01"]}}}

    assert undo.undone_days(Days(), "t", ["2022-01-01", "2022-01-02", "2022-01-03"]) == ["2022-01-01", "2022-01-03"]
    assert undo.undone_days(Days(), "", ["2022-01-01"]) == []
    assert undo.day_has_undone({"undone_days": [undo.ALL_DAYS]}, "2022-05-05")
    assert not undo.day_has_undone({}, "2022-01-01")


def test_the_truth_recognises_a_restoration_and_names_one_that_is_not_its_original():
    from emulator import truth

    t0 = dt.datetime(2026, 12, 5, 10, 0, tzinfo=dt.UTC)
    run = truth.Run(
        id="undo-run",
        status="SUCCEEDED",
        started=t0,
        undo=True,
        stopped=t0 + dt.timedelta(minutes=1),
        prefixes=("p/",),
        summary={"listed": 3, "undone": 2, "undo": {"undone": 2}, "skipped": {}},
    )
    meta = {"agent": "7"}

    def versions(key: str, restored: dict[str, Any]) -> list[truth.Version]:
        at = t0 + dt.timedelta(seconds=30)
        conv = Provenance("run-1", f"{key}-v1", 100, "0" * 64).to_metadata()
        return [  # newest first, as ListObjectVersions lists a key's versions
            truth.Version(key, f"{key}-v3", restored.get("size", 100), at, etag=restored.get("etag", '"e"'),
                          storage_class=restored.get("class", "STANDARD"), metadata=restored.get("meta", meta)),
            truth.Version(key, f"{key}-v2", 25, t0 - dt.timedelta(days=1), storage_class="GLACIER_IR", metadata=conv),
            truth.Version(key, f"{key}-v1", 100, t0 - dt.timedelta(days=2), etag='"e"', metadata=meta),
        ]  # fmt: skip

    every = [
        *versions("p/good.wav", {}),
        *versions("p/lost-metadata.wav", {"meta": {}}),
        *versions("p/someone-else.wav", {"etag": '"other"', "size": 7}),
    ]
    found = truth.truth_of(run, every, [], ["p/good.wav", "p/lost-metadata.wav", "p/someone-else.wav"])
    assert found.undone == {"p/good.wav": "p/good.wav-v3"}
    (anomaly,) = found.anomalies
    assert "p/lost-metadata.wav" in anomaly and "metadata" in anomaly
    differences = truth.compare(run, found)
    assert any(d.startswith("undone: the summary says 2, the truth is 1") for d in differences)
