"""The truth check's pure part (emulator/truth.py): a run's truth from plain versions, dead letters
and listed keys, and its comparison with the summary the lister really computes (run_summary)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from emulator.truth import (
    DeadLetter,
    Run,
    Version,
    check_runs,
    compare,
    listed_keys,
    plain,
    truth_of,
)
from optimizer.provenance import Provenance
from optimizer.summary import run_summary
from tests.support import make_settings

DAY = "connect/acme/CallRecordings/2022/01/01/"
DAY2 = "connect/acme/CallRecordings/2022/01/02/"
T0 = dt.datetime(2022, 2, 1, 12, 0, 0, tzinfo=dt.UTC)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def upload(name: str, size: int, *, seconds: float = -60, vid: str | None = None, prefix: str = DAY) -> Version:
    """A version nobody's conversion: an upload before the runs, no provenance."""
    return Version(prefix + name, vid or f"up-{name}", size, at(seconds).replace(microsecond=0), metadata={})


def converted(
    original: Version,
    run: str,
    size: int,
    *,
    seconds: float = 5,
    vid: str | None = None,
    original_size: int | None = None,
) -> Version:
    """The version a run's converter writes over `original`, with its provenance."""
    provenance = Provenance(
        run=run,
        original_version_id=original.version_id,
        original_size=original.size if original_size is None else original_size,
        original_sha256="",
    )
    return Version(
        original.key,
        vid or f"{run}-{original.key.rsplit('/', 1)[-1]}",
        size,
        at(seconds).replace(microsecond=0),
        storage_class="GLACIER_IR",
        is_latest=True,
        metadata=provenance.to_metadata(),
        tagged_converted=True,
    )


def letter(key: str, run: str, kind: str | None = "corrupt", *, moved: bool = False, when: str = "") -> DeadLetter:
    body: dict[str, Any] = {"v": 1, "bucket": "b", "key": key, "etag": '"e"', "size": 4, "run": run}
    if not moved:
        body["failure"] = {"reason": f"{kind or 'something'} failed", "at": when or "2022-02-01T12:00:05+00:00"}
        if kind:
            body["failure"]["kind"] = kind
    parsed = DeadLetter.of_body(json.dumps(body))
    assert parsed is not None
    return parsed


def summary(*, dry_run: bool = False, days: int = 1, **counts: int) -> dict[str, Any]:
    """The summary the lister's Summarize state computes from these ledger counts."""
    run = {
        "dry_run": dry_run,
        "days": days,
        "start_date": "2022-01-01",
        "end_date": f"2022-01-0{days}",
        "prefix": DAY if days == 1 else "connect/acme/CallRecordings/",
    }
    counts.setdefault("accounted", counts.get("enqueued", 0))
    return run_summary(run, counts, {}, [], make_settings(dlq_url="https://dlq"))["output"]


def run_of(run_id: str, output: dict[str, Any] | None, *, prefixes=(DAY,), started: float = 0, **fields: Any) -> Run:
    return Run(
        id=run_id,
        status=fields.pop("status", "SUCCEEDED"),
        started=at(started),
        prefixes=tuple(prefixes),
        summary=output,
        dry_run=bool(output and output.get("dry_run")),
        **fields,
    )


A, B, C = (upload(f"{n}.wav", size) for n, size in (("a", 40_000), ("b", 32_000), ("c", 8_000)))
NOTES = upload("notes.txt", 2)


def test_a_run_whose_summary_is_the_truth_has_no_difference():
    versions = [A, B, C, NOTES, converted(A, "r1", 10_000), converted(B, "r1", 8_000)]
    output = summary(
        listed=4,
        skipped_not_audio=1,
        enqueued=3,
        converted=2,
        failed=1,
        failed_corrupt=1,
        bytes_before=72_000,
        bytes_after=18_000,
    )
    run = run_of("r1", output, status="FAILED", error="RecordingsFailed")  # a failed run is checked too
    truth = truth_of(run, versions, [letter(C.key, "r1")], [A.key, B.key, C.key, NOTES.key])

    assert compare(run, truth) == []
    report = truth.as_report()
    assert (report["listed"], report["not_audio"], report["converted"], report["failed"]) == (4, 1, 2, 1)
    assert (report["bytes_before"], report["bytes_after"], report["failed_by_kind"]) == (72_000, 18_000, {"corrupt": 1})
    assert report["converted_keys"] == [A.key, B.key] and report["failed_keys"] == [C.key]


