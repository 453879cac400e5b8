"""Expirer Lambda: retention by the recording's date (optimizer/retention.py says what and why).

Deployed only with `retention_days` on, with a role of its own: s3:DeleteObject on the prefix's
objects (never DeleteObjectVersion: it cannot remove a version, only add a delete marker), the
two Object Lock reads, ListBucketVersions on the prefix, and the bucket's versioning, Object
Lock and lifecycle configurations (the last to warn when no rule removes what a marker hides).

Event (from the state machine), "action" being the state's name:
  ExpirePage  {"run", "progress" | null}  -> {"progress", "summary" (null until progress.done)}

Each invocation goes on from `progress` through the run's days, oldest first: it lists the
current versions (ListObjectVersions), checks each recording's lock, and deletes it (a dry run
only logs "would delete"), until MAX_CANDIDATES recordings, MAX_LIST_REQUESTS pages, the run's
cap or the last day. Running it again on the same progress (a retry) deletes nothing twice: a
deleted recording's current version is its delete marker, which is not listed as a recording.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from optimizer import aws, names
from optimizer.dates import day_prefix
from optimizer.keys import is_audio_key
from optimizer.preflight import expires_noncurrent
from optimizer.retention import (
    LIST_PAGE,
    MAX_CANDIDATES,
    MAX_INVOCATIONS,
    MAX_LIST_REQUESTS,
    NO_LOCK_CODES,
    held_by,
    new_progress,
    run_days,
    summary,
)
from optimizer.settings import Settings

logger = Logger(service=names.EXPIRER)


class VersioningRequired(Exception):
    """A deletion without a version id is a delete marker only on a bucket whose versioning is Enabled."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def require_versioning(s3: Any, bucket: str) -> None:
    """Returns only when the bucket's versioning is Enabled: VersioningRequired otherwise."""
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    if status != "Enabled":
        raise VersioningRequired(
            f"bucket {bucket} has versioning {status or 'never enabled'}: a deletion there would remove recordings "
            "for good instead of adding a delete marker, so retention by date deletes nothing. Enable versioning"
        )


def lock_enabled(s3: Any, bucket: str) -> bool:
    """Whether the bucket has Object Lock (then every recording's lock is read before its deletion)."""
    try:
        config = s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]
    except ClientError as exc:
        if _code(exc) == "ObjectLockConfigurationNotFoundError":
            return False
        raise
    return config.get("ObjectLockEnabled") == "Enabled"


def _lock_read(read: Callable[..., Any], **kwargs: Any) -> Mapping[str, Any] | None:
    """The answer, {} for "no lock configuration", None for anything else (kept as unchecked)."""
    try:
        return read(**kwargs)
    except ClientError as exc:
        if _code(exc) in NO_LOCK_CODES:
            return {}
        logger.warning("lock not readable", extra={**kwargs, "error": _code(exc), "detail": str(exc)})
        return None


def why_kept(s3: Any, bucket: str, key: str, version_id: str, locked_bucket: bool, now: dt.datetime) -> str | None:
    """Why the recording's version must be kept (its retention or legal hold), None if it may go."""
    if not locked_bucket:
        return None
    which = {"Bucket": bucket, "Key": key, "VersionId": version_id}
    return held_by(_lock_read(s3.get_object_retention, **which), _lock_read(s3.get_object_legal_hold, **which), now)


def expire_page(
    settings: Settings, s3: Any, run: Mapping[str, Any], progress: Mapping[str, Any] | None, now: dt.datetime
) -> dict[str, Any]:
    """Deletes (a dry run: counts) the run's recordings from `progress` on, within this invocation's
    bounds, keeping locked ones; the progress to go on from, and the summary once the last day is done."""
    state = {**new_progress(), **(progress or {})}
    counts = dict(state["counts"])
    state["invocations"] = int(state["invocations"]) + 1
    bucket, dry_run = run["bucket"], bool(run["dry_run"])
    require_versioning(s3, bucket)  # every invocation: versioning may have been suspended since
    locked_bucket = lock_enabled(s3, bucket)
    days = run_days(run)

    def handle(key: str, version: Mapping[str, Any]) -> None:
        _one(s3, bucket, key, version, locked_bucket, dry_run, now, counts)

    checked, requests = _walk(settings, s3, bucket, days, state, counts, handle)
    if not state["done"] and state["day"] >= len(days):
        _stop(state, None)
    if not state["done"] and state["invocations"] >= MAX_INVOCATIONS:
        _stop(state, "history")
    state["counts"] = counts
    logger.info(
        "retention page",
        extra={"dry_run": dry_run, "day": state["day"], "checked": checked, "lists": requests, "counts": counts},
    )
    if not state["done"]:
        return {"progress": state, "summary": None}
    return {"progress": state, "summary": _summary(settings, s3, run, state)}


def _stop(state: dict[str, Any], reason: str | None) -> None:
    """The run's retention ends here: `reason` None (the last day done), "cap" or "history"."""
    state["done"], state["stopped"] = True, reason


