"""Recordings already in the target format (optimizer/known_formats.py): the item, kept apart from
the failures in the same partition, read by the known failures' lookup, and when it skips a version."""

from __future__ import annotations

import datetime as dt

from optimizer import known_failures, known_formats
from optimizer.known_formats import KnownFormat, format_item, is_known
from optimizer.vocabulary import FailureKind

NOW = dt.datetime(2024, 3, 15, 12, 0, 0, tzinfo=dt.UTC)
KEY = "connect/acme/CallRecordings/2022/01/31/a.wav"


class OneBatch:
    """A BatchGetItem that returns the given items and records the request."""

    def __init__(self, *items):
        self.items, self.requests = list(items), []

    def batch_get_item(self, RequestItems, ReturnConsumedCapacity):  # noqa: N803 - boto3's names
        self.requests.append(RequestItems)
        (table,) = RequestItems
        return {"Responses": {table: self.items}, "ConsumedCapacity": [{"CapacityUnits": 0.5}]}


def test_a_format_item_is_not_a_failure_and_a_failure_item_is_not_a_format():
    item = format_item(KEY, '"e1"', "alaw_mono", run="r1", now=NOW)
    assert known_failures.parse_item(item) is None  # no `etag`: never read as a failure
    failure = known_failures.failure_item(
        KEY, '"e1"', "not a RIFF/WAVE file", run="r1", now=NOW, kind=FailureKind.NOT_WAV
    )
    assert known_formats.parse_item(KEY, failure) is None


def test_the_lookup_reads_every_attribute_of_a_format_item_and_keeps_it_apart():
    item = format_item(KEY, '"e1"', "alaw_mono", run="r1", now=NOW)
    fake = OneBatch(item)
    read = known_failures.lookup(fake, "ledger", [KEY])
    (request,) = fake.requests
    projected = set(request["ledger"]["ExpressionAttributeNames"].values())
    assert set(item) - {"seen_run"} <= projected  # what parse_item needs is asked for
    assert read.found == {} and read.requests == 1
    assert known_formats.found(read) == {
        KEY: KnownFormat(KEY, '"e1"', "alaw_mono", "2024-03-15T12:00:00+00:00", int(NOW.timestamp()) + 365 * 86400)
    }


def test_only_the_same_version_in_the_same_format_before_expiry_is_skipped():
    known = known_formats.parse_item(KEY, format_item(KEY, '"e1"', "alaw_mono", run="", now=NOW))
    now = NOW.timestamp()
    assert is_known(["a.wav", '"e1"', 10], known, "alaw_mono", now)
    assert not is_known(["a.wav", '"e2"', 10], known, "alaw_mono", now)  # a new version
    assert not is_known(["a.wav", '"e1"', 10], known, "alaw_stereo", now)  # another target format
    assert not is_known(["a.wav", '"e1"', 10], known, "alaw_mono", now + 366 * 86400)  # expired
    assert not is_known(["a.wav", '"e1"', 10], None, "alaw_mono", now)
