"""Recordings already in the target format, remembered so that later runs skip them at listing.

A recording the converter finds already in the target format (the format's skip_reason:
`already_alaw`) was downloaded for nothing, and would be again on every run: nobody converted it,
so its storage class is still the original's and it carries no converted=True tag, the two things
the lister skips on without a request. The converter remembers it, for the version it read and
the target format's key, at the cost of a remembered content failure (known_failures.py): one
item in the run ledger table under the same partition key "failure#<object key>". One item per
object key means the lister's BatchGetItem of a page's keys (100 a request) reads both memories
at once, and a key's newer memory replaces the older, whichever it is.

It is kept apart from the failures. Its ETag is stored as `format_etag`, never `etag`, so
known_failures.parse_item (and a lister older than this module) never reads it as a failure.
The lister counts what it drops `skipped.known_target_format`, never `known_failure`;
"retry_failed": true does not enqueue it (it did not fail). overwrite_converted (which converts a
recording already in the format again) ignores it, and so do verify and undo runs, which skip no
recording by memory. A memory of another target format (the setting changed since) skips nothing:
the converter looks at the recording again. A new version of the object (another ETag) is
enqueued as usual. It lives as long as a failure's memory (known_failures.TTL_DAYS): after that,
one more download checks the recording again and remembers it anew.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .known_failures import TTL_DAYS, Lookup, partition_key
from .listing import Page
from .vocabulary import SkipReason

ETAG = "format_etag"  # the attribute of the ETag: not `etag`, which would make the item a failure
FORMAT = "format"


@dataclass(frozen=True)
class KnownFormat:
    key: str
    etag: str
    format: str  # TargetFormat.key
    seen_at: str
    expires_at: int


def format_item(key: str, etag: str, format_key: str, *, run: str, now: dt.datetime) -> dict[str, Any]:
    """The ledger item of one recording found in the target format, in DynamoDB's typed form."""
    item = {
        "run": {"S": partition_key(key)},
        ETAG: {"S": etag},
        FORMAT: {"S": format_key},
        "seen_at": {"S": now.astimezone(dt.UTC).isoformat(timespec="seconds")},
        "expires_at": {"N": str(int(now.timestamp()) + TTL_DAYS * 86400)},
    }
    if run:
        item["seen_run"] = {"S": run}
    return item


def remember(
    dynamodb: Any, table: str, key: str, etag: str, format_key: str, *, run: str = "", now: dt.datetime | None = None
) -> bool:
    """Writes (or replaces) the recording's memory; False when there is no table or no ETag to
    remember it by (a message from before messages carried one)."""
    if not table or not etag:
        return False
    now = now or dt.datetime.now(dt.UTC)
    dynamodb.put_item(TableName=table, Item=format_item(key, etag, format_key, run=run, now=now))
    return True


def parse_item(key: str, item: Mapping[str, Any]) -> KnownFormat | None:
    """The memory of a recording in a target format held by a ledger item, or None (a failure's item)."""
    if ETAG not in item or FORMAT not in item:
        return None
    return KnownFormat(
        key=key,
        etag=item[ETAG]["S"],
        format=item[FORMAT]["S"],
        seen_at=item.get("seen_at", {}).get("S", ""),
        expires_at=int(item.get("expires_at", {}).get("N", "0")),
    )


def found(lookup: Lookup) -> dict[str, KnownFormat]:
    """The memories of this kind among what a known_failures.lookup read, by object key."""
    known = (parse_item(key, item) for key, item in lookup.others.items())
    return {k.key: k for k in known if k is not None}


def is_known(item: list[Any], known: KnownFormat | None, format_key: str, now_epoch: float) -> bool:
    """A listed item [relative key, ETag, size] is already in the target format when that very
    version (same ETag) was found in it, the memory names this target format, and has not
    expired (DynamoDB deletes expired items only within a few days)."""
    return known is not None and known.etag == item[1] and known.format == format_key and known.expires_at > now_epoch


def drop_known_formats(
    page: Page, prefix: str, known: Mapping[str, KnownFormat], format_key: str, now_epoch: float
) -> list[KnownFormat]:
    """Removes the page's recordings remembered in the target format and counts them
    (skipped.known_target_format); returns them (to log)."""
    kept, dropped = [], []
    for item in page.items:
        remembered = known.get(prefix + item[0])
        if remembered is not None and is_known(item, remembered, format_key, now_epoch):
            dropped.append(remembered)
        else:
            kept.append(item)
    page.items = kept
    reason = SkipReason.KNOWN_TARGET_FORMAT  # the lister's count: skipped.known_target_format
    page.skipped[reason] = page.skipped.get(reason, 0) + len(dropped)
    return dropped