def test_a_conversion_counted_already_converted_is_a_difference():
    """The lie of issue 16: converted by this run, its outcome lost, counted already_converted."""
    versions = [A, B, converted(A, "r1", 10_000), converted(B, "r1", 8_000)]
    output = summary(
        listed=2, enqueued=2, converted=1, skipped_already_converted=1, bytes_before=40_000, bytes_after=10_000
    )
    run = run_of("r1", output)

    differences = compare(run, truth_of(run, versions, [], [A.key, B.key]))

    assert differences == [
        f"converted: the summary says 1, the truth is 2 (S3 holds its conversions of: {A.key}, {B.key})",
        "bytes_before: the summary says 40000, the truth is 72000 (original-size of its conversions)",
        "bytes_after: the summary says 10000, the truth is 18000 (the sizes of its converted versions)",
    ]


def test_duplicate_dead_letters_count_one_failure_per_key_and_the_first_kind():
    letters = [
        letter(C.key, "r1", "corrupt", when="2022-02-01T12:00:05+00:00"),
        letter(C.key, "r1", "crashed", when="2022-02-01T12:00:09+00:00"),  # a duplicate delivery, later
        letter(C.key, "r1", "corrupt", when="2022-02-01T12:00:07+00:00"),
    ]
    run = run_of("r1", summary(listed=1, enqueued=1, failed=1, failed_corrupt=1))
    truth = truth_of(run, [C], letters, [C.key])
    assert truth.failures == {C.key: "corrupt"} and compare(run, truth) == []

    counted_twice = run_of("r1", summary(listed=1, enqueued=1, failed=2, failed_corrupt=2, accounted=2))
    assert compare(counted_twice, truth) == [
        f"failed: the summary says 2, the truth is 1 (its dead letters: {C.key})",
        "failed_by_kind: the summary says {'corrupt': 2}, the truth is {'corrupt': 1}",
        "an enqueued recording without exactly one outcome: enqueued 1 != converted 0 + 0 skipped by the converter "
        "(already_converted, already_alaw, gone, changed) + failed 2 + unaccounted 0",
    ]


def test_two_versions_of_one_recording_by_one_run_are_a_contradiction():
    versions = [A, converted(A, "r1", 10_000, seconds=5, vid="v1"), converted(A, "r1", 10_000, seconds=9, vid="v2")]
    run = run_of("r1", summary(listed=1, enqueued=1, converted=1, bytes_before=40_000, bytes_after=10_000))
    truth = truth_of(run, versions, [], [A.key])
    assert len(truth.conversions) == 1 and truth.conversions[A.key].version_id == "v1"
    assert compare(run, truth) == [
        "S3 or the dead-letter queue contradict themselves: "
        f"{A.key}: this run wrote 2 converted versions (v1, v2); a recording is converted once"
    ]


def test_two_overlapping_runs_each_own_the_conversions_they_wrote():
    """A backfill of two days and a run of its first, at once: each converted some of day 1."""
    d2 = upload("d.wav", 16_000, prefix=DAY2)
    versions = [
        A,
        B,
        d2,
        converted(A, "backfill", 10_000),
        converted(B, "daily", 8_000),
        converted(d2, "backfill", 4_000),
    ]
    backfill = run_of(
        "backfill",
        summary(
            days=2,
            listed=3,
            enqueued=3,
            converted=2,
            skipped_already_converted=1,
            bytes_before=56_000,
            bytes_after=14_000,
        ),
        prefixes=(DAY, DAY2),
    )
    daily = run_of(
        "daily",
        summary(listed=2, enqueued=2, converted=1, skipped_already_converted=1, bytes_before=32_000, bytes_after=8_000),
        started=1,
    )
    checks = check_runs([backfill, daily], versions, [], loaded=[A.key, B.key, d2.key])
    assert [c.differences for c in checks] == [[], []]
    assert [sorted(c.truth.conversions) for c in checks] == [[A.key, d2.key], [B.key]]

    # The daily run taking the backfill's conversion of A as its own is caught.
    daily_claims = run_of("daily", summary(listed=2, enqueued=2, converted=2, bytes_before=72_000, bytes_after=18_000))
    assert compare(daily_claims, truth_of(daily_claims, versions, [], [A.key, B.key]))[0] == (
        f"converted: the summary says 2, the truth is 1 (S3 holds its conversions of: {B.key})"
    )


