"""The truth check: each run's summary against what S3 and the dead-letter queue show, without
the ledger.

The truth of a run (an execution; its run id is the execution's name):
- converted: the versions it wrote. The converter marks each version it creates with the run of
  the message (`converted-by-run`, lambdas/optimizer/provenance.py); a version without that
  metadata is nobody's conversion (an upload, a copy, a version from before). Bytes before are
  the version's `original-size`, checked against the size of the version its
  `original-version-id` names while that one exists; bytes after are the version's own size.
- failed: the distinct keys among the dead letters whose body's `run` is this run and that carry
  the converter's `failure`, by `failure.kind` where the converter writes one. A dead letter
  without `failure` was moved there by the queue's redrive policy: the run cannot have counted
  it, its summary must hold it among the unaccounted.
- listed: the objects under its days' prefixes when it started (what the local run loaded, or in
  the tests what S3's versions say was there at the execution's start).

- undone (an undo run, "undo": true): the versions it restored. A restored version carries no mark
  of its own (it is its original again, metadata included), so it is recognised by where it stands:
  a version without provenance, written while the run ran, whose next older version is a
  conversion; following that conversion's `original-version-id` (back through conversions of
  conversions) reaches the original, whose ETag, size and storage class it must have (and its
  metadata, where both were read), without converted=True. One that does not is an anomaly.

The comparison (compare) then holds the summary (optimizer/summary.py) to that truth, exactly
where the truth is exact: converted, bytes_before, bytes_after, failed and failed_by_kind, listed
and not_audio, and that every listed recording has exactly one outcome among the summary's own
fields; and that the recordings it says were already in the target format (`skipped.already_alaw`,
`skipped.known_target_format`) are at most the listed originals S3 holds in it
(emulator/truth_formats.py). A dry run's projection is not compared; a run refused before it listed anything has no
summary, and must have no conversion and no dead letter. Each difference is one sentence.

A retention run (`"expire": true`, lambdas/expirer.py) writes delete markers instead: its truth
is the delete markers S3 holds under its days' prefixes written while it ran (_marker_owner), and what it
should have deleted, the audio keys it could list at its start whose current version was under
no Object Lock retention or legal hold (expire_truth). The comparison (compare_expire) holds its
summary's `expired` to them: `deleted` is the number of its delete markers, each over a version
no lock protected and listed at its start, every expirable key got one when the run says it is
complete, a dry run wrote none and counted them all as `would_delete`. A marker removed since
(an undelete) is no longer S3's truth: a test that undeletes says so (truth_differs).

The pure part (truth_of, compare, listed_keys, expire_truth, compare_expire) takes plain data;
the reading of S3, the DLQ and the executions' histories (check) is apart, at the end.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from optimizer.formats import FORMATS
from optimizer.keys import is_audio_key
from optimizer.listing import SKIP_REASONS
from optimizer.provenance import Provenance
from optimizer.settings import Settings
from optimizer.summary import CONVERTER_SKIPS
from optimizer.vocabulary import SkipReason

from . import truth_formats
from .history import history

NAMED = 8  # keys named in one difference, at most
# The two skips of a recording already in the target format: the lister's by memory, the converter's.
IN_FORMAT_SKIPS = (SkipReason.KNOWN_TARGET_FORMAT, *dict.fromkeys(f.skip_reason for f in FORMATS.values()))


@dataclass(frozen=True)
class Version:
    """One entry of ListObjectVersions, with the version's user metadata where it was read."""

    key: str
    version_id: str
    size: int
    last_modified: dt.datetime
    storage_class: str = "STANDARD"
    delete_marker: bool = False
    is_latest: bool = False
    metadata: Mapping[str, str] | None = None  # None: not read (older than every run checked)
    tagged_converted: bool = False  # carries converted=True (read only where provenance is missing)
    retain_until: dt.datetime | None = None  # its Object Lock retain-until date, where read
    legal_hold: bool = False  # its Object Lock legal hold is ON, where read
    etag: str = ""

    def locked_at(self, moment: dt.datetime) -> bool:
        return self.legal_hold or (self.retain_until is not None and self.retain_until > moment)

    @property
    def provenance(self) -> Provenance | None:
        return None if self.delete_marker else Provenance.of(self.metadata)


