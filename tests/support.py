"""Helpers shared by the tests that drive the handlers on moto: the ledger table as the stack
creates it, a fake Lambda context, an SQS event as Lambda delivers it, and the checks on S3
objects (the original untouched, the versions and tags of a key). Fixtures built on them are in
tests/lambdas/conftest.py."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import boto3

from optimizer.messages import Recording
from optimizer.settings import Settings

BUCKET = "connect-recordings-test"
PREFIX = "connect/acme/CallRecordings/"
DAY = PREFIX + "2022/01/01/"
LEDGER = "ledger"


def make_settings(*, bucket: str = BUCKET, bucket_prefix: str = PREFIX, **fields: Any) -> Settings:
    """The settings the stack would give the functions (stacks/lambda_settings.py) for this bucket with
    the configuration's defaults; `fields` replaces some (a queue URL, a table name, ...)."""
    from stacks.config import OptimizerConfig
    from stacks.lambda_settings import runtime_settings

    config = OptimizerConfig.from_mapping({"bucket_name": BUCKET, "bucket_prefix": PREFIX})
    resources = {"queue_url": "", "dlq_url": "", "ledger_table": "", "ffmpeg_path": "/opt/bin/ffmpeg"}
    built = runtime_settings(config, **{k: fields.pop(k) if k in fields else v for k, v in resources.items()})
    return dataclasses.replace(built, bucket=bucket, bucket_prefix=bucket_prefix, **fields)


def create_ledger_table(dynamodb: Any, name: str = LEDGER) -> str:
    """The run ledger's table as stacks/ defines it: one string hash key, "run"."""
    dynamodb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "run", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "run", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


class LambdaContext:
    """The part of Lambda's context object the handlers read."""

    def __init__(self, remaining_ms: int = 600_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def sqs_event(*bodies: str, receive_count: int = 1) -> dict:
    """An SQS event as Lambda's event source mapping delivers it, one record per body."""
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "receiptHandle": f"r{i}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": str(receive_count)},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:work",
                "awsRegion": "us-east-1",
            }
            for i, body in enumerate(bodies)
        ]
    }


TEST_RUN = "run-test"


def enqueued(rec: Recording, *, table: str = LEDGER) -> Recording:
    """The message as the enqueuer sends it: on a page of its run whose marker is in the ledger
    (the converter refuses any other: optimizer/trust.py)."""
    page = f"{rec.key}#page"
    boto3.client("dynamodb").put_item(
        TableName=table, Item={"run": {"S": f"page#{rec.run}#{page}"}, "sent": {"S": "1"}}
    )
    return dataclasses.replace(rec, page=page, index=0)


def put(s3: Any, key: str, body: bytes, *, run: str = TEST_RUN, **extra: Any) -> Recording:
    """Stores a recording and returns the message the enqueuer would send for it (its page's
    marker written in the ledger, when the ledger table exists)."""
    response = s3.put_object(Bucket=BUCKET, Key=key, Body=body, **extra)
    rec = Recording(bucket=BUCKET, key=key, etag=response["ETag"], size=len(body), run=run)
    try:
        return enqueued(rec)
    except boto3.client("dynamodb").exceptions.ResourceNotFoundException:
        return rec


def versions(s3: Any, key: str) -> list[dict]:
    listed = s3.list_object_versions(Bucket=BUCKET, Prefix=key).get("Versions", [])
    return [v for v in listed if v["Key"] == key]


def tags(s3: Any, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]}


def assert_untouched(s3: Any, key: str, body: bytes) -> None:
    """The original as it was: the same bytes, no second version, no tag added."""
    assert s3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == body
    assert len(versions(s3, key)) == 1
    assert tags(s3, key) == {}


def drain(queue_url: str) -> list[dict]:
    """Every message body on a queue (decoded), each deleted once read."""
    sqs = boto3.client("sqs")
    bodies: list[dict] = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(m["Body"]) for m in messages]
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )
    return bodies


def run_day(queue_url: str, execution_input: Any = None, execution: str = "exec-1") -> tuple[dict, list[dict]]:
    """Drives the lister and the enqueuer the way one day's child execution does, page after
    page, each state's data through JSON as Step Functions carries it. Returns the run's ledger
    counts (with "pages" and the last "progress") and the bodies put on the work queue."""
    import enqueuer
    import lister
    from optimizer import ledger

    execution_input = {"specific_date": "01/01/2022"} if execution_input is None else execution_input
    state = lister.handler({"action": "ResolveRun", "input": execution_input, "execution": execution}, None)
    (day,) = state["days"]
    progress: dict[str, Any] = {}
    pages = 0
    while True:
        listed = json.loads(
            json.dumps(
                lister.handler({"action": "ListPage", "run": state["run"], "day": day, "progress": progress}, None)
            )
        )
        progress = enqueuer.handler({"run": state["run"], "page": listed}, None)["progress"]
        pages += 1
        if progress["cursor"]["done"]:
            break
    counts = ledger.read(boto3.client("dynamodb"), LEDGER, execution)
    return {**counts, "pages": pages, "progress": progress}, drain(queue_url)


def claim_one_more_conversion(monkeypatch: Any) -> None:
    """Makes every summary claim one conversion more than the ledger holds: what the truth check
    must catch. The run's item is faked after its counters are summed over the shards."""
    from optimizer import ledger

    real = ledger.read_item

    def one_more(*args: Any, **kwargs: Any) -> dict[str, Any]:
        item = real(*args, **kwargs)
        return {**item, "converted": {"N": str(int(item.get("converted", {"N": "0"})["N"]) + 1)}}

    monkeypatch.setattr(ledger, "read_item", one_more)
