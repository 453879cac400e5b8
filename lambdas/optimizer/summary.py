"""The execution's output: exact counts from the ledger, failures confirmed by the DLQ."""
from __future__ import annotations

from typing import Any, Mapping

from .listing import SKIP_REASONS
from .settings import Settings

CONVERTER_SKIPS = ("already_converted", "already_alaw", "gone")
GIB = 1024**3


def failures_by_kind(counts: Mapping[str, int], failed: int) -> dict[str, int]:
    """The run's failures by class (the converter counts failed_<kind>), most frequent first; those
    the ledger never saw (dead-lettered by SQS's redrive policy after crashes) as `not_recorded`."""
    kinds = {name[len("failed_"):]: n for name, n in counts.items() if name.startswith("failed_") and n}
    missing = failed - sum(kinds.values())
    if missing > 0:
        kinds["not_recorded"] = missing
    return dict(sorted(kinds.items(), key=lambda item: (-item[1], item[0])))


def run_summary(
    run: Mapping[str, Any], counts: Mapping[str, int], dlq: Mapping[str, Any], warnings: list[str], settings: Settings
) -> dict[str, Any]:
    """`failed` > 0 makes the state machine end in RecordingsFailed with `cause`.

    The ledger counts every permanent failure the converter reported; the DLQ's growth during the
    run also catches what never reached the ledger (a crashed or timed-out invocation).
    """
    dlq_growth = max(0, int(dlq.get("after", 0)) - int(dlq.get("before", 0)))
    failed = max(counts.get("failed", 0), dlq_growth)
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
        skipped={reason: counts.get(f"skipped_{reason}", 0) for reason in (*SKIP_REASONS, *CONVERTER_SKIPS)},
        failed=failed,
        bytes_before=counts.get("bytes_before", 0),
        bytes_after=counts.get("bytes_after", 0),
        warnings=list(warnings),
    )
    if run["dry_run"]:
        recordings, size = counts.get("dry_recordings", 0), counts.get("dry_bytes", 0)
        projected = counts.get("dry_projected_bytes", 0)
        output.update(
            recordings=recordings,
            bytes=size,
            already_converted=counts.get("skipped_already_target_class", 0),
            projected_bytes_after=projected,
            projected_monthly_cost={
                "before": round(size / GIB * settings.price_standard_gb_month, 4),
                "after": round(projected / GIB * settings.price_target_gb_month, 4),
                "storage_class": settings.target_class,
                "currency": "USD",
            },
        )
    cause = None
    if failed:
        output["failures_in"] = settings.dlq_url
        by_kind = failures_by_kind(counts, failed)
        output["failed_by_kind"] = by_kind
        kinds = ", ".join(f"{n} {kind}" for kind, n in by_kind.items())
        cause = (
            f"{failed} recording(s) of this run failed ({kinds}; README, 'When something fails', says what each "
            f"means and what to do) and are in the dead-letter queue {settings.dlq_url}; "
            "their originals are untouched. Each message says why; fix the cause, then redrive. Those that failed "
            "for their own content are skipped by later runs (skipped.known_failure) until the object changes or "
            "the input says \"retry_failed\": true."
        )
    return {"failed": failed, "cause": cause, "output": output}