@dataclass(frozen=True)
class DeadLetter:
    """A DLQ message, as far as the truth needs it."""

    key: str
    run: str
    reason: str | None  # the converter's failure.reason; None: moved by the redrive policy
    kind: str | None = None  # failure.kind, once the converter writes it
    at: str = ""  # failure.at (ISO 8601)

    @classmethod
    def of_body(cls, body: str) -> DeadLetter | None:
        """None for a body that names no key (not a recording message)."""
        try:
            data = json.loads(body)
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("key"), str):
            return None
        failure = data.get("failure") if isinstance(data.get("failure"), dict) else None
        return cls(
            key=data["key"],
            run=str(data.get("run", "")),
            reason=str(failure.get("reason", "")) if failure is not None else None,
            kind=str(failure["kind"]) if failure is not None and failure.get("kind") else None,
            at=str(failure.get("at", "")) if failure is not None else "",
        )


@dataclass(frozen=True)
class Run:
    """One execution: what it was asked (from its ResolveRun state) and what it said (Summarize)."""

    id: str
    status: str
    started: dt.datetime
    error: str | None = None
    listed_days: bool = True  # False: refused before ResolveRun resolved its days (InvalidInput)
    dry_run: bool = False
    prefixes: tuple[str, ...] = ()  # its days' prefixes
    summary: Mapping[str, Any] | None = None  # the Summarize state's output; None: it never summarized
    expire: bool = False  # a retention run (its summary, once done, is `expired`)
    stopped: dt.datetime | None = None
    expired: Mapping[str, Any] | None = None  # a retention run's output (its last ExpirePage's summary)
    undo: bool = False  # an undo run ("undo": true)


@dataclass(frozen=True)
class Conversion:
    key: str
    version_id: str
    bytes_before: int
    bytes_after: int


@dataclass
class Truth:
    run: str
    listed: int | None = None  # None: the inputs are not known
    not_audio: int | None = None
    conversions: dict[str, Conversion] = field(default_factory=dict)
    failures: dict[str, str | None] = field(default_factory=dict)  # key -> failure kind (None: not said)
    moved: list[str] = field(default_factory=list)  # dead letters the redrive policy moved (no outcome)
    anomalies: list[str] = field(default_factory=list)  # S3 or the DLQ contradict themselves
    unattributed: list[str] = field(default_factory=list)  # converted=True versions without provenance
    # A retention run's (expire_truth): keys with a delete marker it wrote, keys it should delete,
    # keys it had to keep for their lock.
    delete_markers: list[str] = field(default_factory=list)
    expirable: list[str] = field(default_factory=list)
    locked: list[str] = field(default_factory=list)
    undone: dict[str, str] = field(default_factory=dict)  # key -> the version an undo run restored
    # Listed originals already in the target format at its start (emulator/truth_formats.py);
    # None: not read.
    in_target_format: int | None = None

    @property
    def bytes_before(self) -> int:
        return sum(c.bytes_before for c in self.conversions.values())

    @property
    def bytes_after(self) -> int:
        return sum(c.bytes_after for c in self.conversions.values())

    def failed_by_kind(self) -> dict[str, int] | None:
        """None when some failure says no kind (a converter that does not write failure.kind yet)."""
        if any(kind is None for kind in self.failures.values()):
            return None
        return dict(Counter(kind for kind in self.failures.values() if kind))

    def as_report(self) -> dict[str, Any]:
        return {
            "listed": self.listed,
            "not_audio": self.not_audio,
            "converted": len(self.conversions),
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "failed": len(self.failures),
            "failed_by_kind": self.failed_by_kind(),
            "moved_by_redrive_policy": len(self.moved),
            "converted_keys": sorted(self.conversions),
            "failed_keys": sorted(self.failures),
            "anomalies": list(self.anomalies),
            "unattributed_versions": list(self.unattributed),
            "delete_markers": list(self.delete_markers),
            "expirable": list(self.expirable),
            "locked": list(self.locked),
            **({"undone": len(self.undone), "undone_keys": sorted(self.undone)} if self.undone else {}),
            **({"in_target_format": self.in_target_format} if self.in_target_format is not None else {}),
        }


