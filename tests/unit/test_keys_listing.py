"""Which keys are recordings, why others are skipped, and paging a day's listing into bounded pages
that together visit every object exactly once."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from typing import Any

import pytest

from optimizer.keys import is_audio_key
from optimizer.listing import (
    NO_CHECK_YET,
    PAGE_BUDGET_BYTES,
    SKIP_REASONS,
    advance,
    new_progress,
    skip_reason,
    take_page,
)
from optimizer.vocabulary import SkipReason
from tests.support import make_settings

PREFIX = "connect/acme/CallRecordings/2022/01/31/"
STATE_LIMIT = 64 * 1024  # what the project promises for any state (Step Functions allows 256 KB)
MAX_KEY_BYTES = 1024  # S3's limit on a key, in UTF-8 bytes


def etag_of(key: str) -> str:
    return '"' + hashlib.md5(key.encode("utf-8")).hexdigest() + '"'


def obj(
    key: str, *, storage_class: str | None = "STANDARD", size: int = 1000, etag: str | None = None
) -> dict[str, Any]:
    o: dict[str, Any] = {"Key": key, "ETag": etag or etag_of(key), "Size": size}
    if storage_class is not None:
        o["StorageClass"] = storage_class
    return o


def s3_order(objects):
    """S3 lists keys in ascending order of their UTF-8 bytes."""
    return sorted(objects, key=lambda o: o["Key"].encode("utf-8"))


def list_after(objects, start_after: str | None):
    """ListObjectsV2 with StartAfter: keys strictly after start_after, in S3 order."""
    ordered = s3_order(objects)
    if start_after is None:
        return ordered
    bound = start_after.encode("utf-8")
    return [o for o in ordered if o["Key"].encode("utf-8") > bound]


def json_bytes(value: Any) -> list[int]:
    """Sizes of the value under the serializers a runtime may use."""
    return [
        len(json.dumps(value).encode("utf-8")),
        len(json.dumps(value, ensure_ascii=False).encode("utf-8")),
        len(json.dumps(value, separators=(",", ":")).encode("utf-8")),
        len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")),
    ]


def worst_key(i: int, filler: str, prefix: str = PREFIX) -> str:
    """A 1,024-byte key (the S3 maximum) made of `filler` characters, unique through `i`."""
    head, tail = f"{prefix}{i:06d}-", ".wav"
    room = MAX_KEY_BYTES - len(head.encode()) - len(tail)
    per_char = len(filler.encode("utf-8"))
    key = head + filler * (room // per_char) + "x" * (room % per_char) + tail
    assert len(key.encode("utf-8")) == MAX_KEY_BYTES
    return key


# --- keys -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key, audio",
    [
        ("a.wav", True),
        ("a.WAV", True),
        ("a.Wav", True),
        ("a.wAV", True),
        ("connect/x/2022/01/31/call id.wav", True),
        ("dir.wav/inner.wav", True),
        ("a.wav.txt", False),
        ("wav", False),
        ("recordingwav", False),
        ("a.wave", False),
        ("a.mp3", False),
        ("a.wav/", False),
        ("dir.wav/notes.txt", False),
        ("a.wav ", False),
        ("", False),
    ],
)
def test_is_audio_key_by_extension_case_insensitive(key, audio):
    assert is_audio_key(key) is audio


@pytest.mark.parametrize(
    "o, target, overwrite, expected",
    [
        (obj("a.txt"), "GLACIER_IR", False, "not_audio"),
        (obj("a.wav.json"), "STANDARD", True, "not_audio"),
        (obj("a.wav", storage_class="GLACIER"), "GLACIER_IR", False, "archived"),
        (obj("a.wav", storage_class="GLACIER"), "GLACIER_IR", True, "archived"),
        (obj("a.wav", storage_class="DEEP_ARCHIVE"), "GLACIER_IR", False, "archived"),
        (obj("a.WAV", storage_class="DEEP_ARCHIVE"), "STANDARD", True, "archived"),
        (obj("a.wav", storage_class="GLACIER_IR"), "GLACIER_IR", False, "already_target_class"),
        (obj("a.wav", storage_class="STANDARD_IA"), "STANDARD_IA", False, "already_target_class"),
        (obj("a.wav", storage_class="GLACIER_IR"), "GLACIER_IR", True, None),
        (obj("a.wav", storage_class="STANDARD_IA"), "STANDARD_IA", True, None),
        # STANDARD as the target: being STANDARD says nothing about being converted.
        (obj("a.wav", storage_class="STANDARD"), "STANDARD", False, None),
        (obj("a.wav", storage_class=None), "STANDARD", False, None),
        (obj("a.wav", storage_class="STANDARD"), "STANDARD", True, None),
        (obj("a.wav", storage_class="STANDARD"), "GLACIER_IR", False, None),
        (obj("a.wav", storage_class=None), "GLACIER_IR", False, None),
        (obj("a.wav", storage_class="STANDARD_IA"), "GLACIER_IR", False, None),
        (obj("a.wav", storage_class="INTELLIGENT_TIERING"), "GLACIER_IR", False, None),
    ],
)
def test_skip_reason(o, target, overwrite, expected):
    assert skip_reason(o, target_class=target, overwrite=overwrite) == expected


# --- one page ---------------------------------------------------------------------------------


def test_page_items_are_relative_keys_with_etag_and_size_and_counts_per_reason():
    objects = [
        obj(PREFIX + "a.wav", size=10),
        obj(PREFIX + "b.txt"),
        obj(PREFIX + "c.WAV", storage_class="GLACIER"),
        obj(PREFIX + "d.wav", storage_class="GLACIER_IR"),
        obj(PREFIX + "e.wav", storage_class="DEEP_ARCHIVE"),
        obj(PREFIX + "sub/f.Wav", size=30),
        obj(PREFIX + "g.json"),
    ]
    page = take_page(objects, prefix=PREFIX, target_class="GLACIER_IR", overwrite=False)
    assert page.items == [
        ["a.wav", etag_of(PREFIX + "a.wav"), 10],
        ["sub/f.Wav", etag_of(PREFIX + "sub/f.Wav"), 30],
    ]
    assert page.listed == 7
    assert page.skipped == {
        "not_audio": 2,
        "archived": 2,
        "already_target_class": 1,
        "known_failure": 0,
        "known_target_format": 0,
    }
    assert page.last_key == PREFIX + "g.json"
    assert page.exhausted is True


def test_empty_listing_is_an_exhausted_empty_page():
    page = take_page([], prefix=PREFIX, target_class="GLACIER_IR", overwrite=False)
    assert (page.items, page.listed, page.last_key, page.exhausted) == ([], 0, None, True)
    assert set(page.skipped) == set(SKIP_REASONS) and set(page.skipped.values()) == {0}


def test_item_that_would_overflow_is_not_consumed():
    objects = [obj(PREFIX + f"{i:03d}.wav") for i in range(50)]
    budget = 600
    page = take_page(objects, prefix=PREFIX, target_class="GLACIER_IR", overwrite=False, budget_bytes=budget)
    n = len(page.items)
    assert 1 < n < 50 and page.exhausted is False
    assert max(json_bytes(page.items)) <= budget
    # The page is full: the next object did not fit, and it is left for the next page.
    following = [f"{n:03d}.wav", etag_of(PREFIX + f"{n:03d}.wav"), 1000]
    assert len(json.dumps(page.items + [following]).encode()) > budget
    assert page.last_key == PREFIX + f"{n - 1:03d}.wav"
    assert page.listed == n
    rest = take_page(
        list_after(objects, page.last_key),
        prefix=PREFIX,
        target_class="GLACIER_IR",
        overwrite=False,
        budget_bytes=budget,
    )
    assert rest.items[0] == following


def test_every_budget_gives_the_fullest_page_of_whole_sqs_batches():
    objects = [obj(PREFIX + f"{i:04d}.wav") for i in range(200)]
    for budget in range(60, 3000, 7):
        page = take_page(objects, prefix=PREFIX, target_class="GLACIER_IR", overwrite=False, budget_bytes=budget)
        n = len(page.items)
        assert max(json_bytes(page.items)) <= budget, budget
        if n >= 10:
            # Whole batches only, and ten more items would not have fitted.
            assert n % 10 == 0, budget
            more = [[f"{i:04d}.wav", etag_of(PREFIX + f"{i:04d}.wav"), 1000] for i in range(n, n + 10)]
            assert len(json.dumps(page.items + more).encode()) > budget, budget
        else:  # not even one batch fits: the page still makes progress
            following = [f"{n:04d}.wav", etag_of(PREFIX + f"{n:04d}.wav"), 1000]
            assert len(json.dumps(page.items + [following]).encode()) > budget, budget
        assert page.last_key == PREFIX + f"{n - 1:04d}.wav" and page.listed == n


def test_a_cut_back_page_gives_back_its_skips_to_the_next_page():
    objects = [obj(PREFIX + f"{i:04d}{'.wav' if i % 3 else '.txt'}") for i in range(100)]
    pages, remaining = [], objects
    while True:
        page = take_page(remaining, prefix=PREFIX, target_class="GLACIER_IR", overwrite=False, budget_bytes=700)
        pages.append(page)
        if page.exhausted:
            break
        remaining = list_after(remaining, page.last_key)
    assert all(len(p.items) % 10 == 0 for p in pages[:-1]) and len(pages) > 2
    assert sum(p.listed for p in pages) == 100
    assert sum(p.skipped[SkipReason.NOT_AUDIO] for p in pages) == 34
    assert [PREFIX + i[0] for p in pages for i in p.items] == [o["Key"] for o in objects if o["Key"].endswith(".wav")]


@pytest.mark.parametrize(
    "filler",
    ["a", "😀", "\x01", "\x1f", '"', "\\", "é", "中", "\u2028", "\x7f"],
    ids=["ascii", "emoji", "ctrl01", "ctrl1f", "quote", "backslash", "latin", "cjk", "linesep", "del"],
)
@pytest.mark.parametrize("budget", [8 * 1024, PAGE_BUDGET_BYTES])
def test_byte_budget_holds_for_worst_case_keys(filler, budget):
    objects = [obj(worst_key(i, filler), size=5 * 1024**4, etag='"' + "f" * 32 + '-10000"') for i in range(60)]
    remaining, pages = objects, 0
    while True:
        page = take_page(remaining, prefix=PREFIX, target_class="GLACIER_IR", overwrite=False, budget_bytes=budget)
        pages += 1
        assert page.items, "every page takes at least one object"
        assert max(json_bytes(page.items)) <= budget
        if page.exhausted:
            break
        remaining = list_after(remaining, page.last_key)
    assert pages > 1  # the budget, not the listing, ended the pages


def test_an_item_larger_than_the_budget_still_makes_progress_alone():
    objects = [obj(PREFIX + f"{i}.wav") for i in range(5)]
    remaining, sizes = objects, []
    for _ in range(10):
        page = take_page(remaining, prefix=PREFIX, target_class="GLACIER_IR", overwrite=False, budget_bytes=10)
        sizes.append(len(page.items))
        if page.exhausted:
            break
        remaining = list_after(remaining, page.last_key)
    # One per page; the page that takes the last object also finds the listing's end.
    assert sizes == [1, 1, 1, 1, 1]


def test_max_considered_bounds_a_page_of_skipped_objects():
    objects = [obj(PREFIX + f"{i:02d}.txt") for i in range(25)]
    kwargs: dict[str, Any] = dict(prefix=PREFIX, target_class="GLACIER_IR", overwrite=False, max_considered=10)
    p1 = take_page(objects, **kwargs)
    assert (p1.listed, p1.items, p1.exhausted, p1.last_key) == (10, [], False, PREFIX + "09.txt")
    p2 = take_page(list_after(objects, p1.last_key), **kwargs)
    assert (p2.listed, p2.exhausted, p2.last_key) == (10, False, PREFIX + "19.txt")
    p3 = take_page(list_after(objects, p2.last_key), **kwargs)
    assert (p3.listed, p3.exhausted, p3.last_key) == (5, True, PREFIX + "24.txt")
    assert p1.skipped[SkipReason.NOT_AUDIO] + p2.skipped[SkipReason.NOT_AUDIO] + p3.skipped[SkipReason.NOT_AUDIO] == 25


def test_max_considered_counts_audio_too():
    objects = [obj(PREFIX + f"{i:02d}.wav") for i in range(7)]
    page = take_page(objects, prefix=PREFIX, target_class="GLACIER_IR", overwrite=False, max_considered=3)
    assert page.listed == 3 and len(page.items) == 3 and page.exhausted is False


# --- every object exactly once across pages -------------------------------------------------


def drain(objects, *, target_class="GLACIER_IR", overwrite=False, **limits):
    """Runs the list loop as the state machine does, against a simulated StartAfter listing."""
    progress = new_progress()
    pages, considered = [], list[int]()
    for _ in range(len(objects) + 2):
        start_after = progress["cursor"]["start_after"]
        listing = list_after(objects, start_after)
        page = take_page(listing, prefix=PREFIX, target_class=target_class, overwrite=overwrite, **limits)
        if page.last_key is not None:
            bound = page.last_key.encode("utf-8")
            considered.extend(o["Key"] for o in listing if o["Key"].encode("utf-8") <= bound)
        pages.append(page)
        progress = advance(progress, page)
        if progress["cursor"]["done"]:
            return pages, considered, progress
    raise AssertionError("the listing did not finish")


def mixed_day(n: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, str | None]]:
    """A day with recordings, other files and archived objects; returns objects and the expected reason."""
    rnd = random.Random(seed)
    names = ["call", "Call+ID", "a%2Bb", "x y", "日本", "😀", "\x01ctl", 'q"uote', "b\\s", ":colon"]
    objects, expected = [], {}
    for i in range(n):
        stem = f"{rnd.choice(names)}-{i:05d}"
        kind = rnd.choice(["wav", "WAV", "Wav", "txt", "json", "wav.txt", "glacier", "deep", "ir"])
        if kind in ("wav", "WAV", "Wav"):
            o, reason = (
                obj(PREFIX + f"{stem}.{kind}", storage_class=rnd.choice(["STANDARD", None, "STANDARD_IA"])),
                None,
            )
        elif kind in ("txt", "json", "wav.txt"):
            o, reason = obj(PREFIX + f"{stem}.{kind}"), "not_audio"
        elif kind == "glacier":
            o, reason = obj(PREFIX + f"{stem}.wav", storage_class="GLACIER"), "archived"
        elif kind == "deep":
            o, reason = obj(PREFIX + f"{stem}.wav", storage_class="DEEP_ARCHIVE"), "archived"
        else:
            o, reason = obj(PREFIX + f"{stem}.wav", storage_class="GLACIER_IR"), "already_target_class"
        objects.append(o)
        expected[o["Key"]] = reason
    return objects, expected


@pytest.mark.parametrize(
    "n, seed, limits",
    [
        (300, 1, {}),
        (300, 2, {"budget_bytes": 400}),
        (500, 3, {"budget_bytes": 250}),
        (500, 4, {"budget_bytes": 1000, "max_considered": 7}),
        (200, 5, {"max_considered": 1}),
        (1, 6, {"budget_bytes": 1}),
    ],
)
def test_pages_visit_every_object_exactly_once(n, seed, limits):
    objects, expected = mixed_day(n, seed)
    pages, considered, progress = drain(objects, **limits)
    all_keys = [o["Key"] for o in s3_order(objects)]

    # Considered: the whole listing, in order, once.
    assert considered == all_keys
    # Enqueued: exactly the convertible recordings, in order, no duplicates, no losses.
    enqueued = [PREFIX + item[0] for page in pages for item in page.items]
    assert enqueued == [k for k in all_keys if expected[k] is None]
    by_key = {o["Key"]: o for o in objects}
    for page in pages:
        for rel, etag, size in page.items:
            assert (etag, size) == (by_key[PREFIX + rel]["ETag"], by_key[PREFIX + rel]["Size"])
        if "budget_bytes" in limits and len(page.items) > 1:
            assert max(json_bytes(page.items)) <= limits["budget_bytes"]
    # Skipped: counted once per reason, over the pages (each page's counts go to the ledger).
    reasons = Counter(r for r in expected.values() if r is not None)
    assert {r: sum(p.skipped.get(r, 0) for p in pages) for r in SKIP_REASONS} == {
        r: reasons.get(r, 0) for r in SKIP_REASONS
    }
    assert sum(p.listed for p in pages) == n
    if "budget_bytes" in limits or "max_considered" in limits:
        assert len(pages) > 1 or n == 1


def test_small_budget_forces_many_pages():
    objects, expected = mixed_day(400, 7)
    pages, _, _ = drain(objects, budget_bytes=300)
    recordings = sum(1 for r in expected.values() if r is None)
    # Each item is at least ~50 bytes, so 300 bytes hold a handful: many pages, none empty but the last.
    assert len(pages) >= recordings // 6
    assert all(page.items for page in pages[:-1])


# --- progress ---------------------------------------------------------------------------------


def test_advance_moves_the_cursor_and_leaves_the_input_alone():
    progress = {"cursor": {"start_after": PREFIX + "a.wav", "done": False}}
    snapshot = json.loads(json.dumps(progress))
    page = take_page(
        [obj(PREFIX + "b.wav"), obj(PREFIX + "c.txt"), obj(PREFIX + "d.wav", storage_class="GLACIER_IR")],
        prefix=PREFIX,
        target_class="GLACIER_IR",
        overwrite=False,
    )
    assert advance(progress, page)["cursor"] == {"start_after": PREFIX + "d.wav", "done": True}
    assert (page.listed, page.skipped[SkipReason.NOT_AUDIO], page.skipped[SkipReason.ALREADY_TARGET_CLASS]) == (3, 1, 1)
    assert progress == snapshot  # the input is not modified


def test_advance_keeps_the_cursor_when_a_page_considered_nothing():
    progress = {"cursor": {"start_after": PREFIX + "z.wav", "done": False}}
    page = take_page([], prefix=PREFIX, target_class="GLACIER_IR", overwrite=False)
    assert advance(progress, page)["cursor"] == {"start_after": PREFIX + "z.wav", "done": True}


def test_advance_from_new_progress_with_partial_page():
    objects = [obj(PREFIX + f"{i}.wav") for i in range(10)]
    page = take_page(objects, prefix=PREFIX, target_class="GLACIER_IR", overwrite=False, max_considered=4)
    assert advance(new_progress(), page)["cursor"] == {"start_after": PREFIX + "3.wav", "done": False}
    assert page.listed == 4


def test_advance_counts_the_rounds_pages_and_starts_the_waits_without_progress_again():
    """A listed page means the queue had room: the stalled waits start again from 0, while the
    round's waits (its history budget) and pages keep counting (optimizer/rounds.py)."""
    page = take_page([obj(PREFIX + "a.wav")], prefix=PREFIX, target_class="GLACIER_IR", overwrite=False)
    progress = {**new_progress(), "pages": 4, "waits": {"n": 9, "stalled": 5, "last": 100}}
    assert advance(progress, page) == {
        "cursor": {"start_after": PREFIX + "a.wav", "done": True},
        "pages": 5,
        "waits": {"n": 9, "stalled": 0, "last": NO_CHECK_YET},
    }


