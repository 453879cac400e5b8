"""Step Functions' quotas, enforced on moto's engine: the emulator fails where AWS fails.

moto 5.2.5 runs the real ASL but is lenient where this stack is at risk on AWS:

- A state's input or output is at most 262,144 bytes as UTF-8, and so is the result a Map state
  builds, also with `ResultPath: null` (aws-cdk issue 24799: a Distributed Map without a
  ResultWriter returns every child's output). moto checks outputs with `<` instead of `<=` and
  never checks a Map's discarded result or a task's parameters.
- `States.DataLimitExceeded` is terminal and `States.ALL` cannot catch it, nor a `States.Runtime`
  error (Step Functions developer guide, "Error names"); moto's `States.ALL` catches both.
- An execution's history holds at most 25,000 events; "if the execution history reaches this
  quota, the execution will fail" (Step Functions service quotas). moto has no such limit and
  keeps no history at all for a Distributed Map's child executions, which on AWS are executions
  of their own, each with its own 25,000 events. AWS documents the failure, not its error name:
  the emulator ends such an execution with `States.Runtime` and a cause that names the quota.
- A Distributed Map Run fails with `States.ExceedToleratedFailureThreshold` as soon as more child
  executions fail than ToleratedFailureCount / ToleratedFailurePercentage allow, both 0 by
  default ("Tolerated failure threshold for Distributed Map state"); moto lets every child fail
  and the Map state succeed.
- An execution's TimeoutSeconds: moto enforces it already (Program.eval joins with the timeout);
  tests/emulator show it.

Every execution (parent or child) also gets its numbers, for the report: history events and the
largest state payload with the state it belongs to.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.stepfunctions.parser import quotas as moto_quotas
from moto.stepfunctions.parser.api import ExecutionFailedEventDetails, HistoryEventType
from moto.stepfunctions.parser.asl.component.common.error_name import error_equals_decl
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent, FailureEventException
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.state import state as moto_state
from moto.stepfunctions.parser.asl.component.state.exec.state_map import state_map as moto_state_map
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration import (
    distributed_iteration_component as moto_distributed,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.iteration.itemprocessor import (
    distributed_item_processor_worker as moto_worker,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_map.tolerated_failure import (
    ToleratedFailureCountDecl,
    ToleratedFailurePercentageDecl,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task import state_task_lambda as moto_task_lambda
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service as moto_task_service,
)
from moto.stepfunctions.parser.asl.eval import environment as moto_environment
from moto.stepfunctions.parser.asl.eval.event import event_manager as moto_events
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.backend import execution_worker as moto_execution_worker

MAX_PAYLOAD_BYTES = 262_144  # "Maximum input or output size for a task, state, or execution"
MAX_HISTORY_EVENTS = 25_000  # "Maximum execution history size" (Standard workflows)
_TERMINAL_EVENTS = {"ExecutionSucceeded", "ExecutionFailed", "ExecutionAborted", "ExecutionTimedOut"}
_SCHEDULED_EVENTS = {"TaskScheduled", "LambdaFunctionScheduled", "ActivityScheduled"}
_DATA_LIMIT = StatesErrorNameType.StatesStatesDataLimitExceeded
_UNCATCHABLE_BY_WILDCARD = {_DATA_LIMIT, StatesErrorNameType.StatesRuntime}


def payload_bytes(value: Any) -> int:
    """The size Step Functions counts: the compact JSON text as UTF-8."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return len(text.encode("utf-8"))


@dataclass
class Limits:
    """One execution's numbers against the quotas."""

    execution: str
    history_events: int = 0
    largest_state_bytes: int = 0
    largest_state: str | None = None

    def saw(self, state: str | None, size: int) -> None:
        if size > self.largest_state_bytes:
            self.largest_state_bytes, self.largest_state = size, state

    def as_report(self) -> dict[str, Any]:
        return {
            "largest_state_bytes": self.largest_state_bytes,
            "largest_state": self.largest_state,
            "history_events": self.history_events,
        }