def _named(keys: Iterable[str]) -> str:
    keys = sorted(keys)
    shown = ", ".join(keys[:NAMED])
    return shown + (f" and {len(keys) - NAMED} more" if len(keys) > NAMED else "")


def _under(key: str, prefixes: Sequence[str]) -> bool:
    return any(key.startswith(prefix) for prefix in prefixes)


def _second(moment: dt.datetime) -> dt.datetime:
    return moment.replace(microsecond=0)


def listed_keys(versions: Iterable[Version], prefixes: Sequence[str], at: dt.datetime) -> list[str]:
    """The keys a listing under the prefixes saw at `at`: those whose newest entry by then is an
    object, not a delete marker (ListObjectsV2 lists current versions only).

    S3 gives LastModified to the second: an entry of the same second as `at` counts as before it
    (it may be just after), and of two entries of a key in one second the current one is newer."""
    newest: dict[str, Version] = {}
    for version in versions:
        if version.last_modified > at or not _under(version.key, prefixes):
            continue
        known = newest.get(version.key)
        if (
            known is None
            or version.last_modified > known.last_modified
            or (version.last_modified == known.last_modified and version.is_latest)
        ):
            newest[version.key] = version
    return sorted(key for key, version in newest.items() if not version.delete_marker)


def truth_of(
    run: Run,
    versions: Sequence[Version],
    dead_letters: Iterable[DeadLetter],
    listed: Iterable[str] | None,
    runs: Sequence[Run] = (),
) -> Truth:
    """The run's truth from S3's versions (all of them, of any key), the DLQ's messages and the
    keys it listed (None: unknown, then listed and not_audio are not judged)."""
    truth = Truth(run.id)
    if listed is not None:
        keys = sorted(set(listed))
        truth.listed = len(keys)
        truth.not_audio = sum(1 for key in keys if not is_audio_key(key))
    by_id = {(v.key, v.version_id): v for v in versions if not v.delete_marker}
    mine: dict[str, list[Version]] = defaultdict(list)
    for version in versions:
        provenance = version.provenance
        if provenance is not None and provenance.run == run.id:
            mine[version.key].append(version)
        elif (
            provenance is None
            and version.tagged_converted
            and version.last_modified >= _second(run.started)
            and _under(version.key, run.prefixes)
        ):
            truth.unattributed.append(f"{version.key} (version {version.version_id})")
    for key, written in sorted(mine.items()):
        written.sort(key=lambda v: v.last_modified)
        first = written[0]
        if len(written) > 1:
            truth.anomalies.append(
                f"{key}: this run wrote {len(written)} converted versions "
                f"({', '.join(v.version_id for v in written)}); a recording is converted once"
            )
        provenance = first.provenance
        assert provenance is not None
        before = provenance.original_size
        original = by_id.get((key, provenance.original_version_id))
        if before < 0:
            truth.anomalies.append(
                f"{key}: version {first.version_id} has no valid original-size"
                + (f"; its original {provenance.original_version_id} holds {original.size} bytes" if original else "")
            )
            before = original.size if original else 0
        elif original is not None and original.size != before:
            truth.anomalies.append(
                f"{key}: version {first.version_id} says its original ({provenance.original_version_id}) held "
                f"{before} bytes, that version holds {original.size}"
            )
        truth.conversions[key] = Conversion(key, first.version_id, before, first.size)
    letters = sorted((d for d in dead_letters if d.run == run.id), key=lambda d: d.at)
    moved: set[str] = set()
    for letter in letters:
        if letter.key in truth.conversions:
            truth.anomalies.append(
                f"{letter.key}: dead-lettered ({letter.reason or 'moved by the redrive policy'}) although this run "
                f"converted it (version {truth.conversions[letter.key].version_id})"
            )
        elif letter.reason is None:
            moved.add(letter.key)
        elif letter.key not in truth.failures:  # the first failure is the one the run counts
            truth.failures[letter.key] = letter.kind
    truth.moved = sorted(moved - set(truth.failures))
    if run.undo and not run.dry_run:  # a dry run writes nothing: it is held to 0 restorations
        _restorations(run, versions, truth, [r for r in runs if r.undo and not r.dry_run and r.started < run.started])
    return truth


