"""Running one execution of the deployed state machine while the converter drains the queue."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3

from stacks.orchestration import FIRST_STATE_OF_A_DAY

from . import quotas
from .deploy import REGION, Deployment
from .history import history, recording
from .runtime import InProcessLambdas, QueuePoller


@dataclass
class Execution:
    status: str
    input: Any
    output: Any = None
    error: str | None = None
    cause: str | None = None
    history_events: int = 0
    seconds: float = 0.0
    states_entered: list[str] = field(default_factory=list)  # the parent's and every child's
    max_state_bytes: int = 0  # any state's input, output or task parameters, parent or child
    child_executions: int = 0
    largest_child_history_events: int = 0
    summary: Any = None  # the Summarize state's output, also when the execution failed
    # Against Step Functions' quotas (strict emulator): {"largest_state_bytes", "largest_state",
    # "history_events", "child_executions", "largest_child": the same over its children}
    limits: dict[str, Any] | None = None

    def as_report(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "input": self.input,
            "output": self.output,
            "error": self.error,
            "cause": self.cause,
            "summary": self.summary,
            "history_events": self.history_events,
            "child_executions": self.child_executions,
            "largest_child_history_events": self.largest_child_history_events,
            "limits": self.limits,
            "seconds": self.seconds,
        }


def run_execution(
    deployment: Deployment,
    lambdas: InProcessLambdas,
    execution_input: Any,
    *,
    progress: Callable[[list[QueuePoller]], None] | None = None,
    timeout_s: float = 900,
    pollers: list[QueuePoller] | None = None,
    name: str | None = None,
) -> Execution:
    """Starts one execution (named `name`, or a random local-… name) and runs it to its end."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    pollers = pollers if pollers is not None else [QueuePoller(source, lambdas) for source in deployment.event_sources]
    raw_input = execution_input if isinstance(execution_input, str) else json.dumps(execution_input)
    started = time.monotonic()
    with recording(FIRST_STATE_OF_A_DAY) as stats:
        described, arn = _run(sfn, deployment, raw_input, pollers, progress, started, timeout_s, name)
    events = history(sfn, arn)
    try:
        parsed_input = json.loads(raw_input)
    except ValueError:
        parsed_input = raw_input
    output = described.get("output")
    execution = Execution(
        status=described["status"],
        input=parsed_input,
        output=json.loads(output) if output else None,
        error=described.get("error"),
        cause=described.get("cause"),
        history_events=len(events),
        seconds=round(time.monotonic() - started, 3),
        states_entered=[e.name for e in stats.events if e.kind.endswith("StateEntered") and e.name],
        max_state_bytes=stats.largest_payload_bytes,
        child_executions=stats.children,
        largest_child_history_events=stats.largest_child_events,
    )
    record = quotas.record_of(arn)
    if record is not None:  # the strict emulator counted every execution, children included
        child = record.largest_child() or {}
        execution.limits = record.as_report()
        execution.history_events = record.limits.history_events
        execution.states_entered = list(record.states_entered)
        execution.max_state_bytes = max(record.limits.largest_state_bytes, child.get("largest_state_bytes", 0))
        execution.child_executions = len(record.children)
        execution.largest_child_history_events = child.get("history_events", 0)
    return execution


def _run(
    sfn: Any,
    deployment: Deployment,
    raw_input: str,
    pollers: list[QueuePoller],
    progress: Any,
    started: float,
    timeout_s: float,
    name: str | None = None,
) -> tuple[dict[str, Any], str]:
    arn = sfn.start_execution(
        stateMachineArn=deployment.state_machine_arn, name=name or f"local-{uuid.uuid4().hex[:12]}", input=raw_input
    )["executionArn"]
    while True:
        worked = sum(p.poll_once().received for p in pollers)
        described = sfn.describe_execution(executionArn=arn)
        if progress:
            progress(pollers)
        if described["status"] != "RUNNING":
            break
        if time.monotonic() - started > timeout_s:
            sfn.stop_execution(
                executionArn=arn, error="LocalTimeout", cause=f"the local run took more than {timeout_s} s"
            )
            described = sfn.describe_execution(executionArn=arn)
            break
        if not worked:
            time.sleep(0.05)
    for poller in pollers:  # the converter invocations still running end before the report
        drain = getattr(poller, "drain", None)
        if drain is not None:
            drain()
    return described, arn
