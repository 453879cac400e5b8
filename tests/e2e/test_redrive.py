"""The stack's RedriveDeadLettersCommand brings every DLQ message back to the work queue, also
the messages the converter dead-lettered itself (it sends as its caller, whom the work queue's
policy must name in redrive_principals; the local deployment names its operator). A recording
replaced since it failed is not read by the redriven message (it names the old version) and
converts in the next run."""

from __future__ import annotations

import json
import shlex

import boto3
import pytest

from emulator.run import run_execution
from emulator.runtime import QueuePoller
from emulator.samples import write_wav

pytestmark = pytest.mark.long  # a state machine execution and the redrive command

KEY = "connect/local-instance/CallRecordings/2022/01/01/broken-then-fixed.wav"


def queue_url_of(arn: str) -> str:
    return boto3.client("sqs", region_name="us-east-1").get_queue_url(QueueName=arn.rsplit(":", 1)[-1])["QueueUrl"]


def start_message_move_task(source_arn: str, destination_arn: str | None) -> int:
    """What SQS's StartMessageMoveTask does (moto 5.2.5 lacks the API): every message of the
    source goes to the destination, body and attributes unchanged. Without a destination SQS
    needs the source queue it recorded when its redrive policy moved the message; a message
    sent to the DLQ by a client has none, and SQS cannot move it."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    source = queue_url_of(source_arn)
    moved = 0
    while messages := sqs.receive_message(
        QueueUrl=source, MaxNumberOfMessages=10, MessageAttributeNames=["All"], AttributeNames=["All"]
    ).get("Messages", []):
        for m in messages:
            if destination_arn is None:
                assert "DeadLetterQueueSourceArn" in m.get("Attributes", {}), (
                    "SQS would not know where to move this message"
                )
                destination_arn = m["Attributes"]["DeadLetterQueueSourceArn"]
            sqs.send_message(
                QueueUrl=queue_url_of(destination_arn),
                MessageBody=m["Body"],
                MessageAttributes=m.get("MessageAttributes", {}),
            )
            sqs.delete_message(QueueUrl=source, ReceiptHandle=m["ReceiptHandle"])
            moved += 1
    return moved


@pytest.mark.truth_differs(
    reason="the redrive brings the run's dead letter back after the run ended and converts it under that run's id: "
    "S3 then holds a conversion by the run and the DLQ no longer its failure, while its summary, written at its end, "
    "rightly says failed 1, converted 0"
)
def test_the_redrive_command_moves_every_dead_letter_back_and_a_replaced_recording_converts_next_run(stack, tmp_path):
    deployment, lambdas = stack
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_object(Bucket=deployment.bucket, Key=KEY, Body=b"RIFF\x10\x00\x00\x00WAVEfmt garbage!")
    first = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})
    assert first.error == "RecordingsFailed"

    command = shlex.split(deployment.outputs["RedriveDeadLettersCommand"])
    assert command[:3] == ["aws", "sqs", "start-message-move-task"]
    args = dict(zip(command[3::2], command[4::2], strict=True))  # every option has its value
    dlq_url = deployment.queue_url("QueuesDeadLetter")
    dlq_arn = boto3.client("sqs", region_name="us-east-1").get_queue_attributes(
        QueueUrl=dlq_url, AttributeNames=["QueueArn"]
    )["Attributes"]["QueueArn"]
    assert args["--source-arn"] == dlq_arn
    # The converter sent this message itself: only an explicit destination can take it back.
    (letter,) = boto3.client("sqs", region_name="us-east-1").receive_message(
        QueueUrl=dlq_url, AttributeNames=["All"], VisibilityTimeout=0
    )["Messages"]
    assert "DeadLetterQueueSourceArn" not in letter["Attributes"] and json.loads(letter["Body"])["failure"]["reason"]

    s3.put_object(Bucket=deployment.bucket, Key=KEY, Body=write_wav(tmp_path / "fixed.wav", 2, seed=3).read_bytes())
    assert start_message_move_task(args["--source-arn"], args["--destination-arn"]) == 1
    (poller,) = [QueuePoller(source, lambdas) for source in deployment.event_sources]
    while poller.poll_once().received:
        pass
    # The redriven message names the version that failed (its ETag); the recording was replaced
    # since, so the converter reads nothing and leaves it to the next run (skipped.changed).
    assert "converted" not in {t["Key"] for t in s3.get_object_tagging(Bucket=deployment.bucket, Key=KEY)["TagSet"]}
    second = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})
    assert second.error is None and second.output["converted"] == 1
    assert s3.head_object(Bucket=deployment.bucket, Key=KEY)["StorageClass"] == "GLACIER_IR"
    assert {"Key": "converted", "Value": "True"} in s3.get_object_tagging(Bucket=deployment.bucket, Key=KEY)["TagSet"]
    assert "Messages" not in boto3.client("sqs", region_name="us-east-1").receive_message(QueueUrl=dlq_url)
