"""Operations on the emulator: ranges, dry runs, catch-up, preflight, the exact run summary and
the metrics, through the synthesized state machine with the real handlers."""

from __future__ import annotations

import datetime as dt
import io
import json

import boto3
import pytest
from moto import mock_aws

from emulator.deploy import deploy
from emulator.run import run_execution
from emulator.runtime import InProcessLambdas
from emulator.samples import write_wav
from optimizer.enqueueing import projected_size

pytestmark = pytest.mark.long  # state machine executions on moto

ROOT = "connect/local-instance/CallRecordings/"
TODAY = dt.datetime.now(dt.UTC).date()


def s3():
    return boto3.client("s3", region_name="us-east-1")


def put(deployment, day: str, name: str, body: bytes) -> str:
    key = f"{ROOT}{day}/{name}"
    s3().put_object(Bucket=deployment.bucket, Key=key, Body=body)
    return key


def queue_is_empty(deployment) -> bool:
    sqs = boto3.client("sqs", region_name="us-east-1")
    attrs = sqs.get_queue_attributes(QueueUrl=deployment.queue_url("QueuesWork"), AttributeNames=["All"])["Attributes"]
    return attrs["ApproximateNumberOfMessages"] == attrs["ApproximateNumberOfMessagesNotVisible"] == "0"


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ops")
    return [write_wav(folder / f"{i}.wav", 1 + i, seed=i).read_bytes() for i in range(3)]


def test_a_range_processes_every_day_as_its_own_child_execution(stack, wavs):
    deployment, lambdas = stack
    first = put(deployment, "2022/01/01", "a.wav", wavs[0])
    third = put(deployment, "2022/01/03", "b.wav", wavs[1])
    outside = put(deployment, "2022/01/05", "c.wav", wavs[2])

    execution = run_execution(deployment, lambdas, {"start_date": "01/01/2022", "end_date": "2022-01-04"})

    assert execution.status == "SUCCEEDED", execution.cause
    out = execution.output
    assert (out["start_date"], out["end_date"], out["days"], out["prefix"]) == ("2022-01-01", "2022-01-04", 4, ROOT)
    assert (out["listed"], out["enqueued"], out["converted"], out["failed"]) == (2, 2, 2, 0)
    assert execution.child_executions == 4
    for key in (first, third):
        assert s3().head_object(Bucket=deployment.bucket, Key=key)["StorageClass"] == "GLACIER_IR"
    assert s3().head_object(Bucket=deployment.bucket, Key=outside).get("StorageClass", "STANDARD") == "STANDARD"


def test_a_bad_range_fails_in_the_first_state(stack, wavs):
    """Each refusal's message is proven in tests/unit/test_dates.py; here one, end to end."""
    deployment, lambdas = stack
    key = put(deployment, "2022/01/01", "kept.wav", wavs[0])
    execution = run_execution(deployment, lambdas, {"start_date": "01/05/2022", "end_date": "01/04/2022"})
    assert (execution.status, execution.error) == ("FAILED", "InvalidInput") and execution.cause is not None
    assert "is after end_date" in execution.cause
    assert execution.states_entered[0] == "ResolveRun" and "ListPage" not in execution.states_entered
    assert s3().get_object(Bucket=deployment.bucket, Key=key)["Body"].read() == wavs[0]


def test_a_dry_run_counts_and_projects_without_writing_anything(stack, wavs):
    deployment, lambdas = stack
    keys = [put(deployment, "2022/01/01", f"{i}.wav", body) for i, body in enumerate(wavs)]
    put(deployment, "2022/01/01", "notes.txt", b"x")

    dry = run_execution(deployment, lambdas, {"specific_date": "01/01/2022", "dry_run": True})

    assert dry.status == "SUCCEEDED", dry.cause
    out = dry.output
    assert out["dry_run"] is True and out["enqueued"] == 0 and out["converted"] == 0
    assert (out["listed"], out["recordings"], out["bytes"]) == (4, 3, sum(map(len, wavs)))
    assert out["skipped"]["not_audio"] == 1
    assert out["projected_bytes_after"] == sum(projected_size(len(w)) for w in wavs)
    cost = out["projected_monthly_cost"]
    assert cost["storage_class"] == "GLACIER_IR" and cost["currency"] == "USD" and cost["before"] >= cost["after"] >= 0
    assert "CheckRun" not in dry.states_entered and queue_is_empty(deployment)  # nothing enqueued, nothing awaited
    for key in keys:
        assert len(s3().list_object_versions(Bucket=deployment.bucket, Prefix=key)["Versions"]) == 1

    # The projection is what the conversion then really produces, to the byte.
    real = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})
    assert real.output["bytes_after"] == out["projected_bytes_after"]
    assert real.output["bytes_before"] == out["bytes"]


