"""The synthesized state machine definition executed on moto's engine with the real handlers."""

from __future__ import annotations

import datetime as dt
import json
import struct

import boto3
import pytest

from emulator.run import run_execution
from emulator.samples import write_wav

DAY = "connect/local-instance/CallRecordings/2022/01/01/"
NO_RULE_WARNING = (
    "no enabled lifecycle rule expires noncurrent versions under connect/local-instance/CallRecordings/: "
    "the original recordings stay billed at S3 Standard after conversion until one exists "
    "(docs/operations.md#originals-versioning-and-the-lifecycle-rule)"
)


def s3():
    return boto3.client("s3", region_name="us-east-1")


def queue_messages(deployment, logical_prefix: str) -> list[dict]:
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = deployment.queue_url(logical_prefix)
    found = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=600).get(
        "Messages", []
    ):
        found += [json.loads(m["Body"]) for m in messages]
    return found


def alaw_wav(frames: int = 800) -> bytes:
    """A minimal, already converted recording: the converter skips it without ffmpeg."""
    fmt = struct.pack("<HHIIHH", 6, 1, 8000, 8000, 1, 8)
    data = b"\xd5" * frames
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recordings")
    return [write_wav(folder / f"call-{i}.wav", seconds, seed=i).read_bytes() for i, seconds in enumerate((2, 3, 5))]


def test_a_normal_day_converts_every_recording(stack, recordings):
    deployment, lambdas = stack
    keys = [DAY + f"contact-{i}_20220101T0{i}:00_UTC.wav" for i in range(len(recordings))]
    for key, body in zip(keys, recordings, strict=True):
        s3().put_object(Bucket=deployment.bucket, Key=key, Body=body, ContentType="audio/wav")
    s3().put_object(Bucket=deployment.bucket, Key=DAY + "contact-0.json", Body=b"{}")

    execution = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})

    assert execution.status == "SUCCEEDED", execution.cause
    sizes = [s3().head_object(Bucket=deployment.bucket, Key=key)["ContentLength"] for key in keys]
    assert execution.output == {
        "date": "2022-01-01",
        "prefix": DAY,
        "dry_run": False,
        "retry_failed": False,
        "listed": 4,
        "enqueued": 3,
        "converted": 3,
        "failed": 0,
        "unaccounted": 0,
        "skipped": {
            "not_audio": 1,
            "already_target_class": 0,
            "archived": 0,
            "known_failure": 0,
            "known_target_format": 0,
            "already_converted": 0,
            "already_alaw": 0,
            "gone": 0,
            "changed": 0,
        },
        "bytes_before": sum(map(len, recordings)),
        "bytes_after": sum(sizes),
        "retain_until_carried": 0,
        "warnings": [NO_RULE_WARNING],
    }
    for key, body in zip(keys, recordings, strict=True):
        head = s3().head_object(Bucket=deployment.bucket, Key=key)
        assert head["StorageClass"] == "GLACIER_IR"
        assert abs(head["ContentLength"] - len(body) / 4) < 100
        assert {"Key": "converted", "Value": "True"} in s3().get_object_tagging(Bucket=deployment.bucket, Key=key)[
            "TagSet"
        ]
    assert s3().head_object(Bucket=deployment.bucket, Key=DAY + "contact-0.json")["ContentLength"] == 2
    assert queue_messages(deployment, "QueuesDeadLetter") == []
    assert execution.max_state_bytes <= 64 * 1024


@pytest.mark.long
def test_a_second_run_finds_nothing_to_do(stack, recordings):
    deployment, lambdas = stack
    key = DAY + "again.wav"
    s3().put_object(Bucket=deployment.bucket, Key=key, Body=recordings[0])
    first = run_execution(deployment, lambdas, {"specific_date": "2022-01-01"})
    second = run_execution(deployment, lambdas, {"specific_date": "2022-01-01"})
    assert first.status == second.status == "SUCCEEDED"
    assert second.output["enqueued"] == 0 and second.output["skipped"]["already_target_class"] == 1
    assert len(s3().list_object_versions(Bucket=deployment.bucket, Prefix=key)["Versions"]) == 2


@pytest.mark.long
def test_an_empty_day_succeeds_with_zero_counts(stack):
    deployment, lambdas = stack
    execution = run_execution(deployment, lambdas, {"specific_date": "01/02/2022"})
    assert execution.status == "SUCCEEDED"
    assert (execution.output["listed"], execution.output["enqueued"]) == (0, 0)