def test_a_dry_run_converts_nothing_and_its_projection_is_not_compared():
    output = summary(
        dry_run=True, listed=3, skipped_not_audio=1, dry_recordings=2, dry_bytes=72_000, dry_projected_bytes=1
    )
    run = run_of("dry", output)
    truth = truth_of(run, [A, B, NOTES], [], [A.key, B.key, NOTES.key])
    assert compare(run, truth) == []

    # A version attributed to a dry run, or a listing that does not add up, is a difference.
    wrote = truth_of(run, [A, B, NOTES, converted(A, "dry", 10_000)], [], [A.key, B.key, NOTES.key])
    assert compare(run, wrote)[0].startswith("converted: the summary says 0, the truth is 1")
    lost = run_of("dry", summary(dry_run=True, listed=3, skipped_not_audio=1, dry_recordings=1))
    assert compare(lost, truth) == [
        "a listed recording without exactly one outcome: listed 3 != 1 to convert + 1 skipped by the lister "
        "(not_audio, already_target_class, archived, known_failure, known_target_format)"
    ]


def test_versions_from_before_and_copies_are_nobodys_conversion():
    """An upload, a repaired re-upload, a copy to another class: no provenance, no run's conversion."""
    reupload = upload("a.wav", 41_000, seconds=3, vid="repaired")  # during the run, no converted tag
    cold = Version(B.key, "cold", 32_000, at(4).replace(microsecond=0), storage_class="GLACIER", metadata={})
    run = run_of("r1", summary(listed=2, enqueued=1, skipped_archived=1, skipped_already_converted=1))
    truth = truth_of(run, [A, reupload, B, cold], [], [A.key, B.key])
    assert truth.conversions == {} and truth.unattributed == [] and compare(run, truth) == []


def test_a_converted_version_without_provenance_is_named_in_the_difference():
    """A converter that does not write converted-by-run yet: S3 cannot attribute its versions."""
    bare = Version(A.key, "bare", 10_000, at(5).replace(microsecond=0), metadata={}, tagged_converted=True)
    old = Version(B.key, "old", 8_000, at(-30).replace(microsecond=0), metadata={}, tagged_converted=True)
    run = run_of("r1", summary(listed=2, enqueued=2, converted=1, skipped_already_converted=1, bytes_before=40_000))
    truth = truth_of(run, [A, bare, B, old], [], [A.key, B.key])
    assert truth.unattributed == [f"{A.key} (version bare)"]  # not the one from before the run
    first = compare(run, truth)[0]
    assert first.startswith("converted: the summary says 1, the truth is 0; 1 version(s) under its days tagged")
    assert "carry no converted-by-run metadata" in first and f"{A.key} (version bare)" in first


def test_original_size_is_checked_against_the_original_while_it_exists():
    wrong = converted(A, "r1", 10_000, original_size=39_999)
    run = run_of("r1", summary(listed=1, enqueued=1, converted=1, bytes_before=39_999, bytes_after=10_000))
    assert compare(run, truth_of(run, [A, wrong], [], [A.key])) == [
        "S3 or the dead-letter queue contradict themselves: "
        f"{A.key}: version {wrong.version_id} says its original (up-a.wav) held 39999 bytes, that version holds 40000"
    ]
    # The original expired (a lifecycle rule): original-size alone says the bytes before.
    assert compare(run, truth_of(run, [wrong], [], [A.key])) == []
    unreadable = Version(A.key, "x", 10_000, at(5), metadata={**wrong.metadata, "original-size": "?"})  # type: ignore[dict-item]
    truth = truth_of(run, [A, unreadable], [], [A.key])
    assert truth.bytes_before == 40_000 and "has no valid original-size" in truth.anomalies[0]


