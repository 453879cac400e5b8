"""Checks of the bucket before anything is listed: originals must survive the rewrite."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from .aws import DENIED_CODES as _DENIED
from .settings import Settings


class VersioningRequired(Exception):
    """The bucket would lose its originals; the class name is the Step Functions error name."""


class ReadDenied(Exception):
    """The optimizer may not read (or decrypt) the recordings: every one would fail the same way,
    so the run stops before listing instead of filling the dead-letter queue."""


PROBE_DAYS = 7  # how many of the run's first days are looked at for one recording to read


def first_recording(s3: Any, bucket: str, prefixes: list[str]) -> str | None:
    for prefix in prefixes[:PROBE_DAYS]:
        for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=100).get("Contents", []):
            if obj["Key"].lower().endswith(".wav") and obj.get("StorageClass", "STANDARD") not in (
                "GLACIER",
                "DEEP_ARCHIVE",
            ):
                return obj["Key"]
    return None


def probe_read(s3: Any, bucket: str, prefixes: list[str]) -> str | None:
    """Reads the first byte of one recording the way the converter reads it all (a ranged
    GetObject needs the same s3:GetObject and, for SSE-KMS, kms:Decrypt). Returns the key read."""
    key = first_recording(s3, bucket, prefixes)
    if key is None:
        return None
    head: Mapping[str, Any] = {}
    try:
        head = s3.head_object(Bucket=bucket, Key=key)  # no kms:Decrypt needed: names the key
        s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-0")["Body"].read()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") not in _DENIED:
            if error.get("Code") in ("NoSuchKey", "404", "InvalidRequest"):  # gone since, or SSE-C: per recording
                return None
            raise
        kms = (
            f"; the object is encrypted with the KMS key {head['SSEKMSKeyId']}: deploy with -c kms_key_arn=<that "
            "key's ARN> "
            "and make sure its key policy lets this account's IAM policies use it (the default key policy does)"
            if head.get("SSEKMSKeyId")
            else ""
        )
        raise ReadDenied(
            f"the optimizer may not read s3://{bucket}/{key} ({error.get('Code')}: {error.get('Message', '')}). Its "
            "roles "
            f"need s3:GetObject under the prefix{kms}; a bucket policy may also deny it. Nothing was listed or "
            "converted."
        ) from None
    return key


def _rule_prefix(rule: Mapping[str, Any]) -> str | None:
    """The prefix a rule applies to, or None when it also filters on tags (the originals do not
    carry the converted tag, so such a rule may never reach them)."""
    if "Prefix" in rule:  # the legacy form
        return rule["Prefix"]
    filt = rule.get("Filter", {})
    if "Tag" in filt or "Tags" in filt.get("And", {}):
        return None
    return filt.get("Prefix", filt.get("And", {}).get("Prefix", ""))


def expires_noncurrent(rules: list[Mapping[str, Any]], prefix: str) -> bool:
    for rule in rules:
        rule_prefix = _rule_prefix(rule)
        if (
            rule.get("Status") == "Enabled"
            and "NoncurrentVersionExpiration" in rule
            and rule_prefix is not None
            and prefix.startswith(rule_prefix)
        ):
            return True
    return False


def bucket_warnings(s3: Any, settings: Settings) -> list[str]:
    bucket = settings.bucket
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status", "never enabled")
    if status != "Enabled":
        message = (
            f"bucket {bucket} has versioning {status.lower()}: each conversion would overwrite the original "
            "recording with no way back. Enable it (aws s3api put-bucket-versioning --bucket "
            f"{bucket} --versioning-configuration Status=Enabled) and add the lifecycle rule from the README, "
            "or, to accept losing the originals, deploy with -c require_versioning=false"
        )
        if settings.require_versioning:
            raise VersioningRequired(message)
        return [f"versioning is {status.lower()}: originals are overwritten for good (require_versioning=false)"]
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise
        rules = []
    if expires_noncurrent(rules, settings.bucket_prefix):
        return []
    return [
        f"no enabled lifecycle rule expires noncurrent versions under {settings.bucket_prefix or 'the bucket root'}: "
        "the original recordings stay billed at S3 Standard after conversion until one exists "
        "(README: 'Originals, versioning and the lifecycle rule')"
    ]
