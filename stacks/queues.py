"""The work queue and its dead-letter queue.

A standard queue's message keeps its original enqueue time when the redrive policy moves it to
the DLQ, so the DLQ keeps messages longer than the work queue does (SQS's maximum, 14 days, against
7): a moved message stays at least 7 days in the DLQ to be read and redriven. Why 7 days is enough,
and the redrive threshold: stacks/capacity.py.
"""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .capacity import (  # noqa: F401 - re-exported: the arithmetic lives in capacity.py
    PAGE_MAX_ITEMS,
    QUEUED_CAP,
    WORK_RETENTION_S,
    check_retention,
    max_queued,
    redrive_threshold,
    slowest_pace,
    worst_case_message_age_s,
)
from .config import OptimizerConfig

DLQ_RETENTION = Duration.days(14)  # SQS's maximum: longer than the work queue's, see above
WORK_RETENTION = Duration.seconds(WORK_RETENTION_S)


class WorkQueues(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: OptimizerConfig) -> None:
        super().__init__(scope, construct_id)
        check_retention(config)
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
            visibility_timeout=Duration.seconds(config.visibility_timeout_seconds),
            retention_period=WORK_RETENTION,
            dead_letter_queue=sqs.DeadLetterQueue(queue=self.dead_letter, max_receive_count=redrive_threshold(config)),
            removal_policy=RemovalPolicy.DESTROY,
        )
