"""Converting one recording in place, under the safety contract.

Read -> convert with one ffmpeg pass -> verify -> one conditional PutObject. Anything doubtful
raises before the write, so the original is never modified by a failed conversion.

Every version written carries its provenance (optimizer/provenance.py: the run, the original's
version, size and SHA-256, computed while the body streams to /tmp). A version this message's run
already wrote (its outcome lost: a crash after the PutObject, a lost response, a failed ledger
write) is that run's conversion, counted `converted` with its bytes, without reading its body;
one written by another run is `already_converted` for this one, so two overlapping runs count
each conversion once.

/tmp is Lambda's and outlives an invocation: leftovers of earlier invocations (`convert-*`
folders) are cleared, and free space is checked before the download and before ffmpeg writes its
output; running out of space, or any OS error, is transient, never the recording's fault.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import errno
import functools
import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from urllib.parse import quote, urlencode

from botocore.exceptions import ClientError

from . import trust
from .audio import AudioMismatch, check_audio
from .aws import DENIED_CODES as _DENIED  # a missing key answers 404: the roles hold s3:ListBucket
from .formats import TARGET, TargetFormat
from .keys import ARCHIVE_CLASSES
from .messages import Recording
from .provenance import Provenance
from .settings import Settings
from .vocabulary import FailureKind, SkipReason
from .wav import NotWav, WavInfo, fix_placeholder_sizes, read_wav_info

CONVERTED_TAG = ("converted", "True")  # the article's tag, exactly
MAX_TAGS = 10  # S3's limit per object
DURATION_TOLERANCE_S = 0.010
# Headers of the original that describe how it is served; they are kept on the new version.
_KEPT_HEADERS = ("CacheControl", "ContentDisposition", "ContentLanguage")
_LOCK_HEADERS = ("ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus")
_CHUNK = 1024 * 1024
_VERIFY = FailureKind.VERIFICATION_FAILED
# S3 refuses more than 2 KB of user metadata (the UTF-8 bytes of each key and value, summed:
# Amazon S3 user guide, "Working with object metadata").
MAX_METADATA_BYTES = 2048
_SHA256_HEX = 64
# Free space kept beyond what a conversion needs in /tmp (the runtime and ffmpeg write there too).
TMP_MARGIN_BYTES = 16 * 1024 * 1024
WORK_PREFIX = "convert-"
_PRECONDITION_CODES = ("PreconditionFailed", "ConditionalRequestConflict", "412", "409")
_NO_SPACE = "No space left on device"


class PermanentFailure(Exception):
    """Retrying cannot help (bad audio, failed verification): goes to the DLQ with this reason.
    `kind` names the class of failure in the run's summary (failed_by_kind)."""

    def __init__(self, reason: str, kind: FailureKind = FailureKind.OTHER) -> None:
        super().__init__(reason)
        self.kind = kind


class ContentFailure(PermanentFailure):
    """The recording's own bytes are the cause (not a WAV we can convert, audio that does not add
    up, a conversion that fails verification). Unlike a permission, key, throttling or tag-limit
    failure, nothing but a new version of the object can change the outcome, so the failure is
    remembered for that object version: `etag`, the ETag of the version read, set by
    convert_recording (also when the object changed after it was listed)."""

    etag: str | None = None


class TransientFailure(Exception):
    """Worth retrying later (object changed under us, throttling, time running out, no room in /tmp)."""


class FfmpegKilled(TransientFailure):
    """ffmpeg died of a signal (the out-of-memory killer, a SIGKILL): retried. It becomes a content
    failure only when the same version kills it on every attempt of the run (optimizer/outcomes.py)."""

    def __init__(self, reason: str, signal: int) -> None:
        super().__init__(reason)
        self.signal = signal
        self.etag: str | None = None  # the version read, set by convert_recording


