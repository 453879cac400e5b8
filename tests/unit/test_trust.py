"""The converter's trust checks (optimizer/trust.py), ffmpeg's environment, and the strict
emulator's condition evaluation (emulator/conditions.py) on their own."""

from __future__ import annotations

import datetime as dt
import os
import stat

import pytest
from botocore.exceptions import ClientError

from emulator import conditions
from optimizer import trust
from optimizer.conversion import run_ffmpeg
from optimizer.messages import Recording


def test_ffmpeg_starts_without_the_lambdas_aws_variables(tmp_path, monkeypatch):
    seen = tmp_path / "env.txt"
    fake = tmp_path / "ffmpeg"
    fake.write_text(f"#!/bin/sh\nenv > '{seen}'\nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_LAMBDA_FUNCTION_NAME"):
        monkeypatch.setenv(name, "secret")
    run_ffmpeg(str(fake), str(tmp_path / "in.wav"), str(tmp_path / "out.wav"))
    names = {line.split("=", 1)[0] for line in seen.read_text().splitlines() if "=" in line}
    assert not {n for n in names if n.startswith("AWS")} and "secret" not in seen.read_text()
    assert os.environ["AWS_SECRET_ACCESS_KEY"] == "secret"  # the Lambda's own environment is left alone


class Ledger:
    """A DynamoDB client holding page markers, counting its reads."""

    def __init__(self, markers: dict[str, str]) -> None:
        self.markers, self.reads = markers, 0

    def get_item(self, **kwargs):
        self.reads += 1
        assert kwargs["ConsistentRead"] is True
        key = kwargs["Key"]["run"]["S"]
        return {"Item": {"run": {"S": key}, "sent": {"S": self.markers[key]}}} if key in self.markers else {}


def message(**fields) -> Recording:
    return Recording(**{"bucket": "b", "key": "k.wav", "etag": '"e"', "size": 4, **fields})


def test_a_message_names_a_run_and_a_page_the_ledger_knows():
    ledger = Ledger({"page#run-1#2022-01-01#": "11?"})
    for index in (0, 1, 2):
        trust.check_message(message(run="run-1", page="2022-01-01#", index=index), ledger, "t")
    assert ledger.reads == 1  # one read a page for the container's life
    refused = [
        message(),  # no run
        message(run="run-1", etag="", page="2022-01-01#", index=0),
        message(run="run-1"),  # no page
        message(run="run-2", page="2022-01-01#", index=0),  # a run the ledger does not know
        message(run="run-1", page="2022-01-02#", index=0),
        message(run="run-1", page="2022-01-01#", index=3),  # past the page's end
    ]
    for rec in refused:
        with pytest.raises(trust.UnknownRun):
            trust.check_message(rec, ledger, "t")


class Bucket:
    def __init__(self, status: str | None, lock: bool = False) -> None:
        self.status, self.lock, self.calls = status, lock, 0

    def get_bucket_versioning(self, Bucket):
        self.calls += 1
        return {"Status": self.status} if self.status else {}

    def get_object_lock_configuration(self, Bucket):
        if not self.lock:
            raise ClientError({"Error": {"Code": "ObjectLockConfigurationNotFoundError"}}, "GetObjectLockConfiguration")
        return {"ObjectLockConfiguration": {"ObjectLockEnabled": "Enabled"}}


def test_versioning_is_asked_again_after_a_few_minutes_and_a_suspension_is_not_remembered():
    now = [0.0]
    s3 = Bucket("Enabled", lock=True)

    def check():
        return trust.check_bucket(s3, "b", require_versioning=True, clock=lambda: now[0])

    assert check().object_lock and s3.calls == 1
    now[0] = trust.VERSIONING_RECHECK_S - 1
    check()
    assert s3.calls == 1  # within the interval: no request
    s3.status = "Suspended"
    now[0] = trust.VERSIONING_RECHECK_S
    with pytest.raises(trust.BucketNotVersioned, match="suspended"):
        check()
    with pytest.raises(trust.BucketNotVersioned):  # asked again at once: a suspension is not cached
        check()
    s3.status = "Enabled"
    check()
    assert s3.calls == 4
    assert trust.check_bucket(Bucket(None), "other", require_versioning=False).object_lock is False


def test_the_emulator_evaluates_the_condition_keys_the_stack_relies_on():
    now = dt.datetime.now(dt.UTC)
    until = (now + dt.timedelta(days=30, hours=1)).isoformat()
    put = conditions.request_context(
        {"If-Match": '"e"', "x-amz-object-lock-mode": "GOVERNANCE", "x-amz-object-lock-retain-until-date": until},
        "arn:aws:sts::123456789012:assumed-role/Converter/session",
        "s3:PutObject",
    )
    assert put["aws:principalarn"] == "arn:aws:iam::123456789012:role/Converter"
    assert put["s3:object-lock-remaining-retention-days"] == "31"
    holds = conditions.condition_holds
    assert holds("Null", "s3:if-match", "false", put) is True
    assert holds("Null", "s3:if-match", "false", {}) is False
    assert holds("StringEquals", "s3:object-lock-mode", ["GOVERNANCE"], put) is True
    assert holds("StringEquals", "s3:object-lock-mode", ["COMPLIANCE"], put) is False
    assert holds("StringEquals", "s3:object-lock-legal-hold", "ON", put) is False  # absent: no match
    assert holds("NumericLessThanEquals", "s3:object-lock-remaining-retention-days", "31", put) is True
    assert holds("NumericLessThanEquals", "s3:object-lock-remaining-retention-days", "30", put) is False
    assert holds("ArnNotEquals", "aws:PrincipalArn", ["arn:aws:iam::123456789012:role/Converter"], put) is False
    assert holds("ArnNotEquals", "aws:PrincipalArn", ["arn:aws:iam::123456789012:role/Enqueuer"], put) is True
    assert holds("Bool", "aws:SecureTransport", "false", put) is False
    assert holds("StringLike", "s3:prefix", ["x*"], put) is None  # not evaluated here: moto's lenience
    statement = {"Condition": {"StringEquals": {"s3:object-lock-mode": "GOVERNANCE"}, "StringLike": {"s3:prefix": "x"}}}
    assert conditions.statement_applies(statement, put) is None
    assert conditions.statement_applies({"Condition": {"Null": {"s3:if-none-match": "false"}}}, put) is False
