"""Dashboard and alarms: failures reach a person, not only a log."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from optimizer import names


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        state_machine: sfn.StateMachine,
        work_queue: sqs.Queue,
        dead_letter_queue: sqs.Queue,
        converter: lambda_.Function,
        alarm_email: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        # A CloudWatch alarm can publish to an encrypted topic only if the key's policy lets
        # cloudwatch.amazonaws.com use it, which an AWS-managed key's (alias/aws/sns) never does
        # (Amazon SNS developer guide, "Enable compatibility between event sources from AWS
        # services and encrypted topics"). So a customer-managed key, for this topic only: the
        # queues keep SSE-SQS and the ledger and log groups their default encryption
        # (docs/security.md#encryption). Nothing retained on `cdk destroy` is encrypted with it, so it goes with
        # the stack (KMS waits its pending window before deleting it).
        self.key = kms.Key(
            self,
            "AlarmsKey",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            description="Encrypts the optimizer's alarm topic; CloudWatch alarms of this account may use it to publish",
        )
        self.key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsOfThisAccount",
                principals=[cloudwatch],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" is this key
                # The alarms' ARNs cannot be named here (the alarms depend on the topic, the
                # topic on this key); the topic policy below names them exactly.
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:{stack.account}:alarm:*"
                    },
                },
            )
        )
        self.topic = sns.Topic(self, "Alarms", master_key=self.key, enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        notify = cw_actions.SnsAction(self.topic)

        period = Duration.minutes(5)
        dead_letters = dead_letter_queue.metric_approximate_number_of_messages_visible(
            period=period, statistic="Maximum"
        )
        # The converter sends most failures to the DLQ itself (SendMessage), which SQS counts in
        # the DLQ's NumberOfMessagesSent; a message the redrive policy moves there (a converter
        # that crashed on it every time) is not counted in that metric (Amazon SQS developer
        # guide, "Available CloudWatch metrics for Amazon SQS", NumberOfMessagesSent). So both:
        # the depth alarm for anything left in the DLQ (it stays in ALARM while old dead letters
        # remain, up to the DLQ's 14 days, and so says nothing of new ones), and this one for new
        # dead letters: back to OK after 5 quiet minutes, so each new failure notifies again.
        new_dead_letters = dead_letter_queue.metric_number_of_messages_sent(period=period, statistic="Sum")
        # AWS/States, per state machine: every way an execution can end without succeeding has its
        # metric, ExecutionsFailed, ExecutionsTimedOut, ExecutionsAborted (Step Functions developer
        # guide, "Monitoring Step Functions metrics using Amazon CloudWatch"; the same three are in
        # the CloudWatch user guide's list of Step Functions execution-level metrics). A backfill that
        # outlives the state machine's timeout ends TIMED_OUT, a StopExecution ends ABORTED:
        # neither is a failure, and both would end in silence with an alarm on failures only.
        watched = {
            "DeadLetters": (
                dead_letters,
                "Recordings are in the dead-letter queue: read the reasons, fix, redrive "
                "(docs/operations.md#when-something-fails). Stays in ALARM while any dead letter remains; "
                "NewDeadLetters says when more arrive",
            ),
            "NewDeadLetters": (
                new_dead_letters,
                "New recordings were sent to the dead-letter queue in the last 5 minutes (by the converter; those "
                "moved by the queue's redrive policy show in DeadLetters only): read the reasons "
                "(docs/operations.md#when-something-fails)",
            ),
            "FailedExecutions": (
                state_machine.metric_failed(period=period),
                "An optimizer run failed (InvalidInput, VersioningRequired, RecordingsFailed, ...): see its cause",
            ),
            "TimedOutExecutions": (
                state_machine.metric_timed_out(period=period),
                "An optimizer run reached the state machine's timeout and was stopped (TIMED_OUT): a backfill too "
                "long for one run. Split the range, and re-run the days its summary does not cover",
            ),
            "AbortedExecutions": (
                state_machine.metric_aborted(period=period),
                "An optimizer run was stopped (ABORTED, e.g. StopExecution): the days it had not finished are not "
                "converted; run them again",
            ),
        }
        self.alarms: dict[str, cw.Alarm] = {
            name: cw.Alarm(
                self,
                name,
                metric=metric,
                threshold=0,
                evaluation_periods=1,
                comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
                treat_missing_data=cw.TreatMissingData.NOT_BREACHING,
                alarm_description=description,
            )
            for name, (metric, description) in watched.items()
        }
        self.dlq_alarm, self.failed_alarm = self.alarms["DeadLetters"], self.alarms["FailedExecutions"]
        for alarm in self.alarms.values():
            alarm.add_alarm_action(notify)
        # The topic policy holds the TLS-only Deny (enforce_ssl); without an Allow for CloudWatch
        # no alarm could publish. Only these alarms, every one of them, from this account
        # (confused deputy).
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowTheseAlarmsToPublish",
                principals=[cloudwatch],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {"aws:SourceArn": [alarm.alarm_arn for alarm in self.alarms.values()]},
                },
            )
        )

        def converter_metric(name: str, statistic: str = "Sum") -> cw.Metric:
            return cw.Metric(
                namespace=names.METRICS_NAMESPACE,
                metric_name=name,
                dimensions_map={"service": names.CONVERTER},
                statistic=statistic,
                period=Duration.minutes(5),
            )

        bytes_saved = cw.MathExpression(
            expression="before - after",
            label="bytes saved",
            using_metrics={
                "before": converter_metric(names.BYTES_BEFORE),
                "after": converter_metric(names.BYTES_AFTER),
            },
            period=Duration.minutes(5),
        )
        self.dashboard = cw.Dashboard(self, "Dashboard")  # no dashboard_name: two stacks coexist
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Executions",
                left=[
                    state_machine.metric_started(),
                    state_machine.metric_succeeded(),
                    state_machine.metric_failed(),
                    state_machine.metric_timed_out(),
                    state_machine.metric_aborted(),
                ],
            ),
            cw.GraphWidget(
                title="Work queue",
                left=[
                    work_queue.metric_approximate_number_of_messages_visible(),
                    work_queue.metric_approximate_number_of_messages_not_visible(),
                ],
                right=[work_queue.metric_approximate_age_of_oldest_message()],
            ),
            cw.GraphWidget(title="Dead-letter queue", left=[dead_letters], right=[new_dead_letters]),
        )
        self.dashboard.add_widgets(
            cw.GraphWidget(
                title="Recordings",
                left=[
                    converter_metric(m)
                    for m in (*map(names.recordings_metric, names.OUTCOMES), names.RECORDINGS_RETRIED)
                ],
            ),
            cw.GraphWidget(
                title="Bytes",
                left=[converter_metric(names.BYTES_BEFORE), converter_metric(names.BYTES_AFTER)],
                right=[bytes_saved],
            ),
            cw.GraphWidget(
                title="Converter",
                left=[converter.metric_errors(), converter.metric_throttles()],
                right=[
                    converter.metric_duration(statistic="p90"),
                    converter_metric(names.CONVERSION_SECONDS, "Average"),
                ],
            ),
        )