@dataclass(frozen=True)
class Outcome:
    outcome: str  # converted | skipped | failed
    reason: str | None
    bytes_before: int = 0
    bytes_after: int = 0
    kind: FailureKind | None = None  # of a failure: PermanentFailure.kind
    audio: Mapping[str, Any] | None = None  # what the audio check measured (AudioCheck.log_field)
    # The new version carries the original's Object Lock retain-until date (from the GetObject
    # already made: put_arguments copies it when it is still in the future). Counted in the summary.
    retain_until_carried: bool = False
    # Of a conversion: the chain of custody (custody_record), logged and kept in the ledger's done# marker.
    custody: Mapping[str, str] | None = None


def custody_record(
    original_version_id: str, original_sha256: str, converted_version_id: str, converted_sha256: str
) -> dict[str, str]:
    """Which version replaced which, and the SHA-256 of each one's bytes (hex)."""
    return {
        "original_version_id": original_version_id,
        "original_sha256": original_sha256,
        "converted_version_id": converted_version_id,
        "converted_sha256": converted_sha256,
    }


def ffmpeg_command(ffmpeg: str, src: str, dst: str, target: TargetFormat = TARGET) -> list[str]:
    """One pass: first audio stream, to the target format's channels (a downmix for mono) and
    rate, in a plain WAV.

    The input is read as what optimizer/wav.py accepted, a WAV file: `-f wav` before `-i` pins the
    demuxer (without it ffmpeg probes the bytes, and a crafted file that passes the reader was
    demuxed as ACT/G.729), and `-protocol_whitelist file` keeps it from opening anything but the
    local file (no playlist, concat list or network reference inside a recording is followed)."""
    return [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-protocol_whitelist",
        "file",
        "-f",
        "wav",
        "-i",
        src,
        "-map",
        "0:a:0",
        "-map_metadata",
        "-1",
        *target.ffmpeg_output_options(),
        "-bitexact",
        "-f",
        "wav",
        dst,
    ]


def ffmpeg_environment() -> dict[str, str]:
    """ffmpeg parses untrusted recordings: it starts with a minimal environment, without the
    Lambda's AWS variables (its session credentials among them) or any other setting."""
    return {"PATH": os.defpath, "LC_ALL": "C"}


def run_ffmpeg(ffmpeg: str, src: str, dst: str, target: TargetFormat = TARGET) -> None:
    """One ffmpeg pass from `src` to `dst` in the target format; FfmpegKilled for a signal,
    TransientFailure when it ran out of space, ContentFailure otherwise."""
    proc = subprocess.run(
        ffmpeg_command(ffmpeg, src, dst, target),
        capture_output=True,
        text=True,
        errors="replace",
        env=ffmpeg_environment(),
    )
    if proc.returncode == 0:
        return
    detail = (proc.stderr.strip().splitlines() or ["no message"])[-1][:300]
    if proc.returncode < 0:  # killed by a signal: not something the recording's bytes told it
        raise FfmpegKilled(f"ffmpeg was killed by signal {-proc.returncode}", -proc.returncode)
    if _NO_SPACE in proc.stderr:
        raise TransientFailure(f"ffmpeg ran out of space in /tmp (exit {proc.returncode}): {detail}")
    raise ContentFailure(
        f"ffmpeg could not convert the audio (exit {proc.returncode}): {detail}", FailureKind.FFMPEG_FAILED
    )