def test_a_dead_letter_for_a_recording_the_run_converted_is_a_contradiction():
    """The false 'crashed' of issue 16: converted, then its outcome lost three times."""
    versions = [A, converted(A, "r1", 10_000)]
    run = run_of(
        "r1",
        summary(listed=1, enqueued=1, failed=1, failed_crashed=1),
        status="FAILED",
        error="RecordingsFailed",
    )
    truth = truth_of(run, versions, [letter(A.key, "r1", "crashed")], [A.key])
    assert truth.failures == {}
    differences = compare(run, truth)
    assert differences[0] == (
        "S3 or the dead-letter queue contradict themselves: "
        f"{A.key}: dead-lettered (crashed failed) although this run converted it (version r1-a.wav)"
    )
    assert "converted: the summary says 0, the truth is 1" in differences[1]
    assert any(d.startswith("failed: the summary says 1, the truth is 0") for d in differences)


def test_failed_by_kind_is_compared_only_when_every_dead_letter_says_its_kind():
    run = run_of("r1", summary(listed=2, enqueued=2, failed=2, failed_corrupt=1, failed_not_wav=1))
    said = [letter(A.key, "r1", "corrupt"), letter(B.key, "r1", "not_wav")]
    assert compare(run, truth_of(run, [A, B], said, [A.key, B.key])) == []
    wrong = [letter(A.key, "r1", "corrupt"), letter(B.key, "r1", "corrupt")]
    assert compare(run, truth_of(run, [A, B], wrong, [A.key, B.key])) == [
        "failed_by_kind: the summary says {'corrupt': 1, 'not_wav': 1}, the truth is {'corrupt': 2}"
    ]
    unsaid = [letter(A.key, "r1", None), letter(B.key, "r1", "corrupt")]  # a converter without failure.kind
    truth = truth_of(run, [A, B], unsaid, [A.key, B.key])
    assert truth.failed_by_kind() is None and compare(run, truth) == []


def test_other_runs_dead_letters_are_not_this_runs():
    run = run_of("r2", summary(listed=1, enqueued=0, skipped_known_failure=1))
    assert compare(run, truth_of(run, [C], [letter(C.key, "r1")], [C.key])) == []


def test_messages_the_redrive_policy_moved_must_be_among_the_unaccounted():
    moved = [letter(A.key, "r1", moved=True), letter(A.key, "r1", moved=True)]
    honest = run_of("r1", summary(listed=1, enqueued=1, accounted=0), status="FAILED", error="RecordingsUnaccounted")
    truth = truth_of(honest, [A], moved, [A.key])
    assert truth.moved == [A.key] and compare(honest, truth) == []
    hidden = run_of("r1", summary(listed=1, enqueued=1, skipped_gone=1))
    assert compare(hidden, truth) == [
        f"unaccounted: the summary says 0, but the redrive policy moved 1 of its recordings to the DLQ without an "
        f"outcome ({A.key})"
    ]


def test_every_listed_recording_has_exactly_one_outcome():
    run = run_of("r1", summary(listed=3, enqueued=1, skipped_not_audio=1, converted=0, accounted=1))
    assert compare(run, truth_of(run, [A, B, NOTES], [], None)) == [
        "a listed recording without exactly one outcome: listed 3 != enqueued 1 + 1 skipped by the lister "
        "(not_audio, already_target_class, archived, known_failure, known_target_format)",
        "an enqueued recording without exactly one outcome: enqueued 1 != converted 0 + 0 skipped by the converter "
        "(already_converted, already_alaw, gone, changed) + failed 0 + unaccounted 0",
    ]