def test_max_items_cuts_the_page_without_consuming_the_next_recording():
    objects = [obj(PREFIX + f"{i}.wav") for i in range(3)] + [obj(PREFIX + "x.txt")]
    first = take_page(objects, prefix=PREFIX, target_class="GLACIER_IR", overwrite=False, max_items=2)
    assert [item[0] for item in first.items] == ["0.wav", "1.wav"] and not first.exhausted
    assert first.last_key == PREFIX + "1.wav" and first.listed == 2
    rest = take_page(objects[2:], prefix=PREFIX, target_class="GLACIER_IR", overwrite=False, max_items=2)
    assert [item[0] for item in rest.items] == ["2.wav"] and rest.exhausted and rest.skipped[SkipReason.NOT_AUDIO] == 1


# --- the ListPage state stays small -----------------------------------------------------------


class FakeS3:
    """ListObjectsV2 over a fixed set of objects: Prefix, StartAfter, MaxKeys, ContinuationToken."""

    def __init__(self, objects):
        self.objects = s3_order(objects)
        self.requests = []

    def list_objects_v2(self, **kw):
        self.requests.append(kw)
        keys = [o for o in self.objects if o["Key"].startswith(kw["Prefix"])]
        if "ContinuationToken" in kw:
            start = int(kw["ContinuationToken"])
        else:
            after = kw.get("StartAfter")
            start = 0 if after is None else len([o for o in keys if o["Key"].encode() <= after.encode()])
        chunk = keys[start : start + kw["MaxKeys"]]
        more = start + kw["MaxKeys"] < len(keys)
        response = {"Contents": chunk, "IsTruncated": more, "KeyCount": len(chunk)}
        if more:
            response["NextContinuationToken"] = str(start + kw["MaxKeys"])
        return response

    def get_paginator(self, operation):
        """boto3's ListObjectsV2 paginator as it behaves: PageSize as MaxKeys, the continuation
        token followed, each page requested only when the previous one has been consumed."""
        assert operation == "list_objects_v2"
        fake = self

        class Paginator:
            def paginate(self, PaginationConfig=None, **kw):  # noqa: N803 - boto3's parameter name
                kw["MaxKeys"] = (PaginationConfig or {}).get("PageSize", 1000)
                while True:
                    response = fake.list_objects_v2(**kw)
                    yield response
                    if not response["IsTruncated"]:
                        return
                    kw["ContinuationToken"] = response["NextContinuationToken"]

        return Paginator()


