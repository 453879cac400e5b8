"""The bucket's own rules, and what the rewrite does to them (issue 17, item 1).

A conversion writes a new current version dated the day it runs, carrying the original's tags,
lock settings and encryption (optimizer/conversion.py, put_arguments). So:

- a lifecycle `Expiration` with `Days` on current versions counts from the new version's creation
  date: each converted recording is kept as many days longer as it was old when converted.
  ("Lifecycle configuration elements", https://docs.aws.amazon.com/AmazonS3/latest/userguide/
  intro-lifecycle-rules.html: Days counts from the object's creation; an `Expiration` with a
  `Date` is absolute and is not moved.) A rule's filter selects by key prefix, by tags (an object
  must carry every tag of the filter), or both in an `And` ("Adding filters to Lifecycle rules",
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-filters.html). The new
  version keeps the original's tags, so a tag rule that reached the original reaches it too.
- Object Lock default retention applies to each new version placed without its own retention
  ("AWS::S3::Bucket DefaultRetention", https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/
  aws-properties-s3-bucket-defaultretention.html: "for new objects placed in the specified bucket").
  The original keeps its retain-until date: as a noncurrent version it cannot be expired before
  then, so both versions are billed until it passes. (The converter copies the original's
  retain-until date onto the new version when it is still in the future.)
- Replication copies every new version matching a rule to the destination ("ReplicationRule",
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_ReplicationRule.html): each conversion
  replicates, and the destination keeps both unless it has its own noncurrent rule.

Read by the preflight with s3:GetLifecycleConfiguration, s3:GetBucketObjectLockConfiguration and
s3:GetReplicationConfiguration (the lister's role); a configuration the role may not read is
named in a warning, never a failure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from .aws import DENIED_CODES

README_SECTION = "See docs/operations.md#the-buckets-own-rules"
DAYS_PER_YEAR = 365  # a default retention in Years, counted in days for the projections
_NOT_FOUND = (
    "NoSuchLifecycleConfiguration",
    "ObjectLockConfigurationNotFoundError",
    "ReplicationConfigurationNotFoundError",
)


@dataclass(frozen=True)
class Expiring:
    """An enabled lifecycle rule expiring current versions `days` after they are written."""

    rule: str
    days: int
    scope: str  # in words: which recordings under the prefix it reaches


@dataclass
class BucketRules:
    expirations: list[Expiring] = field(default_factory=list)
    lock_mode: str | None = None  # of the default retention
    lock_days: int = 0  # 0: no default retention
    replicated_to: list[str] = field(default_factory=list)  # destination buckets of the rules reaching the prefix
    unread: list[str] = field(default_factory=list)  # configurations the role could not read, with the code

    @property
    def expiration_days(self) -> int:
        """The shortest current-version expiration reaching the prefix (0: none)."""
        return min((e.days for e in self.expirations), default=0)

    def to_state(self) -> dict[str, Any]:
        """JSON for the state machine: the Summarize step's projection reads it back (of_state)."""
        return asdict(self)

    @classmethod
    def of_state(cls, state: Mapping[str, Any] | None) -> BucketRules:
        """The rules as to_state wrote them into the state machine's state (None: none read)."""
        state = state or {}
        return cls(
            expirations=[Expiring(**e) for e in state.get("expirations", [])],
            lock_mode=state.get("lock_mode"),
            lock_days=int(state.get("lock_days", 0)),
            replicated_to=list(state.get("replicated_to", [])),
            unread=list(state.get("unread", [])),
        )

    def warnings(self, prefix: str) -> list[str]:
        """One warning per rule that changes what the rewrite means for the bucket's recordings under `prefix`."""
        where = prefix or "the bucket root"
        out = [
            f"lifecycle rule {e.rule!r} expires current versions {e.days} days after they are written ({e.scope}): "
            "a converted recording is a new version dated the day of its conversion, so it is kept as many days "
            "longer than the rule says as it was old when converted (a backfill of old days keeps them up to "
            f"their age longer). {README_SECTION}"
            for e in self.expirations
        ]
        if self.lock_days:
            out.append(
                f"Object Lock default retention {self.lock_mode} {self.lock_days} days: an original under retention "
                "cannot be expired before its retain-until date, so it stays billed next to its converted version "
                "until then (the converted version carries the same retain-until date); the dry run projects the "
                f"storage that stays billed. {README_SECTION}"
            )
        if self.replicated_to:
            out.append(
                f"replication copies new versions under {where} to {', '.join(self.replicated_to)}: every conversion "
                "is replicated, and the destination keeps both versions unless it has its own rule expiring "
                f"noncurrent versions. {README_SECTION}"
            )
        out += [
            f"the bucket's {name} could not be read ({code}): what the rewrite does to it is not reported; "
            "the lister's role has the read action, a bucket policy may deny it"
            for name, code in (u.split(":", 1) for u in self.unread)
        ]
        return out


