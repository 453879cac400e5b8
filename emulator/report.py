"""The local run's report: every object under the date prefix, judged from the final state of S3,
the dead-letter queue and the remembered content failures and recordings in the target format
(not from what the handlers say they did). After a dry run, what it would do to each object: the
keys its pages would have enqueued are `would_convert` with their projected size, the others it
listed `would_skip` with the lister's reason."""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3

from optimizer import known_failures, known_formats, undo
from optimizer.enqueueing import projected_size
from optimizer.formats import FORMATS
from optimizer.keys import ARCHIVE_CLASSES
from optimizer.listing import skip_reason
from optimizer.settings import Settings
from optimizer.vocabulary import SkipReason
from optimizer.wav import NotWav, read_wav_info

from .deploy import REGION, Deployment

OUTCOMES = ("converted", "skipped", "known_failure", "failed", "untouched", "undone", "would_convert", "would_skip")


@dataclass(frozen=True)
class Loaded:
    """What the local run put in the bucket before the first execution."""

    key: str
    etag: str
    size: int


def dead_letters(deployment: Deployment) -> list[dict[str, Any]]:
    """Reads the DLQ without consuming it for good (messages come back after the timeout)."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = deployment.queue_url("QueuesDeadLetter")
    entries = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=900).get(
        "Messages", []
    ):
        for message in messages:
            try:
                body = json.loads(message["Body"])
            except ValueError:
                body = {"raw_body": message["Body"]}
            failure = body.get("failure") or {}
            entries.append(
                {
                    "key": body.get("key"),
                    "reason": failure.get("reason")
                    or "moved by the redrive policy after "
                    f"{message.get('Attributes', {}).get('ApproximateReceiveCount', 'several')} receives "
                    "(transient failures, see the converter log)",
                }
            )
    return entries


def remembered_failures(deployment: Deployment, keys: Iterable[str]) -> dict[str, known_failures.KnownFailure]:
    """The content failures the converter remembered for these keys, read as the lister reads them."""
    table = deployment.function("FunctionsLister").environment.get("LEDGER_TABLE", "")
    return known_failures.lookup(boto3.client("dynamodb", region_name=REGION), table, keys).found


def remembered_in_format(deployment: Deployment, keys: Iterable[str]) -> dict[str, known_formats.KnownFormat]:
    """The recordings the converter found in the target format, read as the lister reads them."""
    table = deployment.function("FunctionsLister").environment.get("LEDGER_TABLE", "")
    return known_formats.found(known_failures.lookup(boto3.client("dynamodb", region_name=REGION), table, keys))


def lister_settings(deployment: Deployment) -> Settings:
    return Settings.from_env(deployment.function("FunctionsLister").environment)


def undone_markers(deployment: Deployment, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The undo markers of these keys (optimizer/undo.py), read as the lister reads them."""
    table = deployment.function("FunctionsLister").environment.get("LEDGER_TABLE", "")
    keys = list(keys)
    return undo.read_markers(boto3.client("dynamodb", region_name=REGION), table, keys) if table and keys else {}