@pytest.mark.parametrize("filler", ["\x01", "😀", '"', "a"], ids=["ctrl", "emoji", "quote", "ascii"])
def test_list_page_state_with_worst_case_keys_fits_in_64_kib(filler):
    import lister

    bucket = "b" * 63  # the longest bucket name
    settings = make_settings(bucket=bucket, bucket_prefix="", target_class="GLACIER_IR")
    prefix = "2022/01/31/"
    run = {
        "id": "x" * 80,
        "bucket": bucket,
        "source": "input",
        "dry_run": False,
        "start_date": "2022-01-31",
        "end_date": "2022-01-31",
        "days": 1,
        "prefix": prefix,
    }
    objects = [obj(worst_key(i, filler, prefix), size=5 * 1024**4, etag='"' + "f" * 32 + '-10000"') for i in range(200)]
    s3 = FakeS3(objects)
    state: dict[str, Any] = {
        "run": run,
        "day": "2022-01-31",
        "page": {"progress": new_progress()},
        "room": {"queued": 19999},
    }
    seen, full_pages = list[str](), 0
    for _ in range(len(objects) + 1):
        event = {"run": state["run"], "day": state["day"], "progress": state["page"]["progress"]}
        state["page"] = lister.list_page(settings, event, s3=s3)
        seen.extend(prefix + item[0] for item in state["page"]["objects"])
        full_pages += len(state["page"]["objects"]) > 1 and not state["page"]["progress"]["cursor"]["done"]
        assert max(json_bytes(state)) <= STATE_LIMIT
        if state["page"]["progress"]["cursor"]["done"]:
            break
        # A full page (the budget ended it) still leaves the cursor, a worst-case key, in the state.
        assert state["page"]["progress"]["cursor"]["start_after"] == seen[-1]
    assert seen == [o["Key"] for o in s3_order(objects)]
    assert full_pages >= 2  # the bound was tested on pages the byte budget ended