def _overlaps(rule_prefix: str, prefix: str) -> bool:
    """A rule on rule_prefix reaches recordings under prefix: all of them (prefix under it) or
    some (a deeper rule, e.g. on one instance's CallRecordings/ under connect/)."""
    return prefix.startswith(rule_prefix) or rule_prefix.startswith(prefix)


def _filter_of(rule: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """(prefix, tags) of a lifecycle or replication rule's filter, the legacy Prefix included."""
    if "Filter" not in rule:
        return str(rule.get("Prefix", "")), {}
    filt = rule.get("Filter") or {}
    if "And" in filt:
        both = filt["And"] or {}
        return str(both.get("Prefix", "")), {t["Key"]: t.get("Value", "") for t in both.get("Tags", [])}
    if "Tag" in filt:
        return "", {filt["Tag"]["Key"]: filt["Tag"].get("Value", "")}
    return str(filt.get("Prefix", "")), {}


def _scope(rule_prefix: str, tags: Mapping[str, str], prefix: str) -> str:
    where = f"every recording under {rule_prefix or 'the bucket root'}"
    if rule_prefix.startswith(prefix) and rule_prefix != prefix:
        where = f"the recordings under {rule_prefix}"
    if tags:
        return where + " tagged " + ", ".join(f"{k}={v}" for k, v in tags.items())
    return where


def current_expirations(rules: list[Mapping[str, Any]], prefix: str) -> list[Expiring]:
    """Enabled rules with a current-version `Expiration` in Days that reach the prefix. A rule
    on another prefix is not one of them, nor one with an absolute Date or only
    ExpiredObjectDeleteMarker (the rewrite does not move those)."""
    found = []
    for rule in rules:
        days = (rule.get("Expiration") or {}).get("Days")
        if rule.get("Status") != "Enabled" or not days:
            continue
        rule_prefix, tags = _filter_of(rule)
        if _overlaps(rule_prefix, prefix):
            found.append(Expiring(str(rule.get("ID") or "(no id)"), int(days), _scope(rule_prefix, tags, prefix)))
    return found


def default_retention(config: Mapping[str, Any]) -> tuple[str | None, int]:
    """(mode, days) of an Object Lock configuration's default retention; (None, 0) without one."""
    if config.get("ObjectLockEnabled") != "Enabled":
        return None, 0
    retention = ((config.get("Rule") or {}).get("DefaultRetention")) or {}
    days = int(retention.get("Days") or 0) or int(retention.get("Years") or 0) * DAYS_PER_YEAR
    return (retention.get("Mode"), days) if days else (None, 0)


def replication_destinations(config: Mapping[str, Any], prefix: str) -> list[str]:
    """The destinations of the enabled replication rules whose filter reaches the prefix."""
    found: list[str] = []
    for rule in config.get("Rules", []):
        if rule.get("Status") != "Enabled":
            continue
        rule_prefix, _tags = _filter_of(rule)
        destination = str((rule.get("Destination") or {}).get("Bucket", "?"))
        if _overlaps(rule_prefix, prefix) and destination not in found:
            found.append(destination.removeprefix("arn:aws:s3:::"))
    return found


def _read(call: Any, name: str, unread: list[str], **kwargs: Any) -> Mapping[str, Any] | None:
    try:
        return dict(call(**kwargs))
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code in _NOT_FOUND:
            return None
        if code in DENIED_CODES:
            unread.append(f"{name}:{code}")
            return None
        raise


def read(s3: Any, bucket: str, prefix: str, lifecycle_rules: list[Mapping[str, Any]] | None = None) -> BucketRules:
    """Two requests (Object Lock, replication), and the lifecycle one unless its rules are given."""
    rules = BucketRules()
    if lifecycle_rules is None:
        lifecycle = _read(s3.get_bucket_lifecycle_configuration, "lifecycle configuration", rules.unread, Bucket=bucket)
        lifecycle_rules = list((lifecycle or {}).get("Rules", []))
    rules.expirations = current_expirations(lifecycle_rules, prefix)
    lock = _read(s3.get_object_lock_configuration, "Object Lock configuration", rules.unread, Bucket=bucket)
    rules.lock_mode, rules.lock_days = default_retention((lock or {}).get("ObjectLockConfiguration") or {})
    replication = _read(s3.get_bucket_replication, "replication configuration", rules.unread, Bucket=bucket)
    rules.replicated_to = replication_destinations((replication or {}).get("ReplicationConfiguration") or {}, prefix)
    return rules
