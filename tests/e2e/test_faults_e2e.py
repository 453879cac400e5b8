"""Faults injected into the real handlers on the deployed stack (emulator/faults.py, through the
`stack` fixture's `injections`): each kind fires, and its effect is what AWS would produce. How
the converter classifies them is the converter's business; here: the fault happened as AWS makes
it happen, and no original was damaged."""

from __future__ import annotations

import time

import boto3
import pytest

from emulator.deploy import scaled_visibility_timeout
from emulator.runtime import QueuePoller
from emulator.samples import write_wav
from optimizer.messages import Recording

DAY = "connect/local-instance/CallRecordings/2022/01/01/"


def s3():
    return boto3.client("s3", region_name="us-east-1")


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("faults")
    return [write_wav(folder / f"{i}.wav", 1, seed=40 + i).read_bytes() for i in range(2)]


ORIGINALS: dict[str, str] = {}  # key -> the version id it was loaded with


def enqueue(deployment, bodies: list[bytes], run: str = "faults-run") -> list[str]:
    """The recordings as the enqueuer sends them, in one batch."""
    keys = []
    entries = []
    # The page's marker, as the enqueuer writes it before sending (the converter refuses a
    # message whose run and page the ledger does not hold: optimizer/trust.py).
    page = f"{DAY}#faults"
    boto3.client("dynamodb", region_name="us-east-1").put_item(
        TableName=deployment.function("FunctionsConverter").environment["LEDGER_TABLE"],
        Item={"run": {"S": f"page#{run}#{page}"}, "sent": {"S": "1" * len(bodies)}},
    )
    for i, body in enumerate(bodies):
        key = f"{DAY}call-{i}.wav"
        loaded = s3().put_object(Bucket=deployment.bucket, Key=key, Body=body)
        etag, ORIGINALS[key] = loaded["ETag"], loaded["VersionId"]
        message = Recording(deployment.bucket, key, etag, len(body), run, page=page, index=i)
        entries.append({"Id": str(i), "MessageBody": message.to_body()})
        keys.append(key)
    boto3.client("sqs", region_name="us-east-1").send_message_batch(
        QueueUrl=deployment.queue_url("QueuesWork"), Entries=entries
    )
    return keys


def versions(deployment, key: str) -> list[dict]:
    return [v for v in s3().list_object_versions(Bucket=deployment.bucket, Prefix=key)["Versions"] if v["Key"] == key]


def original_intact(deployment, key: str, body: bytes) -> bool:
    return s3().get_object(Bucket=deployment.bucket, Key=key, VersionId=ORIGINALS[key])["Body"].read() == body


def test_the_work_queue_keeps_its_template_visibility_timeout_scaled(stack, synthesized):
    deployment, _ = stack
    (work,) = [
        r["Properties"]
        for lid, r in synthesized.template["Resources"].items()
        if r["Type"] == "AWS::SQS::Queue" and lid.startswith("QueuesWork")
    ]
    attributes = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=deployment.queue_url("QueuesWork"), AttributeNames=["VisibilityTimeout"]
    )["Attributes"]
    assert work["VisibilityTimeout"] >= 3600
    assert int(attributes["VisibilityTimeout"]) == scaled_visibility_timeout(work["VisibilityTimeout"]) >= 1


@pytest.mark.parametrize("injections", [["converter=crash-after-put@1"]])
def test_a_converter_that_crashes_after_its_put_returns_the_whole_batch(stack, wavs):
    deployment, lambdas = stack
    keys = enqueue(deployment, wavs)
    (poller,) = [QueuePoller(source, lambdas) for source in deployment.event_sources]
    poller.poll_once()
    poller.drain()
    assert (poller.totals.completed, poller.totals.failed) == (0, 2)  # no response: every message back
    assert lambdas.faults.report() == {"converter=crash-after-put@1": {"fired": 1}}
    written = [key for key in keys if len(versions(deployment, key)) == 2]
    assert len(written) == 1  # died right after the first PutObject, which took effect
    assert all(original_intact(deployment, key, body) for key, body in zip(keys, wavs, strict=True))
    # Back after the (scaled) visibility timeout, both messages, received a second time.
    sqs = boto3.client("sqs", region_name="us-east-1")
    assert "Messages" not in sqs.receive_message(QueueUrl=deployment.queue_url("QueuesWork"))
    time.sleep(1.1)
    back = sqs.receive_message(
        QueueUrl=deployment.queue_url("QueuesWork"), MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
    )["Messages"]
    assert len(back) == 2 and {m["Attributes"]["ApproximateReceiveCount"] for m in back} == {"2"}


@pytest.mark.parametrize("injections", [["s3.PutObject=lost-response@1"]])
def test_a_lost_put_response_leaves_the_object_written_and_botocore_retrying(stack, wavs):
    deployment, lambdas = stack
    (key,) = enqueue(deployment, wavs[:1])
    (poller,) = [QueuePoller(source, lambdas) for source in deployment.event_sources]
    poller.poll_once()
    poller.drain()
    fired = lambdas.faults.fired["s3.PutObject=lost-response@1"]
    assert fired >= 2  # the first attempt's response was lost, and botocore tried again
    written = versions(deployment, key)
    assert len(written) >= 2  # the lost attempt took effect: a version over the original
    assert original_intact(deployment, key, wavs[0])


@pytest.mark.parametrize("injections", [["ffmpeg=ENOSPC@1"], ["ffmpeg=killed@1"]])
def test_a_failing_ffmpeg_fails_the_conversion_and_leaves_the_original(stack, wavs, injections):
    deployment, lambdas = stack
    (key,) = enqueue(deployment, wavs[:1])
    (poller,) = [QueuePoller(source, lambdas) for source in deployment.event_sources]
    poller.poll_once()
    poller.drain()
    assert lambdas.faults.fired[injections[0]] >= 1
    assert len(versions(deployment, key)) == 1 and original_intact(deployment, key, wavs[0])  # nothing written


@pytest.mark.parametrize(
    "injections", [["sqs.SendMessageBatch=InternalError@0.5", "dynamodb.*=ThrottlingException@0.3"]]
)
@pytest.mark.parametrize("seed", [3])
def test_a_run_under_transient_faults_still_converts_every_recording(stack, wavs):
    """Transient faults at these rates are retried by botocore or the state machine: the run
    succeeds and each recording is converted once."""
    from emulator.run import run_execution

    deployment, lambdas = stack
    for i, body in enumerate(wavs):
        s3().put_object(Bucket=deployment.bucket, Key=f"{DAY}call-{i}.wav", Body=body)
    execution = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"}, timeout_s=120)
    assert execution.status == "SUCCEEDED", (execution.error, execution.cause)
    report = lambdas.faults.report()
    assert sum(v["fired"] for v in report.values()) >= 1, report
    assert all(len(versions(deployment, f"{DAY}call-{i}.wav")) == 2 for i in range(len(wavs)))