def _during(run: Run, version: Version) -> bool:
    """Written while the run ran (LastModified is to the second: from the second it started)."""
    return version.last_modified >= _second(run.started) and (
        run.stopped is None or version.last_modified <= run.stopped
    )


def _restorations(run: Run, versions: Sequence[Version], truth: Truth, earlier: Sequence[Run] = ()) -> None:
    """The versions the undo run restored, and the anomalies of those that are not their original.
    A version written in a second two undo runs share is the earlier run's."""
    by_id = {(v.key, v.version_id): v for v in versions if not v.delete_marker}
    newest_first: dict[str, list[Version]] = defaultdict(list)
    for version in versions:  # ListObjectVersions lists a key's versions newest first
        if not version.delete_marker and _under(version.key, run.prefixes):
            newest_first[version.key].append(version)
    for key, chain in sorted(newest_first.items()):
        for restored, older in zip(chain, chain[1:], strict=False):
            if restored.provenance is not None or older.provenance is None:
                continue
            if not _during(run, restored) or any(_during(other, restored) for other in earlier):
                continue
            original: Version | None = None
            provenance: Provenance | None = older.provenance
            hops = 0
            while provenance is not None and hops < 20:
                original = by_id.get((key, provenance.original_version_id))
                provenance = original.provenance if original is not None else None
                hops += 1
            if original is None or original.provenance is not None:
                truth.anomalies.append(
                    f"{key}: version {restored.version_id} follows a conversion whose original is gone"
                )
                continue
            if (restored.etag, restored.size) != (original.etag, original.size):
                continue  # not a copy of the original: another writer's version, not an undo's
            differs = [
                what
                for what, same in (
                    ("storage class", restored.storage_class == original.storage_class),
                    (
                        "metadata",
                        None in (restored.metadata, original.metadata) or restored.metadata == original.metadata,
                    ),
                    ("tags (converted=True)", not restored.tagged_converted),
                )
                if not same
            ]
            if differs:
                truth.anomalies.append(
                    f"{key}: version {restored.version_id}, written during the undo, differs from the original "
                    f"{original.version_id} in {', '.join(differs)}"
                )
            else:
                truth.undone[key] = restored.version_id


