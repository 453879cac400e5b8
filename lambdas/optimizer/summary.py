"""The execution's output: its own exact counts from the ledger, and why it failed if it did."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .listing import SKIP_REASONS
from .settings import Settings
from .undo import OUTCOMES as UNDO_OUTCOMES
from .vocabulary import FAILED_PREFIX, FailureKind, SkipReason, skip_reasons

CONVERTER_SKIPS = skip_reasons("converter")
GIB = 1024**3


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def failures_by_kind(counts: Mapping[str, int]) -> dict[str, int]:
    """The run's failures by class (the converter counts failed_<kind>), most frequent first."""
    kinds = {name[len(FAILED_PREFIX) :]: n for name, n in counts.items() if name.startswith(FAILED_PREFIX) and n}
    return dict(sorted(kinds.items(), key=lambda item: (-item[1], item[0])))


def _verify_output(
    output: dict[str, Any], counts: Mapping[str, int], mismatched: list[str], causes: list[str], error: str | None
) -> str | None:
    """A verify run's own counts (optimizer/custody.py), under "verify". A mismatch fails the run,
    as CustodyMismatch: a recording that differs from its record is an integrity incident, and a
    failed execution is what the failure alarm and an operator's list of executions show (a
    warning in a succeeded run's output is read by nobody)."""
    mismatches = int(counts.get(FailureKind.CUSTODY_MISMATCH.counter, 0))
    output["verify"] = {
        "verified": counts.get("verified", 0),
        "verified_original_gone": counts.get("verified_original_gone", 0),
        "verified_unrecorded": counts.get("verified_unrecorded", 0),
        "not_converted": counts.get(SkipReason.NOT_CONVERTED.counter, 0),
        "mismatches": mismatches,
        "mismatched": mismatched,
    }
    if not mismatches:
        return error
    named = ", ".join(mismatched) + (
        f" and {mismatches - len(mismatched)} more" if mismatches > len(mismatched) else ""
    )
    causes.insert(
        0,
        f"{mismatches} converted recording(s) differ from their chain of custody ({named}): each one's dead letter "
        "says how (a version replaced after its conversion, bytes that are not the recorded ones, audio that is "
        "not the original's). Find out who wrote the version (CloudTrail data events, S3 server access logs) "
        "before anything else; the original is still there if `verified_original_gone` did not count it.",
    )
    return "CustodyMismatch"


def _undo_fields(output: dict[str, Any], run: Mapping[str, Any], counts: Mapping[str, int]) -> None:
    """An undo's outcomes (optimizer/undo.py), `skipped.undone` where a run met undone recordings,
    a redo's forgotten undos. Present only where they apply, so other runs' summaries are unchanged."""
    if run.get("undo"):
        output["undone"] = counts.get("undo_undone", 0)
        output["undo"] = {outcome: counts.get(f"undo_{outcome}", 0) for outcome in UNDO_OUTCOMES}
        return
    if run.get("undone_days") or counts.get(SkipReason.UNDONE.counter):
        output["skipped"][SkipReason.UNDONE] = counts.get(SkipReason.UNDONE.counter, 0)
    if run.get("redo"):
        output["redo"] = {"forgotten": counts.get("redo_forgotten", 0)}


def run_summary(
    run: Mapping[str, Any],
    counts: Mapping[str, int],
    drain: Mapping[str, Any],
    warnings: list[str],
    settings: Settings,
    mismatched: list[str] | None = None,
) -> dict[str, Any]:
    """The run's own counts from its ledger item. `error` (RecordingsFailed, RecordingsUnaccounted;
    day_failures adds DaysFailed) ends the execution failed with `cause`; a dry run never fails.

    Every outcome is the converter's, counted once per recording of this run (optimizer/ledger.py),
    so other runs' failures and a DLQ redrive during the run change nothing here."""
    failed = int(counts.get("failed", 0))
    enqueued = int(counts.get("enqueued", 0))
    unaccounted = 0 if run["dry_run"] else max(0, enqueued - int(counts.get("accounted", 0)))
    output: dict[str, Any] = {}
    if run["days"] == 1:
        output["date"] = run["start_date"]
    else:
        output.update(start_date=run["start_date"], end_date=run["end_date"], days=run["days"])
    output.update(
        prefix=run["prefix"],
        dry_run=run["dry_run"],
        retry_failed=bool(run.get("retry_failed", False)),
        listed=counts.get("listed", 0),
        enqueued=counts.get("enqueued", 0),
        converted=counts.get("converted", 0),
        skipped={reason: counts.get(reason.counter, 0) for reason in (*SKIP_REASONS, *CONVERTER_SKIPS)},
        failed=failed,
        unaccounted=unaccounted,
        bytes_before=counts.get("bytes_before", 0),
        bytes_after=counts.get("bytes_after", 0),
        # converted versions that carry their original's Object Lock retain-until date
        retain_until_carried=counts.get("retain_until_carried", 0),
        warnings=list(warnings),
    )
    _undo_fields(output, run, counts)
    if run["dry_run"] and not run.get("undo"):
        recordings, size = counts.get("dry_recordings", 0), counts.get("dry_bytes", 0)
        projected = counts.get("dry_projected_bytes", 0)
        # A dry run converts nothing: its byte counts are the projection's (`bytes`,
        # `projected_bytes_after`), not a converted 0 beside them. Those already in the target
        # class are `skipped.already_target_class`, under that one name.
        del output["bytes_before"], output["bytes_after"]
        output.update(
            recordings=recordings,
            bytes=size,
            projected_bytes_after=projected,
            projected_monthly_cost={
                "before": round(size / GIB * settings.price_standard_gb_month, 4),
                "after": round(projected / GIB * settings.price_target_gb_month, 4),
                "storage_class": settings.target_class,
                "currency": "USD",
            },
        )
    causes, error = [], None
    if failed:
        output["failures_in"] = settings.dlq_url
        by_kind = failures_by_kind(counts)
        output["failed_by_kind"] = by_kind
        kinds = ", ".join(f"{n} {kind}" for kind, n in by_kind.items())
        causes.append(
            f"{failed} recording(s) of this run failed ({kinds}; docs/operations.md#when-something-fails says "
            f"what each means and what to do) and are in the dead-letter queue {settings.dlq_url}; "
            "their originals are untouched. Each message says why; fix the cause, then redrive. Those that failed "
            "for their own content are skipped by later runs (skipped.known_failure) until the object changes or "
            'the input says "retry_failed": true.'
        )
        error = "RecordingsFailed"
    if unaccounted:
        waited = int(drain.get("waited_seconds", 0))
        causes.append(
            f"{unaccounted} of the {enqueued} recording(s) this run put on the work queue have no outcome after "
            f"{_duration(waited)} of waiting, the longest one of its messages can stay on the queue and be retried: "
            f"the converter stopped on them (crash, timeout, out of memory) more often than the queue allows, so SQS "
            f"moved them to {settings.dlq_url} without a reason, or they were deleted from the queue. "
            "Their originals are untouched. Read the converter's errors in its log group, "
            "then redrive the dead-letter queue or re-run the days."
        )
        error = error or "RecordingsUnaccounted"
    if run.get("verify"):
        error = _verify_output(output, counts, mismatched or [], causes, error)
    cause = " ".join(causes) or None
    if run["dry_run"]:
        error = None  # a dry run writes nothing: what it found is in its output, never a failure
    return {"failed": failed, "unaccounted": unaccounted, "error": error, "cause": cause, "output": output}
