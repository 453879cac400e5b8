"""A recording that failed for its content, through the synthesized state machine with the real
handlers: the run that meets it fails, later runs skip it as a known failure and succeed, until the
object changes or the input says "retry_failed": true."""

from __future__ import annotations

import io
import json

import boto3
import pytest

from emulator import local_run
from emulator.run import run_execution
from emulator.runtime import QueuePoller
from emulator.samples import write_wav

pytestmark = pytest.mark.long  # state machine executions and a local run

ROOT = "connect/local-instance/CallRecordings/"
DAY = ROOT + "2022/01/01/"
BAD = b"RIFF\x24\x00\x00\x00WAVEthis is not audio"
INPUT = {"specific_date": "01/01/2022"}


def s3():
    return boto3.client("s3", region_name="us-east-1")


def dead_letter_count(deployment) -> int:
    sqs = boto3.client("sqs", region_name="us-east-1")
    attrs = sqs.get_queue_attributes(QueueUrl=deployment.queue_url("QueuesDeadLetter"), AttributeNames=["All"])[
        "Attributes"
    ]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def run(deployment, lambdas, execution_input=INPUT):
    """One execution, and the keys its converter received."""
    pollers = [QueuePoller(source, lambdas) for source in deployment.event_sources]
    execution = run_execution(deployment, lambdas, execution_input, pollers=pollers)
    summary = json.loads(lambdas.last_result("Summarize"))["output"]
    return execution, summary, set().union(*(p.keys_seen for p in pollers))


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("known")
    return [write_wav(folder / f"{i}.wav", 1 + i, seed=10 + i).read_bytes() for i in range(2)]


def test_a_known_failure_fails_one_run_then_is_skipped_until_retried(stack, wavs):
    deployment, lambdas = stack
    bad = DAY + "bad.wav"
    s3().put_object(Bucket=deployment.bucket, Key=bad, Body=BAD)
    s3().put_object(Bucket=deployment.bucket, Key=DAY + "good.wav", Body=wavs[0])

    first, summary, reached = run(deployment, lambdas)
    assert (first.status, first.error) == ("FAILED", "RecordingsFailed")  # the run that meets it: unchanged
    assert summary["failed"] == 1 and summary["skipped"]["known_failure"] == 0 and bad in reached
    assert dead_letter_count(deployment) == 1

    second, summary, reached = run(deployment, lambdas)
    assert second.status == "SUCCEEDED", second.cause
    assert second.output["skipped"]["known_failure"] == 1 and second.output["failed"] == 0
    assert second.output["enqueued"] == 0 and reached == set()  # nothing enqueued for it
    assert second.output["skipped"]["already_target_class"] == 1  # the good one, converted by the first run
    assert dead_letter_count(deployment) == 1  # no second dead letter, no alarm

    dry, summary, reached = run(deployment, lambdas, {**INPUT, "dry_run": True})
    assert dry.status == "SUCCEEDED" and dry.output["skipped"]["known_failure"] == 1 and dry.output["recordings"] == 0

    retried, summary, reached = run(deployment, lambdas, {**INPUT, "retry_failed": True})
    assert (retried.status, retried.error) == ("FAILED", "RecordingsFailed")  # enqueued again, and fails again
    assert summary["retry_failed"] is True and summary["enqueued"] == 1 and summary["failed"] == 1
    assert summary["skipped"]["known_failure"] == 0 and reached == {bad}
    assert dead_letter_count(deployment) == 2
    assert s3().get_object(Bucket=deployment.bucket, Key=bad)["Body"].read() == BAD  # never touched


def test_a_new_version_of_a_failed_recording_is_enqueued_and_converted(stack, wavs):
    deployment, lambdas = stack
    key = DAY + "repaired.wav"
    s3().put_object(Bucket=deployment.bucket, Key=key, Body=BAD)
    first, _, _ = run(deployment, lambdas)
    assert first.error == "RecordingsFailed"

    s3().put_object(Bucket=deployment.bucket, Key=key, Body=wavs[1])  # repaired: a new version, a new ETag
    second, summary, reached = run(deployment, lambdas)

    assert second.status == "SUCCEEDED", second.cause
    assert reached == {key} and second.output["converted"] == 1 and second.output["skipped"]["known_failure"] == 0
    assert s3().head_object(Bucket=deployment.bucket, Key=key)["StorageClass"] == "GLACIER_IR"


def test_the_local_report_names_a_known_failure_with_its_reason(tmp_path, capsys):
    folder = tmp_path / "day"
    write_wav(folder / "good.wav", 1, seed=1)
    (folder / "bad.wav").write_bytes(BAD)
    report_path = tmp_path / "report.json"

    code = local_run.main(["--recordings", str(folder), "--runs", "2", "--report", str(report_path)])
    capsys.readouterr()
    report = json.loads(report_path.read_text())
    buffer = io.StringIO()
    local_run.print_summary(report, buffer)  # what the command printed, from its report
    printed = buffer.getvalue()

    assert code == 3  # the first execution failed
    first, second = report["executions"]
    assert first["error"] == "RecordingsFailed" and second["status"] == "SUCCEEDED"
    assert second["output"]["skipped"]["known_failure"] == 1
    by_name = {o["key"][len(report["prefix"]) :]: o for o in report["objects"]}
    bad = by_name["bad.wav"]
    (letter,) = report["dead_letter"]  # from the first run only
    assert bad["outcome"] == "known_failure" and bad["reason"].startswith(letter["reason"])
    assert bad["known_failure"]["reason"] == letter["reason"] and bad["versions"] == 1
    assert by_name["good.wav"]["outcome"] == "converted" and by_name["good.wav"]["known_failure"] is None
    assert report["totals"]["known_failure"] == 1 and report["totals"]["untouched"] == 0
    assert "1 known failure(s) skipped" in printed
    assert '"known_failure": 1' in printed  # the second execution's summary line
