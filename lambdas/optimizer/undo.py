"""Undo: a converted recording becomes its original again, byte for byte, and stays so.

The original is the version the converted one names in its provenance (`original-version-id`,
optimizer/provenance.py); with overwrite_converted that version may itself be a conversion, so the
chain is followed back to the first version no conversion wrote. It is copied onto the key with
CopyObject as a new current version: its bytes, user and system metadata (MetadataDirective COPY),
tags (TaggingDirective COPY: the original's, without `converted`), its storage class, encryption
and Object Lock settings, which a copy does not carry over by itself and are therefore given again
(Amazon S3 API reference, CopyObject: https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html
- "if you don't specify encryption information in your copy request, the encryption setting of
the target object is set to the default encryption configuration of the destination bucket"; the
storage class, the tag and metadata directives default as above). Nothing is deleted: the
converted version stays as a noncurrent version, under the bucket's noncurrent rule.

Why a copy and not deleting the converted version (which would make the original current again,
with its own date): a converted version is often locked (the converter copies the original's
retention and legal hold), and S3 refuses to delete a locked version; deleting a version also
needs s3:DeleteObjectVersion, which this product never holds; and a Glacier IR version deleted
within 90 days is billed for 90 anyway. The price of the copy: a new version dated today, so the
bucket's current-version Expiration counts from the undo (docs/operations.md#undo), and one more version's
storage (the original's size) until the noncurrent rule expires the converted one.

What is left alone, and named in the restorer's log (each is counted in the run's summary):
- not_ours: the current version was not written by this optimizer (never converted, or changed
  since its conversion);
- not_restorable: the original is gone (expired by the noncurrent rule, or deleted), or the chain
  is longer than MAX_CHAIN;
- archived: the original is in an archive class (GLACIER, DEEP_ARCHIVE): restore it first;
- differs: the original's size is not the one the conversion recorded (on doubt, nothing written).

Undone stays undone: before the copy, a marker item `undone#<key>` is written to the run ledger
(no expiry), and the day's name is added to the `undo#days` item. ResolveRun reads `undo#days`
once per run (one GetItem); only on those days does ListPage read the page's markers
(BatchGetItem, as for the known failures) and skip the recordings that have one
(`skipped.undone`). So a bucket where nothing was undone pays no extra request, and a day with
undone recordings one BatchGetItem per 100 listed recordings. `"redo": true` deletes the markers
of its days' listed recordings and converts them again.
"""

from __future__ import annotations

import datetime as dt
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from .keys import ARCHIVE_CLASSES
from .provenance import Provenance

MARKER_PREFIX = "undone#"
DAYS_KEY = "undo#days"
DAYS_ATTRIBUTE = "days"
# Conversions of conversions (overwrite_converted) followed back at most this far.
MAX_CHAIN = 20
# The undone days a run carries in its state; past this, every day of the run reads its markers.
MAX_RUN_DAYS = 100  # ~1.3 KB of days: the run stays within listing.py's 2 KB for it
ALL_DAYS = "*"
OUTCOMES = ("undone", "already_undone", "not_ours", "not_restorable", "archived", "differs")
LEFT_ALONE = ("not_ours", "not_restorable", "archived", "differs")
BATCH_KEYS = 100
READ_ATTEMPTS = 8
_SYSTEM_HEADERS = ("CacheControl", "ContentDisposition", "ContentEncoding", "ContentLanguage", "ContentType")
_GONE = ("NoSuchKey", "NoSuchVersion", "404")


class UndoRefused(Exception):
    """S3 refused the copy for a reason retrying cannot change (it is named in the day's failure)."""


@dataclass(frozen=True)
class Result:
    outcome: str  # one of OUTCOMES
    detail: str = ""
    original_version: str = ""
    restored_version: str = ""
    size: int = 0


def marker_key(key: str) -> str:
    """The partition that marks a recording as undone."""
    return MARKER_PREFIX + key


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _head(s3: Any, bucket: str, key: str, version: str | None = None) -> dict[str, Any] | None:
    """HeadObject of the key's current version or of one version; None when it is gone."""
    try:
        return dict(s3.head_object(Bucket=bucket, Key=key, **({"VersionId": version} if version else {})))
    except ClientError as exc:
        status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
        if _code(exc) in _GONE or status in ("404", "405"):  # 405: the version is a delete marker
            return None
        raise