# --- the run's summary ------------------------------------------------------------------------


RUN = {
    "id": "exec",
    "bucket": "recordings",
    "source": "input",
    "dry_run": False,
    "start_date": "2022-01-31",
    "end_date": "2022-01-31",
    "days": 1,
    "prefix": PREFIX,
}
COUNTS = {
    "listed": 12,
    "enqueued": 8,
    "skipped_not_audio": 2,
    "skipped_already_target_class": 1,
    "skipped_archived": 1,
    "converted": 6,
    "skipped_already_converted": 1,
    "bytes_before": 4000,
    "bytes_after": 1000,
}


@pytest.mark.parametrize(
    "failed, accounted, error",
    [(0, 8, None), (2, 8, "RecordingsFailed"), (0, 5, "RecordingsUnaccounted"), (1, 6, "RecordingsFailed")],
)
def test_summary_takes_the_runs_own_outcomes_from_its_ledger(failed, accounted, error):
    from optimizer.summary import run_summary

    settings = make_settings(bucket="recordings", bucket_prefix="", dlq_url="https://dlq")
    counts = {**COUNTS, "failed": failed, "accounted": accounted}
    result = run_summary(RUN, counts, {"state": "given_up", "waited_seconds": 7200}, ["w"], settings)
    assert (result["failed"], result["unaccounted"], result["error"]) == (failed, 8 - accounted, error)
    output = result["output"]
    assert (output["date"], output["prefix"], output["listed"], output["enqueued"], output["converted"]) == (
        "2022-01-31",
        PREFIX,
        12,
        8,
        6,
    )
    assert output["skipped"] == {
        "not_audio": 2,
        "already_target_class": 1,
        "archived": 1,
        "known_failure": 0,
        "known_target_format": 0,
        "already_converted": 1,
        "already_alaw": 0,
        "gone": 0,
        "changed": 0,
    }
    assert (output["bytes_before"], output["bytes_after"], output["warnings"]) == (4000, 1000, ["w"])
    assert output["unaccounted"] == 8 - accounted
    if failed:
        assert (
            "dead-letter queue https://dlq" in result["cause"]
            and f"{failed} recording(s) of this run failed" in result["cause"]
        )
        assert output["failures_in"] == "https://dlq"
    if accounted < 8:
        assert (
            f"{8 - accounted} of the 8 recording(s) this run put on the work queue have no outcome after 2.0 h"
            in result["cause"]
        )
    if error is None:
        assert result["cause"] is None and "failures_in" not in output
    json.dumps(result)  # the state machine receives it as JSON


