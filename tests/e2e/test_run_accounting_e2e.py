"""Each run accounts for its own recordings, exactly, under SQS's at-least-once delivery: overlapping
runs, duplicate deliveries, crashes and messages that never come back (strict emulator)."""

from __future__ import annotations

import json
import time
import uuid

import boto3
import pytest

from emulator.deploy import REGION
from emulator.run import run_execution
from emulator.runtime import QueuePoller
from emulator.samples import write_wav
from optimizer import ledger

ROOT = "connect/local-instance/CallRecordings/"
# Several executions each, a few seconds apiece: the whole suite's tier (./run-tests.sh --all).
pytestmark = pytest.mark.long


def s3():
    return boto3.client("s3", region_name=REGION)


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("accounting")
    return [write_wav(folder / f"{i}.wav", 1, seed=i).read_bytes() for i in range(3)]


def send_everything_twice(monkeypatch):
    """SQS may deliver a message more than once: here every message is on the queue twice."""
    from optimizer import enqueueing

    original = enqueueing.send_batch

    def twice(sqs, queue_url, bodies, **kwargs):
        result = original(sqs, queue_url, bodies, **kwargs)
        original(sqs, queue_url, bodies, **kwargs)
        return result

    monkeypatch.setattr(enqueueing, "send_batch", twice)


