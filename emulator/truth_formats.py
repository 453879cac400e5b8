"""The truth of the recordings already in the target format (emulator/truth.py): read from S3,
not from the ledger's memory (lambdas/optimizer/known_formats.py) nor from the converter.

A run may say a recording was already in the target format in two places: `skipped.already_alaw`
(the converter read it) and `skipped.known_target_format` (the lister skipped it by memory). The
truth counts, of the audio keys a run listed, those whose version current at its start is an
original (no conversion's provenance, not tagged converted=True) whose fmt chunk is the target
format's: the first bytes of that version, read once (a ranged GetObject, cached by version),
and only for a run whose summary says some were (truth.check_runs). The summary may say fewer (a
recording in the format can be archived, or converted again under overwrite_converted), never
more: a recording skipped as in the format that is not would never be converted, and nothing
else would say so.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from optimizer.formats import TargetFormat
from optimizer.keys import ARCHIVE_CLASSES, is_audio_key
from optimizer.wav import NotWav, _parse_fmt

if TYPE_CHECKING:
    import datetime as dt

    from .truth import Version

HEAD_BYTES = 4096  # a WAV's fmt chunk is within its first chunks: Connect's and ffmpeg's well inside this


def fmt_of(head: bytes) -> tuple[int, int, int, int] | None:
    """(format tag, channels, sample rate, bits per sample) of the WAV whose first bytes these are;
    None when they are not a WAV's or hold no valid fmt chunk."""
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(head):
        chunk_id, size = struct.unpack("<4sI", head[pos : pos + 8])
        if chunk_id == b"data":  # before any fmt: the converter refuses it (not_wav), never in a format
            return None
        if chunk_id == b"fmt ":
            try:
                tag, channels, rate, _align, bits = _parse_fmt(head[pos + 8 : pos + 8 + size])
            except NotWav:
                return None
            return tag, channels, rate, bits
        pos += 8 + size + (size & 1)
    return None


def in_format(head: bytes, target: TargetFormat) -> bool:
    """The header is in the target format as the converter judges it: a source with fewer channels
    than the target is in it when it is in the target's format of its own channels (under
    alaw_stereo, a mono A-law recording stays as it is: TargetFormat.for_source)."""
    fmt = fmt_of(head)
    if fmt is None:
        return False
    try:
        own = target.for_source(fmt[1])
    except ValueError:  # no format of that many channels ships: not in any of them
        return False
    return fmt == (own.format_tag, own.channels, own.sample_rate, own.bits_per_sample)


class HeadReader:
    """Whether a version is an original already in the target format: its first bytes, read once."""

    def __init__(self, s3: Any, bucket: str, target: TargetFormat) -> None:
        self.s3, self.bucket, self.target = s3, bucket, target
        self.cache: dict[tuple[str, str], bool] = {}

    def __call__(self, version: Version) -> bool:
        if version.delete_marker or version.provenance is not None or version.tagged_converted:
            return False
        if version.size < 12 or version.storage_class in ARCHIVE_CLASSES:  # an archived one cannot be read
            return False
        which = (version.key, version.version_id)
        if which not in self.cache:
            # An unversioned bucket's only version is "null": asked for without an id.
            kwargs = {"VersionId": version.version_id} if version.version_id != "null" else {}
            try:
                body = self.s3.get_object(
                    Bucket=self.bucket, Key=version.key, Range=f"bytes=0-{HEAD_BYTES - 1}", **kwargs
                )
            except ClientError:  # SSE-C, a key it may not read: the converter cannot read it either
                self.cache[which] = False
            else:
                self.cache[which] = in_format(body["Body"].read(), self.target)
        return self.cache[which]


def by_key(versions: Iterable[Version]) -> dict[str, list[Version]]:
    grouped: dict[str, list[Version]] = {}
    for version in versions:
        grouped.setdefault(version.key, []).append(version)
    return grouped


def current_at(versions: Sequence[Version], moment: dt.datetime) -> Version | None:
    """A key's newest entry at `moment` (to the second, as truth.listed_keys counts)."""
    newest = None
    for version in versions:
        if version.last_modified <= moment and (
            newest is None or version.last_modified > newest.last_modified or version.is_latest
        ):
            newest = version
    return newest


def count_in_format(
    listed: Iterable[str],
    started: dt.datetime,
    versions: Mapping[str, Sequence[Version]],
    is_in_format: Callable[[Version], bool],
) -> int:
    """Of the audio keys listed, those whose version current at `started` is an original in the
    target format."""
    count = 0
    for key in listed:
        if not is_audio_key(key):
            continue
        version = current_at(versions.get(key, ()), started)
        if version is not None and is_in_format(version):
            count += 1
    return count