def test_the_scheduled_run_catches_up_missed_days(stack, wavs):
    deployment, lambdas = stack
    missed = TODAY - dt.timedelta(days=7 + 2)
    key = put(deployment, f"{missed:%Y/%m/%d}", "missed.wav", wavs[0])
    too_old = put(deployment, f"{TODAY - dt.timedelta(days=7 + 4):%Y/%m/%d}", "older.wav", wavs[1])

    execution = run_execution(deployment, lambdas, {})

    assert execution.status == "SUCCEEDED"
    assert execution.output["converted"] == 1
    assert s3().head_object(Bucket=deployment.bucket, Key=key)["StorageClass"] == "GLACIER_IR"
    assert s3().head_object(Bucket=deployment.bucket, Key=too_old).get("StorageClass", "STANDARD") == "STANDARD"


def test_the_summary_counts_each_outcome_exactly(stack, wavs, ffmpeg, tmp_path):
    deployment, lambdas = stack
    src, alaw = tmp_path / "in.wav", tmp_path / "alaw.wav"
    src.write_bytes(wavs[0])
    import subprocess

    subprocess.run(
        [ffmpeg, "-loglevel", "error", "-i", str(src), "-ac", "1", "-ar", "8000", "-c:a", "pcm_alaw", str(alaw)],
        check=True,
    )
    good = [put(deployment, "2022/01/01", f"good{i}.wav", wavs[i]) for i in (1, 2)]
    put(deployment, "2022/01/01", "already.wav", alaw.read_bytes())
    put(deployment, "2022/01/01", "corrupt.wav", b"RIFF....WAVEnope")
    put(deployment, "2022/01/01", "notes.txt", b"x")
    put(deployment, "2022/01/01", "cold.wav", wavs[0])
    s3().copy_object(
        Bucket=deployment.bucket,
        Key=f"{ROOT}2022/01/01/cold.wav",
        CopySource={"Bucket": deployment.bucket, "Key": f"{ROOT}2022/01/01/cold.wav"},
        StorageClass="GLACIER",
    )

    execution = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})

    assert (execution.status, execution.error) == ("FAILED", "RecordingsFailed") and execution.cause is not None
    assert execution.cause.startswith("1 recording(s) of this run failed")
    # A failed run has no output; the summary is in the ledger the Summarize state read.
    summary = json.loads(lambdas.last_result("Summarize"))["output"]
    sizes = [s3().head_object(Bucket=deployment.bucket, Key=key)["ContentLength"] for key in good]
    assert (summary["listed"], summary["enqueued"], summary["converted"], summary["failed"]) == (6, 4, 2, 1)
    assert summary["skipped"] == {
        "not_audio": 1,
        "already_target_class": 0,
        "archived": 1,
        "known_failure": 0,
        "known_target_format": 0,
        "already_converted": 0,
        "already_alaw": 1,
        "gone": 0,
        "changed": 0,
    }
    assert (summary["bytes_before"], summary["bytes_after"]) == (len(wavs[1]) + len(wavs[2]), sum(sizes))
    assert summary["failures_in"] == deployment.queue_url("QueuesDeadLetter")


def test_the_converter_publishes_embedded_metrics(stack, wavs):
    deployment, lambdas = stack
    put(deployment, "2022/01/01", "m.wav", wavs[0])
    run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})
    documents = [json.loads(line) for line in lambdas.log_stream.getvalue().splitlines() if '"_aws"' in line]
    names = {m["Name"] for d in documents for m in d["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"RecordingsConverted", "BytesBefore", "BytesAfter", "ConversionSeconds"} <= names
    assert {d["_aws"]["CloudWatchMetrics"][0]["Namespace"] for d in documents} == {"CallRecordingOptimizer"}
    assert sum(d.get("RecordingsConverted", [0])[0] for d in documents if "RecordingsConverted" in d) == 1


def test_a_lifecycle_rule_for_the_originals_silences_the_warning(stack, wavs):
    deployment, lambdas = stack
    put(deployment, "2022/01/01", "r.wav", wavs[0])
    s3().put_bucket_lifecycle_configuration(
        Bucket=deployment.bucket,
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "originals",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "connect/"},
                    "NoncurrentVersionExpiration": {"NoncurrentDays": 1},
                }
            ]
        },
    )
    execution = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})
    assert execution.status == "SUCCEEDED" and execution.output["warnings"] == []


@pytest.fixture
def unversioned(synthesized):
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        deployment = deploy(synthesized, versioned_bucket=False)
        lambdas = InProcessLambdas(deployment, log_stream=io.StringIO())
        with lambdas.installed():
            yield deployment, lambdas


def test_an_unversioned_bucket_is_refused_before_anything_is_listed(unversioned, wavs):
    deployment, lambdas = unversioned
    key = put(deployment, "2022/01/01", "only-copy.wav", wavs[0])
    execution = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})
    assert (execution.status, execution.error) == ("FAILED", "VersioningRequired") and execution.cause is not None
    assert "overwrite the original" in execution.cause and "-c require_versioning=false" in execution.cause
    assert "ListPage" not in execution.states_entered
    assert s3().get_object(Bucket=deployment.bucket, Key=key)["Body"].read() == wavs[0]