def run_together(deployment, lambdas, inputs: list[dict], timeout_s: float = 300) -> list[dict]:
    """Starts the executions at once and feeds the converter until all have ended."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arns = [
        sfn.start_execution(
            stateMachineArn=deployment.state_machine_arn, name=f"overlap-{uuid.uuid4().hex[:8]}", input=json.dumps(i)
        )["executionArn"]
        for i in inputs
    ]
    pollers = [QueuePoller(source, lambdas) for source in deployment.event_sources]
    started = time.monotonic()
    while True:
        worked = sum(p.poll_once().received for p in pollers)
        described = [sfn.describe_execution(executionArn=arn) for arn in arns]
        if all(d["status"] != "RUNNING" for d in described):
            return described
        assert time.monotonic() - started < timeout_s, "the executions did not end"
        if not worked:
            time.sleep(0.05)


def counts(deployment, execution_name: str) -> dict[str, int]:
    table = deployment.function("FunctionsConverter").environment["LEDGER_TABLE"]
    return ledger.read(boto3.client("dynamodb", region_name=REGION), table, execution_name)


def test_overlapping_runs_each_end_with_their_own_exact_counts_despite_duplicate_deliveries(stack, wavs, monkeypatch):
    deployment, lambdas = stack
    days = {1: wavs[:2], 2: wavs[:2], 3: [wavs[2], b"RIFF\x00\x00\x00\x00not audio"]}
    for day, bodies in days.items():
        for i, body in enumerate(bodies):
            s3().put_object(Bucket=deployment.bucket, Key=f"{ROOT}2022/01/0{day}/call-{i}.wav", Body=body)
    send_everything_twice(monkeypatch)

    # A backfill of three days, and a run of its middle day started at the same time.
    backfill, daily = run_together(
        deployment, lambdas, [{"start_date": "2022-01-01", "end_date": "2022-01-03"}, {"specific_date": "2022-01-02"}]
    )

    # The daily run does not take the backfill's failure on day 3 as its own, nor wait for its work.
    assert daily["status"] == "SUCCEEDED", daily.get("cause")
    output = json.loads(daily["output"])
    assert (output["enqueued"], output["failed"], output["unaccounted"]) == (2, 0, 0)
    assert output["converted"] + output["skipped"]["already_converted"] == 2  # each once, whoever converted it
    assert counts(deployment, daily["name"])["accounted"] == 2  # four deliveries, two recordings

    assert (backfill["status"], backfill["error"]) == ("FAILED", "RecordingsFailed")
    assert backfill["cause"].startswith("1 recording(s) of this run failed (1 not_wav;")
    mine = counts(deployment, backfill["name"])
    assert (mine["enqueued"], mine["accounted"], mine["failed"]) == (6, 6, 1)
    assert mine["converted"] + mine.get("skipped_already_converted", 0) == 5
    # Every recording converted exactly once across both runs, whoever got there first.
    assert counts(deployment, daily["name"]).get("converted", 0) + mine["converted"] == 5


def test_a_recording_that_crashes_every_attempt_is_dead_lettered_and_counted_by_the_converter(stack, wavs, monkeypatch):
    deployment, lambdas = stack
    key = f"{ROOT}2022/02/01/crashes.wav"
    s3().put_object(Bucket=deployment.bucket, Key=key, Body=wavs[0])
    original = lambdas.invoke
    attempts = []

    from optimizer import conversion

    class Killed(BaseException):
        """The process dies while converting: nothing in the handler can catch it."""

    def killed(*args, **kwargs):
        raise Killed

    def crash_first_attempts(function_name, event):
        """The first 3 deliveries die inside the conversion, after the converter started its
        attempt (counted in the ledger): attempts, not receives, make it crashed (issue 16)."""
        records = event.get("Records") if isinstance(event, dict) else None
        if records and int(records[0]["attributes"]["ApproximateReceiveCount"]) <= 3:  # MAX_RECEIVE_COUNT
            attempts.append(records[0]["attributes"]["ApproximateReceiveCount"])
            with monkeypatch.context() as dying:
                dying.setattr(conversion, "run_ffmpeg", killed)
                try:
                    return original(function_name, event)
                except Killed:
                    return {"errorType": "Runtime.ExitError", "errorMessage": "killed (out of memory)"}, True
        return original(function_name, event)

    monkeypatch.setattr(lambdas, "invoke", crash_first_attempts)
    execution = run_execution(deployment, lambdas, {"specific_date": "2022-02-01"})

    assert attempts == ["1", "2", "3"]
    assert (execution.status, execution.error) == ("FAILED", "RecordingsFailed") and execution.cause is not None
    assert execution.cause.startswith("1 recording(s) of this run failed (1 crashed;")
    dlq = boto3.client("sqs", region_name=REGION)
    (message,) = dlq.receive_message(QueueUrl=deployment.queue_url("QueuesDeadLetter"), MaxNumberOfMessages=10)[
        "Messages"
    ]
    failure = json.loads(message["Body"])["failure"]
    assert failure["reason"].startswith("tried 3 times: each attempt stopped without an outcome")
    assert failure["kind"] == "crashed"
    assert s3().get_object_tagging(Bucket=deployment.bucket, Key=key)["TagSet"] == []  # the original untouched


def test_a_recording_that_never_gets_an_outcome_ends_the_run_unaccounted_at_the_bound(stack, wavs, monkeypatch):
    deployment, lambdas = stack
    s3().put_object(Bucket=deployment.bucket, Key=f"{ROOT}2022/03/01/lost.wav", Body=wavs[0])
    # Accepted by SQS, then gone before the converter saw it (purged by hand, say): no outcome can come.
    from optimizer import enqueueing

    monkeypatch.setattr(enqueueing, "send_batch", lambda sqs, queue_url, bodies, **kwargs: (1, set(bodies)))
    lister = deployment.function("FunctionsLister")
    monkeypatch.setitem(lister.environment, "DRAIN_LIMIT_SECONDS", "3")  # hours on AWS: the longest a message can wait

    execution = run_execution(deployment, lambdas, {"specific_date": "2022-03-01"})

    assert (execution.status, execution.error) == ("FAILED", "RecordingsUnaccounted") and execution.cause is not None
    assert execution.cause.startswith("1 of the 1 recording(s) this run put on the work queue have no outcome after ")
    summary = json.loads(lambdas.last_result("Summarize"))
    assert (summary["output"]["enqueued"], summary["output"]["unaccounted"]) == (1, 1)
    check_runs = [name for name in execution.states_entered if name == "CheckRun"]
    assert 2 <= len(check_runs) <= 10  # it waited (3 s at 1 s polls), then stopped
    assert execution.limits is not None and execution.limits["history_events"] < 200
