"""Lister and enqueuer handlers against moto: what is listed, skipped and enqueued, exactly."""
from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

import enqueuer
import lister
from optimizer import aws as aws_clients
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
        for name, value in {"BUCKET_NAME": BUCKET, "BUCKET_PREFIX": PREFIX, "STORAGE_CLASS": "GLACIER_IR",
                            "NUM_DAYS_AGE": "7", "QUEUE_URL": queue}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        yield s3, queue


def run_day(s3, queue) -> tuple[dict, list[dict]]:
    """Drives the handlers the way the state machine does, page after page."""
    state = lister.handler({"action": "resolve", "input": {"specific_date": "01/01/2022"}}, None)
    page = state["page"]
    pages = 0
    while True:
        listed = lister.handler({"action": "list", "run": state["run"], "progress": page["progress"]}, None)
        page = enqueuer.handler({"run": state["run"], "page": listed}, None)
        pages += 1
        if page["progress"]["cursor"]["done"]:
            break
    sqs = boto3.client("sqs")
    bodies = []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(m["Body"]) for m in messages]
        sqs.delete_message_batch(QueueUrl=queue, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    return {**page["progress"]["totals"], "pages": pages, "run": state["run"]}, bodies


def test_resolve_uses_the_input_date_and_the_configured_prefix(env):
    result = lister.handler({"action": "resolve", "input": {"specific_date": "2022-01-01"}}, None)
    assert result["run"] == {"bucket": BUCKET, "date": "2022-01-01", "prefix": DAY, "source": "input"}
    assert result["page"]["progress"]["cursor"] == {"start_after": None, "done": False}


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
    assert totals["skipped"] == {"not_audio": 2, "already_target_class": 1, "archived": 1}
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
    run = {"bucket": BUCKET, "prefix": DAY, "date": "2022-01-01"}
    progress = {"cursor": {"start_after": "x", "done": True}, "totals": {"listed": 3, "enqueued": 0, "skipped": {"not_audio": 0}}}
    result = enqueuer.handler({"run": run, "page": {"progress": progress, "objects": [["a.wav", '"e"', 5], ["b.txt", '"e"', 5]]}}, None)
    assert result["progress"]["totals"]["enqueued"] == 1
    assert result["progress"]["totals"]["skipped"]["not_audio"] == 1
    assert "objects" not in result