def find_original(s3: Any, bucket: str, key: str, current: Mapping[str, Any]) -> Result | dict[str, Any]:
    """The original the current (converted) version replaced, following conversions of
    conversions back; or the Result that leaves the recording alone."""
    provenance = Provenance.of(current.get("Metadata"))
    assert provenance is not None
    for _ in range(MAX_CHAIN):
        version = provenance.original_version_id
        original = _head(s3, bucket, key, version) if version else None
        if original is None:
            return Result("not_restorable", f"its original version {version or '(not recorded)'} no longer exists")
        earlier = Provenance.of(original.get("Metadata"))
        if earlier is None:
            if original.get("StorageClass", "STANDARD") in ARCHIVE_CLASSES:
                return Result(
                    "archived",
                    f"its original version {version} is in {original['StorageClass']}: restore it first",
                    version,
                )
            if provenance.original_size >= 0 and int(original.get("ContentLength", -1)) != provenance.original_size:
                return Result(
                    "differs",
                    f"its original version {version} holds {original.get('ContentLength')} bytes, the conversion "
                    f"recorded {provenance.original_size}",
                    version,
                )
            original["VersionId"] = version
            return original
        provenance = earlier
    return Result("not_restorable", f"more than {MAX_CHAIN} conversions in a row; not followed further")


def copy_arguments(
    bucket: str, key: str, original: Mapping[str, Any], *, now: dt.datetime | None = None
) -> dict[str, Any]:
    """CopyObject of the original version onto the key, keeping everything it had. An Object Lock
    retention whose date has passed is not given (S3 refuses a past date; the bucket's default
    retention then applies, as for the converter's write)."""
    args: dict[str, Any] = {
        "Bucket": bucket,
        "Key": key,
        "CopySource": {"Bucket": bucket, "Key": key, "VersionId": original["VersionId"]},
        "CopySourceIfMatch": original["ETag"],
        "MetadataDirective": "COPY",
        "TaggingDirective": "COPY",
        "StorageClass": original.get("StorageClass") or "STANDARD",
    }
    sse = original.get("ServerSideEncryption")
    if sse:
        args["ServerSideEncryption"] = sse
        if sse.startswith("aws:kms") and original.get("SSEKMSKeyId"):
            args["SSEKMSKeyId"] = original["SSEKMSKeyId"]
            if original.get("BucketKeyEnabled"):
                args["BucketKeyEnabled"] = True
    until = original.get("ObjectLockRetainUntilDate")
    if until and original.get("ObjectLockMode") and until > (now or dt.datetime.now(dt.UTC)):
        args["ObjectLockMode"] = original["ObjectLockMode"]
        args["ObjectLockRetainUntilDate"] = until
    if original.get("ObjectLockLegalHoldStatus") == "ON":
        args["ObjectLockLegalHoldStatus"] = "ON"
    return args


def undo_recording(
    s3: Any,
    dynamodb: Any,
    table: str,
    *,
    bucket: str,
    key: str,
    run: str,
    marker: Mapping[str, Any] | None,
    dry_run: bool,
    before_write: Callable[[], None] | None = None,
) -> Result:
    """One recording: HEAD its current version, find its original, remember the undo, copy.

    Safe to run again (a retried page): a recording whose current version has no provenance but an
    undo marker was restored by an undo (this run's own: counted undone again, as its first
    attempt's counts were not recorded; another run's: already_undone). `before_write` is called
    once a write is decided, before the marker."""
    current = _head(s3, bucket, key)
    if current is None:
        return Result("not_ours", "the key has no current version (deleted since it was listed)")
    if Provenance.of(current.get("Metadata")) is None:
        if marker is not None:
            by = marker.get("undone_by", {}).get("S", "")
            return Result("undone" if by == run else "already_undone", f"restored by run {by}")
        return Result("not_ours", f"its current version {current.get('VersionId')} was not written by this optimizer")
    found = find_original(s3, bucket, key, current)
    if isinstance(found, Result):
        return found
    original = found
    if dry_run:
        return Result("undone", "would be restored", original["VersionId"], size=int(original.get("ContentLength", 0)))
    if before_write is not None:
        before_write()  # the day is named in undo#days before its first marker
    remember(dynamodb, table, key, run=run, original=original["VersionId"], converted=str(current.get("VersionId")))
    try:
        response = s3.copy_object(**copy_arguments(bucket, key, original))
    except ClientError as exc:
        code = _code(exc)
        if code in ("InvalidObjectState", "InvalidArgument", "AccessDenied", "403", "InvalidRequest"):
            message = exc.response.get("Error", {}).get("Message", "")
            raise UndoRefused(
                f"copying version {original['VersionId']} onto s3://{bucket}/{key} was refused ({code}: {message})"
            ) from None
        raise
    return Result(
        "undone",
        "restored",
        original["VersionId"],
        str(response.get("VersionId", "")),
        int(original.get("ContentLength", 0)),
    )


# --- the ledger's memory of undone recordings ---------------------------------------------------


