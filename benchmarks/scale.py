"""Listing and enqueueing at scale, through the synthesized state machine on the emulator.

The objects are tiny and created through moto's backend (the converter never reads them here): a
DiscardingPoller purges the work queue instead of converting, so the state machine's drain check
passes and only the lister, the enqueuer and the state machine are measured.
"""

from __future__ import annotations

import collections
import datetime as dt
import sys
import time
from collections.abc import Callable
from typing import Any

from . import harness
from .harness import Bench, DiscardingPoller, count
from .pipeline import Days, contact_key

PAYLOAD_LIMIT = 64 * 1024  # the optimizer's promise (Step Functions allows 256 KB)
BACKFILL_DAYS = 2190


def long_key(prefix: str, day: dt.date, i: int, length: int = 1024) -> str:
    """A key of exactly `length` bytes (S3's maximum is 1,024), under the day's prefix."""
    head = f"{prefix}{day:%Y/%m/%d}/long-{i:06d}-"
    tail = "_UTC.wav"
    return head + "x" * (length - len(head.encode()) - len(tail)) + tail


def list_and_enqueue(
    bench: Bench,
    day: dt.date,
    n: int,
    *,
    key: Callable[[str, dt.date, int], str] = contact_key,
    long_keys: int = 0,
    timeout_s: float = 3600,
    page_keys: int = 0,
) -> dict[str, Any]:
    from emulator.local_run import set_page_keys
    from emulator.run import run_execution

    set_page_keys(bench.deployment, page_keys)

    started_load = time.perf_counter()
    keys = [key(bench.prefix, day, i) for i in range(n - long_keys)] + [
        long_key(bench.prefix, day, i) for i in range(long_keys)
    ]
    bench.put_tiny_objects(keys)
    load_s = time.perf_counter() - started_load

    poller = DiscardingPoller(bench)
    snapshot = bench.requests.snapshot()
    emulator_before = bench.requests.emulator_seconds()
    first_call = len(bench.lambdas.calls)
    started = time.perf_counter()
    execution = run_execution(
        bench.deployment,
        bench.lambdas,
        {"specific_date": day.strftime("%m/%d/%Y")},
        pollers=[poller],  # type: ignore[list-item]  # duck-typed: run_execution calls poll_once() only
        timeout_s=timeout_s,
    )
    requests = bench.requests.since(snapshot)
    emulator = bench.requests.emulator_seconds()
    emulator.subtract(emulator_before)
    calls = bench.lambdas.calls[first_call:]
    if execution.status != "SUCCEEDED":
        raise RuntimeError(f"listing {n} recordings: {execution.status} {execution.error}: {execution.cause}")
    enqueue_calls = [c for c in calls if c.role == "enqueuer"]
    list_calls = [c for c in calls if c.role == "lister"]
    transitions = collections.Counter(execution.states_entered)
    handler_s = {role: sum(c.end - c.start for c in calls if c.role == role) for role in ("lister", "enqueuer")}
    emulator_s = {
        role: sum(v for (c, s, _), v in emulator.items() if c == role and s in ("s3", "sqs", "dynamodb"))
        for role in ("lister", "enqueuer")
    }
    pages = transitions.get("EnqueuePage", 0)
    output = execution.output or {}
    # Every key the listing keeps is asked once (known or not): BatchGetItem bills each as a read
    # of an item under 4 KB, eventually consistent, 0.5 read unit (AWS's rule; moto reports 1).
    keys_checked = output.get("enqueued", 0) + output.get("skipped", {}).get("known_failure", 0)
    limits = execution.limits or {}
    # The run's own ledger writes (the stand-in converter's accounting is the converter's: docs/benchmarks.md).
    writes = sum(
        count(requests, role, "dynamodb", operation)
        for role in ("lister", "enqueuer")
        for operation in ("TransactWriteItems", "PutItem", "UpdateItem")
    )
    return {
        "recordings": n,
        "long_keys": long_keys,
        "load_s": load_s,
        "output": execution.output,
        "list_enqueue_wall_s": max(c.end for c in enqueue_calls) - started,
        "execution_s": execution.seconds,
        "handler_s": handler_s,
        "emulator_s_inside_handlers": emulator_s,
        "invocations": {"lister": len(list_calls), "enqueuer": len(enqueue_calls)},
        "pages": pages,
        "requests": {
            role: harness.by_operation(requests, role) for role in ("lister", "enqueuer", harness.STATE_MACHINE)
        },
        "list_objects_v2": count(requests, "lister", "s3", "ListObjectsV2"),
        "send_message_batch": count(requests, "enqueuer", "sqs", "SendMessageBatch"),
        "enqueuer_s3_requests": count(requests, "enqueuer", "s3"),
        "enqueuer_sqs_requests": count(requests, "enqueuer", "sqs"),
        "batch_get_item": count(requests, "lister", "dynamodb", "BatchGetItem"),
        "known_failure_keys_checked": keys_checked,
        "known_failure_read_units": 0.5 * keys_checked,
        "state_transitions": len(execution.states_entered),
        "transitions_by_state": dict(transitions.most_common()),
        "history_events": execution.history_events,
        # The day runs as a child execution: its history grows with the pages, the parent's does not.
        "child_executions": getattr(execution, "child_executions", None),
        "largest_child_history_events": getattr(execution, "largest_child_history_events", None),
        "max_state_bytes": execution.max_state_bytes,
        "payload_limit_bytes": PAYLOAD_LIMIT,
        "page_keys": page_keys,
        # A day of any size runs in rounds (optimizer/rounds.py): every execution, parent and each
        # child of every round, against the 25,000-event quota; it must not grow with the day.
        "rounds": transitions.get("NextRound", 0),
        "executions": limits.get("executions"),
        "largest_history_events": limits.get("largest_history_events"),
        "largest_child_state_bytes": (limits.get("largest_child") or {}).get("largest_state_bytes"),
        "ledger_writes": writes,
        "ledger_writes_per_recording": round(writes / max(1, n), 4),
    }


