"""What the converter checks before it trusts a message and a bucket (issue 18).

- **The message is the optimizer's own.** The work queue's policy already lets only the enqueuer's
  role (and the principals named for redrives) send to it. Beyond that, a message must name a
  run and the page that run's enqueuer put it on, and the ledger must hold that page's marker
  (`page#<run>#<page>`, optimizer/ledger.py), which the enqueuer writes before it sends anything.
  One consistent GetItem of the marker (under 4 KB: 1 read unit, $0.125 per million at on-demand
  prices in us-east-1), remembered for the container's life: a batch of 10 from one page costs one
  read, a run of N pages at most N reads a container. A message without a run, an ETag or a page,
  or whose run and page the ledger does not know, is refused (`unknown_run`): dead-lettered with
  nothing read from S3 and nothing written to any run's ledger.
- **The bucket still keeps the originals.** The lister checks versioning once when a run starts;
  a run can last 14 days. The converter asks again (GetBucketVersioning) at most every
  VERSIONING_RECHECK_S per container: with 50 containers busy, some 600 requests an hour
  ($0.0004 per 1,000 at S3 Standard's GET price: under a cent a day). A bucket whose versioning is
  suspended (or was never enabled) stops conversions while `require_versioning` holds: each
  recording is retried (transient), never remembered as the recording's fault, and converts again
  once versioning is back on. The answer is not cached when it says "suspended".
- **A locked bucket's lock headers are really absent.** S3 leaves the Object Lock headers out of a
  GetObject answer when the caller lacks s3:GetObjectRetention / s3:GetObjectLegalHold (Amazon S3
  API reference, GetObject: "x-amz-object-lock-mode ... requires s3:GetObjectRetention"), and the
  new version would then be written without them. In a bucket with Object Lock enabled
  (GetObjectLockConfiguration, asked with the versioning), a GetObject without a mode or a hold
  header is followed by GetObjectRetention / GetObjectLegalHold: a denial there fails the
  recording (`access_denied`) instead of silently writing an unlocked version.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .aws import DENIED_CODES
from .ledger import page_key
from .messages import Recording
from .vocabulary import FailureKind

VERSIONING_RECHECK_S = 300  # at most one GetBucketVersioning a container every 5 minutes
MAX_KNOWN_PAGES = 4096  # the markers remembered by a container (a page id is at most ~1 KB)


class UnknownRun(Exception):
    """The message does not come from one of this optimizer's runs."""

    kind = FailureKind.UNKNOWN_RUN


class BucketNotVersioned(Exception):
    """Versioning is suspended: converting would overwrite originals for good. Transient."""


class LockHidden(Exception):
    """The object's Object Lock state could not be read (the role lacks the permission)."""


_known_pages: dict[tuple[str, str], str] = {}
_pages_lock = threading.Lock()


def check_message(rec: Recording, dynamodb: Any, table: str) -> None:
    """Raises UnknownRun unless the message names a run, a version and a page the ledger knows."""
    if not rec.run or not rec.etag or not rec.page or rec.index < 0:
        missing = [name for name, value in (("run", rec.run), ("etag", rec.etag), ("page", rec.page)) if not value]
        raise UnknownRun(
            f"the message has no {', '.join(missing) or 'index'}: it was not sent by this optimizer's enqueuer; "
            "nothing was read or converted"
        )
    marker = _marker(rec, dynamodb, table)
    if marker is None:
        raise UnknownRun(
            f"run {rec.run!r} has no page {rec.page!r} in the ledger: the message was not sent by one of this "
            "optimizer's runs; nothing was read or converted"
        )
    if rec.index >= len(marker):
        raise UnknownRun(
            f"page {rec.page!r} of run {rec.run!r} holds {len(marker)} recordings, not a number {rec.index}: "
            "the message was not sent by this optimizer's enqueuer; nothing was read or converted"
        )