@dataclass
class ExecutionRecord:
    """A parent execution and its Distributed Map children, as the emulator saw them."""

    limits: Limits
    children: list[Limits] = field(default_factory=list)
    states_entered: list[str] = field(default_factory=list)  # parent's and children's, in order seen
    map_results: dict[str, int] = field(default_factory=dict)  # Map state -> bytes of the result it built

    def largest_child(self) -> dict[str, Any] | None:
        """The largest numbers over the children: most history events, largest state."""
        if not self.children:
            return None
        biggest = max(self.children, key=lambda c: c.largest_state_bytes)
        return {
            "largest_state_bytes": biggest.largest_state_bytes,
            "largest_state": biggest.largest_state,
            "history_events": max(c.history_events for c in self.children),
        }

    def as_report(self) -> dict[str, Any]:
        return {
            **self.limits.as_report(),
            # Every execution the run started, the parent and its children of every round.
            "executions": 1 + len(self.children),
            "largest_history_events": max([self.limits.history_events, *(c.history_events for c in self.children)]),
            "child_executions": len(self.children),
            "largest_child": self.largest_child(),
            "map_results": dict(self.map_results),
        }


_lock = threading.RLock()
_records: dict[str, ExecutionRecord] = {}  # parent execution ARN -> record


def record_of(execution_arn: str) -> ExecutionRecord | None:
    with _lock:
        return _records.get(execution_arn)


def _failure(env: Any, error: StatesErrorNameType, cause: str) -> FailureEventException:
    name = StatesErrorName(typ=error)
    details = ExecutionFailedEventDetails(error=name.error_name, cause=cause)
    return FailureEventException(
        FailureEvent(
            env=env,
            error_name=name,
            event_type=HistoryEventType.TaskFailed,
            # moto's TypedDict marks every one of its optional fields as required.
            event_details=EventDetails(executionFailedEventDetails=details),  # type: ignore[typeddict-item]
        )
    )


def data_limit_exceeded(env: Any, state: str, what: str, size: int) -> FailureEventException:
    return _failure(
        env,
        _DATA_LIMIT,
        f"The {what} of state '{state}' is {size:,} bytes, above Step Functions' quota of {MAX_PAYLOAD_BYTES:,} bytes "
        "for a state's input or output (States.DataLimitExceeded is terminal: no Catch handles it).",
    )