def compare(run: Run, truth: Truth) -> list[str]:
    """The differences between the run's summary and its truth, each a sentence; [] if they agree."""
    out = [f"S3 or the dead-letter queue contradict themselves: {anomaly}" for anomaly in truth.anomalies]
    summary = run.summary
    if summary is None:
        done = [
            f"{len(truth.conversions)} conversion(s) ({_named(truth.conversions)})" if truth.conversions else "",
            f"{len(truth.failures) + len(truth.moved)} dead letter(s) ({_named([*truth.failures, *truth.moved])})"
            if truth.failures or truth.moved
            else "",
        ]
        said = " and ".join(d for d in done if d)
        if said:
            out.append(f"it ended {run.status} ({run.error}) without a summary, but S3 and the DLQ hold {said} of it")
        return out

    def differ(name: str, says: Any, truth_value: Any, detail: str = "") -> None:
        if says != truth_value:
            out.append(f"{name}: the summary says {says}, the truth is {truth_value}{detail}")

    skipped = summary.get("skipped") or {}
    days_failed = "failed_days" in summary
    if truth.listed is not None and not days_failed:
        differ("listed", summary.get("listed", 0), truth.listed, " (the objects under its days' prefixes)")
        differ("skipped.not_audio", skipped.get("not_audio", 0), truth.not_audio, " (the listed keys not ending .wav)")
    unattributed = (
        f"; {len(truth.unattributed)} version(s) under its days tagged converted=True since it started carry no "
        "converted-by-run metadata, so S3 cannot say which run wrote them (a converter that does not write "
        f"provenance, lambdas/optimizer/provenance.py): {_named(truth.unattributed)}"
        if truth.unattributed
        else ""
    )
    mine = f" (S3 holds its conversions of: {_named(truth.conversions)})" if truth.conversions else ""
    differ("converted", summary.get("converted", 0), len(truth.conversions), mine + unattributed)
    differ("bytes_before", summary.get("bytes_before", 0), truth.bytes_before, " (original-size of its conversions)")
    differ("bytes_after", summary.get("bytes_after", 0), truth.bytes_after, " (the sizes of its converted versions)")
    letters = f" (its dead letters: {_named(truth.failures)})" if truth.failures else ""
    differ("failed", summary.get("failed", 0), len(truth.failures), letters)
    kinds = truth.failed_by_kind()
    if kinds is not None:
        differ("failed_by_kind", dict(summary.get("failed_by_kind") or {}), kinds)
    unaccounted = int(summary.get("unaccounted", 0))
    if len(truth.moved) > unaccounted:
        out.append(
            f"unaccounted: the summary says {unaccounted}, but the redrive policy moved {len(truth.moved)} of its "
            f"recordings to the DLQ without an outcome ({_named(truth.moved)})"
        )
    out += _compare_in_format(summary, truth)
    listed = int(summary.get("listed", 0))
    lister_skips = sum(int(skipped.get(reason, 0)) for reason in SKIP_REASONS) + int(skipped.get("undone", 0))
    if run.undo:
        dry = run.dry_run or bool(summary.get("dry_run"))
        restored = f" (S3 holds its restorations of: {_named(truth.undone)})" if truth.undone else ""
        differ("undone", 0 if dry else summary.get("undone", 0), len(truth.undone), restored)
        outcomes = sum(int(n) for n in (summary.get("undo") or {}).values() if isinstance(n, int))
        if listed != outcomes + lister_skips:
            out.append(
                f"a listed recording without exactly one outcome: listed {listed} != {outcomes} undo outcomes + "
                f"{lister_skips} skipped by the lister"
            )
        return out
    if run.dry_run or summary.get("dry_run"):
        recordings = int(summary.get("recordings", 0))
        if listed != recordings + lister_skips:
            out.append(
                f"a listed recording without exactly one outcome: listed {listed} != {recordings} to convert + "
                f"{lister_skips} skipped by the lister ({', '.join(SKIP_REASONS)})"
            )
        return out
    enqueued = int(summary.get("enqueued", 0))
    if listed != enqueued + lister_skips:
        out.append(
            f"a listed recording without exactly one outcome: listed {listed} != enqueued {enqueued} + {lister_skips} "
            f"skipped by the lister ({', '.join(SKIP_REASONS)})"
        )
    converter_skips = sum(int(skipped.get(reason, 0)) for reason in CONVERTER_SKIPS)
    converted, failed = int(summary.get("converted", 0)), int(summary.get("failed", 0))
    # A verify run's outcomes (optimizer/custody.py): verified, or not converted; its mismatches are
    # dead letters, held to the DLQ with the failures above.
    verify = summary.get("verify") or {}
    checked = int(verify.get("verified", 0)) + int(verify.get("not_converted", 0))
    if enqueued != converted + checked + converter_skips + failed + unaccounted:
        out.append(
            f"an enqueued recording without exactly one outcome: enqueued {enqueued} != converted {converted} + "
            + (f"{checked} verified or not converted + " if verify else "")
            + f"{converter_skips} skipped by the converter ({', '.join(CONVERTER_SKIPS)}) + failed {failed} + "
            f"unaccounted {unaccounted}"
        )
    return out


def _compare_in_format(summary: Mapping[str, Any], truth: Truth) -> list[str]:
    """The recordings the summary says were already in the target format, by the lister's memory
    or the converter's reading, are at most those S3 holds in it (emulator/truth_formats.py)."""
    if truth.in_target_format is None:
        return []
    skipped = summary.get("skipped") or {}
    says = {reason: int(skipped.get(reason, 0)) for reason in IN_FORMAT_SKIPS}
    if sum(says.values()) <= truth.in_target_format:
        return []
    named = " + ".join(f"{n} {reason}" for reason, n in says.items())
    return [
        f"skipped in the target format: the summary says {named}, but S3 holds {truth.in_target_format} listed "
        "original(s) in it (their fmt chunks); a recording skipped for a format it is not in is never converted"
    ]


def _said_in_format(summary: Mapping[str, Any] | None) -> int:
    skipped = (summary or {}).get("skipped") or {}
    return sum(int(skipped.get(reason, 0)) for reason in IN_FORMAT_SKIPS)


