"""Checks of the bucket before anything is listed: originals must survive the rewrite."""
from __future__ import annotations

from typing import Any, Mapping

from botocore.exceptions import ClientError

from .settings import Settings


class VersioningRequired(Exception):
    """The bucket would lose its originals; the class name is the Step Functions error name."""


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
        if rule.get("Status") == "Enabled" and "NoncurrentVersionExpiration" in rule and rule_prefix is not None and prefix.startswith(rule_prefix):
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
