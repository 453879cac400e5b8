"""Paging the recordings of one day into Step Functions-sized pieces."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .keys import ARCHIVE_CLASSES, is_audio_key
from .vocabulary import SkipReason, skip_reasons

# A state's data must stay well inside Step Functions' 256 KB; we promise 64 KB. The objects of a
# page get 48 KB, the rest (run, cursor) needs < 2 KB, the remainder is headroom.
PAGE_BUDGET_BYTES = 48 * 1024
# Bounds one invocation's work when a day holds mostly objects we skip (nothing fills the page).
MAX_KEYS_CONSIDERED = 10_000
# Why the lister does not enqueue a listed object: the first three from the listing alone
# (skip_reason), known_failure from the failures the converter remembered (known_failures.py),
# known_target_format from the recordings it found already in the target format (known_formats.py).
SKIP_REASONS = skip_reasons("lister")
SQS_BATCH = 10  # messages per SendMessageBatch
# The waits' "last" before any check: every queue is smaller, so the first full check is progress.
NO_CHECK_YET = 2**31 - 1


def fresh_waits() -> dict[str, int]:
    """A day's waits for room (stacks/orchestration.py): `n` this round, `stalled` in a row without
    the queue shrinking (kept across rounds), `last` the queue's size at the previous check."""
    return {"n": 0, "stalled": 0, "last": NO_CHECK_YET}


def new_progress() -> dict[str, Any]:
    """A day's progress in its child execution: the cursor, the pages listed this round, the waits."""
    return {"cursor": {"start_after": None, "done": False}, "pages": 0, "waits": fresh_waits()}


def skip_reason(obj: Mapping[str, Any], *, target_class: str, overwrite: bool) -> SkipReason | None:
    """Why a listed object is not enqueued, decided from the listing alone (no extra request)."""
    if not is_audio_key(obj["Key"]):
        return SkipReason.NOT_AUDIO
    storage_class = obj.get("StorageClass", "STANDARD")
    if storage_class in ARCHIVE_CLASSES:
        return SkipReason.ARCHIVED
    # With STANDARD as target the class says nothing: the converter's tag check decides.
    if storage_class == target_class and target_class != "STANDARD" and not overwrite:
        return SkipReason.ALREADY_TARGET_CLASS
    return None


def item_size(item: list[Any]) -> int:
    """An upper bound of the bytes the page item takes in the state's JSON."""
    # ensure_ascii=True bounds the bytes whatever serializer the runtime uses: an escaped
    # character is never shorter than its UTF-8 form. + 2: the ", " that separates items in the
    # default json.dumps (the Lambda runtime's); the sizes of a page then add up to at most the
    # length of json.dumps(items) ("[" and "]" take the place of the first item's separator).
    return len(json.dumps(item)) + 2


@dataclass
class Page:
    items: list[list[Any]] = field(default_factory=list)
    last_key: str | None = None
    exhausted: bool = False
    listed: int = 0
    skipped: dict[SkipReason, int] = field(default_factory=lambda: {reason: 0 for reason in SKIP_REASONS})


def take_page(
    objects: Iterable[Mapping[str, Any]],
    *,
    prefix: str,
    target_class: str,
    overwrite: bool,
    budget_bytes: int = PAGE_BUDGET_BYTES,
    max_considered: int = MAX_KEYS_CONSIDERED,
    max_items: int = 0,
) -> Page:
    """Consumes listed objects until the page's byte budget is reached.

    Items are [key relative to the day prefix, ETag, size]: the prefix is common to all of them, so
    sending it once keeps pages small. An object that would overflow the budget is not consumed;
    the next page starts after `last_key`, so every object is counted exactly once. A page that
    ends before the listing does is cut back to a whole number of SQS batches (10), so only the
    day's last page can need a partial SendMessageBatch.

    `max_items` (0: no limit) caps the page's recordings: the local run's test aid (--page-keys),
    so that a few thousand recordings make thousands of pages. A page it cuts is not cut back to
    whole batches.
    """
    page = Page()
    used = 0
    whole: tuple[int, int, str | None, dict[SkipReason, int]] | None = None  # the last cut at a batch boundary
    iterator: Iterator[Mapping[str, Any]] = iter(objects)
    for obj in iterator:
        key = obj["Key"]
        reason = skip_reason(obj, target_class=target_class, overwrite=overwrite)
        if reason is None:
            item = [key[len(prefix) :] if key.startswith(prefix) else key, obj["ETag"], obj["Size"]]
            size = item_size(item)
            if max_items and len(page.items) >= max_items:
                return page
            if page.items and used + size > budget_bytes:
                return _cut_to_whole_batches(page, whole)
            page.items.append(item)
            used += size
        else:
            page.skipped[reason] += 1
        page.listed += 1
        page.last_key = key
        if reason is None and len(page.items) % SQS_BATCH == 0:
            whole = (len(page.items), page.listed, page.last_key, dict(page.skipped))
        if page.listed >= max_considered:
            return _cut_to_whole_batches(page, whole)
    page.exhausted = True
    return page


def _cut_to_whole_batches(page: Page, whole: tuple[int, int, str | None, dict[SkipReason, int]] | None) -> Page:
    """Back to the last point where the page held a multiple of 10 items (if there was one):
    what follows it is listed again by the next page, after `last_key`."""
    if whole is None or whole[0] == len(page.items):
        return page
    items, listed, last_key, skipped = whole
    del page.items[items:]
    page.listed, page.last_key, page.skipped = listed, last_key, skipped
    return page


def advance(progress: Mapping[str, Any], page: Page) -> dict[str, Any]:
    """The day's progress after a page (the page's counts go to the ledger with the page itself).
    A page listed means the queue had room: the waits without progress start again from 0."""
    waits = {**fresh_waits(), "n": int((progress.get("waits") or {}).get("n", 0))}
    return {
        "cursor": {"start_after": page.last_key or progress["cursor"].get("start_after"), "done": page.exhausted},
        "pages": int(progress.get("pages", 0)) + 1,
        "waits": waits,
    }