def _current_at(versions: Iterable[Version], key: str, moment: dt.datetime) -> Version | None:
    """The key's newest entry at `moment` (to the second, as listed_keys counts)."""
    newest = None
    for version in versions:
        if (
            version.key == key
            and version.last_modified <= moment
            and (newest is None or version.last_modified > newest.last_modified or version.is_latest)
        ):
            newest = version
    return newest


def _marker_owner(marker: Version, runs: Sequence[Run]) -> Run | None:
    """The retention run that wrote a delete marker: of the runs whose days cover its key and
    that ran when it was written, the latest started. S3 dates a marker to the second, so runs
    one after the other may share a second: a dry run, which writes nothing, then yields to a
    real run that started in that second."""
    end_of_time = dt.datetime.max.replace(tzinfo=dt.UTC)
    candidates = [
        run
        for run in runs
        if run.expire
        and _under(marker.key, run.prefixes)
        and _second(run.started) <= marker.last_modified <= (run.stopped or end_of_time)
    ]
    real = [run for run in candidates if not run.dry_run]
    return max(real or candidates, key=lambda run: run.started, default=None)


def expire_truth(run: Run, versions: Sequence[Version], runs: Sequence[Run] = ()) -> Truth:
    """A retention run's truth: the delete markers it wrote (_marker_owner, among `runs`, itself
    included) and the audio keys listed at its start, split into expirable and locked; an
    anomaly for each marker over a version a lock protected or a key it could not have listed."""
    truth = Truth(run.id)
    start = _second(run.started)
    runs = [*runs] if any(other.id == run.id for other in runs) else [*runs, run]

    def mine(version: Version) -> bool:
        if not version.delete_marker:
            return False
        owner = _marker_owner(version, runs)
        return owner is not None and owner.id == run.id

    # What it could list at its start: its own markers left out (S3 dates them to the second, maybe its start's).
    before = [version for version in versions if not mine(version)]
    listed = [key for key in listed_keys(before, run.prefixes, start) if is_audio_key(key)]
    for key in listed:
        current = _current_at(before, key, start)
        (truth.locked if current is not None and current.locked_at(run.started) else truth.expirable).append(key)
    for marker in filter(mine, versions):
        truth.delete_markers.append(marker.key)
        below = _current_at([v for v in versions if not v.delete_marker], marker.key, marker.last_modified)
        if below is not None and below.locked_at(marker.last_modified):
            truth.anomalies.append(
                f"{marker.key}: a delete marker ({marker.version_id}) over version {below.version_id}, which an "
                "Object Lock retention or legal hold protected"
            )
        elif marker.key not in listed:
            truth.anomalies.append(
                f"{marker.key}: a delete marker ({marker.version_id}) on a key not listed at its start"
            )
    truth.delete_markers.sort()
    return truth


def compare_expire(run: Run, truth: Truth) -> list[str]:
    """A retention run's summary (`expired`) against its truth; [] if they agree."""
    out = [f"S3 contradicts the retention run: {anomaly}" for anomaly in truth.anomalies]
    if run.dry_run and truth.delete_markers:
        out.append(f"a dry run wrote {len(truth.delete_markers)} delete marker(s): {_named(truth.delete_markers)}")
    expired = (run.expired or {}).get("expired")
    if expired is None:
        if truth.delete_markers and not run.dry_run:
            out.append(
                f"it ended {run.status} ({run.error}) without a summary, but S3 holds "
                f"{len(truth.delete_markers)} delete marker(s) of it ({_named(truth.delete_markers)})"
            )
        return out
    counted = "would_delete" if run.dry_run else "deleted"
    says = int(expired.get(counted, 0))
    complete = bool(expired.get("complete"))
    if not run.dry_run and says != len(truth.delete_markers):
        out.append(
            f"expired.deleted: the summary says {says}, S3 holds {len(truth.delete_markers)} delete marker(s) written "
            f"during the run ({_named(truth.delete_markers)})"
        )
    unchecked = int((expired.get("kept") or {}).get("unchecked", 0))
    if complete and not unchecked:
        if run.dry_run and says != len(truth.expirable):
            out.append(f"expired.would_delete: the summary says {says}, the expirable keys are {len(truth.expirable)}")
        missed = sorted(set(truth.expirable) - set(truth.delete_markers))
        if not run.dry_run and missed:
            out.append(f"complete, but {len(missed)} expirable recording(s) have no delete marker: {_named(missed)}")
        kept = sum(int((expired.get("kept") or {}).get(reason, 0)) for reason in ("retention", "legal_hold"))
        if kept != len(truth.locked):
            out.append(f"expired.kept: the summary says {kept} locked, S3 says {len(truth.locked)}")
    return out