def test_listed_and_not_audio_are_compared_with_the_inputs_unless_days_failed():
    run = run_of("r1", summary(listed=1, enqueued=1, skipped_already_converted=1))
    assert compare(run, truth_of(run, [A, NOTES], [], [A.key, NOTES.key])) == [
        "listed: the summary says 1, the truth is 2 (the objects under its days' prefixes)",
        "skipped.not_audio: the summary says 0, the truth is 1 (the listed keys not ending .wav)",
    ]
    partial = run_of("r1", {**summary(listed=1, enqueued=1, skipped_already_converted=1), "failed_days": {"count": 1}})
    assert compare(partial, truth_of(partial, [A, NOTES], [], [A.key, NOTES.key])) == []


def test_a_run_without_a_summary_must_have_left_nothing():
    refused = run_of("bad", None, status="FAILED", error="InvalidInput", listed_days=False, prefixes=())
    assert check_runs([refused], [A], [], None)[0].differences == []
    preflight = run_of("pre", None, status="FAILED", error="ReadDenied")
    assert compare(preflight, truth_of(preflight, [A, converted(A, "pre", 10_000)], [letter(B.key, "pre")], None)) == [
        f"it ended FAILED (ReadDenied) without a summary, but S3 and the DLQ hold 1 conversion(s) ({A.key}) and "
        f"1 dead letter(s) ({B.key}) of it"
    ]


def test_the_listing_at_a_runs_start_from_versions_and_delete_markers():
    gone = Version(DAY + "gone.wav", "m", 0, at(-10).replace(microsecond=0), delete_marker=True, is_latest=True)
    gone_before = upload("gone.wav", 5)
    later = upload("later.wav", 5, seconds=30)
    other_day = upload("x.wav", 5, prefix=DAY2)
    # Same second as the start (LastModified is to the second): counted as there.
    same_second = Version(DAY + "tie.wav", "t", 5, at(0.9).replace(microsecond=0))
    versions = [A, converted(A, "r1", 10), gone, gone_before, later, other_day, same_second]
    assert listed_keys(versions, [DAY], at(0.5)) == [A.key, DAY + "tie.wav"]
    assert listed_keys(versions, [DAY, DAY2], at(60)) == [A.key, DAY + "later.wav", DAY + "tie.wav", other_day.key]
    # Of two entries of one key in the same second, the current one is the newer.
    back = Version(DAY + "gone.wav", "back", 5, at(-10).replace(microsecond=0), is_latest=True)
    stale_marker = Version(DAY + "gone.wav", "m", 0, at(-10).replace(microsecond=0), delete_marker=True)
    assert DAY + "gone.wav" in listed_keys([stale_marker, back], [DAY], at(0))


@pytest.mark.parametrize(
    "body, expected",
    [
        ("not json", None),
        ('{"raw_body": "x"}', None),
        ('{"key": "k", "run": "r"}', DeadLetter("k", "r", None)),  # moved by the redrive policy
        (
            '{"key": "k", "run": "r", "failure": {"reason": "bad", "at": "t"}}',
            DeadLetter("k", "r", "bad", None, "t"),
        ),
        (
            '{"key": "k", "failure": {"reason": "bad", "at": "t", "kind": "corrupt"}}',
            DeadLetter("k", "", "bad", "corrupt", "t"),
        ),
    ],
)
def test_a_dead_letter_body_is_read_as_the_converter_writes_it(body, expected):
    assert DeadLetter.of_body(body) == expected


def test_plain_names_each_run_that_differs_and_only_those():
    agreeing = run_of("ok", summary(listed=1, enqueued=1, converted=1, bytes_before=40_000, bytes_after=10))
    claims = run_of(
        "claims", summary(listed=1, enqueued=1, converted=1, bytes_before=40_000, bytes_after=10), started=1
    )
    checks = check_runs([agreeing, claims], [A, converted(A, "ok", 10)], [], [A.key])
    assert plain(checks) == (
        "run claims (SUCCEEDED):\n"
        "  - converted: the summary says 1, the truth is 0\n"
        "  - bytes_before: the summary says 40000, the truth is 0 (original-size of its conversions)\n"
        "  - bytes_after: the summary says 10, the truth is 0 (the sizes of its converted versions)"
    )
    assert checks[0].as_report() == {"run": "ok", "truth": checks[0].truth.as_report(), "differences": []}
    assert plain(checks[:1]) == ""
