"""Checks of the bucket before anything is listed: originals must survive the rewrite."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from .aws import DENIED_CODES as _DENIED
from .settings import Settings


class VersioningRequired(Exception):
    """The bucket would lose its originals; the class name is the Step Functions error name."""


class ReadDenied(Exception):
    """The optimizer may not read (or decrypt) the recordings: every one would fail the same way,
    so the run stops before listing instead of filling the dead-letter queue."""


PROBE_DAYS = 7  # how many of the run's first days are looked at for recordings to read
SAMPLE_PER_DAY = 3  # the first, middle and last readable recording of a day's first 100 keys
SAMPLE_MAX = 12  # read at most this many: one ranged GetObject each


@dataclass
class Probe:
    """What the preflight read: `read` the keys it could read, `denied` (key, error code) the others."""

    read: list[str] = field(default_factory=list)
    denied: list[tuple[str, str]] = field(default_factory=list)

    def warning(self) -> str:
        """The run's warning naming the first recordings that could not be read."""
        keys = ", ".join(f"{key} ({code})" for key, code in self.denied[:3])
        return (
            f"{len(self.denied)} of {len(self.denied) + len(self.read)} recordings sampled could not be read ({keys}"
            f"{', ...' if len(self.denied) > 3 else ''}); the run goes on, and each recording the converter cannot "
            "read fails on its own, with its reason, in the dead-letter queue"
        )


def _readable(obj: Mapping[str, Any]) -> bool:
    return obj["Key"].lower().endswith(".wav") and obj.get("StorageClass", "STANDARD") not in (
        "GLACIER",
        "DEEP_ARCHIVE",
    )


def sample_recordings(s3: Any, bucket: str, prefixes: list[str]) -> list[str]:
    """Up to SAMPLE_PER_DAY recordings from each of the first PROBE_DAYS days, SAMPLE_MAX in all:
    the first, middle and last of each day's first 100 keys, so one odd object is not the sample."""
    sample: list[str] = []
    for prefix in prefixes[:PROBE_DAYS]:
        keys = [
            obj["Key"]
            for obj in s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=100).get("Contents", [])
            if _readable(obj)
        ]
        picked = sorted({0, len(keys) // 2, len(keys) - 1}) if keys else []
        sample += [keys[i] for i in picked][:SAMPLE_PER_DAY]
        if len(sample) >= SAMPLE_MAX:
            return sample[:SAMPLE_MAX]
    return sample


def first_recording(s3: Any, bucket: str, prefixes: list[str]) -> str | None:
    """The first recording found under the prefixes, None if none is."""
    sample = sample_recordings(s3, bucket, prefixes)
    return sample[0] if sample else None


def probe_reads(s3: Any, bucket: str, prefixes: list[str]) -> Probe:
    """Reads the first byte of each sampled recording the way the converter reads it all (a ranged
    GetObject needs the same s3:GetObject and, for SSE-KMS, kms:Decrypt). Refuses the run
    (ReadDenied) only when not one of them can be read: a denial of some (a bucket policy on a few
    keys, one object under another KMS key) is left to the converter, which fails those one by
    one with their reason."""
    probe = Probe()
    last: tuple[str, Mapping[str, Any], Mapping[str, Any]] | None = None  # key, error, head
    for key in sample_recordings(s3, bucket, prefixes):
        head: Mapping[str, Any] = {}
        try:
            head = s3.head_object(Bucket=bucket, Key=key)  # no kms:Decrypt needed: names the key
            s3.get_object(Bucket=bucket, Key=key, Range="bytes=0-0")["Body"].read()
        except ClientError as exc:
            error = exc.response.get("Error", {})
            if error.get("Code") not in _DENIED:
                if error.get("Code") in ("NoSuchKey", "404", "InvalidRequest"):  # gone since, or SSE-C: per recording
                    continue
                raise
            probe.denied.append((key, str(error.get("Code"))))
            last = (key, error, head)
            continue
        probe.read.append(key)
    if probe.denied and not probe.read and last is not None:
        raise _denied(bucket, len(probe.denied), *last)
    return probe


def probe_read(s3: Any, bucket: str, prefixes: list[str]) -> str | None:
    """probe_reads, returning the first key read (None if nothing could be sampled)."""
    probe = probe_reads(s3, bucket, prefixes)
    return probe.read[0] if probe.read else None


# The likely cause when a KMS-encrypted recording cannot be read although the role may read the
# prefix. Telling an AWS managed key apart would need kms:DescribeKey on a key this stack does not
# know in advance (a wildcard resource), so the message names it instead. An AWS managed key's
# policy is the service's and cannot be changed ("Change a key policy", AWS KMS developer guide,
# https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-modifying.html); aws/connect lets
# account principals use the key only through Amazon Connect.
AWS_MANAGED_KEY = (
    "If that key is the AWS managed key aws/connect (`aws kms describe-key --key-id <the key>` shows KeyManager "
    "AWS), no role can decrypt it outside Amazon Connect and -c kms_key_arn cannot help, since its key policy "
    "cannot be changed: point Connect's call-recording storage at a customer managed key so that new recordings "
    "can be converted; those already written stay readable only through Connect, so leave their days out"
)


def _denied(bucket: str, count: int, key: str, error: Mapping[str, Any], head: Mapping[str, Any]) -> ReadDenied:
    kms = (
        f"; the object is encrypted with the KMS key {head['SSEKMSKeyId']}: deploy with -c kms_key_arn=<that "
        "key's ARN> "
        "and make sure its key policy lets this account's IAM policies use it (the default key policy does). "
        + AWS_MANAGED_KEY
        if head.get("SSEKMSKeyId")
        else ""
    )
    sampled = f" (nor any of the {count} recordings sampled)" if count > 1 else ""
    return ReadDenied(
        f"the optimizer may not read s3://{bucket}/{key}{sampled} ({error.get('Code')}: {error.get('Message', '')}). "
        f"Its roles need s3:GetObject under the prefix{kms}; a bucket policy may also deny it. Nothing was listed "
        "or converted."
    )


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
    """Whether an enabled lifecycle rule covering `prefix` expires noncurrent versions."""
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


def check_versioning(s3: Any, settings: Settings) -> tuple[list[str], list[Mapping[str, Any]] | None]:
    """The bucket keeps originals (VersioningRequired otherwise) and a rule expires them: the
    warnings, and the lifecycle rules it read (None where it read none), for the preflight's
    reading of the bucket's rules (optimizer/bucket_rules.py) to reuse rather than read again."""
    bucket = settings.bucket
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status", "never enabled")
    if status != "Enabled":
        message = (
            f"bucket {bucket} has versioning {status.lower()}: each conversion would overwrite the original "
            "recording with no way back. Enable it (aws s3api put-bucket-versioning --bucket "
            f"{bucket} --versioning-configuration Status=Enabled) and add the lifecycle rule of "
            "docs/operations.md#originals-versioning-and-the-lifecycle-rule, "
            "or, to accept losing the originals, deploy with -c require_versioning=false"
        )
        if settings.require_versioning:
            raise VersioningRequired(message)
        return [f"versioning is {status.lower()}: originals are overwritten for good (require_versioning=false)"], None
    try:
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket).get("Rules", [])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise
        rules = []
    if expires_noncurrent(rules, settings.bucket_prefix):
        return [], rules
    return [
        f"no enabled lifecycle rule expires noncurrent versions under {settings.bucket_prefix or 'the bucket root'}: "
        "the original recordings stay billed at S3 Standard after conversion until one exists "
        "(docs/operations.md#originals-versioning-and-the-lifecycle-rule)"
    ], rules