def test_summary_names_the_failures_by_kind_most_frequent_first():
    from optimizer.summary import run_summary

    settings = make_settings(bucket="recordings", bucket_prefix="", dlq_url="https://dlq")
    counts = {**COUNTS, "accounted": 8, "failed": 5, "failed_truncated": 1, "failed_stale_size": 3, "failed_crashed": 1}
    result = run_summary(RUN, counts, {}, [], settings)
    assert result["failed"] == 5
    assert list(result["output"]["failed_by_kind"].items()) == [("stale_size", 3), ("crashed", 1), ("truncated", 1)]
    assert (
        "5 recording(s) of this run failed (3 stale_size, 1 crashed, 1 truncated; "
        "docs/operations.md#when-something-fails" in result["cause"]
    )
    assert "failed_by_kind" not in run_summary(RUN, {**COUNTS, "accounted": 8}, {}, [], settings)["output"]


def test_a_dry_run_never_fails_and_its_findings_stay_in_its_output():
    from optimizer.day_failures import with_failed_days
    from optimizer.summary import run_summary

    settings = make_settings(bucket="recordings", bucket_prefix="", dlq_url="https://dlq")
    dry = {**RUN, "dry_run": True}
    result = run_summary(dry, {"listed": 3, "dry_recordings": 3}, {}, [], settings)
    assert (result["error"], result["unaccounted"]) == (None, 0)  # nothing was enqueued, nothing awaited
    with_days = with_failed_days(result, dry, {"ListFailed": {"days": ["2022-01-31"], "cause": "c"}}, days_done=0)
    assert with_days["error"] is None and with_days["days_failed"] == 1
    assert with_days["output"]["failed_days"]["rerun_inputs"] == [{"specific_date": "2022-01-31", "dry_run": True}]
    wet = with_failed_days(
        run_summary(RUN, {**COUNTS, "accounted": 8}, {}, [], settings),
        RUN,
        {"ListFailed": {"days": ["2022-01-31"], "cause": "c"}},
        0,
    )
    assert wet["error"] == "DaysFailed"


