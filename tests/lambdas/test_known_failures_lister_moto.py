"""The lister against moto: remembered content failures read with BatchGetItem (at most 100 keys a
request, UnprocessedKeys asked again) and dropped from the page; counted, never enqueued."""

from __future__ import annotations

import datetime as dt

import boto3
import pytest

import lister
from optimizer import aws as aws_clients
from optimizer import known_failures, ledger
from tests.support import BUCKET, DAY, LEDGER, run_day


def batch_get_calls() -> list[int]:
    """Keys asked per BatchGetItem call of the lister's own (cached) client."""
    calls: list[int] = []
    aws_clients.client("dynamodb").meta.events.register(
        "before-parameter-build.dynamodb.BatchGetItem",
        lambda params, **_: calls.append(sum(len(t["Keys"]) for t in params["RequestItems"].values())),
    )
    return calls


def remember(key: str, etag: str, reason: str = "not a RIFF/WAVE file (header missing or corrupt)", now=None) -> None:
    known_failures.remember(boto3.client("dynamodb"), LEDGER, key, etag, reason, run="earlier-run", now=now)


def enqueued_keys(*args, **kwargs) -> tuple[dict, list[str]]:
    counts, bodies = run_day(*args, **kwargs)
    return counts, [body["key"] for body in bodies]


def test_a_known_failure_is_counted_and_not_enqueued_a_changed_one_is(aws):
    s3 = aws.s3
    good = s3.put_object(Bucket=BUCKET, Key=DAY + "good.wav", Body=b"RIFF-good")
    bad = s3.put_object(Bucket=BUCKET, Key=DAY + "bad.wav", Body=b"RIFF-bad")
    s3.put_object(Bucket=BUCKET, Key=DAY + "replaced.wav", Body=b"RIFF-new")
    s3.put_object(Bucket=BUCKET, Key=DAY + "notes.txt", Body=b"x")
    remember(DAY + "bad.wav", bad["ETag"])
    remember(DAY + "replaced.wav", '"etag-of-the-version-that-failed"')
    calls = batch_get_calls()

    counts, enqueued = enqueued_keys(aws.queue_url)

    assert sorted(enqueued) == [DAY + "good.wav", DAY + "replaced.wav"]
    assert (counts["listed"], counts["enqueued"], counts["skipped_known_failure"], counts["skipped_not_audio"]) == (
        4,
        2,
        1,
        1,
    )
    assert calls == [3]  # the page's three candidates in one request; notes.txt is never asked about
    assert good["ETag"] != bad["ETag"]


def test_more_than_100_keys_on_a_page_are_asked_100_at_a_time(aws):
    s3 = aws.s3
    names = [f"{i:04d}.wav" for i in range(250)]
    etags = {name: s3.put_object(Bucket=BUCKET, Key=DAY + name, Body=name.encode())["ETag"] for name in names}
    bad = names[::10]  # 25 known failures spread over the page
    for name in bad:
        remember(DAY + name, etags[name])
    calls = batch_get_calls()

    counts, enqueued = enqueued_keys(aws.queue_url)

    assert counts["pages"] == 1 and calls == [100, 100, 50]
    assert (counts["listed"], counts["skipped_known_failure"], counts["enqueued"]) == (250, 25, 225)
    assert sorted(enqueued) == sorted(DAY + n for n in names if n not in bad)


def test_unprocessed_keys_are_asked_again_until_every_key_is_read(aws, monkeypatch):
    s3 = aws.s3
    names = [f"{i:03d}.wav" for i in range(30)]
    etags = {name: s3.put_object(Bucket=BUCKET, Key=DAY + name, Body=name.encode())["ETag"] for name in names}
    for name in names[:3]:
        remember(DAY + name, etags[name])
    monkeypatch.setitem(known_failures.lookup.__kwdefaults__, "sleep", lambda s: None)  # the backoff, not waited
    client = aws_clients.client("dynamodb")
    real = client.batch_get_item
    asked: list[int] = []

    def throttled(**kwargs):
        """DynamoDB under pressure: the first two calls serve only the first half of the keys."""
        ((table, request),) = kwargs["RequestItems"].items()
        asked.append(len(request["Keys"]))
        if len(asked) > 2:
            return real(**kwargs)
        half = len(request["Keys"]) // 2
        response = real(**{**kwargs, "RequestItems": {table: {**request, "Keys": request["Keys"][:half]}}})
        response["UnprocessedKeys"] = {table: {**request, "Keys": request["Keys"][half:]}}
        return response

    monkeypatch.setattr(client, "batch_get_item", throttled)

    counts, enqueued = enqueued_keys(aws.queue_url)

    assert asked == [30, 15, 8]
    assert (counts["skipped_known_failure"], counts["enqueued"]) == (3, 27)
    assert sorted(enqueued) == [DAY + n for n in names[3:]]