@dataclass
class RunCheck:
    run: Run
    truth: Truth
    differences: list[str]

    def as_report(self) -> dict[str, Any]:
        return {"run": self.run.id, "truth": self.truth.as_report(), "differences": list(self.differences)}


def check_runs(
    runs: Sequence[Run],
    versions: Sequence[Version],
    dead_letters: Sequence[DeadLetter],
    loaded: Iterable[str] | None = None,
    is_in_format: Callable[[Version], bool] | None = None,
) -> list[RunCheck]:
    """Every run against its truth. `loaded`: the keys that were in the bucket before the first
    run (the local run's); without it each run's listing is read from the versions at its start.
    `is_in_format`: whether a version is an original in the target format (truth_formats.py);
    without it that count is not judged."""
    loaded = None if loaded is None else sorted(set(loaded))
    grouped = truth_formats.by_key(versions) if is_in_format is not None else {}
    checks = []
    for run in runs:
        if run.expire:
            truth = expire_truth(run, versions, runs)
            checks.append(RunCheck(run, truth, compare_expire(run, truth)))
            continue
        if not run.listed_days:
            listed: list[str] | None = None
        elif loaded is not None:
            listed = [key for key in loaded if _under(key, run.prefixes)]
        else:
            listed = listed_keys(versions, run.prefixes, run.started)
        truth = truth_of(run, versions, dead_letters, listed, runs)
        # Read only where the summary says some were in the format: it may say no more than S3
        # holds, and a run that says none costs no read.
        if is_in_format is not None and listed is not None and not run.undo and _said_in_format(run.summary):
            truth.in_target_format = truth_formats.count_in_format(listed, run.started, grouped, is_in_format)
        checks.append(RunCheck(run, truth, compare(run, truth)))
    return checks


def plain(checks: Sequence[RunCheck]) -> str:
    """The differences as lines, run by run ("" when every run agrees)."""
    lines = []
    for check in checks:
        if check.differences:
            lines.append(f"run {check.run.id} ({check.run.status}):")
            lines += [f"  - {difference}" for difference in check.differences]
    return "\n".join(lines)


# --- reading the emulator (boto3) ---------------------------------------------------------------


def read_runs(sfn: Any, state_machine_arn: str, bucket_prefix: str) -> list[Run]:
    """Every execution of the state machine, oldest first, from its history: the ResolveRun
    state's output (run id, dry run, days) and the Summarize state's (the summary, also of a run
    that failed)."""
    from optimizer.dates import day_prefix

    executions = [
        e
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=state_machine_arn)
        for e in page["executions"]
    ]
    runs = []
    for execution in sorted(executions, key=lambda e: e["startDate"]):
        described = sfn.describe_execution(executionArn=execution["executionArn"])
        exited: dict[str, Any] = {}
        for event in history(sfn, execution["executionArn"]):
            details = event.get("stateExitedEventDetails")
            if details and details.get("name") in ("ResolveRun", "Summarize", "ExpirePage") and details.get("output"):
                exited[details["name"]] = json.loads(details["output"])
        resolved = exited.get("ResolveRun")
        if not isinstance(resolved, dict) or "run" not in resolved:
            resolved = None  # refused (InvalidInput): the Catch put the error in the state's place
        summarized = exited.get("Summarize")
        run = (resolved or {}).get("run") or {}
        runs.append(
            Run(
                id=str(run.get("id") or execution["name"]),
                status=described["status"],
                started=described["startDate"],
                error=described.get("error"),
                listed_days=resolved is not None,
                dry_run=bool(run.get("dry_run", False)),
                prefixes=tuple(day_prefix(bucket_prefix, dt.date.fromisoformat(day)) for day in _days(resolved)),
                summary=((summarized or {}).get("summary") or {}).get("output"),
                expire=bool(run.get("expire", False)),
                stopped=described.get("stopDate"),
                expired=((exited.get("ExpirePage") or {}).get("expire") or {}).get("summary"),
                undo=bool(run.get("undo", False)),
            )
        )
    return runs


