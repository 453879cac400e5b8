"""--bucket-config FILE: the local run's demo bucket set up like a real one.

FILE is a JSON object with any of LifecycleConfiguration, ObjectLockConfiguration and
ReplicationConfiguration, each as the S3 API takes it (boto3's put_bucket_lifecycle_configuration,
put_object_lock_configuration, put_bucket_replication). They are applied to the demo bucket before
the recordings are loaded, so a default retention locks them as it would on AWS.

Object Lock is enabled when a bucket is created (CreateBucket's x-amz-bucket-object-lock-enabled),
so a configuration with ObjectLockConfiguration makes the demo bucket with it, and refuses
--unversioned (a bucket with Object Lock is versioned). Replication is stored and read by the
preflight, never executed: the emulator copies nothing to the destination.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

KEYS = ("LifecycleConfiguration", "ObjectLockConfiguration", "ReplicationConfiguration")
REPLICATION_NOTE = (
    "replication is read by the preflight, not executed: the emulator copies nothing to the destination bucket"
)


class BucketConfigError(ValueError):
    """The file cannot be applied; the message says why."""


def load(path: Path, *, unversioned: bool) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text())
    except OSError as exc:
        raise BucketConfigError(f"--bucket-config {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise BucketConfigError(f"--bucket-config {path} is not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise BucketConfigError(f"--bucket-config {path} must hold a JSON object with any of {', '.join(KEYS)}")
    unknown = sorted(set(config) - set(KEYS))
    if unknown:
        raise BucketConfigError(f"--bucket-config: unknown key(s) {', '.join(unknown)}; use {', '.join(KEYS)}")
    for key, value in config.items():
        if not isinstance(value, dict):
            raise BucketConfigError(f"--bucket-config: {key} must be a JSON object, as the S3 API takes it")
    if "ObjectLockConfiguration" in config and unversioned:
        raise BucketConfigError(
            "--bucket-config with ObjectLockConfiguration cannot be used with --unversioned: Object Lock is enabled "
            "when the bucket is created, and such a bucket is always versioned"
        )
    return config


def needs_object_lock(config: Mapping[str, Any]) -> bool:
    return "ObjectLockConfiguration" in config


def apply(s3: Any, bucket: str, config: Mapping[str, Any]) -> list[str]:
    """Puts each configuration on the bucket; returns what to tell the user. S3 (moto) refusing one
    raises BucketConfigError with its message."""
    from botocore.exceptions import ClientError, ParamValidationError

    notes = []
    calls = (
        ("LifecycleConfiguration", s3.put_bucket_lifecycle_configuration),
        ("ObjectLockConfiguration", s3.put_object_lock_configuration),
        ("ReplicationConfiguration", s3.put_bucket_replication),
    )
    for key, call in calls:
        if key not in config:
            continue
        try:
            call(Bucket=bucket, **{key: config[key]})
        except (ClientError, ParamValidationError) as exc:
            raise BucketConfigError(f"--bucket-config: S3 refused the {key}: {exc}") from None
        notes.append(f"applied the {key} to s3://{bucket}")
    if "ReplicationConfiguration" in config:
        notes.append(REPLICATION_NOTE)
    return notes