def _walk(
    settings: Settings,
    s3: Any,
    bucket: str,
    days: Sequence[dt.date],
    state: dict[str, Any],
    counts: dict[str, int],
    handle: Callable[[str, Mapping[str, Any]], None],
) -> tuple[int, int]:
    """Lists the days' versions from the state's day and key marker on, handing each current
    recording to `handle`, until MAX_CANDIDATES recordings, MAX_LIST_REQUESTS pages, the cap or the
    last day; the recordings checked and the requests made."""
    checked = requests = 0
    page_size = settings.page_keys or LIST_PAGE  # --page-keys: the local run's test aid, 0 in a deployment
    while not state["done"] and checked < MAX_CANDIDATES and requests < MAX_LIST_REQUESTS:
        if state["day"] >= len(days):
            _stop(state, None)
            break
        prefix = day_prefix(settings.bucket_prefix, days[state["day"]])
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "MaxKeys": page_size}
        if state["key_marker"]:
            kwargs["KeyMarker"] = state["key_marker"]
        listing = s3.list_object_versions(**kwargs)
        requests += 1
        checked, cut = _take(listing.get("Versions", []), settings, state, counts, checked, handle)
        if cut:
            continue  # the loop's condition ends the invocation; key_marker is the last key handled
        if listing.get("IsTruncated"):
            state["key_marker"] = listing.get("NextKeyMarker") or state["key_marker"]
        else:
            state["day"], state["key_marker"] = state["day"] + 1, None
    return checked, requests


def _take(
    versions: Sequence[Mapping[str, Any]],
    settings: Settings,
    state: dict[str, Any],
    counts: dict[str, int],
    checked: int,
    handle: Callable[[str, Mapping[str, Any]], None],
) -> tuple[int, bool]:
    """One listed page's current versions, in order: recordings handed to `handle`, other objects
    counted not_audio; the recordings checked so far, and whether the cap or MAX_CANDIDATES cut it."""
    for version in versions:
        if not version.get("IsLatest"):
            continue  # a noncurrent version (an original), or one under a delete marker
        key = version["Key"]
        if is_audio_key(key):
            if counts["deleted"] + counts["would_delete"] >= settings.retention_max_deletes:
                _stop(state, "cap")
                return checked, True
            if checked >= MAX_CANDIDATES:
                return checked, True
            checked += 1
            counts["listed"] += 1
            handle(key, version)
        else:
            counts["listed"] += 1
            counts["not_audio"] += 1
        state["key_marker"] = key
    return checked, False


def _summary(settings: Settings, s3: Any, run: Mapping[str, Any], state: Mapping[str, Any]) -> dict[str, Any]:
    """The retention run's summary, warning when no lifecycle rule removes what its markers hide."""
    result = summary(run, state, settings, partial(day_prefix, settings.bucket_prefix))
    dry_run = bool(run["dry_run"])
    if not noncurrent_rule(s3, run["bucket"], settings.bucket_prefix):
        result["warnings"].append(
            f"no enabled lifecycle rule expires noncurrent versions under {settings.bucket_prefix}: each recording "
            f"this run {'would delete' if dry_run else 'deleted'} is hidden behind a delete marker, but its versions "
            'stay stored, billed and readable by version id until such a rule removes them; "deleted '
            'retention_days after the call" needs it (docs/operations.md#originals-versioning-and-the-lifecycle-rule)'
        )
    return result


def noncurrent_rule(s3: Any, bucket: str, prefix: str) -> bool:
    """Whether a lifecycle rule removes the versions a delete marker leaves noncurrent."""
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as exc:
        if _code(exc) != "NoSuchLifecycleConfiguration":
            raise
        rules = []
    return expires_noncurrent(rules, prefix)


def _one(
    s3: Any,
    bucket: str,
    key: str,
    version: Mapping[str, Any],
    locked_bucket: bool,
    dry_run: bool,
    now: dt.datetime,
    counts: dict[str, int],
) -> None:
    version_id = version["VersionId"]
    reason = why_kept(s3, bucket, key, version_id, locked_bucket, now)
    if reason is not None:
        counts[f"held_{reason}"] += 1
        logger.warning("kept past retention", extra={"key": key, "version_id": version_id, "reason": reason})
        return
    if dry_run:
        counts["would_delete"] += 1
        logger.info("would delete", extra={"key": key, "version_id": version_id})
        return
    # Unconditional, by choice: an If-Match on the listed ETag ("How to perform conditional
    # deletes", https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-deletes.html)
    # would also need s3:GetObject, the right to read every recording, and guards only against a
    # new version written in the milliseconds since the lock check; the converter copies the
    # original's lock to the version it writes, and a lock set in between still protects the
    # version itself (the marker above it is removable): nothing is lost either way.
    answer = s3.delete_object(Bucket=bucket, Key=key)
    if not answer.get("DeleteMarker"):
        # Not a delete marker: the bucket stopped versioning since this invocation checked it.
        logger.error("deleted without a delete marker", extra={"key": key, "version_id": version_id})
        raise VersioningRequired(f"deleting {key} added no delete marker: the bucket's versioning is not Enabled")
    counts["deleted"] += 1
    logger.info(
        "deleted",
        extra={"key": key, "version_id": version_id, "delete_marker_version_id": answer.get("VersionId")},
    )


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The ExpirePage state (the only action): expire_page with the function's settings and client."""
    action = str(event.get("action"))
    if action != "ExpirePage":
        raise ValueError(f"unknown action {action!r}: ExpirePage")
    settings = Settings.from_env()
    return expire_page(settings, aws.client("s3"), event["run"], event.get("progress"), dt.datetime.now(dt.UTC))