def test_keys_still_unprocessed_fail_the_page_without_enqueueing(aws, monkeypatch):
    s3 = aws.s3
    s3.put_object(Bucket=BUCKET, Key=DAY + "a.wav", Body=b"a")
    monkeypatch.setitem(known_failures.lookup.__kwdefaults__, "sleep", lambda s: None)  # the backoff, not waited
    client = aws_clients.client("dynamodb")
    monkeypatch.setattr(client, "batch_get_item", lambda **kw: {"Responses": {}, "UnprocessedKeys": kw["RequestItems"]})
    state = lister.handler({"action": "ResolveRun", "input": {"specific_date": "01/01/2022"}, "execution": "e"}, None)
    with pytest.raises(known_failures.KnownFailuresUnavailable, match="after 8 BatchGetItem calls"):
        lister.handler({"action": "ListPage", "run": state["run"], "day": state["days"][0], "progress": None}, None)
    assert ledger.read(boto3.client("dynamodb"), LEDGER, "e") == {}


def test_retry_failed_enqueues_known_failures(aws):
    s3 = aws.s3
    bad = s3.put_object(Bucket=BUCKET, Key=DAY + "bad.wav", Body=b"RIFF-bad")
    remember(DAY + "bad.wav", bad["ETag"])
    calls = batch_get_calls()
    counts, enqueued = enqueued_keys(aws.queue_url, {"specific_date": "01/01/2022", "retry_failed": True})
    assert enqueued == [DAY + "bad.wav"] and counts.get("skipped_known_failure", 0) == 0
    # Read all the same: the same items say which recordings are already in the target format
    # (optimizer/known_formats.py), which retry_failed does not enqueue.
    assert calls == [1]


def test_retry_failed_with_overwrite_converted_reads_nothing(aws, monkeypatch):
    s3 = aws.s3
    bad = s3.put_object(Bucket=BUCKET, Key=DAY + "bad.wav", Body=b"RIFF-bad")
    remember(DAY + "bad.wav", bad["ETag"])
    monkeypatch.setenv("OVERWRITE_CONVERTED", "true")
    calls = batch_get_calls()
    counts, enqueued = enqueued_keys(aws.queue_url, {"specific_date": "01/01/2022", "retry_failed": True})
    assert enqueued == [DAY + "bad.wav"] and calls == []


def test_an_expired_memory_is_ignored_even_before_dynamodb_deletes_it(aws):
    s3 = aws.s3
    bad = s3.put_object(Bucket=BUCKET, Key=DAY + "bad.wav", Body=b"RIFF-bad")
    remember(
        DAY + "bad.wav",
        bad["ETag"],
        now=dt.datetime.now(dt.UTC) - dt.timedelta(days=known_failures.TTL_DAYS + 1),
    )
    counts, enqueued = enqueued_keys(aws.queue_url)
    assert enqueued == [DAY + "bad.wav"] and counts.get("skipped_known_failure", 0) == 0


def test_a_dry_run_counts_known_failures_the_same_way(aws):
    s3 = aws.s3
    bad = s3.put_object(Bucket=BUCKET, Key=DAY + "bad.wav", Body=b"RIFF-bad")
    s3.put_object(Bucket=BUCKET, Key=DAY + "good.wav", Body=b"RIFF-good!")
    remember(DAY + "bad.wav", bad["ETag"])
    counts, enqueued = enqueued_keys(aws.queue_url, {"specific_date": "01/01/2022", "dry_run": True})
    assert enqueued == []
    assert (counts["skipped_known_failure"], counts["dry_recordings"], counts["dry_bytes"]) == (
        1,
        1,
        len(b"RIFF-good!"),
    )
