"""The daily state machine: resolve the day, list and enqueue it page by page, wait for the queue
to drain, then succeed with a summary or fail with RecordingsFailed / DaysFailed.

Each day runs as a child execution of a Distributed Map that never fails: a day whose tasks
still fail after their retries catches its own error, records it in the run's ledger and ends
like any other day, returning nothing. So one day cannot stop the others, and the Map's result
(the array of every child's output, kept by Step Functions even with ResultPath null, within the
256 KiB state quota: aws-cdk issue 24799) stays 3 bytes a day: ~11 KB for 3,653 days."""
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
from .functions import drop_redundant_role_dependency
from .queues import max_queued

# A guard, not a schedule: a run ends when its queue drains. A backfill may take days (no message
# outlives the work queue's 7 days: stacks/queues.py). The parent polls the queue only after its
# last day is listed (the days' own waits happen in their child executions), so its history stays
# small however long the run is.
MAX_RUN = Duration.days(14)
SCHEDULED_INPUT = {"specific_date": ""}
_THROTTLES = ["Lambda.TooManyRequestsException"]
# Lambda tasks whose function only reads (resolve, preflight, list, summarize) or records a
# day's failure idempotently may run again after a timeout or an error: Retry runs before Catch
# (Step Functions developer guide, "Handling errors"). States.TaskFailed matches any error the
# function raises, so refusals are matched first by a retrier with MaxAttempts 0.
_RERUNNABLE = ["Sandbox.Timedout", "States.TaskFailed"]


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
            "ResolveRun", lister,
            {"action": "resolve", "input": sfn.JsonPath.entire_payload, "execution": sfn.JsonPath.string_at("$$.Execution.Name")},
            result_selector={"run.$": "$.Payload.run", "days.$": "$.Payload.days"}, result_path="$",
            refusals=["InvalidInput"], rerunnable=True,
        )  # fmt: skip
        # A refused run (bad input, unversioned bucket) ends with the Lambda's error name and its
        # human-readable message as the cause; the error replaces the state (ResultPath "$"), so
        # even a non-object input fails cleanly.
        refused = sfn.Pass(
            self, "ReadRefusal", parameters={"error.$": "$.Error", "message.$": "States.StringToJson($.Cause)"}
        ).next(sfn.Fail(self, "Refused", error_path="$.error", cause_path="$.message.errorMessage"))
        resolve.add_catch(refused, errors=["InvalidInput"], result_path="$")
        preflight = self._invoke(
            "Preflight", lister, {"action": "preflight", "run.$": "$.run"},
            result_selector={"warnings.$": "$.Payload.warnings"}, result_path="$.preflight",
            refusals=["VersioningRequired", "ReadDenied"], rerunnable=True,
        )  # fmt: skip
        preflight.add_catch(refused, errors=["VersioningRequired", "ReadDenied"], result_path="$")

        dlq_before = self._queue_attributes(
            "CountDeadLettersBefore", dead_letter_queue, {"before.$": "$.Attributes.ApproximateNumberOfMessages"}, "$.dlq"
        )
        days = sfn.DistributedMap(
            self, "Days", items_path="$.days", max_concurrency=config.backfill_concurrency,
            item_selector={"run.$": "$.run", "day.$": "$$.Map.Item.Value"},
            result_path=sfn.JsonPath.DISCARD,  # the ledger holds the counts; the state stays small
            map_execution_type=sfn.StateMachineType.STANDARD,
            # A day that fails outside its own Catch (only a terminal error can) must not stop
            # the other days either: the summary counts the days the ledger does not account for.
            tolerated_failure_percentage=100,
        )  # fmt: skip
        days.item_processor(self._one_day(config, lister, enqueuer))

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
            {"action": "summarize", "run.$": "$.run", "warnings.$": "$.preflight.warnings",
             "dlq": {"before.$": "$.dlq.before", "after.$": "$.dlq_after.after"}},
            result_selector={"failed.$": "$.Payload.failed", "days_failed.$": "$.Payload.days_failed",
                             "cause.$": "$.Payload.cause", "output.$": "$.Payload.output"},
            result_path="$.summary", rerunnable=True,
        )  # fmt: skip
        failed = sfn.Fail(self, "RecordingsFailed", error="RecordingsFailed", cause_path="$.summary.cause")
        days_failed = sfn.Fail(self, "DaysFailed", error="DaysFailed", cause_path="$.summary.cause")
        done = sfn.Succeed(self, "Done", output_path="$.summary.output")
        finish = dlq_after.next(summarize).next(
            sfn.Choice(self, "AnyFailed")
            .when(sfn.Condition.number_greater_than("$.summary.failed", 0), failed)
            .when(sfn.Condition.number_greater_than("$.summary.days_failed", 0), days_failed)
            .otherwise(done)
        )

        drained = sfn.Condition.and_(
            sfn.Condition.string_equals("$.queue.visible", "0"),
            sfn.Condition.string_equals("$.queue.in_flight", "0"),
            sfn.Condition.string_equals("$.queue.delayed", "0"),
        )
        definition = (
            resolve.next(preflight)
            .next(dlq_before)
            .next(days)
            .next(
                sfn.Choice(self, "DryRun")
                .when(sfn.Condition.boolean_equals("$.run.dry_run", True), finish)
                .otherwise(
                    wait.next(depth).next(
                        sfn.Choice(self, "QueueDrained")
                        .when(drained, confirm_wait.next(confirm).next(
                            sfn.Choice(self, "StillDrained").when(drained, finish).otherwise(wait)))
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
            timeout=MAX_RUN,
            tracing_enabled=True,
            logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=True),
        )
        drop_redundant_role_dependency(self.state_machine, self.state_machine.role)
        self.schedule = scheduler.Schedule(
            self,
            "Daily",
            schedule=scheduler.ScheduleExpression.expression(config.schedule, TimeZone.of(config.schedule_timezone)),
            target=scheduler_targets.StepFunctionsStartExecution(
                self.state_machine, input=scheduler.ScheduleTargetInput.from_object(SCHEDULED_INPUT)
            ),
            description="Starts the call-recording optimizer for the day num_days_age days ago",
        )

    def _one_day(self, config: OptimizerConfig, lister: lambda_.IFunction, enqueuer: lambda_.IFunction) -> sfn.IChainable:
        """One day, run as a child execution: list a page, enqueue it, until the day is done.

        Before each page it waits while the work queue holds max_queued(config) messages or more,
        so a backfill never floods the queue (a message must be converted within the work queue's
        retention: the arithmetic is in stacks/queues.py).
        """
        start = sfn.Pass(self, "StartDay", parameters={"run.$": "$.run", "day.$": "$.day", "page": {"progress": {}}})
        # A day that still fails after its retries records why and ends without an output, so
        # that the run's summary names it with the input that re-runs it.
        record_failure = self._invoke(
            "RecordDayFailure", lister,
            {"action": "day_failed", "run.$": "$.run", "day.$": "$.day", "failure.$": "$.failure"},
            result_selector={}, result_path=sfn.JsonPath.DISCARD, rerunnable=True,
        ).next(sfn.Succeed(self, "DayFailed", output_path=sfn.JsonPath.DISCARD))  # fmt: skip
        room = self._queue_attributes(
            "CheckQueueRoom", self._work_queue,
            {"queued.$": "States.StringToJson($.Attributes.ApproximateNumberOfMessages)"}, "$.room",
        )  # fmt: skip
        wait_for_room = sfn.Wait(self, "WaitForRoom", time=sfn.WaitTime.duration(Duration.seconds(config.queue_poll_seconds)))
        list_page = self._invoke(
            "ListPage", lister,
            {"action": "list", "run.$": "$.run", "day.$": "$.day", "progress.$": "$.page.progress"},
            result_selector={"progress.$": "$.Payload.progress", "prefix.$": "$.Payload.prefix",
                             "objects.$": "$.Payload.objects", "counts.$": "$.Payload.counts"},
            result_path="$.page", rerunnable=True,
        )  # fmt: skip
        # Not re-run on a timeout or an unknown error: a second send of a page may follow a first
        # that got through, and the page's counts would be recorded twice. EnqueueFailed is raised
        # before anything is counted. The day's failure is recorded instead; re-running the day
        # is safe (converted recordings are skipped).
        # KnownFailuresUnavailable (DynamoDB kept keys unprocessed) is a States.TaskFailed: ListPage
        # is rerunnable (the cursor is in its input), so the page is simply listed again.
        enqueue = self._invoke(
            "EnqueuePage", enqueuer, {"run.$": "$.run", "page.$": "$.page"},
            result_selector={"progress.$": "$.Payload.progress"}, result_path="$.page",
        )  # fmt: skip
        enqueue.add_retry(errors=["EnqueueFailed"], interval=Duration.seconds(5), max_attempts=3, backoff_rate=2)
        for task in (room, list_page, enqueue):
            task.add_catch(record_failure, errors=["States.ALL"], result_path="$.failure")
        return start.next(room).next(
            sfn.Choice(self, "QueueHasRoom")
            .when(sfn.Condition.number_less_than("$.room.queued", max_queued(config)), list_page.next(enqueue).next(
                sfn.Choice(self, "MorePages")
                .when(sfn.Condition.boolean_equals("$.page.progress.cursor.done", False), room)
                .otherwise(sfn.Succeed(self, "DayDone", output_path=sfn.JsonPath.DISCARD))))
            .otherwise(wait_for_room.next(room))
        )  # fmt: skip

    def _invoke(
        self, name: str, function: lambda_.IFunction, payload: dict, *, result_selector: dict, result_path: str | None,
        refusals: list[str] | None = None, rerunnable: bool = False,
    ) -> tasks.LambdaInvoke:  # fmt: skip
        task = tasks.LambdaInvoke(
            self,
            name,
            lambda_function=function,
            payload=sfn.TaskInput.from_object(payload),
            result_selector=result_selector,
            result_path=result_path,
            retry_on_service_exceptions=False,  # added below, after the refusals
        )
        if refusals:  # the run's own input or bucket is refused: no retry, the Catch ends the run
            task.add_retry(errors=refusals, max_attempts=0)
        # What retry_on_service_exceptions adds, then throttling, then (idempotent tasks) any failure.
        task.add_retry(
            errors=["Lambda.ClientExecutionTimeoutException", "Lambda.ServiceException", "Lambda.AWSLambdaException", "Lambda.SdkClientException"],
            interval=Duration.seconds(2), max_attempts=6, backoff_rate=2,
        )  # fmt: skip
        task.add_retry(errors=_THROTTLES, interval=Duration.seconds(2), max_attempts=6, backoff_rate=2)
        if rerunnable:
            task.add_retry(errors=_RERUNNABLE, interval=Duration.seconds(2), max_attempts=3, backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)
        return task

    def _queue_attributes(self, name: str, queue: sqs.IQueue, selector: dict, result_path: str) -> tasks.CallAwsService:
        task = tasks.CallAwsService(
            self,
            name,
            service="sqs",
            action="getQueueAttributes",
            parameters={"QueueUrl": queue.queue_url, "AttributeNames": ["All"]},
            iam_resources=[queue.queue_arn],
            result_selector=selector,
            result_path=result_path,
        )
        # A read: any failure (throttling, a 5xx, a network error) is retried with backoff.
        task.add_retry(errors=["States.ALL"], interval=Duration.seconds(2), max_attempts=5, backoff_rate=2, jitter_strategy=sfn.JitterType.FULL)
        return task

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
