"""Verifying a converted recording against its chain of custody (a run with "verify": true).

The converter records, for every conversion, which version replaced which and the SHA-256 of
each one's bytes: in the new version's metadata (optimizer/provenance.py), in its log line, and
in the ledger's done# marker of the run that converted it (optimizer/ledger.py, read_custody).
A verify run puts each recording of its days on the work queue as a verify message
(optimizer/messages.py); the converter then, instead of converting (verify_recording):

1. reads the current version (GetObject), its SHA-256 computed while it streams to /tmp;
   a version without provenance is `not_converted` (nothing to check), unless the version before
   it was a conversion (_converted_before): then it replaced a conversion, a mismatch;
2. reads the record of the run its metadata names (one GetItem), and compares: the current
   version must be the one the record names, its bytes must have the recorded digest, and its
   metadata must name the recorded original;
3. reads the original (GetObject of its VersionId, s3:GetObjectVersion) while it exists: its
   bytes must have the recorded digest, and the current version's audio must still be the
   original's, by the converter's own checks (conversion.verify: format, length; audio.check_audio:
   the downmix, sample for sample). Once the original is gone (a lifecycle rule expired it), the
   digests of the record are what is left: counted `verified_original_gone`.

Any difference raises CustodyMismatch: the recording is dead-lettered with the reasons (its name
is in the DLQ, and in the run's summary), counted failed_custody_mismatch, and the run ends
failed. A run that ends SUCCEEDED has verified everything it listed, or said why not
(not_converted, without the original). A version written longer ago than the ledger keeps its
records (ledger.TTL_DAYS) cannot be held to one: counted `verified_unrecorded` after its
original's check, and the summary says so.

Nothing is written to S3. Costs per recording: one GetObject of each version (the original's
bytes are read in full: a verify run of a day reads about what its conversion read), one GetItem.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from . import ledger
from .audio import AudioMismatch, check_audio
from .aws import DENIED_CODES
from .conversion import (
    ContentFailure,
    Outcome,
    PermanentFailure,
    TransientFailure,
    _active_lock,
    _active_work,
    _download,
    _work_folder,
    check_free_space,
    verify,
)
from .formats import FORMATS, TARGET, TargetFormat
from .keys import ARCHIVE_CLASSES
from .messages import Recording
from .provenance import Provenance
from .settings import Settings
from .vocabulary import FailureKind, SkipReason
from .wav import NotWav, fix_placeholder_sizes, read_wav_info

KIND = FailureKind.CUSTODY_MISMATCH
# The names of a run's mismatched recordings kept for its summary (the DLQ has every one).
NAMES_KEPT = 50
_GONE = ("NoSuchKey", "NoSuchVersion", "404")


class CustodyMismatch(PermanentFailure):
    """The recording differs from its chain of custody; the reason lists each difference."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, KIND)


def names_key(run_id: str) -> str:
    """The item keeping the names of a verify run's mismatches: a counter-shard key (count#), so
    the converter's existing grant covers it and ledger.read_item reads it with the shards."""
    return f"{ledger.shard_key(run_id, 0).rsplit('#', 1)[0]}#mismatched"


