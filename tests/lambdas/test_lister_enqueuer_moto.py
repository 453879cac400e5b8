"""Lister and enqueuer handlers against moto: what is listed, skipped and enqueued, exactly."""
from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

import enqueuer
import lister
from optimizer import aws as aws_clients
from optimizer import ledger
from optimizer.dates import InvalidInput

BUCKET = "connect-recordings-test"
PREFIX = "connect/acme/CallRecordings/"
DAY = PREFIX + "2022/01/01/"


@pytest.fixture
def env(monkeypatch):
    with mock_aws():
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        queue = boto3.client("sqs").create_queue(QueueName="work")["QueueUrl"]
        boto3.client("dynamodb").create_table(
            TableName="ledger", KeySchema=[{"AttributeName": "run", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "run", "AttributeType": "S"}], BillingMode="PAY_PER_REQUEST",
        )  # fmt: skip
        for name, value in {"BUCKET_NAME": BUCKET, "BUCKET_PREFIX": PREFIX, "STORAGE_CLASS": "GLACIER_IR",
                            "NUM_DAYS_AGE": "7", "QUEUE_URL": queue, "LEDGER_TABLE": "ledger"}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        yield s3, queue


def run_day(s3, queue) -> tuple[dict, list[dict]]:
    """Drives the handlers the way one day's child execution does, page after page."""
    state = lister.handler({"action": "resolve", "input": {"specific_date": "01/01/2022"}, "execution": "exec-1"}, None)
    (day,) = state["days"]
    progress, pages = {}, 0
    while True:
        listed = lister.handler({"action": "list", "run": state["run"], "day": day, "progress": progress}, None)
        progress = enqueuer.handler({"run": state["run"], "page": listed}, None)["progress"]
        pages += 1
        if progress["cursor"]["done"]:
            break
    sqs = boto3.client("sqs")
    bodies = []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(m["Body"]) for m in messages]
        sqs.delete_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    counts = ledger.read(boto3.client("dynamodb"), "ledger", "exec-1")
    return {**counts, "pages": pages, "run": state["run"]}, bodies


def test_resolve_uses_the_input_date_and_the_configured_prefix(env):
    result = lister.handler({"action": "resolve", "input": {"specific_date": "2022-01-01"}, "execution": "e"}, None)
    assert result["run"]["prefix"] == DAY and result["run"]["bucket"] == BUCKET and result["run"]["id"] == "e"
    assert result["days"] == ["2022-01-01"]


def test_resolve_rejects_bad_input_with_invalid_input(env):
    with pytest.raises(InvalidInput, match="MM/DD/YYYY"):
        lister.handler({"action": "resolve", "input": {"specific_date": "02/29/2023"}}, None)


def test_a_day_is_listed_skipped_and_enqueued_exactly(env):
    s3, queue = env
    audio = ["a call.wav", "b+plus.WAV", "c:10:00_UTC.wav", "d-ünï.wav", "e%2Bliteral.wav"]
    for name in audio:
        s3.put_object(Bucket=BUCKET, Key=DAY + name, Body=b"RIFF")
    s3.put_object(Bucket=BUCKET, Key=DAY + "notes.txt", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key=DAY + "meta.json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key=DAY + "done.wav", Body=b"RIFF", StorageClass="GLACIER_IR")
    s3.put_object(Bucket=BUCKET, Key=DAY + "cold.wav", Body=b"RIFF", StorageClass="GLACIER")
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "2022/01/02/next-day.wav", Body=b"RIFF")

    totals, bodies = run_day(s3, queue)

    assert totals["listed"] == 9
    assert totals["enqueued"] == len(audio)
    assert (totals["skipped_not_audio"], totals["skipped_already_target_class"], totals["skipped_archived"]) == (2, 1, 1)
    assert sorted(b["key"] for b in bodies) == sorted(DAY + name for name in audio)
    assert all(b["bucket"] == BUCKET and b["size"] == 4 and b["etag"].startswith('"') for b in bodies)


def test_thousands_of_keys_page_without_loss_or_duplicates(env):
    s3, queue = env
    names = [f"{i:05d}-{'long-' * 150}.wav" for i in range(300)]  # ~790-byte keys: several pages
    for name in names:
        s3.put_object(Bucket=BUCKET, Key=DAY + name, Body=b"")
    totals, bodies = run_day(s3, queue)
    assert totals["enqueued"] == totals["listed"] == len(names)
    assert totals["pages"] >= 300 * 790 // lister.take_page.__kwdefaults__["budget_bytes"]
    assert sorted(b["key"] for b in bodies) == sorted(DAY + n for n in names)


def test_enqueuer_makes_no_s3_request(env, monkeypatch):
    s3, queue = env
    real = aws_clients.client

    def no_s3(service):
        assert service != "s3", "the enqueuer must not call S3"
        return real(service)

    monkeypatch.setattr(aws_clients, "client", no_s3)
    run = {"id": "e", "bucket": BUCKET, "dry_run": False}
    progress = {"cursor": {"start_after": "x", "done": True}}
    page = {"progress": progress, "prefix": DAY, "page_id": "2022-01-31#", "objects": [["a.wav", '"e"', 5], ["b.txt", '"e"', 5]], "counts": {"listed": 2}}
    result = enqueuer.handler({"run": run, "page": page}, None)
    assert result == {"progress": progress}
    assert ledger.read(boto3.client("dynamodb"), "ledger", "e") == {"listed": 2, "enqueued": 1, "skipped_not_audio": 1}
