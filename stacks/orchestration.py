"""The daily state machine: resolve the day, list and enqueue it page by page, wait until every
recording it enqueued has its outcome in the run's ledger, then succeed with a summary or fail
with RecordingsFailed / RecordingsUnaccounted / DaysFailed, or, a verify run, CustodyMismatch (a
dry run always succeeds).

A day of any size: its child execution lists a bounded number of pages and waits a bounded number
of times (a round), then saves its progress and ends; the parent runs the Map again over the days
that paused, each resuming from its cursor, until none is left (optimizer/rounds.py has the
history arithmetic). Every execution, parent and children of every round, stays under Step
Functions' 25,000 history events.

Each Lambda task invokes the function's version published with this deployment, not $LATEST: an
execution keeps the code it started with for all of its up to 14 days (MAX_RUN), and a
deployment meanwhile changes nothing under it. Superseded versions are retained (RemovalPolicy
RETAIN) and pruned by ./cdk-deploy.sh once superseded more than MAX_RUN + a day ago
(scripts/prune_versions.py).

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

from optimizer import listing, rounds

from .capacity import redrive_threshold
from .config import LOG_RETENTION, OptimizerConfig
from .functions import drop_redundant_role_dependency
from .queues import max_queued
from .retention import expire_branch

# A guard, not a schedule: a run ends when its own recordings are accounted for (CheckRun), or at
# CheckRun's bound. A backfill may take days (no message outlives the work queue's 7 days:
# stacks/capacity.py). The parent polls its ledger only after its last day is listed (the days'
# own waits happen in their child executions), so its history stays small however long the run is.
MAX_RUN = Duration.days(14)
SCHEDULED_INPUT = {"specific_date": ""}
RETENTION_INPUT = {"expire": True}  # the second schedule's, with retention_days on
_THROTTLES = ["Lambda.TooManyRequestsException"]
# What the queue holds, for backpressure: visible, in flight (received, being converted or waiting
# for their visibility timeout to retry) and delayed. A standard queue takes at most ~120,000 in
# flight (Amazon SQS developer guide, "Amazon SQS standard queue quotas": "approximately 120,000
# in flight messages"), and a widespread transient failure keeps thousands in flight for the
# visibility timeout.
QUEUE_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)
# The emulator tells a child execution (one day) by its first state (emulator/run.py).
FIRST_STATE_OF_A_DAY = "StartDay"


def stalled_waits_limit(config: OptimizerConfig) -> int:
    """The waits in a row, `queue_poll_seconds` apart, during which the queue did not shrink before
    a day fails QueueNotDraining: as long as a message at the head of the queue may be received and
    time out every time before it is dead-lettered (redrive threshold x visibility timeout: 9 h at
    the defaults), plus one visibility timeout. A shrinking queue starts the count again, so a day
    that waits behind a slow but working converter never fails. Counted across a day's rounds."""
    seconds = (redrive_threshold(config) + 1) * config.visibility_timeout_seconds
    return -(-seconds // config.queue_poll_seconds)


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
        expirer: lambda_.IFunction | None = None,
        restorer: lambda_.IFunction | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self._work_queue = work_queue
        self._restorer = restorer

        resolve = self._invoke(
            "ResolveRun",
            lister,
            {
                "input": sfn.JsonPath.entire_payload,
                "execution": sfn.JsonPath.string_at("$$.Execution.Name"),
            },
            result_selector={"run.$": "$.Payload.run", "round": {"days.$": "$.Payload.days", "number": 1}},
            result_path="$",
            refusals=["InvalidInput"],
            rerunnable=True,
        )
        # A refused run (bad input, unversioned bucket) ends with the Lambda's error name and its
        # human-readable message as the cause; the error replaces the state (ResultPath "$"), so
        # even a non-object input fails cleanly.
        refused = sfn.Pass(
            self, "ReadRefusal", parameters={"error.$": "$.Error", "message.$": "States.StringToJson($.Cause)"}
        ).next(sfn.Fail(self, "Refused", error_path="$.error", cause_path="$.message.errorMessage"))
        resolve.add_catch(refused, errors=["InvalidInput"], result_path="$")
        preflight = self._invoke(
            "Preflight",
            lister,
            {"run.$": "$.run"},
            # bucket_rules: what the bucket's own rules are, for the dry run's projection (Summarize)
            result_selector={"warnings.$": "$.Payload.warnings", "bucket_rules.$": "$.Payload.bucket_rules"},
            result_path="$.preflight",
            refusals=["VersioningRequired", "ReadDenied"],
            rerunnable=True,
        )
        preflight.add_catch(refused, errors=["VersioningRequired", "ReadDenied"], result_path="$")

        days = sfn.DistributedMap(
            self,
            "Days",
            items_path="$.round.days",
            max_concurrency=config.backfill_concurrency,
            item_selector={"run.$": "$.run", "day.$": "$$.Map.Item.Value", "round.$": "$.round.number"},
            result_path=sfn.JsonPath.DISCARD,  # the ledger holds the counts; the state stays small
            map_execution_type=sfn.StateMachineType.STANDARD,
            # A day that fails outside its own Catch (only a terminal error can) must not stop
            # the other days either: the summary counts the days the ledger does not account for.
            tolerated_failure_percentage=100,
        )
        days.item_processor(self._one_day(config, lister, enqueuer))
        # The days whose child execution paused in this round run again in the next, from their
        # cursors; at most rounds.MAX_ROUNDS rounds (NextRound then records the rest DayTooLong).
        next_round = self._invoke(
            "NextRound",
            lister,
            {"run.$": "$.run", "round.$": "$.round.number"},
            result_selector={"days.$": "$.Payload.days", "number.$": "$.Payload.round", "more.$": "$.Payload.more"},
            result_path="$.round",
            rerunnable=True,
        )

        # The run is finished when every recording it put on the queue has its outcome in the
        # run's ledger (optimizer/completion.py): its own recordings, whatever else the queue
        # holds, each counted once however often SQS delivers it. The wait is bounded in time and
        # in polls; CheckRun says when to stop and how long to wait until it asks again.
        start_waiting = sfn.Pass(
            self, "StartWaiting", result=sfn.Result.from_object({"polls": 0, "since": 0}), result_path="$.drain"
        )
        check = self._invoke(
            "CheckRun",
            lister,
            {"run.$": "$.run", "drain.$": "$.drain"},
            result_selector={
                "state.$": "$.Payload.state",
                "polls.$": "$.Payload.polls",
                "since.$": "$.Payload.since",
                "wait_seconds.$": "$.Payload.wait_seconds",
                "waited_seconds.$": "$.Payload.waited_seconds",
            },
            result_path="$.drain",
            rerunnable=True,
        )
        wait = sfn.Wait(self, "WaitForRecordings", time=sfn.WaitTime.seconds_path("$.drain.wait_seconds"))
        summarize = self._invoke(
            "Summarize",
            lister,
            {
                "run.$": "$.run",
                "warnings.$": "$.preflight.warnings",
                "bucket_rules.$": "$.preflight.bucket_rules",
                "drain.$": "$.drain",
            },
            result_selector={
                "error.$": "$.Payload.error",
                "cause.$": "$.Payload.cause",
                "output.$": "$.Payload.output",
            },
            result_path="$.summary",
            rerunnable=True,
        )
        outcome = sfn.Choice(self, "Outcome").when(
            sfn.Condition.is_null("$.summary.error"), sfn.Succeed(self, "Done", output_path="$.summary.output")
        )
        # CustodyMismatch: a verify run found a converted recording that differs from its record
        # (optimizer/custody.py, optimizer/summary.py).
        for error in ("RecordingsFailed", "RecordingsUnaccounted", "DaysFailed", "CustodyMismatch"):
            outcome.when(
                sfn.Condition.string_equals("$.summary.error", error),
                sfn.Fail(self, error, error=error, cause_path="$.summary.cause"),
            )
        summarize.next(outcome)

        after_days = start_waiting.next(
            sfn.Choice(self, "DryRun")
            .when(sfn.Condition.boolean_equals("$.run.dry_run", True), summarize)
            .otherwise(
                check.next(
                    sfn.Choice(self, "AllAccounted")
                    .when(sfn.Condition.string_equals("$.drain.state", "waiting"), wait.next(check))
                    .otherwise(summarize)
                )
            )
        )
        # Retention by the recording's date (only when on): ResolveRun's "expire" runs go their own
        # way, without Preflight or the queue (stacks/retention.py).
        first: sfn.IChainable = preflight
        if expirer is not None:
            first = expire_branch(self, expirer, preflight, refused, self._invoke)
        definition = resolve
        resolve.next(first)
        (
            preflight.next(days)
            .next(next_round)
            .next(
                sfn.Choice(self, "MoreRounds")
                .when(sfn.Condition.boolean_equals("$.round.more", True), days)
                .otherwise(after_days)
            )
        )

        log_group = logs.LogGroup(
            self,
            "Logs",
            retention=logs.RetentionDays[LOG_RETENTION[config.log_retention_days]],
            removal_policy=RemovalPolicy.RETAIN,
        )
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            definition_body=sfn.DefinitionBody.from_chainable(definition),
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=MAX_RUN,
            tracing_enabled=True,
            # ERROR without execution data by default: a failed state's error and cause, never the
            # states' input and output (each page's keys); more with state_machine_log_level=ALL
            # and state_machine_log_execution_data=true (docs/security.md#what-is-stored-where).
            logs=sfn.LogOptions(
                destination=log_group,
                level=sfn.LogLevel[config.state_machine_log_level],
                include_execution_data=config.state_machine_log_execution_data,
            ),
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
            enabled=config.schedule_enabled,  # false: deployed paused (README.md#before-production-a-careful-first-day)
        )
        if expirer is not None:
            self.retention_schedule = scheduler.Schedule(
                self,
                "DailyRetention",
                schedule=scheduler.ScheduleExpression.expression(
                    config.schedule, TimeZone.of(config.schedule_timezone)
                ),
                target=scheduler_targets.StepFunctionsStartExecution(
                    self.state_machine, input=scheduler.ScheduleTargetInput.from_object(RETENTION_INPUT)
                ),
                description="Deletes the recordings of the day retention_days + 1 days ago (retention by date)",
                enabled=config.schedule_enabled,
            )

    def _one_day(
        self, config: OptimizerConfig, lister: lambda_.IFunction, enqueuer: lambda_.IFunction
    ) -> sfn.IChainable:
        """One day, run as a child execution: list a page, enqueue it, until the day is done.

        Before each page it waits while the work queue holds max_queued(config) messages or more,
        so a backfill never floods the queue (a message must be converted within the work queue's
        retention: the arithmetic is in stacks/queues.py).
        """
        start = sfn.Pass(
            self,
            FIRST_STATE_OF_A_DAY,
            parameters={
                "run.$": "$.run",
                "day.$": "$.day",
                "round.$": "$.round",
                "page": {"progress": listing.new_progress()},
            },
        )
        # From the second round on, the day goes on from where its previous round paused.
        resume = self._invoke(
            "ResumeDay",
            lister,
            {"run.$": "$.run", "day.$": "$.day"},
            result_selector={"progress.$": "$.Payload.progress"},
            result_path="$.page",
            rerunnable=True,
        )
        # A day that still fails after its retries records why and ends without an output, so
        # that the run's summary names it with the input that re-runs it.
        record_failure = self._invoke(
            "RecordDayFailure",
            lister,
            {"run.$": "$.run", "day.$": "$.day", "failure.$": "$.failure"},
            result_selector={},
            result_path=sfn.JsonPath.DISCARD,
            rerunnable=True,
        ).next(sfn.Succeed(self, "DayFailed", output_path=sfn.JsonPath.DISCARD))
        # The round's budget is spent: the day's progress is saved and the parent's next round
        # resumes it (optimizer/rounds.py).
        pause = self._invoke(
            "PauseDay",
            lister,
            {"run.$": "$.run", "day.$": "$.day", "round.$": "$.round", "progress.$": "$.page.progress"},
            result_selector={},
            result_path=sfn.JsonPath.DISCARD,
            rerunnable=True,
        )
        pause.next(sfn.Succeed(self, "DayPaused", output_path=sfn.JsonPath.DISCARD))
        counts = [f"States.StringToJson($.Attributes.{name})" for name in QUEUE_COUNTS]
        room = self._queue_attributes(
            "CheckQueueRoom",
            self._work_queue,
            {"queued.$": f"States.MathAdd(States.MathAdd({counts[0]}, {counts[1]}), {counts[2]})"},
            "$.room",
        )
        wait_for_room = sfn.Wait(
            self, "WaitForRoom", time=sfn.WaitTime.duration(Duration.seconds(config.queue_poll_seconds))
        )
        # Waits in a row without the queue shrinking are bounded (stalled_waits_limit), so that a
        # day whose queue never drains (converters failing, throttled or disabled) ends with its
        # own error, named in the summary with the input that re-runs it. A listed page starts the
        # count again (optimizer/listing.py, advance); so does a check that finds the queue smaller.
        waits = "$.page.progress.waits"
        reset_stall = sfn.Pass(
            self,
            "ResetStall",
            parameters={"n.$": f"States.MathAdd({waits}.n, 1)", "stalled": 0, "last.$": "$.room.queued"},
            result_path=waits,
        )
        count_stall = sfn.Pass(
            self,
            "CountStall",
            parameters={
                "n.$": f"States.MathAdd({waits}.n, 1)",
                "stalled.$": f"States.MathAdd({waits}.stalled, 1)",
                "last.$": "$.room.queued",
            },
            result_path=waits,
        )
        stalled_limit = stalled_waits_limit(config)
        not_draining = sfn.Pass(
            self,
            "QueueNotDraining",
            result_path="$.failure",
            result=sfn.Result.from_object(
                {
                    "Error": "QueueNotDraining",
                    "Cause": (
                        f"the work queue held {max_queued(config)} messages or more (visible, in flight and delayed) "
                        f"and did not shrink through {stalled_limit} checks in a row, {config.queue_poll_seconds} s "
                        "apart: the converter is not keeping up or not running (see its Errors and Throttles, and the "
                        "queue's age alarm); what this day listed before is on the queue, the rest was not listed"
                    ),
                }
            ),
        )
        still_waiting = (
            sfn.Choice(self, "StillWaiting")
            .when(sfn.Condition.number_greater_than_equals(f"{waits}.stalled", stalled_limit), not_draining)
            .when(sfn.Condition.number_greater_than_equals(f"{waits}.n", rounds.WAITS_PER_ROUND), pause)
            .otherwise(wait_for_room)
        )
        not_draining.next(record_failure)
        reset_stall.next(still_waiting)
        count_stall.next(still_waiting)
        wait_for_room.next(room)
        list_page = self._list_page("ListPage", lister)
        # KnownFailuresUnavailable (DynamoDB kept keys unprocessed) is a States.TaskFailed: ListPage
        # is rerunnable (the cursor is in its input), so the page is simply listed again.
        # EnqueuePage is rerunnable too: the page's marker in the ledger says which of its
        # recordings SQS accepted, so another attempt sends only the rest and counts each once.
        enqueue = self._invoke(
            "EnqueuePage",
            enqueuer,
            {"run.$": "$.run", "page.$": "$.page"},
            result_selector={"progress.$": "$.Payload.progress"},
            result_path="$.page",
            rerunnable=True,
        )
        day_done = sfn.Succeed(self, "DayDone", output_path=sfn.JsonPath.DISCARD)
        more_pages = (
            sfn.Choice(self, "MorePages")
            .when(sfn.Condition.boolean_equals("$.page.progress.cursor.done", True), day_done)
            .when(
                sfn.Condition.number_greater_than_equals("$.page.progress.pages", rounds.PAGES_PER_ROUND),
                pause,
            )
            .otherwise(room)
        )
        for task in (resume, room, list_page, enqueue, pause):
            task.add_catch(record_failure, errors=["States.ALL"], result_path="$.failure")
        room.next(
            sfn.Choice(self, "QueueHasRoom")
            .when(
                sfn.Condition.number_less_than("$.room.queued", max_queued(config)),
                list_page.next(enqueue).next(more_pages),
            )
            .otherwise(
                sfn.Choice(self, "Shrank")
                .when(sfn.Condition.number_less_than_json_path("$.room.queued", f"{waits}.last"), reset_stall)
                .otherwise(count_stall)
            )
        )
        resuming = sfn.Choice(self, "Resuming")
        if self._restorer is not None:
            self._undo_loop(resuming, lister, self._restorer, pause, day_done, record_failure)
        return start.next(
            resuming.when(sfn.Condition.number_greater_than("$.round", 1), resume.next(room)).otherwise(room)
        )

    def _list_page(self, name: str, lister: lambda_.IFunction) -> tasks.LambdaInvoke:
        """A day's next page (ListPage, or an undo's ListUndoPage): the lister's same function."""
        return self._invoke(
            name,
            lister,
            {"run.$": "$.run", "day.$": "$.day", "progress.$": "$.page.progress"},
            result_selector={
                "progress.$": "$.Payload.progress",
                "prefix.$": "$.Payload.prefix",
                "page_id.$": "$.Payload.page_id",
                "objects.$": "$.Payload.objects",
                "counts.$": "$.Payload.counts",
            },
            result_path="$.page",
            rerunnable=True,
        )

    def _undo_loop(
        self,
        resuming: sfn.Choice,
        lister: lambda_.IFunction,
        restorer: lambda_.IFunction,
        pause: sfn.IChainable,
        day_done: sfn.State,
        record_failure: sfn.IChainable,
    ) -> None:
        """An undo's day (input "undo": true, optimizer/undo.py): its pages go to the restorer
        instead of the queue, so it needs no room on the queue. Its own loop, chosen once per
        round where the day starts (Resuming), so that a conversion's pages record no more events
        than before; an undo's page records 12 (ListUndoPage 5, UndoPage 5, MoreUndoPages 2), fewer
        than a conversion's PAGE_EVENTS (optimizer/rounds.py). ResolveRun sets run.undo only for an
        undo (true): its presence is the test (a comparison on a missing field would fail)."""
        list_undo = self._list_page("ListUndoPage", lister)
        resume_undo = self._invoke(
            "ResumeUndoDay",
            lister,
            {"run.$": "$.run", "day.$": "$.day"},
            result_selector={"progress.$": "$.Payload.progress"},
            result_path="$.page",
            rerunnable=True,
        )
        # Rerunnable: a retried page undoes what is left and counts the page once (its marker).
        undo_page = self._invoke(
            "UndoPage",
            restorer,
            {"run.$": "$.run", "page.$": "$.page"},
            result_selector={"progress.$": "$.Payload.progress"},
            result_path="$.page",
            rerunnable=True,
        )
        for task in (list_undo, resume_undo, undo_page):
            task.add_catch(record_failure, errors=["States.ALL"], result_path="$.failure")
        list_undo.next(undo_page).next(
            sfn.Choice(self, "MoreUndoPages")
            .when(sfn.Condition.boolean_equals("$.page.progress.cursor.done", True), day_done)
            .when(
                sfn.Condition.number_greater_than_equals("$.page.progress.pages", rounds.PAGES_PER_ROUND),
                pause,
            )
            .otherwise(list_undo)
        )
        undoing = sfn.Condition.is_present("$.run.undo")
        resuming.when(
            sfn.Condition.and_(undoing, sfn.Condition.number_greater_than("$.round", 1)), resume_undo.next(list_undo)
        ).when(undoing, list_undo)

    def _invoke(
        self,
        name: str,
        function: lambda_.IFunction,
        payload: dict,
        *,
        result_selector: dict,
        result_path: str | None,
        refusals: list[str] | None = None,
        rerunnable: bool = False,
    ) -> tasks.LambdaInvoke:
        task = tasks.LambdaInvoke(
            self,
            name,
            # The version published with this deployment: an execution keeps its code (module doc).
            lambda_function=function.current_version if isinstance(function, lambda_.Function) else function,
            # The payload names its state: the function looks its code up by it (lister.STATES).
            payload=sfn.TaskInput.from_object({"action": name, **payload}),
            result_selector=result_selector,
            result_path=result_path,
            retry_on_service_exceptions=False,  # added below, after the refusals
        )
        if refusals:  # the run's own input or bucket is refused: no retry, the Catch ends the run
            task.add_retry(errors=refusals, max_attempts=0)
        # What retry_on_service_exceptions adds, then throttling, then (idempotent tasks) any failure.
        task.add_retry(
            errors=[
                "Lambda.ClientExecutionTimeoutException",
                "Lambda.ServiceException",
                "Lambda.AWSLambdaException",
                "Lambda.SdkClientException",
            ],
            interval=Duration.seconds(2),
            max_attempts=6,
            backoff_rate=2,
        )
        task.add_retry(errors=_THROTTLES, interval=Duration.seconds(2), max_attempts=6, backoff_rate=2)
        if rerunnable:
            task.add_retry(
                errors=_RERUNNABLE,
                interval=Duration.seconds(2),
                max_attempts=3,
                backoff_rate=2,
                jitter_strategy=sfn.JitterType.FULL,
            )
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
        task.add_retry(
            errors=["States.ALL"],
            interval=Duration.seconds(2),
            max_attempts=5,
            backoff_rate=2,
            jitter_strategy=sfn.JitterType.FULL,
        )
        return task