def note_mismatch(dynamodb: Any, table: str, run_id: str, key: str) -> None:
    """Adds `key` to the run's mismatched names, while it holds fewer than NAMES_KEPT (beyond
    that the condition fails and only the count and the DLQ have it)."""
    try:
        dynamodb.update_item(
            TableName=table,
            Key={"run": {"S": names_key(run_id)}},
            UpdateExpression="ADD #names :key SET expires_at = if_not_exists(expires_at, :ttl)",
            ConditionExpression="attribute_not_exists(#names) OR size(#names) < :kept",
            ExpressionAttributeNames={"#names": "names"},
            ExpressionAttributeValues={
                ":key": {"SS": [key]},
                ":kept": {"N": str(NAMES_KEPT)},
                ":ttl": ledger._expiry(),
            },
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
            raise


def mismatched_names(item: Mapping[str, Any]) -> list[str]:
    """The keys a verify run recorded as not matching their custody, sorted."""
    return sorted(item.get("names", {}).get("SS", []))


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _get(s3: Any, rec: Recording, **kwargs: Any) -> dict[str, Any] | None:
    """GetObject; None when the key or version is gone. With a VersionId, S3 authorizes the request
    as s3:GetObjectVersion (Amazon S3 API Reference, "GetObject", versionId:
    https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html)."""
    try:
        response: dict[str, Any] = s3.get_object(Bucket=rec.bucket, Key=rec.key, **kwargs)
        return response
    except ClientError as exc:
        code = _code(exc)
        if code in _GONE:
            return None
        if code in DENIED_CODES:
            which = f"version {kwargs['VersionId']} of " if "VersionId" in kwargs else ""
            raise PermanentFailure(
                f"reading {which}s3://{rec.bucket}/{rec.key} to verify it was denied ({code}). The converter's role "
                "needs s3:GetObject and s3:GetObjectVersion under the prefix (and kms:Decrypt for SSE-KMS)",
                FailureKind.ACCESS_DENIED,
            ) from None
        raise


def _save(response: Mapping[str, Any], path: str) -> str:
    body = response["Body"]
    try:
        _, sha256 = _download(body, path)
    finally:
        body.close()
    return sha256


@dataclass(frozen=True)
class _Previous:
    version: str
    run: str


def _converted_before(s3: Any, rec: Recording, current_version: str) -> _Previous | None:
    """The version just before the current one, if the converter wrote it: a converted recording
    replaced by a version without provenance (its metadata dropped) is still found. One
    ListObjectVersions of the key (s3:ListBucketVersions under the prefix) and, when there is an
    older version, one HeadObject of it; for unconverted recordings of a verify run only."""
    response = s3.list_object_versions(Bucket=rec.bucket, Prefix=rec.key, MaxKeys=3)
    versions = [v for v in response.get("Versions", []) if v.get("Key") == rec.key]
    ids = [str(v.get("VersionId") or "null") for v in versions]
    if current_version not in ids or ids.index(current_version) + 1 >= len(ids):
        return None
    previous = ids[ids.index(current_version) + 1]
    head = s3.head_object(Bucket=rec.bucket, Key=rec.key, VersionId=previous)
    provenance = Provenance.of(head.get("Metadata"))
    return None if provenance is None else _Previous(previous, provenance.run)


def _older_than_records(response: Mapping[str, Any], now: dt.datetime) -> bool:
    modified = response.get("LastModified")
    return isinstance(modified, dt.datetime) and now - modified > dt.timedelta(days=ledger.TTL_DAYS)


def audio_problem(original_path: str, converted_path: str, target: TargetFormat = TARGET) -> str | None:
    """The converter's own verification of converted_path against original_path: None if it holds.
    Checked as the format the converted version is in when that is one the converter writes (a
    version converted before `target_format` changed stays verifiable), else as `target` for the
    original's channels."""
    try:
        source = read_wav_info(original_path)
        fix_placeholder_sizes(original_path, source)
        output = read_wav_info(converted_path)
        target = next((f for f in FORMATS.values() if f.matches(output)), target.for_source(source.channels))
        verify(source, output, target=target)
        check_audio(original_path, source, converted_path, output, target)
    except (NotWav, ContentFailure, AudioMismatch) as exc:
        return f"its audio is not the original's ({exc})"
    return None


def verify_recording(
    rec: Recording,
    *,
    s3: Any,
    dynamodb: Any,
    settings: Settings,
    workdir: str | None = None,
    target: TargetFormat | None = None,  # by default the settings' (target_format)
    begin_attempt: Callable[[], None] | None = None,
    now: dt.datetime | None = None,
) -> Outcome:
    """Checks one converted recording against its chain of custody and records the outcome; PermanentFailure outside
    the optimizer's scope."""
    if rec.bucket != settings.bucket or not rec.key.startswith(settings.bucket_prefix):
        raise PermanentFailure(
            f"s3://{rec.bucket}/{rec.key} is outside this optimizer's scope s3://{settings.bucket}/{settings.bucket_prefix}",
            FailureKind.OUTSIDE_SCOPE,
        )
    now = now or dt.datetime.now(dt.UTC)
    current = _get(s3, rec)
    if current is None:
        return Outcome("skipped", SkipReason.GONE)
    try:
        if current.get("StorageClass", "STANDARD") in ARCHIVE_CLASSES:
            return Outcome("skipped", SkipReason.ARCHIVED)
        provenance = Provenance.of(current.get("Metadata"))
        if provenance is None:  # its body is not read
            replaced = _converted_before(s3, rec, str(current.get("VersionId") or "null"))
            if replaced is not None:
                raise CustodyMismatch(
                    f"custody mismatch for s3://{rec.bucket}/{rec.key}: the current version "
                    f"{current.get('VersionId')} carries no provenance, but the version before it, {replaced.version}, "
                    f"was converted by run {replaced.run}: it was replaced after its conversion"
                )
            return Outcome("skipped", SkipReason.NOT_CONVERTED)
        record = ledger.read_custody(dynamodb, settings.ledger_table, provenance.run, rec.key)
        parent = workdir or tempfile.gettempdir()
        size = int(current.get("ContentLength", 0))
        check_free_space(parent, size + max(0, provenance.original_size), "the recording and its original")
        if begin_attempt is not None:
            begin_attempt()
        tmp = _work_folder(parent)
        try:
            return _verify_read(rec, s3, current, provenance, record, tmp, now, target or settings.target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
            with _active_lock:
                _active_work.discard(tmp)
    except OSError as exc:  # the disk's or the runtime's, never the recording's
        raise TransientFailure(f"{type(exc).__name__}: {exc}") from exc
    finally:
        current["Body"].close()


def _verify_read(
    rec: Recording,
    s3: Any,
    current: Mapping[str, Any],
    provenance: Provenance,
    record: Mapping[str, str] | None,
    tmp: str,
    now: dt.datetime,
    target: TargetFormat,
) -> Outcome:
    converted_path, original_path = os.path.join(tmp, "converted.wav"), os.path.join(tmp, "original.wav")
    version = str(current.get("VersionId") or "null")
    # Its SHA-256 computed while it streams to /tmp: no other request for it.
    digest = _download(current["Body"], converted_path)[1]
    problems: list[str] = []
    unrecorded = False
    if record is None:
        if _older_than_records(current, now):
            unrecorded = True  # its record expired with the ledger's items (ledger.TTL_DAYS)
        else:
            problems.append(
                f"the ledger holds no record of its conversion by run {provenance.run} (done# marker), though the "
                f"version is younger than the {ledger.TTL_DAYS} days records are kept"
            )
        expected = {
            "original_version_id": provenance.original_version_id,
            "original_sha256": provenance.original_sha256,
        }
    else:
        expected = dict(record)
        if record.get("converted_version_id") != version:
            problems.append(
                f"the current version is {version}, the record names {record.get('converted_version_id')}: it was "
                "replaced after its conversion"
            )
        if record.get("converted_sha256") != digest:
            problems.append(f"its bytes have SHA-256 {digest}, the record says {record.get('converted_sha256')}")
        if record.get("original_version_id") != provenance.original_version_id:
            problems.append(
                f"its metadata names the original {provenance.original_version_id}, the record "
                f"{record.get('original_version_id')}"
            )
    original = _get(s3, rec, VersionId=expected["original_version_id"])
    gone = original is None
    if original is not None:
        if original.get("StorageClass", "STANDARD") in ARCHIVE_CLASSES:
            original["Body"].close()
            gone = True
        else:
            original_digest = _save(original, original_path)
            if original_digest != expected.get("original_sha256"):
                problems.append(
                    f"the original {expected['original_version_id']} has SHA-256 {original_digest}, the record says "
                    f"{expected.get('original_sha256')}"
                )
            elif not problems:
                audio = audio_problem(original_path, converted_path, target)
                if audio:
                    problems.append(audio)
    if problems:
        raise CustodyMismatch(f"custody mismatch for s3://{rec.bucket}/{rec.key}: " + "; ".join(problems))
    reason = "unrecorded" if unrecorded else "original_gone" if gone else None
    return Outcome("verified", reason, int(current.get("ContentLength", 0)))