class QuotaEventManager(moto_events.EventManager):
    """One execution's history: counted, measured, and ended at the 25,000-event quota.

    `virtual` counts the execution events moto does not emit for a child execution
    (ExecutionStarted now, its end in `close()`)."""

    def __init__(
        self, limits: Limits, env: Any, record: ExecutionRecord | None, *, virtual: int = 0, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.limits, self.env, self.record = limits, env, record
        self.limits.history_events += virtual
        self._guard = threading.Lock()
        self._ended = False
        self._state: str | None = None

    def add_event(
        self,
        context: Any,
        event_type: Any,
        event_details: Any = None,
        timestamp: Any = None,
        update_source_event_id: bool = True,
    ) -> int:
        kind = getattr(event_type, "value", str(event_type))
        with self._guard:
            if self._ended and kind not in _TERMINAL_EVENTS:
                return context.source_event_id  # the execution has failed at the quota: nothing more is recorded
            if kind not in _TERMINAL_EVENTS and self.limits.history_events + 1 >= MAX_HISTORY_EVENTS:
                # The 25,000th event may only be the execution's end.
                self._ended = True
                fail_execution(
                    self.env,
                    "States.Runtime",
                    f"The execution reached Step Functions' quota of {MAX_HISTORY_EVENTS:,} history events "
                    f"(its next event, {kind}, would have been number {self.limits.history_events + 1:,}).",
                )
                return context.source_event_id
            self.limits.history_events += 1
            oversized = self._measure(kind, event_details)
        if oversized is not None:
            raise oversized
        return super().add_event(context, event_type, event_details, timestamp, update_source_event_id)

    def _measure(self, kind: str, details: Any) -> FailureEventException | None:
        for value in (details or {}).values():
            if not isinstance(value, dict):
                continue
            if kind.endswith("StateEntered") and value.get("name"):
                self._state = value["name"]
                if self.record is not None:
                    self.record.states_entered.append(self._state)
            for key in ("input", "output", "parameters"):
                if isinstance(value.get(key), str):
                    size = len(value[key].encode("utf-8"))
                    self.limits.saw(value.get("name") or self._state, size)
                    if kind in _SCHEDULED_EVENTS and size > MAX_PAYLOAD_BYTES:
                        return data_limit_exceeded(self.env, self._state or "?", "task input (parameters)", size)
        return None

    def close(self) -> None:
        self.limits.history_events += 1  # the child execution's own ExecutionSucceeded / ExecutionFailed


def fail_execution(env: Any, error: str, cause: str) -> None:
    """Fails an execution (or a child's job frame) for good: later errors do not replace this one."""
    details = ExecutionFailedEventDetails(error=error, cause=cause)
    env._quota_failure = details
    env.set_error(details)


class _Patches:
    def __init__(self) -> None:
        self._saved: list[tuple[Any, str, Any]] = []

    def set(self, owner: Any, name: str, value: Any) -> None:
        self._saved.append((owner, name, owner.__dict__[name] if isinstance(owner, type) else getattr(owner, name)))
        setattr(owner, name, value)

    def wrap(self, owner: type, name: str, make: Callable[[Any], Any]) -> None:
        self.set(owner, name, make(owner.__dict__[name]))

    def undo(self) -> None:
        for owner, name, value in reversed(self._saved):
            setattr(owner, name, value)
        self._saved.clear()


_map_state = threading.local()  # the Map state whose iteration runs in this thread


def _within_quota(value: Any) -> bool:
    # moto's own check uses `<`; the quota is "at most" 262,144 bytes.
    return payload_bytes(value) <= MAX_PAYLOAD_BYTES


def _install(p: _Patches) -> None:
    for module in (moto_quotas, moto_state, moto_task_lambda, moto_task_service):
        p.set(module, "is_within_size_quota", _within_quota)

    def error_equals(original: Any) -> Any:
        def _eval_body(self: Any, env: Any) -> None:
            error_name = env.stack[-1]
            if isinstance(error_name, StatesErrorName) and error_name.typ in _UNCATCHABLE_BY_WILDCARD:
                env.stack.pop()
                # Terminal: only an explicit name could match, and DataLimitExceeded not even that.
                env.stack.append(error_name.typ != _DATA_LIMIT and error_name in self.error_names)
                return
            original(self, env)

        return _eval_body

    p.wrap(error_equals_decl.ErrorEqualsDecl, "_eval_body", error_equals)

    def set_error(original: Any) -> Any:
        def wrapper(self: Any, error: Any) -> None:
            original(self, getattr(self, "_quota_failure", None) or error)

        return wrapper

    p.wrap(moto_environment.Environment, "set_error", set_error)

    def state_body(original: Any) -> Any:
        def _eval_body(self: Any, env: Any) -> None:
            size = payload_bytes(env.states.get_input())
            if size > MAX_PAYLOAD_BYTES:
                raise data_limit_exceeded(env, self.name, "input", size)
            original(self, env)

        return _eval_body

    p.wrap(moto_state.CommonStateField, "_eval_body", state_body)

    def evaluation_environment(original: Any) -> Any:
        def wrapper(self: Any) -> Any:
            env = original(self)
            arn = self._evaluation_details.execution_details.arn
            record = ExecutionRecord(Limits(arn))
            with _lock:
                _records[arn] = record
            env.event_manager = QuotaEventManager(
                record.limits, env, record, cloud_watch_logging_session=env.cloud_watch_logging_session
            )
            return env

        return wrapper

    p.wrap(moto_execution_worker.ExecutionWorker, "_get_evaluation_environment", evaluation_environment)

    def from_state_props(original: Any) -> Any:
        def wrapper(self: Any, state_props: Any) -> None:
            original(self, state_props)
            self._tolerance_given = (
                state_props.get(ToleratedFailureCountDecl) is not None,
                state_props.get(ToleratedFailurePercentageDecl) is not None,
            )

        return wrapper

    p.wrap(moto_state_map.StateMap, "from_state_props", from_state_props)

    def map_execution(original: Any) -> Any:
        def wrapper(self: Any, env: Any) -> None:
            previous = getattr(_map_state, "state", None)
            _map_state.state = self
            try:
                original(self, env)
            finally:
                _map_state.state = previous

        return wrapper

    p.wrap(moto_state_map.StateMap, "_eval_execution", map_execution)

    def map_run(original: Any) -> Any:
        def wrapper(self: Any, env: Any, eval_input: Any) -> None:
            original(self, env, eval_input)
            outputs = env.stack[-1]
            _check_tolerance(env, eval_input, len(outputs))
            size = payload_bytes(outputs)
            record = record_of(env.states.context_object.context_object_data["Execution"]["Id"])
            if record is not None:
                record.limits.saw(f"{eval_input.state_name} (Map result)", size)
                record.map_results[eval_input.state_name] = size
            if size > MAX_PAYLOAD_BYTES:
                raise data_limit_exceeded(
                    env, eval_input.state_name, "result (the array of its child executions' outputs)", size
                )

        return wrapper

    p.wrap(moto_distributed.DistributedIterationComponent, "_map_run", map_run)

    def eval_job(original: Any) -> Any:
        def wrapper(self: Any, env: Any, job: Any) -> None:
            parent = env.states.context_object.context_object_data["Execution"]["Id"]
            record = record_of(parent)
            limits = Limits(f"{parent}/{self._work_name}/{job.job_index}")
            manager = QuotaEventManager(limits, env, record, virtual=1)
            env.event_manager = manager
            try:
                original(self, env, job)
            finally:
                manager.close()
                if record is not None:
                    with _lock:
                        record.children.append(limits)

        return wrapper

    p.wrap(moto_worker.DistributedItemProcessorWorker, "_eval_job", eval_job)

    def eval_pool(_original: Any) -> Any:
        # moto's version recurses once per job: a worker's thousands of days overflow Python's
        # recursion limit. The same steps as a loop.
        def _eval_pool(self: Any, job: Any, worker_frame: Any) -> None:
            while True:
                if job is None:
                    self._env.delete_frame(worker_frame)
                    return
                job_frame = worker_frame.open_inner_frame()
                self._eval_job(env=job_frame, job=job)
                worker_frame.delete_frame(job_frame)
                if isinstance(job.job_output, Exception) or self.stopped():
                    self._env.delete_frame(worker_frame)
                    self._job_pool.close_job(job)
                    return
                next_job = self._job_pool.next_job()
                if next_job is None:
                    self._env.delete_frame(worker_frame)
                    self._job_pool.close_job(job)
                    return
                self._job_pool.close_job(job)
                job = next_job

        return _eval_pool

    p.wrap(moto_worker.DistributedItemProcessorWorker, "_eval_pool", eval_pool)


def _check_tolerance(env: Any, eval_input: Any, total: int) -> None:
    counter = eval_input.map_run_record.item_counter
    failed = counter.failed.get() + counter.timed_out.get()
    if not failed:
        return
    state = getattr(_map_state, "state", None)
    count_given, percentage_given = getattr(state, "_tolerance_given", (False, False))
    exceeded = (
        (count_given and failed > eval_input.tolerated_failure_count)
        or (percentage_given and failed * 100.0 / max(total, 1) > eval_input.tolerated_failure_percentage)
        or not (count_given or percentage_given)  # both default to 0
    )
    if exceeded:
        raise _failure(
            env,
            StatesErrorNameType.StatesExceedToleratedFailureThreshold,
            f"The Map Run of state '{eval_input.state_name}' failed: {failed} of its {total} child executions failed, "
            "more than its tolerated failure threshold (ToleratedFailureCount / ToleratedFailurePercentage, 0 by "
            "default).",
        )


_installed = 0
_patches = _Patches()


@contextmanager
def enforced() -> Iterator[None]:
    """Installs the quotas on moto's Step Functions engine while active (re-entrant)."""
    global _installed
    with _lock:
        if _installed == 0:
            _install(_patches)
        _installed += 1
    try:
        yield
    finally:
        with _lock:
            _installed -= 1
            if _installed == 0:
                _patches.undo()
                _records.clear()
