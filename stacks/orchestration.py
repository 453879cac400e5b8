"""The daily state machine: resolve the day, list and enqueue it page by page, wait for the queue
to drain, then succeed with a summary or fail with RecordingsFailed."""
from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, TimeZone
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_scheduler as scheduler
from aws_cdk import aws_scheduler_targets as scheduler_targets
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from .config import LOG_RETENTION, OptimizerConfig
from .functions import _drop_redundant_dependency

# Each poll of the queue adds ~9 history events. Bounding the polls bounds the history far below
# Step Functions' 25,000 events, whatever queue_poll_seconds is.
MAX_POLLS = 2000
MAX_RUN = Duration.hours(12)
SCHEDULED_INPUT = {"specific_date": ""}
_THROTTLES = ["Lambda.TooManyRequestsException"]


def execution_timeout(poll_seconds: int) -> Duration:
    return Duration.seconds(min(MAX_RUN.to_seconds(), MAX_POLLS * poll_seconds))


class Orchestration(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: OptimizerConfig,
        lister: lambda_.IFunction,
        enqueuer: lambda_.IFunction,
        work_queue: sqs.IQueue,
        dead_letter_queue: sqs.IQueue,
    ) -> None:
        super().__init__(scope, construct_id)
        self._work_queue = work_queue
        self._dead_letter_queue = dead_letter_queue

        resolve = self._invoke(
            "ResolveDate", lister, {"action": "resolve", "input": sfn.JsonPath.entire_payload},
            result_selector={"run.$": "$.Payload.run", "page.$": "$.Payload.page"}, result_path="$",
        )  # fmt: skip
        # The Lambda's error cause is a JSON document; hand the human-readable message to Fail.
        invalid = sfn.Pass(self, "ReadInvalidInput", parameters={"message.$": "States.StringToJson($.Cause)"}).next(
            sfn.Fail(self, "InvalidInput", error="InvalidInput", cause_path="$.message.errorMessage")
        )
        # ResultPath "$": the input may be anything (even a JSON array), so the error replaces it.
        resolve.add_catch(invalid, errors=["InvalidInput"], result_path="$")

        dlq_before = self._queue_attributes(
            "CountDeadLettersBefore", dead_letter_queue, {"before.$": "$.Attributes.ApproximateNumberOfMessages"}, "$.dlq"
        )
        list_page = self._invoke(
            "ListPage", lister, {"action": "list", "run.$": "$.run", "progress.$": "$.page.progress"},
            result_selector={"progress.$": "$.Payload.progress", "objects.$": "$.Payload.objects"}, result_path="$.page",
        )  # fmt: skip
        enqueue = self._invoke(
            "EnqueuePage", enqueuer, {"run.$": "$.run", "page.$": "$.page"},
            result_selector={"progress.$": "$.Payload.progress"}, result_path="$.page",
        )  # fmt: skip
        enqueue.add_retry(errors=["EnqueueFailed"], interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)

        wait = sfn.Wait(self, "WaitForQueue", time=sfn.WaitTime.duration(Duration.seconds(config.queue_poll_seconds)))
        depth = self._queue_depth("ReadQueueDepth")
        # Approximate counts can read 0 for a moment; a second read one poll later confirms.
        confirm_wait = sfn.Wait(self, "WaitToConfirm", time=sfn.WaitTime.duration(Duration.seconds(config.queue_poll_seconds)))
        confirm = self._queue_depth("ConfirmQueueDepth")
        dlq_after = self._queue_attributes(
            "CountDeadLettersAfter", dead_letter_queue, {"after.$": "$.Attributes.ApproximateNumberOfMessages"}, "$.dlq_after"
        )
        summarize = self._invoke(
            "Summarize", lister,
            {"action": "summarize", "run.$": "$.run", "progress.$": "$.page.progress",
             "dlq": {"before.$": "$.dlq.before", "after.$": "$.dlq_after.after"}},
            result_selector={"failed.$": "$.Payload.failed", "cause.$": "$.Payload.cause", "output.$": "$.Payload.output"},
            result_path="$.summary",
        )  # fmt: skip
        failed = sfn.Fail(self, "RecordingsFailed", error="RecordingsFailed", cause_path="$.summary.cause")
        done = sfn.Succeed(self, "Done", output_path="$.summary.output")

        drained = sfn.Condition.and_(
            sfn.Condition.string_equals("$.queue.visible", "0"),
            sfn.Condition.string_equals("$.queue.in_flight", "0"),
            sfn.Condition.string_equals("$.queue.delayed", "0"),
        )
        definition = (
            resolve.next(dlq_before)
            .next(list_page)
            .next(enqueue)
            .next(
                sfn.Choice(self, "MorePages")
                .when(sfn.Condition.boolean_equals("$.page.progress.cursor.done", False), list_page)
                .otherwise(
                    wait.next(depth).next(
                        sfn.Choice(self, "QueueDrained")
                        .when(drained, confirm_wait.next(confirm).next(
                            sfn.Choice(self, "StillDrained")
                            .when(drained, dlq_after.next(summarize).next(
                                sfn.Choice(self, "AnyFailed")
                                .when(sfn.Condition.number_greater_than("$.summary.failed", 0), failed)
                                .otherwise(done)))
                            .otherwise(wait)))
                        .otherwise(wait)
                    )
                )
            )
        )  # fmt: skip

        log_group = logs.LogGroup(
            self, "Logs",
            retention=logs.RetentionDays[LOG_RETENTION[config.log_retention_days]],
            removal_policy=RemovalPolicy.RETAIN,
        )  # fmt: skip
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=execution_timeout(config.queue_poll_seconds),
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        _drop_redundant_dependency(self.state_machine, self.state_machine.role)
        self.schedule = scheduler.Schedule(
            self,
            "Daily",
            schedule=scheduler.ScheduleExpression.expression(config.schedule, TimeZone.of(config.schedule_timezone)),
            target=scheduler_targets.StepFunctionsStartExecution(
                self.state_machine, input=scheduler.ScheduleTargetInput.from_object(SCHEDULED_INPUT)
            ),
            description="Starts the call-recording optimizer for the day num_days_age days ago",
        )

    def _invoke(self, name: str, function: lambda_.IFunction, payload: dict, *, result_selector: dict, result_path: str) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            name,
            lambda_function=function,
            payload=sfn.TaskInput.from_object(payload),
            result_selector=result_selector,
            result_path=result_path,
            retry_on_service_exceptions=True,
        )
        task.add_retry(errors=_THROTTLES, interval=Duration.seconds(2), max_attempts=6, backoff_rate=2)
        return task

    def _queue_attributes(self, name: str, queue: sqs.IQueue, selector: dict, result_path: str) -> tasks.CallAwsService:
        return tasks.CallAwsService(
            self,
            name,
            service="sqs",
            action="getQueueAttributes",
            parameters={"QueueUrl": queue.queue_url, "AttributeNames": ["All"]},
            iam_resources=[queue.queue_arn],
            result_selector=selector,
            result_path=result_path,
        )

    def _queue_depth(self, name: str) -> tasks.CallAwsService:
        return self._queue_attributes(
            name,
            self._work_queue,
            {
                "visible.$": "$.Attributes.ApproximateNumberOfMessages",
                "in_flight.$": "$.Attributes.ApproximateNumberOfMessagesNotVisible",
                "delayed.$": "$.Attributes.ApproximateNumberOfMessagesDelayed",
            },
            "$.queue",
        )