def object_entries(
    deployment: Deployment,
    prefix: str,
    loaded: Mapping[str, Loaded],
    reached_converter: Iterable[str],
    dlq: list[dict[str, Any]],
    reached_in_last_run: Iterable[str] | None = None,
    *,
    dry_run_keys: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """reached_in_last_run: the keys the last execution's converter received (default: all
    reached). A recording remembered as a content failure that the last execution did not send
    to the converter was skipped by it as a known failure. dry_run_keys: when the last execution
    is a dry run, the keys it would have enqueued (None otherwise)."""
    s3 = boto3.client("s3", region_name=REGION)
    failed = {entry["key"]: entry["reason"] for entry in dlq if entry["key"]}
    reached = set(reached_converter)
    reached_last = reached if reached_in_last_run is None else set(reached_in_last_run)
    versions: dict[str, list[dict[str, Any]]] = {}
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=deployment.bucket, Prefix=prefix):
        for version in page.get("Versions", []):
            versions.setdefault(version["Key"], []).append(version)
    remembered = remembered_failures(deployment, sorted(versions))
    in_format = remembered_in_format(deployment, sorted(versions))
    settings = lister_settings(deployment)
    target = settings.target
    would_convert = None if dry_run_keys is None else set(dry_run_keys)
    undone = undone_markers(deployment, sorted(versions))
    entries = []
    for key in sorted(versions):
        current = next(v for v in versions[key] if v["IsLatest"])
        head = s3.head_object(Bucket=deployment.bucket, Key=key)
        tags = {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=deployment.bucket, Key=key)["TagSet"]}
        original = loaded.get(key)
        rewritten = original is not None and current["ETag"] != original.etag
        known = remembered.get(key)
        known = known if known is not None and known.etag == current["ETag"] else None  # for this very version
        marker = undone.get(key)
        if marker is not None and not rewritten and len(versions[key]) > 1:
            outcome, reason = (
                "undone",
                f"its original again (version {marker['original_version']['S']}), restored by the undo run "
                f'{marker["undone_by"]["S"]}; skipped by later runs until "redo": true',
            )
        elif known is not None and key not in reached_last:
            outcome, reason = (
                "known_failure",
                f"{known.reason} (remembered {known.failed_at}; "
                'skipped until the object changes or "retry_failed": true)',
            )
        elif key not in reached_last and known_formats.is_known(
            [key, current["ETag"]], in_format.get(key), target.key, time.time()
        ):
            seen = in_format[key].seen_at
            outcome, reason = (
                "skipped",
                f"{SkipReason.KNOWN_TARGET_FORMAT}: already in the target format, {target.key} (found {seen}); skipped "
                "at listing until the object changes or overwrite_converted",
            )
        elif key in failed:
            outcome, reason = "failed", failed[key]
        elif rewritten and tags.get("converted") == "True":
            outcome, reason = "converted", None
        elif key in reached:
            outcome, reason = "skipped", _skip_reason(s3, deployment.bucket, key, head, tags)
        elif would_convert is not None and key in would_convert:
            outcome, reason = "would_convert", None
        elif would_convert is not None:
            outcome, reason = "would_skip", _listing_reason(key, head, settings)
        else:
            outcome, reason = "untouched", None
        entries.append(
            {
                "key": key,
                "outcome": outcome,
                "reason": reason,
                "size_before": original.size if original else current["Size"],
                "size_after": current["Size"],
                "storage_class_after": head.get("StorageClass", "STANDARD"),
                "tags_after": tags,
                "content_type_after": head.get("ContentType"),
                "metadata_after": head.get("Metadata", {}),
                "versions": len(versions[key]),
                "original_version_retained": original is not None
                and any(v["ETag"] == original.etag for v in versions[key]),
                # The current version is remembered as a content failure: runs skip it.
                "known_failure": {"reason": known.reason, "failed_at": known.failed_at} if known else None,
                # A dry run's: the size a conversion would give it (the summary's projection, per object).
                **(
                    {
                        "projected_size_after": projected_size(current["Size"], target)
                        if outcome == "would_convert"
                        else None
                    }
                    if would_convert is not None
                    else {}
                ),
            }
        )
    return entries


def _listing_reason(key: str, head: Mapping[str, Any], settings: Settings) -> str:
    """Why the dry run's listing would not enqueue an object (optimizer/listing.py, skip_reason)."""
    listed = {"Key": key, "StorageClass": head.get("StorageClass", "STANDARD")}
    reason = skip_reason(listed, target_class=settings.target_class, overwrite=settings.overwrite_converted)
    return reason or "not listed by the dry run"


def _skip_reason(s3: Any, bucket: str, key: str, head: Mapping[str, Any], tags: Mapping[str, str]) -> str:
    if head.get("StorageClass") in ARCHIVE_CLASSES:
        return SkipReason.ARCHIVED
    if tags.get("converted") == "True":
        return SkipReason.ALREADY_CONVERTED
    with tempfile.NamedTemporaryFile(suffix=".wav") as local:
        s3.download_fileobj(bucket, key, local)
        local.flush()
        try:
            info = read_wav_info(local.name)
            for target in FORMATS.values():  # whichever target_format the run had
                if target.matches(info):
                    return target.skip_reason
        except NotWav:
            pass
    return "not rewritten (see the converter log)"


def totals(entries: list[dict[str, Any]]) -> dict[str, int]:
    counts = {outcome: sum(1 for e in entries if e["outcome"] == outcome) for outcome in OUTCOMES}
    counts["bytes_before"] = sum(e["size_before"] for e in entries)
    counts["bytes_after"] = sum(e["size_after"] for e in entries)
    return counts
