"""The truth check of a retention run (emulator/truth.py: expire_truth, compare_expire): its
summary's `expired` against the delete markers S3 holds, from plain versions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from emulator.truth import Run, Version, check_runs, compare_expire, expire_truth

DAY = "connect/acme/CallRecordings/2016/01/01/"
T0 = dt.datetime(2026, 12, 5, 12, 0, 0, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(days=365)


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def version(name: str, *, locked: bool = False, hold: bool = False, latest: bool = True) -> Version:
    return Version(
        DAY + name,
        f"v-{name}",
        10,
        at(-60),
        is_latest=latest,
        metadata={},
        retain_until=LATER if locked else None,
        legal_hold=hold,
    )


def marker(name: str, seconds: float = 2) -> Version:
    return Version(DAY + name, f"m-{name}", 0, at(seconds), delete_marker=True, is_latest=True)


def expired(deleted: int, *, dry_run: bool = False, retention: int = 0, hold: int = 0, complete: bool = True) -> Any:
    counted = "would_delete" if dry_run else "deleted"
    return {
        "expired": {
            counted: deleted,
            "kept": {"retention": retention, "legal_hold": hold, "unchecked": 0},
            "complete": complete,
        }
    }


def run(output: Any, *, dry_run: bool = False, stopped: float = 10) -> Run:
    return Run(
        id="r1",
        status="SUCCEEDED",
        started=at(0),
        prefixes=(DAY,),
        dry_run=dry_run,
        expire=True,
        stopped=at(stopped),
        expired=output,
    )


A, B = version("a.wav", latest=False), version("b.wav", latest=False)
LOCKED, HELD = version("locked.wav", locked=True), version("held.wav", hold=True)
NOTES = version("notes.json")


def test_a_retention_run_that_deleted_exactly_the_expirable_recordings_agrees():
    versions = [A, B, LOCKED, HELD, NOTES, marker("a.wav"), marker("b.wav")]
    the_run = run(expired(2, retention=1, hold=1))
    truth = expire_truth(the_run, versions)
    assert (truth.expirable, truth.locked, truth.delete_markers) == (
        [DAY + "a.wav", DAY + "b.wav"],
        [DAY + "held.wav", DAY + "locked.wav"],
        [DAY + "a.wav", DAY + "b.wav"],
    )
    assert compare_expire(the_run, truth) == []
    (checked,) = check_runs([the_run], versions, [])  # the run routed to its own comparison
    assert checked.differences == []


def test_a_marker_over_a_locked_version_is_named():
    versions = [A, version("b.wav"), LOCKED, marker("a.wav"), marker("locked.wav")]
    differences = compare_expire(run(expired(2, retention=0)), expire_truth(run(expired(2)), versions))
    assert any(
        "locked.wav: a delete marker (m-locked.wav) over version v-locked.wav, which an Object Lock" in d
        for d in differences
    )


def test_a_summary_that_miscounts_or_misses_a_recording_differs():
    versions = [A, version("b.wav"), marker("a.wav")]
    differences = compare_expire(run(expired(2)), expire_truth(run(expired(2)), versions))
    assert "expired.deleted: the summary says 2, S3 holds 1 delete marker(s)" in differences[0]
    assert "complete, but 1 expirable recording(s) have no delete marker" in differences[1]
    # Not complete (the cap): the recordings left are not a difference.
    assert compare_expire(run(expired(1, complete=False)), expire_truth(run(expired(1)), versions)) == []


def test_a_dry_run_writes_no_marker_and_counts_every_expirable_recording():
    versions = [version("a.wav"), version("b.wav")]
    assert compare_expire(run(expired(2, dry_run=True), dry_run=True), expire_truth(run(None), versions)) == []
    differences = compare_expire(
        run(expired(1, dry_run=True), dry_run=True), expire_truth(run(None), [A, marker("a.wav")])
    )
    assert differences[0].startswith("a dry run wrote 1 delete marker(s)")
    # A marker written after the run ended is not its own.
    later = [A, version("b.wav"), marker("a.wav", seconds=30)]
    assert compare_expire(run(expired(2, dry_run=True), dry_run=True), expire_truth(run(None), later)) == []


def test_a_marker_of_a_real_run_in_the_second_a_dry_run_ended_is_the_real_runs():
    """S3 dates markers to the second: a real run right after its dry run may write in the dry
    run's last second. The marker is the real run's, not a dry run's "deletion"."""
    dry = Run(
        id="dry",
        status="SUCCEEDED",
        started=at(0),
        prefixes=(DAY,),
        dry_run=True,
        expire=True,
        stopped=at(2.5),
        expired=expired(1, dry_run=True),
    )
    real = Run(
        id="real", status="SUCCEEDED", started=at(2.7), prefixes=(DAY,), expire=True, stopped=at(5), expired=expired(1)
    )
    versions = [A, marker("a.wav", seconds=2)]
    checks = {check.run.id: check for check in check_runs([dry, real], versions, [])}
    assert checks["dry"].differences == [] and checks["real"].differences == []
    assert (checks["dry"].truth.delete_markers, checks["real"].truth.delete_markers) == ([], [DAY + "a.wav"])
