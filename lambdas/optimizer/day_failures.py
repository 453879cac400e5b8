"""Days that failed within a run: recorded in the run's ledger item by the day's own child
execution (its Catch), and named in the run's summary with their errors and the inputs that
re-run just them.

Kept small whatever fails: one string set of days per error name (a 10-year backfill is 3,653
ten-byte dates, ~40 KB of DynamoDB's 400 KB item limit) and the first cause seen per error name,
not one cause per day.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .ledger import TTL_DAYS

DAYS_ATTRIBUTE = "failed_days:"  # + error name: a string set of ISO dates
CAUSE_ATTRIBUTE = "failure_cause:"  # + error name: the first cause recorded
MAX_CAUSE_CHARS = 1_000
# Bounds on what the cause of a failed execution lists (Step Functions caps a cause at 32,768
# characters); the Summarize output, in the execution history, holds every range and input.
CAUSE_RANGES = 20
CAUSE_INPUTS = 5


def record(dynamodb: Any, table: str, run_id: str, day: str, error: str | None, cause: str | None) -> None:
    """Idempotent: a set holds the day once however often the Catch path is retried."""
    dt.date.fromisoformat(day)  # only a day goes in, never a caller's free text
    error = (error or "Unknown")[:200]
    dynamodb.update_item(
        TableName=table,
        Key={"run": {"S": run_id}},
        UpdateExpression=(
            "ADD #days :day SET #cause = if_not_exists(#cause, :cause), expires_at = if_not_exists(expires_at, :ttl)"
        ),
        ExpressionAttributeNames={"#days": DAYS_ATTRIBUTE + error, "#cause": CAUSE_ATTRIBUTE + error},
        ExpressionAttributeValues={
            ":day": {"SS": [day]},
            ":cause": {"S": (cause or "")[:MAX_CAUSE_CHARS] or "(no cause given)"},
            ":ttl": {"N": str(int(time.time()) + TTL_DAYS * 86400)},
        },
    )


def of_item(item: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The failed days held in the run's ledger item (optimizer.ledger.read_item)."""
    failures: dict[str, dict[str, Any]] = {}
    for name, value in item.items():
        if name.startswith(DAYS_ATTRIBUTE) and "SS" in value:
            error = name[len(DAYS_ATTRIBUTE) :]
            cause = item.get(CAUSE_ATTRIBUTE + error, {}).get("S", "")
            failures[error] = {"days": sorted(value["SS"]), "cause": cause}
    return failures


def ranges(days: Iterable[str]) -> list[tuple[str, str]]:
    """Consecutive days as (first, last) pairs, in order."""
    found: list[tuple[str, str]] = []
    for day in sorted(set(days)):
        if found and dt.date.fromisoformat(day) - dt.date.fromisoformat(found[-1][1]) == dt.timedelta(days=1):
            found[-1] = (found[-1][0], day)
        else:
            found.append((day, day))
    return found


def rerun_inputs(days: Iterable[str], *, dry_run: bool, force: bool = False) -> list[dict[str, Any]]:
    """One execution input per run of consecutive days: together they re-run exactly these days."""
    inputs = []
    for first, last in ranges(days):
        execution_input: dict[str, Any] = (
            {"specific_date": first} if first == last else {"start_date": first, "end_date": last}
        )
        if dry_run:
            execution_input["dry_run"] = True
        if force:  # the run was allowed days younger than num_days_age: so is its re-run
            execution_input["force"] = True
        inputs.append(execution_input)
    return inputs


def _describe(day_ranges: list[tuple[str, str]], limit: int) -> str:
    text = ", ".join(first if first == last else f"{first}..{last}" for first, last in day_ranges[:limit])
    return text + (f" and {len(day_ranges) - limit} more ranges" if len(day_ranges) > limit else "")


def with_failed_days(
    result: Mapping[str, Any], run: Mapping[str, Any], failures: Mapping[str, Mapping[str, Any]], days_done: int
) -> dict[str, Any]:
    """The Summarize result, plus the failed days: `days_failed` > 0 ends the run in DaysFailed
    (unless it already fails for its recordings, or is a dry run, which never fails).

    Days neither done nor recorded failed (a child execution that failed outside its Catch, e.g.
    on a terminal error) are counted as failed too: they cannot be named, so the cause says where
    to look."""
    days = sorted({day for failure in failures.values() for day in failure["days"]})
    unrecorded = max(0, int(run["days"]) - int(days_done) - len(days))
    out = dict(result)
    output = dict(result["output"])
    out["days_failed"] = len(days) + unrecorded
    if not out["days_failed"]:
        out["output"] = output
        return out
    inputs = rerun_inputs(days, dry_run=bool(run.get("dry_run")), force=bool(run.get("force")))
    output["failed_days"] = {
        "count": len(days),
        "days": [first if first == last else f"{first}..{last}" for first, last in ranges(days)],
        "errors": {error: {"days": len(f["days"]), "cause": f["cause"]} for error, f in sorted(failures.items())},
        "rerun_inputs": inputs,
    }
    if unrecorded:
        output["failed_days"]["unrecorded"] = unrecorded
    parts = [_recorded_cause(days, failures, inputs)] if days else []
    if unrecorded:
        parts.append(
            f"{unrecorded} day(s) ended without a record: their child executions failed outside their own error "
            "handling; see the Map Run's failed executions in the Step Functions console."
        )
    cause = " ".join(parts)
    out["cause"] = f"{result['cause']} {cause}" if result.get("cause") else cause
    if not run.get("dry_run") and not out.get("error"):
        out["error"] = "DaysFailed"
    out["output"] = output
    return out


def _recorded_cause(days: list[str], failures: Mapping[str, Mapping[str, Any]], inputs: list[dict[str, Any]]) -> str:
    """The cause's sentence on the recorded failed days: which, why, and the inputs that re-run them."""
    errors = "; ".join(
        f"{error} on {len(f['days'])} day(s): {f['cause'][:300]}" for error, f in sorted(failures.items())
    )
    shown = " ".join(f"'{json.dumps(i)}'" for i in inputs[:CAUSE_INPUTS])
    more = (
        f" (and {len(inputs) - CAUSE_INPUTS} more inputs in this run's Summarize output)"
        if len(inputs) > CAUSE_INPUTS
        else ""
    )
    return (
        f"{len(days)} day(s) of this run failed and were not processed: {_describe(ranges(days), CAUSE_RANGES)}. "
        f"{errors}. After fixing the cause, re-run just them with start-execution --input {shown}{more}."
    )