def _days(resolved: dict[str, Any] | None) -> list[str]:
    """The run's days as ResolveRun's state holds them: its first round's (stacks/orchestration.py)."""
    state = resolved or {}
    return list((state.get("round") or {}).get("days", []))


def read_versions(s3: Any, bucket: str, prefix: str, since: dt.datetime | None) -> list[Version]:
    """Every version and delete marker under the prefix; the metadata of each version written
    since `since` (an older one cannot be a conversion of the runs checked; LastModified is to the
    second, so from the second of `since` on), and for those without provenance whether they carry
    converted=True (one request each)."""
    versions = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
        for marker in page.get("DeleteMarkers", []):
            versions.append(
                Version(
                    marker["Key"],
                    marker["VersionId"],
                    0,
                    marker["LastModified"],
                    delete_marker=True,
                    is_latest=bool(marker.get("IsLatest")),
                )
            )
        for listed in page.get("Versions", []):
            metadata, tagged, lock = None, False, {}
            if since is None or listed["LastModified"] >= _second(since):
                # An unversioned bucket's only version is "null": asked for without an id (moto
                # refuses VersionId=null).
                which = {"VersionId": listed["VersionId"]} if listed["VersionId"] != "null" else {}
                head = s3.head_object(Bucket=bucket, Key=listed["Key"], **which)
                metadata = head.get("Metadata", {})
                lock = {
                    "retain_until": head.get("ObjectLockRetainUntilDate"),
                    "legal_hold": head.get("ObjectLockLegalHoldStatus") == "ON",
                }
                if Provenance.of(metadata) is None:
                    try:
                        tags = s3.get_object_tagging(Bucket=bucket, Key=listed["Key"], **which)["TagSet"]
                    except ClientError:  # moto refuses it for an archived version: no conversion either
                        tags = []
                    tagged = {"Key": "converted", "Value": "True"} in tags
            versions.append(
                Version(
                    key=listed["Key"],
                    version_id=listed["VersionId"],
                    size=int(listed["Size"]),
                    last_modified=listed["LastModified"],
                    storage_class=listed.get("StorageClass", "STANDARD"),
                    is_latest=bool(listed.get("IsLatest")),
                    metadata=metadata,
                    tagged_converted=tagged,
                    **lock,
                    etag=str(listed.get("ETag", "")),
                )
            )
    return versions


def read_dead_letters(queue_url: str) -> list[DeadLetter]:
    """Every message of the DLQ, from the emulator's own SQS (moto's backend): also those in
    flight, made invisible by a reader (a test, the report) or being redriven, and none is
    received, so nothing changes on the queue. On AWS no API shows in-flight messages."""
    from moto.sqs.models import sqs_backends

    from .deploy import ACCOUNT, REGION

    queue = sqs_backends[ACCOUNT][REGION].get_queue(queue_url.rstrip("/").rsplit("/", 1)[-1])
    letters = [DeadLetter.of_body(message.body) for message in list(queue._messages)]
    return [letter for letter in letters if letter is not None]


def check(deployment: Any, loaded: Iterable[str] | None = None) -> list[RunCheck]:
    """Every execution of the deployment's state machine against the truth in its bucket and DLQ."""
    import boto3

    from .deploy import REGION

    bucket_prefix = deployment.synthesized.config.bucket_prefix
    runs = read_runs(boto3.client("stepfunctions", region_name=REGION), deployment.state_machine_arn, bucket_prefix)
    if not runs:
        return []
    # A retention run's truth needs the lock of versions written before any run started.
    since = None if any(run.expire for run in runs) else min(run.started for run in runs)
    s3 = boto3.client("s3", region_name=REGION)
    versions = read_versions(s3, deployment.bucket, bucket_prefix, since)
    dead = read_dead_letters(deployment.queue_url("QueuesDeadLetter"))
    # The target format the deployment's functions were given (Settings.target: one place).
    settings = Settings.from_env(deployment.function("FunctionsLister").environment)
    reader = truth_formats.HeadReader(s3, deployment.bucket, settings.target)
    return check_runs(runs, versions, dead, loaded, reader)