# The work folders of conversions running in this process (the local emulator runs several
# invocations in one process; on Lambda an instance runs one at a time): never cleared.
_active_work: set[str] = set()
_active_lock = threading.Lock()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def clear_leftovers(parent: str | None = None) -> list[str]:
    """Removes the work folders (`convert-<pid>-*`) that earlier invocations left in /tmp: a
    timeout or a crash skips their cleanup, and Lambda keeps /tmp between invocations. A folder
    of a conversion running now (in this process, or in another live process sharing /tmp, as on
    a developer's machine) is kept. Returns the folders removed."""
    parent = parent or tempfile.gettempdir()
    cleared = []
    # Under the lock throughout: a conversion of this process creates and registers its folder
    # under it too (_work_folder), so a folder is never seen created but not yet registered.
    with _active_lock:
        for path in glob.glob(os.path.join(glob.escape(parent), WORK_PREFIX + "*-*")):
            pid_text = os.path.basename(path)[len(WORK_PREFIX) :].split("-", 1)[0]
            if not pid_text.isdigit() or path in _active_work or not os.path.isdir(path):
                continue
            pid = int(pid_text)
            if pid == os.getpid() or not _alive(pid):
                shutil.rmtree(path, ignore_errors=True)
                cleared.append(path)
    return cleared


def _work_folder(parent: str) -> str:
    """A new work folder for one conversion, registered as running in the same step."""
    with _active_lock:
        tmp = tempfile.mkdtemp(dir=parent, prefix=f"{WORK_PREFIX}{os.getpid()}-")
        _active_work.add(tmp)
    return tmp


def check_free_space(path: str, needed: int, what: str) -> None:
    """TransientFailure (retried later, no attempt used) unless `path` has room for `needed` bytes
    and the margin."""
    free = shutil.disk_usage(path).free
    if free < needed + TMP_MARGIN_BYTES:
        raise TransientFailure(
            f"not enough space in {path} for {what}: {needed + TMP_MARGIN_BYTES} bytes needed "
            f"(with a {TMP_MARGIN_BYTES} byte margin), {free} free; retried later"
        )


