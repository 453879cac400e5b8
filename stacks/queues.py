"""The work queue and its dead-letter queue."""
from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from constructs import Construct

DLQ_RETENTION = Duration.days(14)  # SQS's maximum: time to read the reasons and redrive


class WorkQueues(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, visibility_timeout_seconds: int, max_receive_count: int) -> None:
        super().__init__(scope, construct_id)
        self.dead_letter = sqs.Queue(
            self,
            "DeadLetter",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.work = sqs.Queue(
            self,
            "Work",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=Duration.seconds(visibility_timeout_seconds),
            retention_period=DLQ_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter, max_receive_count=max_receive_count),
            removal_policy=RemovalPolicy.DESTROY,
        )