@pytest.mark.long
def test_the_scheduled_input_processes_num_days_age_days_ago(stack, recordings):
    deployment, lambdas = stack
    day = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=7)
    key = f"connect/local-instance/CallRecordings/{day:%Y/%m/%d}/scheduled.wav"
    s3().put_object(Bucket=deployment.bucket, Key=key, Body=recordings[1])
    execution = run_execution(deployment, lambdas, {"specific_date": ""})
    assert execution.status == "SUCCEEDED"
    # The target day and the catch_up_days (3) days before it, each a child execution.
    assert execution.output["end_date"] == day.isoformat() and execution.output["days"] == 4
    assert execution.output["start_date"] == (day - dt.timedelta(days=3)).isoformat()
    assert execution.output["enqueued"] == 1 and execution.output["converted"] == 1
    assert execution.child_executions == 4


@pytest.mark.long
@pytest.mark.parametrize(
    "execution_input, says",
    [
        # Each refusal's message is proven in tests/unit/test_dates.py; here an object input and
        # one that is not an object (the Catch's ResultPath "$" replaces the state), end to end.
        ({"specific_date": "13/45/2022"}, "not a calendar date"),
        ("[1, 2]", "must be a JSON object"),
    ],
)
def test_invalid_input_fails_in_the_first_state_and_touches_nothing(stack, recordings, execution_input, says):
    deployment, lambdas = stack
    s3().put_object(Bucket=deployment.bucket, Key=DAY + "untouched.wav", Body=recordings[0])
    execution = run_execution(deployment, lambdas, execution_input)
    assert execution.status == "FAILED"
    assert execution.error == "InvalidInput" and execution.cause is not None
    assert says in execution.cause and "MM/DD/YYYY" in execution.cause and "YYYY-MM-DD" in execution.cause
    assert "ListPage" not in execution.states_entered
    assert execution.states_entered[0] == "ResolveRun"
    assert queue_messages(deployment, "QueuesWork") == []
    assert s3().get_object(Bucket=deployment.bucket, Key=DAY + "untouched.wav")["Body"].read() == recordings[0]


@pytest.mark.long
def test_a_corrupt_recording_ends_the_run_in_recordings_failed(stack, recordings):
    deployment, lambdas = stack
    good, bad = DAY + "good.wav", DAY + "corrupt.wav"
    s3().put_object(Bucket=deployment.bucket, Key=good, Body=recordings[0])
    s3().put_object(Bucket=deployment.bucket, Key=bad, Body=b"RIFF\x10\x00\x00\x00WAVEfmt garbage!")

    execution = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})

    assert execution.status == "FAILED"
    assert execution.error == "RecordingsFailed" and execution.cause is not None
    assert execution.cause.startswith(
        "1 recording(s) of this run failed (1 corrupt; docs/operations.md#when-something-fails"
    )
    assert "are in the dead-letter queue https://" in execution.cause
    (letter,) = queue_messages(deployment, "QueuesDeadLetter")
    assert letter["key"] == bad and letter["failure"]["reason"]
    assert s3().get_object(Bucket=deployment.bucket, Key=bad)["Body"].read() == b"RIFF\x10\x00\x00\x00WAVEfmt garbage!"
    assert len(s3().list_object_versions(Bucket=deployment.bucket, Prefix=bad)["Versions"]) == 1
    assert s3().head_object(Bucket=deployment.bucket, Key=good)["StorageClass"] == "GLACIER_IR"


@pytest.mark.long
def test_thousands_of_recordings_page_within_the_payload_bound(stack):
    deployment, lambdas = stack
    body = alaw_wav()
    ordinary = [DAY + f"{i:08x}-5e1f-4b7a-9c0d-{i:012x}_20220101T10:00_UTC.wav" for i in range(2500)]
    # 1,000-byte keys of multi-byte characters: the worst case for a page's size.
    long_keys = [DAY + f"{i:03d}-" + "通話" * 160 + ".wav" for i in range(30)]
    client = s3()
    for key in ordinary + long_keys:
        client.put_object(Bucket=deployment.bucket, Key=key, Body=body)

    execution = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})

    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output["listed"] == execution.output["enqueued"] == len(ordinary) + len(long_keys)
    assert execution.states_entered.count("ListPage") >= 3
    assert execution.max_state_bytes <= 64 * 1024
    assert execution.child_executions == 1
    # Per page a child records CheckQueueRoom, QueueHasRoom, ListPage, EnqueuePage, MorePages.
    pages = execution.states_entered.count("ListPage")
    assert pages * 19 <= execution.largest_child_history_events < 25_000
    assert execution.history_events < 25_000  # the parent's grows only with its queue polls
    assert queue_messages(deployment, "QueuesWork") == queue_messages(deployment, "QueuesDeadLetter") == []
