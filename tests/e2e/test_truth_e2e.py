"""The truth check on the emulator (emulator/truth.py): it reads every execution's summary from
its history, S3's versions with their provenance and the DLQ without consuming it, and catches a
summary that does not match (the hook in conftest.py runs it after every end-to-end test)."""

from __future__ import annotations

import boto3
import pytest

from emulator import truth
from emulator.run import run_execution
from emulator.samples import write_wav
from tests.support import claim_one_more_conversion

pytestmark = pytest.mark.long  # state machine executions on moto

DAY = "connect/local-instance/CallRecordings/2022/01/01/"


def s3():
    return boto3.client("s3", region_name="us-east-1")


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("truth")
    return [write_wav(folder / f"{i}.wav", 1 + i, seed=20 + i).read_bytes() for i in range(2)]


def test_each_run_is_checked_from_s3_and_the_dlq_which_stays_as_it_was(stack, wavs):
    deployment, lambdas = stack
    for i, body in enumerate(wavs):
        s3().put_object(Bucket=deployment.bucket, Key=f"{DAY}call-{i}.wav", Body=body)
    s3().put_object(Bucket=deployment.bucket, Key=DAY + "bad.wav", Body=b"RIFF\x10\x00\x00\x00WAVEfmt garbage!")
    s3().put_object(Bucket=deployment.bucket, Key=DAY + "notes.txt", Body=b"x")
    first = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})
    second = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})
    refused = run_execution(deployment, lambdas, {"specific_date": "13/45/2022"})
    assert (first.error, second.status, refused.error) == ("RecordingsFailed", "SUCCEEDED", "InvalidInput")

    checks = truth.check(deployment)

    assert [c.differences for c in checks] == [[], [], []]
    one, two, bad = (c.truth.as_report() for c in checks)
    assert (one["listed"], one["not_audio"], one["converted"], one["failed"]) == (4, 1, 2, 1)
    assert one["converted_keys"] == [f"{DAY}call-0.wav", f"{DAY}call-1.wav"] and one["failed_keys"] == [DAY + "bad.wav"]
    assert one["bytes_before"] == sum(map(len, wavs)) and one["bytes_after"] == sum(
        s3().head_object(Bucket=deployment.bucket, Key=f"{DAY}call-{i}.wav")["ContentLength"] for i in range(2)
    )
    assert (two["listed"], two["converted"], two["failed"]) == (4, 0, 0)  # its failure was the first run's
    assert checks[2].run.listed_days is False and bad["listed"] is None  # refused before it listed
    # Read, and left for the next reader: the DLQ's message is visible again.
    sqs = boto3.client("sqs", region_name="us-east-1")
    attributes = sqs.get_queue_attributes(
        QueueUrl=deployment.queue_url("QueuesDeadLetter"), AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "1"


@pytest.mark.truth_differs(reason="the test makes the ledger count one conversion too many, to see the check catch it")
def test_a_summary_that_claims_a_conversion_s3_does_not_hold_is_caught(stack, wavs, monkeypatch):
    deployment, lambdas = stack
    s3().put_object(Bucket=deployment.bucket, Key=DAY + "one.wav", Body=wavs[0])
    claim_one_more_conversion(monkeypatch)

    execution = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})

    assert execution.status == "SUCCEEDED" and execution.output["converted"] == 2
    (checked,) = truth.check(deployment)
    assert checked.differences == [
        f"converted: the summary says 2, the truth is 1 (S3 holds its conversions of: {DAY}one.wav)",
        "an enqueued recording without exactly one outcome: enqueued 1 != converted 2 + 0 skipped by the converter "
        "(already_converted, already_alaw, gone, changed) + failed 0 + unaccounted 0",
    ]