def projected_output_bytes(source: WavInfo, target: TargetFormat = TARGET) -> int:
    """The output's size: the source's duration at the target's rate and frame size, plus a header."""
    frames = -(-source.frames * target.sample_rate // source.sample_rate)
    return frames * target.channels * max(1, target.bits_per_sample // 8) + 1024


def metadata_bytes(metadata: Mapping[str, str]) -> int:
    """The size S3 counts against its user-defined metadata limit: keys and values in UTF-8."""
    return sum(len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in metadata.items())


def file_sha256(path: str) -> str:
    """The file's SHA-256 in hex, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _download(body: Any, path: str) -> tuple[int, str]:
    """Streams the body to `path`: (bytes written, their SHA-256 in hex)."""
    digest = hashlib.sha256()
    written = 0
    with open(path, "wb") as f:
        while chunk := body.read(_CHUNK):
            digest.update(chunk)
            f.write(chunk)
            written += len(chunk)
    return written, digest.hexdigest()


def verify(
    source: WavInfo, output: WavInfo, tolerance: float = DURATION_TOLERANCE_S, target: TargetFormat = TARGET
) -> None:
    """The output must be what we promise, complete, and as long as the input."""
    if not target.matches(output):
        raise ContentFailure(
            f"verification failed: output is {output.describe()}, expected {target.describe()}", _VERIFY
        )
    if not output.complete:
        raise ContentFailure(
            f"verification failed: output data chunk holds {output.data_bytes} of {output.declared_data_bytes} bytes",
            _VERIFY,
        )
    if output.frames == 0:
        raise ContentFailure("verification failed: output has no audio frames", _VERIFY)
    # Exact arithmetic: in floats, a drift of exactly the tolerance (80 frames at 8 kHz for 10 ms)
    # comes out a hair above it and would be refused.
    drift = abs(Fraction(output.frames, output.sample_rate) - Fraction(source.frames, source.sample_rate))
    if drift > Fraction(str(tolerance)):
        raise ContentFailure(
            f"verification failed: output lasts {output.duration:.3f} s, input {source.duration:.3f} s "
            f"(differs by {float(drift) * 1000:.1f} ms > {tolerance * 1000:.0f} ms)",
            _VERIFY,
        )


def merged_tags(existing: Mapping[str, str]) -> dict[str, str]:
    """The existing tags plus converted=True; PermanentFailure (tag_limit) when S3's ten would be
    exceeded."""
    tags = dict(existing)
    tags[CONVERTED_TAG[0]] = CONVERTED_TAG[1]
    if len(tags) > MAX_TAGS:
        raise PermanentFailure(
            f"the object already has {len(existing)} tags; S3 allows {MAX_TAGS}, so converted=True cannot be added",
            FailureKind.TAG_LIMIT,
        )
    return tags


def put_arguments(
    original: Mapping[str, Any],
    tags: Mapping[str, str],
    *,
    storage_class: str,
    provenance: Provenance | None = None,
    now: dt.datetime | None = None,
    target: TargetFormat = TARGET,
) -> dict[str, Any]:
    """Everything the new version keeps from the original, its provenance, and the condition on
    the original's ETag.

    An Object Lock retention that has expired is not copied: S3 refuses a PutObject whose
    retain-until date is in the past (400 InvalidArgument), and the bucket's default retention, if
    any, applies to the new version. A legal hold has no date and is always kept."""
    args: dict[str, Any] = {
        "StorageClass": storage_class,
        # %20 rather than '+' for spaces: unambiguous in the x-amz-tagging header.
        "Tagging": urlencode(merged_tags(tags), quote_via=quote),
        "Metadata": {**(original.get("Metadata") or {}), **(provenance.to_metadata() if provenance else {})},
        "ContentType": original.get("ContentType") or target.content_type,
        "IfMatch": original["ETag"],
    }
    for header in _KEPT_HEADERS + _LOCK_HEADERS:
        if original.get(header):
            args[header] = original[header]
    retain_until = original.get("ObjectLockRetainUntilDate")
    if retain_until and retain_until <= (now or dt.datetime.now(dt.UTC)):
        del args["ObjectLockRetainUntilDate"]
        args.pop("ObjectLockMode", None)  # a mode without a date is refused too
    sse = original.get("ServerSideEncryption")
    if sse:
        args["ServerSideEncryption"] = sse
        if sse.startswith("aws:kms"):
            args["SSEKMSKeyId"] = original["SSEKMSKeyId"]
            if original.get("BucketKeyEnabled"):
                args["BucketKeyEnabled"] = True
    return args


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _denied(exc: ClientError, action: str, rec: Recording) -> PermanentFailure:
    message = exc.response.get("Error", {}).get("Message", "")
    return PermanentFailure(
        f"{action} s3://{rec.bucket}/{rec.key} was denied ({_error_code(exc)}: {message}). The converter's role needs "
        "s3:GetObject, s3:PutObject and the tagging actions under the prefix and, for an object encrypted with "
        "SSE-KMS, "
        "kms:Decrypt and kms:GenerateDataKey on its key (set -c kms_key_arn=..., and make sure the key policy lets IAM "
        "policies of this account use the key); a bucket policy may also deny it. Fix that, then redrive.",
        FailureKind.ACCESS_DENIED,
    )


def _read_tags(s3: Any, rec: Recording, original: Mapping[str, Any]) -> dict[str, str]:
    if not original.get("TagCount"):
        return {}  # the GET told us there are none: no tagging request
    tag_set = s3.get_object_tagging(Bucket=rec.bucket, Key=rec.key)["TagSet"]
    return {t["Key"]: t["Value"] for t in tag_set}


def _metadata_limit(rec: Recording, original: Mapping[str, Any]) -> None:
    """Refused before anything is read or written: the original's metadata leaves no room for the
    provenance within S3's 2 KB (the SHA-256 is 64 hex digits whatever the bytes)."""
    planned = Provenance(
        rec.run,
        str(original.get("VersionId") or "null"),
        int(original.get("ContentLength", 0)),
        "0" * _SHA256_HEX,
        "0" * _SHA256_HEX,
    )
    total = metadata_bytes({**(original.get("Metadata") or {}), **planned.to_metadata()})
    if total > MAX_METADATA_BYTES:
        raise PermanentFailure(
            f"s3://{rec.bucket}/{rec.key} has {metadata_bytes(original.get('Metadata') or {})} bytes of user metadata; "
            f"with the converted version's provenance it would be {total}, over S3's {MAX_METADATA_BYTES}. Not "
            "converted; the original is untouched",
            FailureKind.METADATA_LIMIT,
        )


def _own_conversion(rec: Recording, original: Mapping[str, Any]) -> Outcome | None:
    """The version read was written by this message's run: its conversion, whose outcome was lost."""
    provenance = Provenance.of(original.get("Metadata"))
    if not rec.run or provenance is None or provenance.run != rec.run:
        return None
    custody = custody_record(
        provenance.original_version_id,
        provenance.original_sha256,
        str(original.get("VersionId") or "null"),
        provenance.converted_sha256,
    )
    return Outcome(
        "converted", None, max(0, provenance.original_size), int(original.get("ContentLength", 0)), custody=custody
    )


def _changed_since_listed(s3: Any, rec: Recording) -> Outcome:
    """The GetObject's If-Match failed: the current version is not the one listed. One HEAD, on
    this path only: a conversion this message's run wrote (its outcome lost) is counted converted
    as before, one by another run already_converted; anything else was changed by someone else and
    is left to a later run (`skipped.changed`), nothing read. A HEAD that fails otherwise than
    404 is not an answer: it goes up as any failed call does (retried), or this run's own
    conversion, its outcome lost, would be counted `changed`."""
    try:
        head = s3.head_object(Bucket=rec.bucket, Key=rec.key)
    except ClientError as exc:
        code = _error_code(exc)
        if code in ("NoSuchKey", "404"):
            return Outcome("skipped", SkipReason.GONE)
        if code in _DENIED:
            raise _denied(exc, "reading the current version of", rec) from None
        raise
    own = _own_conversion(rec, head)
    if own is not None:
        return own
    if Provenance.of(head.get("Metadata")) is not None:
        return Outcome("skipped", SkipReason.ALREADY_CONVERTED, int(head.get("ContentLength", 0)))
    return Outcome("skipped", SkipReason.CHANGED, int(head.get("ContentLength", 0)))


def _written_by_us(s3: Any, rec: Recording, read_version: str, after: int) -> Outcome | None:
    """After a 412: was the current version written by this very conversion (a PutObject whose
    response was lost and that botocore sent again)? One HEAD, on this path only."""
    try:
        head = s3.head_object(Bucket=rec.bucket, Key=rec.key)
    except ClientError:
        return None
    provenance = Provenance.of(head.get("Metadata"))
    if provenance is None or not rec.run or provenance.run != rec.run:
        return None
    if provenance.original_version_id != read_version or int(head.get("ContentLength", -1)) != after:
        return None
    custody = custody_record(
        read_version, provenance.original_sha256, str(head.get("VersionId") or "null"), provenance.converted_sha256
    )
    return Outcome("converted", None, provenance.original_size, after, custody=custody)


def _check_scope(rec: Recording, settings: Settings) -> None:
    """Step 0: the message names an object under this optimizer's bucket and prefix."""
    if rec.bucket != settings.bucket or not rec.key.startswith(settings.bucket_prefix):
        raise PermanentFailure(
            f"s3://{rec.bucket}/{rec.key} is outside this optimizer's scope s3://{settings.bucket}/{settings.bucket_prefix}",
            FailureKind.OUTSIDE_SCOPE,
        )


def _bucket_state(s3: Any, rec: Recording, settings: Settings) -> trust.BucketState:
    """The bucket is still versioned (a write must keep the original as a noncurrent version) and
    whether it has Object Lock; an unversioned bucket is retried, a denial is permanent."""
    try:
        return trust.check_bucket(s3, rec.bucket, require_versioning=settings.require_versioning)
    except trust.BucketNotVersioned as exc:
        raise TransientFailure(str(exc)) from None
    except ClientError as exc:
        if _error_code(exc) in _DENIED:
            raise _denied(exc, "reading the versioning of", rec) from None
        raise


def _read_original(s3: Any, rec: Recording) -> dict[str, Any] | Outcome:
    """Step 1, read: the GetObject of the version that was listed (its ETag), its body not read
    yet; or the outcome when there is nothing to read (changed since listed, gone, archived)."""
    try:
        # Only the version that was listed (its ETag): a changed object is left to a later run.
        return s3.get_object(Bucket=rec.bucket, Key=rec.key, **({"IfMatch": rec.etag} if rec.etag else {}))
    except ClientError as exc:
        code = _error_code(exc)
        if code in ("PreconditionFailed", "412"):
            return _changed_since_listed(s3, rec)
        if code in ("NoSuchKey", "404"):
            return Outcome("skipped", SkipReason.GONE)
        if code == "InvalidObjectState":
            return Outcome("skipped", SkipReason.ARCHIVED)
        if code == "InvalidRequest" and "encrypt" in str(exc).lower():
            raise PermanentFailure(
                "the object is encrypted with a customer-provided key (SSE-C); it cannot be read", FailureKind.SSE_C
            ) from None
        if code in _DENIED:
            raise _denied(exc, "reading", rec) from None
        raise


@dataclass(frozen=True)
class _Planned:
    """A recording that needs converting: what its new version keeps (the GetObject's answer with
    its Object Lock state) and its tags."""

    original: Mapping[str, Any]
    tags: dict[str, str]


@dataclass(frozen=True)
class _Job:
    """One conversion's fixed inputs, handed from step to step."""

    rec: Recording
    s3: Any
    settings: Settings
    convert: Callable[[str, str, str], None] | None  # None: run_ffmpeg to the source's format
    target: TargetFormat  # the configured one (a mono source is written in its mono variant)


def _account_original(job: _Job, original: Mapping[str, Any], bucket_state: trust.BucketState) -> Outcome | _Planned:
    """Step 2, account: what the version read is, from its headers alone (its body is not read).
    The outcome of one that needs no conversion (changed size, archived, this run's own conversion,
    tagged converted); otherwise the plan, once the tag and metadata limits leave room for the new
    version (refused before anything is read or written)."""
    rec, s3, size = job.rec, job.s3, int(original.get("ContentLength", 0))
    if rec.etag and rec.size and size != rec.size:  # the same ETag, another size: not what was listed
        return Outcome("skipped", SkipReason.CHANGED, size)
    if bucket_state.object_lock:
        try:
            original = {**original, **trust.lock_state(s3, rec.bucket, rec.key, original)}
        except trust.LockHidden as exc:
            raise PermanentFailure(str(exc), FailureKind.ACCESS_DENIED) from None
    if original.get("StorageClass", "STANDARD") in ARCHIVE_CLASSES:
        return Outcome("skipped", SkipReason.ARCHIVED, size)
    own = _own_conversion(rec, original)
    if own is not None:
        return own  # the body is not read
    tags = _read_tags(s3, rec, original)
    if tags.get(CONVERTED_TAG[0]) == CONVERTED_TAG[1] and not job.settings.overwrite_converted:
        return Outcome("skipped", SkipReason.ALREADY_CONVERTED, size)
    merged_tags(tags)  # ten tags already: refused before anything is read
    _metadata_limit(rec, original)
    return _Planned(original, tags)


def convert_recording(
    rec: Recording,
    *,
    s3: Any,
    settings: Settings,
    workdir: str | None = None,
    convert: Callable[[str, str, str], None] | None = None,
    target: TargetFormat | None = None,
    begin_attempt: Callable[[], None] | None = None,
) -> Outcome:
    """Converts one recording in place, or says why not: read (GetObject), account (what the
    version is, from its headers), convert (download, ffmpeg), verify (format, length, audio),
    write (one conditional PutObject). Anything doubtful raises before the write.

    `begin_attempt` is called once the GetObject shows the recording needs converting, before
    its body is read: the converter counts its own attempts there (it may raise to stop).
    `target`: the format to write, by default the settings' (target_format)."""
    job = _Job(rec, s3, settings, convert, target or settings.target)
    _check_scope(rec, settings)
    bucket_state = _bucket_state(s3, rec, settings)
    original = _read_original(s3, rec)
    if isinstance(original, Outcome):
        return original
    body = original["Body"]
    try:
        planned = _account_original(job, original, bucket_state)
        if isinstance(planned, Outcome):
            return planned  # the body is not read: closed below
        return _attempt(job, planned, body, workdir or tempfile.gettempdir(), begin_attempt)
    except (ContentFailure, FfmpegKilled) as exc:
        exc.etag = original.get("ETag")  # the version read, remembered (or retried) by the converter
        raise
    except OSError as exc:  # ENOSPC, EIO...: the disk's or the runtime's, never the recording's
        space = " (no space left in /tmp)" if exc.errno == errno.ENOSPC else ""
        raise TransientFailure(f"{type(exc).__name__}{space}: {exc}") from exc
    finally:
        body.close()


def _attempt(job: _Job, planned: _Planned, body: Any, parent: str, begin_attempt: Callable[[], None] | None) -> Outcome:
    """One attempt, counted, in its own work folder under `parent`, removed afterwards. A full
    /tmp is found before the attempt is counted: it uses up no attempt."""
    size = int(planned.original.get("ContentLength", 0))
    check_free_space(parent, size, f"the recording ({size} bytes)")
    if begin_attempt is not None:
        begin_attempt()
    tmp = _work_folder(parent)
    try:
        return _convert_read(job, planned, body, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        with _active_lock:
            _active_work.discard(tmp)


@dataclass(frozen=True)
class _Source:
    """The original's bytes in /tmp: where, how many, their SHA-256, and what the WAV reader found."""

    path: str
    size: int
    sha256: str
    info: WavInfo
    target: TargetFormat  # what it is written in: the configured format for its channels


def _download_source(job: _Job, body: Any, tmp: str, size: int) -> _Source | Outcome:
    """Step 3a, convert: the body streamed to /tmp (its SHA-256 computed on the way) and read as a
    WAV; the outcome of one already in the target format for its channels (under alaw_stereo a
    mono A-law recording is: `overwrite_converted` converts it again, still mono). A short read is
    retried; bytes that are not a WAV we convert, or hold no audio, are the recording's (a content
    failure)."""
    src = os.path.join(tmp, "in.wav")
    written, sha256 = _download(body, src)
    if written != size:
        raise TransientFailure(f"read {written} of {size} bytes from S3")
    try:
        info = read_wav_info(src)
    except NotWav as exc:
        raise ContentFailure(str(exc), exc.kind) from None
    target = job.target.for_source(info.channels)  # never more channels than the source has
    if target.matches(info) and not job.settings.overwrite_converted:
        return Outcome("skipped", target.skip_reason, size)
    if info.frames == 0:
        raise ContentFailure("the recording has no audio frames", FailureKind.NO_AUDIO)
    return _Source(src, size, sha256, info, target)


def _convert_source(job: _Job, source: _Source, tmp: str) -> str:
    """Step 3b, convert: one ffmpeg pass into tmp's out.wav, once there is room for its output."""
    dst = os.path.join(tmp, "out.wav")
    check_free_space(tmp, projected_output_bytes(source.info, source.target), "ffmpeg's output")
    fix_placeholder_sizes(source.path, source.info)  # our local copy only: ffmpeg must stop where the audio does
    convert = job.convert or functools.partial(run_ffmpeg, target=source.target)
    convert(job.settings.ffmpeg_path, source.path, dst)
    return dst


def _verify_output(job: _Job, source: _Source, dst: str) -> dict[str, Any]:
    """Step 4, verify: the output is a complete WAV in the target format, as long as the source,
    and its audio matches the source's (audio.check_audio). Returns what the audio check measured,
    for the log; any doubt is a content failure, raised before anything is written."""
    try:
        output = read_wav_info(dst)
    except NotWav as exc:
        raise ContentFailure(f"verification failed: {exc}", FailureKind.VERIFICATION_FAILED) from None
    verify(source.info, output, target=source.target)
    try:
        measured = check_audio(source.path, source.info, dst, output, source.target)
    except AudioMismatch as exc:
        raise ContentFailure(f"verification failed: {exc}", exc.kind) from None
    partial = source.info.partial_bytes
    return {**measured.log_field(), **({"dropped_bytes": partial} if partial else {})}


def _convert_read(job: _Job, planned: _Planned, body: Any, tmp: str) -> Outcome:
    """Steps 3 to 5 on the body read: download, convert, verify, write."""
    size = int(planned.original.get("ContentLength", 0))
    source = _download_source(job, body, tmp, size)
    if isinstance(source, Outcome):
        return source
    dst = _convert_source(job, source, tmp)
    audio = _verify_output(job, source, dst)
    return _write(job, planned, source, dst, audio)


def _write(job: _Job, planned: _Planned, source: _Source, dst: str, audio: dict[str, Any]) -> Outcome:
    """Step 5, write: the verified output as the new version, with the original's headers, tags,
    Object Lock and provenance, on the condition that the original is still current (If-Match)."""
    rec, read_version = job.rec, str(planned.original.get("VersionId") or "null")
    # The converted bytes' digest, from the local file (no request); the original's was computed
    # while its body streamed to /tmp (_download).
    provenance = Provenance(rec.run, read_version, source.size, source.sha256, file_sha256(dst))
    args = put_arguments(
        planned.original,
        planned.tags,
        storage_class=job.settings.target_class,
        provenance=provenance,
        target=source.target,
    )
    after = os.path.getsize(dst)
    carried = "ObjectLockRetainUntilDate" in args
    with open(dst, "rb") as f:
        try:
            written_version = job.s3.put_object(Bucket=rec.bucket, Key=rec.key, Body=f, **args).get("VersionId")
        except ClientError as exc:
            ours = _refused_write(job, exc, read_version, after)
            return dataclasses.replace(ours, audio=audio, retain_until_carried=carried)
    custody = custody_record(read_version, source.sha256, str(written_version or "null"), provenance.converted_sha256)
    return Outcome("converted", None, source.size, after, audio=audio, retain_until_carried=carried, custody=custody)


def _refused_write(job: _Job, exc: ClientError, read_version: str, after: int) -> Outcome:
    """A PutObject S3 refused: this conversion's own write when a 412 answers botocore's resend of
    it (its outcome returned); otherwise raised as the failure it is (changed since read: retried;
    denied; a request S3 refuses: permanent; anything else as botocore raised it)."""
    rec, code = job.rec, _error_code(exc)
    if code in _PRECONDITION_CODES:
        ours = _written_by_us(job.s3, rec, read_version, after)
        if ours is not None:  # our own write, answered 412 when botocore sent it again
            return ours
        raise TransientFailure("the object changed after it was read; not overwritten, retried later") from None
    if code in _DENIED:
        raise _denied(exc, "writing", rec) from None
    if code in ("InvalidArgument", "MetadataTooLarge"):  # S3 refused what we asked for: retrying asks again
        message = exc.response.get("Error", {}).get("Message", "")
        raise PermanentFailure(
            f"S3 refused the new version of s3://{rec.bucket}/{rec.key}: {message}",
            FailureKind.METADATA_LIMIT if code == "MetadataTooLarge" else FailureKind.S3_REFUSED,
        ) from None
    raise exc