def test_dry_run_summary_projects_a_quarter_and_prices_both_classes():
    from optimizer.summary import GIB, run_summary

    settings = make_settings(bucket="b", bucket_prefix="", price_standard_gb_month=0.023, price_target_gb_month=0.004)
    counts = {
        "listed": 3,
        "dry_recordings": 2,
        "dry_bytes": 100 * GIB,
        "dry_projected_bytes": 25 * GIB,
        "skipped_already_target_class": 1,
    }
    output = run_summary({**RUN, "dry_run": True, "days": 3, "end_date": "2022-02-02"}, counts, {}, [], settings)[
        "output"
    ]
    assert (output["recordings"], output["bytes"], output["projected_bytes_after"]) == (2, 100 * GIB, 25 * GIB)
    # One name per meaning: the lister's skip by class is skipped.already_target_class only.
    assert output["skipped"]["already_target_class"] == 1
    assert "already_converted" not in output
    # No converted byte count (0) beside the projection's real ones.
    assert "bytes_before" not in output and "bytes_after" not in output
    assert output["projected_monthly_cost"] == {
        "before": 2.3,
        "after": 0.1,
        "storage_class": "GLACIER_IR",
        "currency": "USD",
    }
    assert (output["start_date"], output["end_date"], output["days"]) == (
        "2022-01-31",
        "2022-02-02",
        3,
    ) and "date" not in output
