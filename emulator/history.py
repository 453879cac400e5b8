"""Reading an execution's history (history()), and measuring what moto's Step Functions engine
does not expose, when the emulator runs lenient (deploy(strict=False)): the histories of a
Distributed Map's child executions (moto runs them in-process and keeps no history for them) and
the largest state payload anywhere, parent or child. The strict emulator counts each execution
exactly instead (emulator.quotas).

Every history event moto emits is recorded. Child events are told apart by their worker thread:
one worker runs one child at a time, from its first state to its last; the Task events (scheduled,
started, succeeded) that moto emits from other threads are three per task state and are added by
count. Each child also gets the two execution events (started, ended) that AWS records.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from moto.stepfunctions.parser.asl.eval.event import event_manager as moto_events

EXECUTION_EVENTS = 2  # ExecutionStarted + ExecutionSucceeded/Failed
TASK_EXTRA_EVENTS = 3  # TaskScheduled, TaskStarted, TaskSucceeded/Failed


@dataclass
class _Event:
    manager: int
    thread: int
    kind: str
    name: str | None
    payload: int


@dataclass
class HistoryStats:
    children: int = 0
    largest_child_events: int = 0
    largest_payload_bytes: int = 0
    events: list[_Event] = field(default_factory=list, repr=False)


def _payload_bytes(details: Any) -> tuple[str | None, int]:
    if not details:
        return None, 0
    name, largest = None, 0
    for value in details.values():
        if isinstance(value, dict):
            name = name or value.get("name")
            for key in ("input", "output", "parameters"):
                if isinstance(value.get(key), str):
                    largest = max(largest, len(value[key].encode()))
    return name, largest


@contextmanager
def recording(first_state: str) -> Iterator[HistoryStats]:
    """Records events while active; `first_state` is the first state of a child execution."""
    stats = HistoryStats()
    original = moto_events.EventManager.add_event
    lock = threading.Lock()

    def add_event(self, context, event_type, event_details=None, timestamp=None, update_source_event_id=True):  # noqa: ANN001
        name, size = _payload_bytes(event_details)
        with lock:
            stats.events.append(_Event(id(self), threading.get_ident(), str(event_type).rsplit(".", 1)[-1], name, size))
        return original(self, context, event_type, event_details, timestamp, update_source_event_id)

    moto_events.EventManager.add_event = add_event  # type: ignore[method-assign]  # observing moto's events
    try:
        yield stats
    finally:
        moto_events.EventManager.add_event = original  # type: ignore[method-assign]  # restored
        _summarize(stats, first_state)


def _summarize(stats: HistoryStats, first_state: str) -> None:
    stats.largest_payload_bytes = max((e.payload for e in stats.events), default=0)
    parents = {e.manager for e in stats.events if e.kind == "ExecutionStarted"}
    current: dict[int, int] = {}  # worker thread -> events of the child it is running
    for event in stats.events:
        if event.manager in parents or not (event.kind.endswith("StateEntered") or event.kind.endswith("StateExited")):
            continue
        if event.kind.endswith("StateEntered") and event.name == first_state:
            _close(stats, current.pop(event.thread, None))
            current[event.thread] = EXECUTION_EVENTS
        if event.thread in current:
            current[event.thread] += 1 + (TASK_EXTRA_EVENTS if event.kind == "TaskStateEntered" else 0)
    for count in current.values():
        _close(stats, count)


def _close(stats: HistoryStats, count: int | None) -> None:
    if count is not None:
        stats.children += 1
        stats.largest_child_events = max(stats.largest_child_events, count)


def history(sfn: Any, arn: str) -> list[dict[str, Any]]:
    """Every event of an execution, oldest first (boto3's paginator)."""
    pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn, PaginationConfig={"PageSize": 1000})
    return [event for page in pages for event in page["events"]]