def enqueue_thousand(bench: Bench, days: Days) -> dict[str, Any]:
    result = list_and_enqueue(bench, days.take(), 1000)
    print(
        f"  1,000 recordings: {result['send_message_batch']} SendMessageBatch, {result['enqueuer_s3_requests']} S3 "
        "requests by the enqueuer",
        file=sys.stderr,
    )
    return result


def hundred_thousand_day(bench: Bench, days: Days, n: int = 100_000, page_keys: int = 0) -> dict[str, Any]:
    """One day of `n` recordings (1,000,000: `--day-recordings 1000000`), listed and enqueued with
    the stand-in converter; `page_keys` makes pages of at most that many (--day-page-keys)."""
    print(f"  creating {n:,} objects for one day ...", file=sys.stderr)
    result = list_and_enqueue(bench, days.take(), n, timeout_s=4 * 3600, page_keys=page_keys)
    print(
        f"  {n:,} recordings: listed and enqueued in {result['list_enqueue_wall_s']:.1f} s, {result['pages']} pages "
        f"in {result['rounds']} round(s), {result['executions']} executions, the largest with "
        f"{result['largest_history_events']} history events, largest state {result['max_state_bytes']:,} bytes, "
        f"{result['ledger_writes_per_recording']} ledger writes a recording",
        file=sys.stderr,
    )
    return result


def backfill_history(
    bench: Bench, *, days: int = BACKFILL_DAYS, first: dt.date = dt.date(2016, 1, 1), timeout_s: float = 3600
) -> dict[str, Any]:
    """History events of the longest execution of a `days`-day backfill.

    Input {"start_date", "end_date"} (YYYY-MM-DD, inclusive). The longest execution is the parent
    or the largest child execution (one per day) as the emulator reports them.
    """
    from emulator.run import run_execution

    last = first + dt.timedelta(days=days - 1)
    # A recording every 30 days, so some days have a page to list and enqueue.
    bench.put_tiny_objects(contact_key(bench.prefix, first + dt.timedelta(days=d), d) for d in range(0, days, 30))
    execution_input = {"start_date": first.isoformat(), "end_date": last.isoformat()}
    execution = run_execution(
        bench.deployment,
        bench.lambdas,
        execution_input,
        pollers=[DiscardingPoller(bench)],  # type: ignore[list-item]  # duck-typed: run_execution calls poll_once() only
        timeout_s=timeout_s,
    )
    children = execution.child_executions
    largest_child = execution.largest_child_history_events
    return {
        "status": "measured",
        "input": execution_input,
        "days": days,
        "execution_status": execution.status,
        "error": execution.error,
        "parent_history_events": execution.history_events,
        "child_executions": children,
        "largest_child_history_events": largest_child,
        "longest_history_events": max(execution.history_events, largest_child or 0),
        "state_transitions": len(execution.states_entered),
        "max_state_bytes": execution.max_state_bytes,
        "seconds": execution.seconds,
        "limit": 25_000,
    }