def remember(dynamodb: Any, table: str, key: str, *, run: str, original: str, converted: str) -> None:
    """The recording's marker, written before the copy (a copy never happens unremembered). No
    expiry: it lasts until a redo deletes it."""
    dynamodb.put_item(
        TableName=table,
        Item={
            "run": {"S": marker_key(key)},
            "undone_by": {"S": run},
            "original_version": {"S": original},
            "converted_version": {"S": converted},
            "undone_at": {"S": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")},
        },
    )


def remember_days(dynamodb: Any, table: str, days: Iterable[str]) -> None:
    """Names the days in `undo#days` (ADD to a string set: idempotent), before their first marker."""
    days = sorted(set(days))
    if days:
        dynamodb.update_item(
            TableName=table,
            Key={"run": {"S": DAYS_KEY}},
            UpdateExpression="ADD #d :days",
            ExpressionAttributeNames={"#d": DAYS_ATTRIBUTE},
            ExpressionAttributeValues={":days": {"SS": days}},
        )


def undone_days(dynamodb: Any, table: str, days: Iterable[str]) -> list[str]:
    """The run's days that hold undone recordings (one consistent GetItem); [ALL_DAYS] when more
    than MAX_RUN_DAYS, to keep the run's state small."""
    if not table:
        return []
    item = dynamodb.get_item(TableName=table, Key={"run": {"S": DAYS_KEY}}, ConsistentRead=True).get("Item") or {}
    marked = set(item.get(DAYS_ATTRIBUTE, {}).get("SS", []))
    found = sorted(day for day in days if day in marked)
    return [ALL_DAYS] if len(found) > MAX_RUN_DAYS else found


def day_has_undone(run: Mapping[str, Any], day: str) -> bool:
    """Whether ResolveRun found undone recordings on the day (or could not tell the days apart)."""
    days = run.get("undone_days") or []
    return ALL_DAYS in days or day in days


def read_markers(
    dynamodb: Any, table: str, keys: Iterable[str], *, sleep: Callable[[float], None] = time.sleep
) -> dict[str, dict[str, Any]]:
    """The undo markers of these object keys, by key (BatchGetItem, 100 keys a request, consistent:
    a marker just written by an undo is seen)."""
    unique = list(dict.fromkeys(keys))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(unique), BATCH_KEYS):
        request: dict[str, Any] = {
            table: {
                "Keys": [{"run": {"S": marker_key(k)}} for k in unique[start : start + BATCH_KEYS]],
                "ConsistentRead": True,
            }
        }
        for attempt in range(READ_ATTEMPTS):
            if attempt:
                sleep(random.uniform(0, min(2.0, 0.05 * 2**attempt)))
            response = dynamodb.batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(table, []):
                found[item["run"]["S"][len(MARKER_PREFIX) :]] = item
            request = response.get("UnprocessedKeys") or {}
            if not request.get(table, {}).get("Keys"):
                break
        else:
            raise RuntimeError(f"undo markers still unprocessed after {READ_ATTEMPTS} BatchGetItem calls on {table}")
    return found


LEFT_ALONE_PREFIX = "undo-left#"  # + the run: the keys an undo left alone, to name in its summary
NAMED_PER_PAGE = 20
NAMED_MAX = 100  # keys kept per run (a few dozen KB at most: well inside an item's 400 KB)


def left_alone_key(run: str) -> str:
    """The partition naming the recordings an undo run left alone."""
    return LEFT_ALONE_PREFIX + run


def name_left_alone(dynamodb: Any, table: str, run: str, named: Iterable[str], expires_at: int) -> None:
    """Adds up to NAMED_PER_PAGE "<outcome>: <key>" entries to the run's list, while it holds
    fewer than NAMED_MAX (a page beyond that adds nothing: the counts stay exact, the log names all)."""
    entries = sorted(set(named))[:NAMED_PER_PAGE]
    if not entries:
        return
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"run": {"S": left_alone_key(run)}},
            UpdateExpression="ADD #k :keys SET expires_at = if_not_exists(expires_at, :ttl)",
            ConditionExpression="attribute_not_exists(#k) OR size(#k) < :max",
            ExpressionAttributeNames={"#k": "keys"},
            ExpressionAttributeValues={
                ":keys": {"SS": entries},
                ":max": {"N": str(NAMED_MAX)},
                ":ttl": {"N": str(expires_at)},
            },
        )
    except ClientError as exc:
        if _code(exc) != "ConditionalCheckFailedException":
            raise


def left_alone(dynamodb: Any, table: str, run: str) -> list[str]:
    """The entries name_left_alone kept for the run, sorted."""
    item = dynamodb.get_item(TableName=table, Key={"run": {"S": left_alone_key(run)}}, ConsistentRead=True).get("Item")
    return sorted((item or {}).get("keys", {}).get("SS", []))


def forget(dynamodb: Any, table: str, keys: Iterable[str]) -> int:
    """A redo: the recordings are no longer undone (their markers are deleted)."""
    n = 0
    for key in keys:
        dynamodb.delete_item(TableName=table, Key={"run": {"S": marker_key(key)}})
        n += 1
    return n
