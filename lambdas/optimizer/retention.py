"""Retention by the recording's date: the pure part of the expirer (lambdas/expirer.py).

A converted recording is a new current version dated the day of its conversion, so a bucket's
lifecycle Expiration on current versions counts again from that day. With `retention_days` on,
the retention run deletes instead each recording whose call day (its Connect folder, YYYY/MM/DD)
is more than retention_days old, as S3 would have without the conversion.

What a deletion is: DeleteObject without a version id on a bucket whose versioning is Enabled,
which adds a delete marker and removes no data; the recording's versions become noncurrent, so
the bucket's noncurrent rule removes them after its days, and until then deleting the marker
restores the recording ("Working with delete markers", Amazon S3 user guide,
https://docs.aws.amazon.com/AmazonS3/latest/userguide/DeleteMarker.html). On a suspended bucket
the same request removes the `null` version for good (boto3 S3.Object.delete, "If bucket
versioning is suspended, the operation removes the object that has a null versionId"), so the
expirer refuses any bucket whose versioning is not Enabled, checked at each invocation.

Object Lock protects a version, not a key: "Retention periods and legal holds don't prevent new
versions of the object from being created, or delete markers to be added on top of the object"
("Locking objects with Object Lock", https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock.html).
So S3 accepts a delete marker over a locked recording, and the expirer checks each recording's
current version itself: GetObjectRetention and GetObjectLegalHold on that version. HeadObject
would return the same in one request, but returns the lock headers only to a caller allowed
s3:GetObjectRetention / s3:GetObjectLegalHold and silently omits them otherwise (HeadObject's
response headers, S3 API reference): a denial would read as "not locked". The two reads fail
instead, and any answer but "no lock configuration" keeps the recording (`unchecked`). A bucket
without Object Lock cannot hold either on any version, and Object Lock once enabled cannot be
disabled ("Object Lock considerations", https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-lock-managing.html),
so the expirer reads the bucket's configuration once per invocation and makes the two per-object
reads only where it is enabled.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

# One invocation checks (and deletes) at most this many recordings, one by one: 3 requests each
# at worst, well within the function's timeout.
MAX_CANDIDATES = 500
# ListObjectVersions pages one invocation reads at most (a range over many empty days).
MAX_LIST_REQUESTS = 50
LIST_PAGE = 1000
# The execution's history: ExpirePage (5 events) and MoreToExpire (2) per invocation, plus 13 of
# its own (start, ResolveRun, Expire, StartExpiring, Expired, the end: measured on the strict
# emulator, tests/e2e/test_retention_e2e.py); a retried attempt adds 3 (optimizer/rounds.py).
EVENTS_PER_INVOCATION = 7
FIXED_EVENTS = 13
MAX_INVOCATIONS = 3000  # 21,013 events: 3,986 left for ~1,300 retried attempts under 25,000
HELD = ("retention", "legal_hold", "unchecked")
NO_LOCK_CODES = frozenset({"NoSuchObjectLockConfiguration"})
COUNTERS = ("listed", "not_audio", "deleted", "would_delete", *(f"held_{reason}" for reason in HELD))


def new_progress() -> dict[str, Any]:
    """Where the run is: its day (index from start_date), the key after which the day goes on,
    the invocations so far, its counts, and why it stopped (None: it did not stop early)."""
    return {
        "day": 0,
        "key_marker": None,
        "invocations": 0,
        "counts": dict.fromkeys(COUNTERS, 0),
        "done": False,
        "stopped": None,
    }


def run_days(run: Mapping[str, Any]) -> list[dt.date]:
    """The run's days, oldest first."""
    first = dt.date.fromisoformat(run["start_date"])
    return [first + dt.timedelta(days=i) for i in range(int(run["days"]))]


def held_by(retention: Mapping[str, Any] | None, legal_hold: Mapping[str, Any] | None, now: dt.datetime) -> str | None:
    """Why a version must stay (None: it may be deleted). `retention` / `legal_hold`: the
    GetObjectRetention / GetObjectLegalHold answers, {} for "no lock configuration", None for any
    other answer (a denial, an error): a lock that could not be read is kept (`unchecked`)."""
    if retention is None or legal_hold is None:
        return "unchecked"
    if (legal_hold.get("LegalHold") or {}).get("Status") == "ON":
        return "legal_hold"
    until = (retention.get("Retention") or {}).get("RetainUntilDate")
    if until is not None:
        if isinstance(until, str):
            until = dt.datetime.fromisoformat(until.replace("Z", "+00:00"))
        if until.tzinfo is None:
            until = until.replace(tzinfo=dt.UTC)
        if until > now:
            return "retention"
    return None


def summary(run: Mapping[str, Any], progress: Mapping[str, Any], settings: Any, prefix_of: Any) -> dict[str, Any]:
    """The execution's output: the days, what was deleted (or would be), what was kept and why,
    and whether the run covered everything (else what is left for the next run)."""
    counts = progress["counts"]
    out: dict[str, Any] = {}
    if int(run["days"]) == 1:
        out["date"] = run["start_date"]
    else:
        out.update(start_date=run["start_date"], end_date=run["end_date"], days=run["days"])
    out.update(prefix=run["prefix"], dry_run=bool(run["dry_run"]), expire=True, retention_days=settings.retention_days)
    out["expired"] = {
        "listed": counts["listed"],
        ("would_delete" if run["dry_run"] else "deleted"): counts["would_delete" if run["dry_run"] else "deleted"],
        "kept": {reason: counts[f"held_{reason}"] for reason in HELD},
        "not_audio": counts["not_audio"],
        "max_deletes": settings.retention_max_deletes,
        "complete": progress["stopped"] is None,
        "invocations": progress["invocations"],  # the execution's history: 13 + 7 a invocation
    }
    warnings = []
    stopped = progress["stopped"]
    if stopped is not None:
        days = run_days(run)
        day = days[min(int(progress["day"]), len(days) - 1)]
        after = progress.get("key_marker")
        where = f"{prefix_of(day)}" + (f" after {after}" if after else "")
        reason = (
            f"it reached retention_max_deletes={settings.retention_max_deletes}"
            if stopped == "cap"
            else f"it reached its {MAX_INVOCATIONS} invocations (the execution's history bound)"
        )
        warnings.append(
            f"not every recording of the run's days was {'listed' if run['dry_run'] else 'deleted'}: {reason}; it "
            f"stopped at {where} ({day.isoformat()} and {len(days) - days.index(day) - 1} later day(s) left). The "
            "next run with the same input goes on (what was deleted is no longer listed); raise "
            "retention_max_deletes if every daily run stops here"
        )
    kept = sum(counts[f"held_{reason}"] for reason in HELD)
    if kept:
        warnings.append(
            f"{kept} recording(s) past retention_days were kept: {counts['held_retention']} under an Object Lock "
            f"retention, {counts['held_legal_hold']} under a legal hold, {counts['held_unchecked']} whose lock could "
            "not be read (the expirer's log names each); later runs of those days check them again"
        )
    out["warnings"] = warnings
    return out
