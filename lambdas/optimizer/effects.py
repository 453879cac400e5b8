"""What a run's rewrite would do to the bucket's own rules (the dry run's projection), and what a
run that listed nothing says about its prefix (issue 17, item 1).

The projection's ages are the recordings' days (the key's YYYY/MM/DD, which Connect writes on the
day of the call) counted to the day the dry run listed them: a recording converted at age A is a
new version A days younger than its original, so a current-version expiration of D days keeps it
A days longer, and an original locked by a default retention of L days stays billed next to its
converted version for L - A more days (none if A >= L).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from .bucket_rules import BucketRules
from .dates import day_prefix

GIB = 1024**3
DAYS_PER_MONTH = 30  # a GB-month of the projection: 30 days of a GB
CONNECT_LAYOUT = "connect/<instance-alias>/CallRecordings/YYYY/MM/DD/"
MAX_PROBE_DAYS = 400  # the scheduled run's probe never makes more requests than this


def age_counts(day: dt.date, today: dt.date, sizes: Sequence[int]) -> dict[str, int]:
    """A dry-run page's counts for the projection: the recordings' summed ages in days, and their
    bytes times their age (the page is one day's, so all of its recordings have one age)."""
    age = max(0, (today - day).days)
    return {"dry_age_days": age * len(sizes), "dry_age_byte_days": age * sum(sizes)}


def projection(
    run: Mapping[str, Any], counts: Mapping[str, int], rules: BucketRules, today: dt.date, price_gb_month: float
) -> dict[str, Any]:
    """The dry run's projection of the rules' effect; {} when no rule is affected."""
    recordings, size = int(counts.get("dry_recordings", 0)), int(counts.get("dry_bytes", 0))
    if not recordings:
        return {}
    oldest = max(0, (today - dt.date.fromisoformat(run["start_date"])).days)
    youngest = max(0, (today - dt.date.fromisoformat(run["end_date"])).days)
    age_days, age_byte_days = int(counts.get("dry_age_days", 0)), int(counts.get("dry_age_byte_days", 0))
    out: dict[str, Any] = {}
    if rules.expiration_days:
        out["restarted_expiration"] = {
            "rule_days": rules.expiration_days,
            "recordings": recordings,
            "average_days_longer": round(age_days / recordings, 1),
            "most_days_longer": oldest,
        }
    if rules.lock_days:
        lock = rules.lock_days
        # sum of size * max(0, L - age): exact when no recording is older than L, else between
        # sum(size * (L - age)) (the older ones counted negative) and sum(size) * (L - youngest).
        at_least = max(0, lock * size - age_byte_days)
        at_most = at_least if oldest <= lock else size * max(0, lock - youngest)
        gb_months = (at_least / GIB / DAYS_PER_MONTH, at_most / GIB / DAYS_PER_MONTH)
        out["locked_originals"] = {
            "lock_days": lock,
            "mode": rules.lock_mode,
            "bytes": size,
            "gb_months_at_least": round(gb_months[0], 4),
            "gb_months_at_most": round(gb_months[1], 4),
            "cost_at_least": round(gb_months[0] * price_gb_month, 4),
            "cost_at_most": round(gb_months[1] * price_gb_month, 4),
            "currency": "USD",
        }
    return out


def projection_lines(effect: Mapping[str, Any]) -> list[str]:
    """The projection in sentences (the local run prints them; the figures are in the output)."""
    lines = []
    restarted = effect.get("restarted_expiration")
    if restarted:
        lines.append(
            f"{restarted['recordings']:,} recordings would be kept longer than the bucket's "
            f"{restarted['rule_days']}-day expiration says: {restarted['average_days_longer']} days on average, up to "
            f"{restarted['most_days_longer']} days (each by its age at conversion)"
        )
    locked = effect.get("locked_originals")
    if locked:
        months = (
            f"{locked['gb_months_at_least']}"
            if locked["gb_months_at_least"] == locked["gb_months_at_most"]
            else f"{locked['gb_months_at_least']} to {locked['gb_months_at_most']}"
        )
        cost = (
            f"${locked['cost_at_least']}"
            if locked["cost_at_least"] == locked["cost_at_most"]
            else f"${locked['cost_at_least']} to ${locked['cost_at_most']}"
        )
        lines.append(
            f"Object Lock ({locked['mode']}, {locked['lock_days']} days) keeps the originals billed next to their "
            f"converted versions: {months} GB-months of storage ({cost}) until their retain-until dates pass"
        )
    return lines


def _has_objects(s3: Any, bucket: str, prefix: str) -> str | None:
    """The first key under the prefix, or None: one ListObjectsV2 of one key."""
    contents = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("Contents", [])
    return str(contents[0]["Key"]) if contents else None


def empty_listing_hints(
    s3: Any, bucket: str, bucket_prefix: str, run: Mapping[str, Any], today: dt.date, probe_days: int
) -> list[str]:
    """What a run that listed no recording at all says. One request to see whether anything is
    under the prefix; a scheduled run then probes the probe_days days before today (one
    ListObjectsV2 of one key per day, newest first, stopping at the first day that has one)."""
    where = f"s3://{bucket}/{bucket_prefix}"
    first = _has_objects(s3, bucket, bucket_prefix)
    if first is None:
        return [
            f"no recording was listed, and nothing at all is under {where}: the prefix may be wrong. Amazon Connect "
            f"writes {CONNECT_LAYOUT}; bucket_prefix ends where YYYY/MM/DD/ begins (redeploy with "
            "-c bucket_prefix=connect/<instance-alias>/CallRecordings/)"
        ]
    hint = (
        f"no recording was listed under the run's days ({bucket_prefix}YYYY/MM/DD/); the first key under the prefix is "
        f"{first}. If that key is not <prefix>YYYY/MM/DD/..., the prefix may be wrong: Amazon Connect writes "
        f"{CONNECT_LAYOUT}"
    )
    if run.get("source") != "schedule":
        return [hint]
    days = min(probe_days, MAX_PROBE_DAYS)
    for back in range(1, days + 1):
        day = today - dt.timedelta(days=back)
        if _has_objects(s3, bucket, day_prefix(bucket_prefix, day)) is not None:
            return [
                f"no recording was listed under the scheduled days, but {day_prefix(bucket_prefix, day)} has "
                "recordings: the prefix is right, and the scheduled days had no calls"
            ]
    return [
        hint + f"; none of the last {days} days (num_days_age + catch_up_days) has a recording under "
        f"{bucket_prefix}YYYY/MM/DD/"
    ]