def _marker(rec: Recording, dynamodb: Any, table: str) -> str | None:
    cache_key = (rec.run, rec.page)
    with _pages_lock:
        known = _known_pages.get(cache_key)
    if known is not None and rec.index < len(known):
        return known
    item = dynamodb.get_item(
        TableName=table,
        Key={"run": {"S": page_key(rec.run, rec.page)}},
        ConsistentRead=True,
        ProjectionExpression="sent",
    ).get("Item")
    if item is None:
        return None
    marker = str(item.get("sent", {}).get("S", ""))
    with _pages_lock:
        if len(_known_pages) >= MAX_KNOWN_PAGES:
            _known_pages.clear()
        _known_pages[cache_key] = marker
    return marker


@dataclass
class BucketState:
    """What one container last learned of the bucket, and when."""

    checked_at: float = float("-inf")
    object_lock: bool = False


_buckets: dict[str, BucketState] = {}
_buckets_lock = threading.Lock()


def check_bucket(
    s3: Any, bucket: str, *, require_versioning: bool, clock: Callable[[], float] = time.monotonic
) -> BucketState:
    """Versioning (and Object Lock) asked again at most every VERSIONING_RECHECK_S in this
    container. Raises BucketNotVersioned while versioning is not enabled and required."""
    now = clock()
    with _buckets_lock:
        state = _buckets.setdefault(bucket, BucketState())
        if now - state.checked_at < VERSIONING_RECHECK_S:
            return state
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status", "never enabled")
    if status != "Enabled" and require_versioning:
        raise BucketNotVersioned(
            f"bucket {bucket} has versioning {status.lower()}: converting would overwrite originals for good; "
            "retried later, converted once versioning is enabled again"
        )
    object_lock = state.object_lock or _object_lock_enabled(s3, bucket)
    with _buckets_lock:
        state.checked_at, state.object_lock = now, object_lock
    return state


def _object_lock_enabled(s3: Any, bucket: str) -> bool:
    try:
        config = s3.get_object_lock_configuration(Bucket=bucket).get("ObjectLockConfiguration") or {}
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code == "ObjectLockConfigurationNotFoundError":
            return False
        raise
    return config.get("ObjectLockEnabled") == "Enabled"


def forget() -> None:
    """Clears what this container remembers (tests: a new container)."""
    with _pages_lock:
        _known_pages.clear()
    with _buckets_lock:
        _buckets.clear()


def lock_state(s3: Any, bucket: str, key: str, original: Mapping[str, Any]) -> dict[str, Any]:
    """The lock fields the GetObject left out, read from their own APIs (a locked bucket only).
    Raises LockHidden when the role may not read them."""
    found: dict[str, Any] = {}
    version = original.get("VersionId")
    where = {"Bucket": bucket, "Key": key, **({"VersionId": version} if version else {})}
    if not original.get("ObjectLockMode"):
        try:
            retention = s3.get_object_retention(**where).get("Retention") or {}
        except ClientError as exc:
            _absent_or_hidden(exc, "s3:GetObjectRetention")
            retention = {}
        if retention.get("Mode") and retention.get("RetainUntilDate"):
            found["ObjectLockMode"], found["ObjectLockRetainUntilDate"] = (
                retention["Mode"],
                retention["RetainUntilDate"],
            )
    if not original.get("ObjectLockLegalHoldStatus"):
        try:
            hold = s3.get_object_legal_hold(**where).get("LegalHold") or {}
        except ClientError as exc:
            _absent_or_hidden(exc, "s3:GetObjectLegalHold")
            hold = {}
        if hold.get("Status") == "ON":
            found["ObjectLockLegalHoldStatus"] = "ON"
    return found


def _absent_or_hidden(exc: ClientError, permission: str) -> None:
    code = str(exc.response.get("Error", {}).get("Code", ""))
    if code in DENIED_CODES:
        raise LockHidden(
            f"the object's Object Lock state cannot be read ({code}): the converter's role needs {permission}, "
            "without which S3 leaves the lock out of the GetObject answer and the new version would be written "
            "unlocked. Not converted; the original is untouched"
        ) from None
    if code in ("NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError", "InvalidRequest"):
        return  # the object has no retention / no hold
    raise exc
