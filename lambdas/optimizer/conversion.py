"""Converting one recording in place, under the safety contract.

Read -> convert with one ffmpeg pass -> verify -> one conditional PutObject. Anything doubtful
raises before the write, so the original is never modified by a failed conversion.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from urllib.parse import quote, urlencode

from botocore.exceptions import ClientError

from .audio import AudioMismatch, check_audio
from .aws import DENIED_CODES as _DENIED  # a missing key answers 404: the roles hold s3:ListBucket
from .formats import TARGET, TargetFormat
from .keys import ARCHIVE_CLASSES
from .messages import Recording
from .provenance import Provenance
from .settings import Settings
from .wav import NotWav, WavInfo, fix_placeholder_sizes, read_wav_info

CONVERTED_TAG = ("converted", "True")  # the article's tag, exactly
MAX_TAGS = 10  # S3's limit per object
DURATION_TOLERANCE_S = 0.010
# Headers of the original that describe how it is served; they are kept on the new version.
_KEPT_HEADERS = ("CacheControl", "ContentDisposition", "ContentLanguage")
_LOCK_HEADERS = ("ObjectLockMode", "ObjectLockRetainUntilDate", "ObjectLockLegalHoldStatus")
_CHUNK = 1024 * 1024
_VERIFY = "verification_failed"


class PermanentFailure(Exception):
    """Retrying cannot help (bad audio, failed verification): goes to the DLQ with this reason.
    `kind` names the class of failure in the run's summary (failed_by_kind)."""

    def __init__(self, reason: str, kind: str = "other") -> None:
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
    """Worth retrying later (object changed under us, throttling, time running out)."""


@dataclass(frozen=True)
class Outcome:
    outcome: str  # converted | skipped | failed
    reason: str | None
    bytes_before: int = 0
    bytes_after: int = 0
    kind: str | None = None  # of a failure: PermanentFailure.kind
    audio: Mapping[str, Any] | None = None  # what the audio check measured (AudioCheck.log_field)


def ffmpeg_command(ffmpeg: str, src: str, dst: str, target: TargetFormat = TARGET) -> list[str]:
    """One pass: first audio stream, downmixed and resampled to the target format, in a plain WAV."""
    return [
        ffmpeg,
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
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


def run_ffmpeg(ffmpeg: str, src: str, dst: str, target: TargetFormat = TARGET) -> None:
    proc = subprocess.run(ffmpeg_command(ffmpeg, src, dst, target), capture_output=True, text=True, errors="replace")
    if proc.returncode != 0:
        detail = (proc.stderr.strip().splitlines() or ["no message"])[-1][:300]
        raise ContentFailure(f"ffmpeg could not convert the audio (exit {proc.returncode}): {detail}", "ffmpeg_failed")


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
    tags = dict(existing)
    tags[CONVERTED_TAG[0]] = CONVERTED_TAG[1]
    if len(tags) > MAX_TAGS:
        raise PermanentFailure(
            f"the object already has {len(existing)} tags; S3 allows {MAX_TAGS}, so converted=True cannot be added",
            "tag_limit",
        )
    return tags


def put_arguments(
    original: Mapping[str, Any],
    tags: Mapping[str, str],
    *,
    storage_class: str,
    now: dt.datetime | None = None,
    target: TargetFormat = TARGET,
    provenance: Provenance | None = None,
) -> dict[str, Any]:
    """Everything the new version keeps from the original, plus the condition on its ETag.

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
        "access_denied",
    )


def _read_tags(s3: Any, rec: Recording, original: Mapping[str, Any]) -> dict[str, str]:
    if not original.get("TagCount"):
        return {}  # the GET told us there are none: no tagging request
    tag_set = s3.get_object_tagging(Bucket=rec.bucket, Key=rec.key)["TagSet"]
    return {t["Key"]: t["Value"] for t in tag_set}


def convert_recording(
    rec: Recording,
    *,
    s3: Any,
    settings: Settings,
    workdir: str | None = None,
    convert: Callable[[str, str, str], None] | None = None,
    target: TargetFormat = TARGET,
) -> Outcome:
    convert = convert or functools.partial(run_ffmpeg, target=target)
    if rec.bucket != settings.bucket or not rec.key.startswith(settings.bucket_prefix):
        raise PermanentFailure(
            f"s3://{rec.bucket}/{rec.key} is outside this optimizer's scope s3://{settings.bucket}/{settings.bucket_prefix}",
            "outside_scope",
        )
    try:
        original = s3.get_object(Bucket=rec.bucket, Key=rec.key)
    except ClientError as exc:
        code = _error_code(exc)
        if code in ("NoSuchKey", "404"):
            return Outcome("skipped", "gone")
        if code == "InvalidObjectState":
            return Outcome("skipped", "archived")
        if code == "InvalidRequest" and "encrypt" in str(exc).lower():
            raise PermanentFailure(
                "the object is encrypted with a customer-provided key (SSE-C); it cannot be read", "sse_c"
            ) from None
        if code in _DENIED:
            raise _denied(exc, "reading", rec) from None
        raise
    body = original["Body"]
    size = int(original.get("ContentLength", 0))
    try:
        storage_class = original.get("StorageClass", "STANDARD")
        if storage_class in ARCHIVE_CLASSES:
            return Outcome("skipped", "archived", size)
        tags = _read_tags(s3, rec, original)
        if tags.get(CONVERTED_TAG[0]) == CONVERTED_TAG[1] and not settings.overwrite_converted:
            return Outcome("skipped", "already_converted", size)
        with tempfile.TemporaryDirectory(dir=workdir, prefix="convert-") as tmp:
            src, dst = os.path.join(tmp, "in.wav"), os.path.join(tmp, "out.wav")
            with open(src, "wb") as f:
                shutil.copyfileobj(body, f, _CHUNK)
            if os.path.getsize(src) != size:
                raise TransientFailure(f"read {os.path.getsize(src)} of {size} bytes from S3")
            try:
                source = read_wav_info(src)
            except NotWav as exc:
                raise ContentFailure(str(exc), exc.kind) from None
            if target.matches(source) and not settings.overwrite_converted:
                return Outcome("skipped", target.skip_reason, size)
            if source.frames == 0:
                raise ContentFailure("the recording has no audio frames", "no_audio")
            fix_placeholder_sizes(src, source)  # our local copy only: ffmpeg must stop where the audio does
            convert(settings.ffmpeg_path, src, dst)
            try:
                output = read_wav_info(dst)
            except NotWav as exc:
                raise ContentFailure(f"verification failed: {exc}", "verification_failed") from None
            verify(source, output, target=target)
            try:
                measured = check_audio(src, source, dst, output, target)
            except AudioMismatch as exc:
                raise ContentFailure(f"verification failed: {exc}", exc.kind) from None
            # Stand-in until the converter computes the digest while reading (issue 16, conv).
            provenance = Provenance(
                run=rec.run, original_version_id=original.get("VersionId", ""), original_size=size, original_sha256=""
            )
            args = put_arguments(
                original, tags, storage_class=settings.target_class, target=target, provenance=provenance
            )
            after = os.path.getsize(dst)
            with open(dst, "rb") as f:
                try:
                    s3.put_object(Bucket=rec.bucket, Key=rec.key, Body=f, **args)
                except ClientError as exc:
                    code = _error_code(exc)
                    if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                        raise TransientFailure(
                            "the object changed after it was read; not overwritten, retried later"
                        ) from None
                    if code in _DENIED:
                        raise _denied(exc, "writing", rec) from None
                    if code == "InvalidArgument":  # S3 refused what we asked for: retrying asks again
                        message = exc.response.get("Error", {}).get("Message", "")
                        raise PermanentFailure(
                            f"S3 refused the new version of s3://{rec.bucket}/{rec.key}: {message}", "s3_refused"
                        ) from None
                    raise
            return Outcome("converted", None, size, after, audio=measured.log_field())
    except ContentFailure as exc:
        exc.etag = original.get("ETag")
        raise
    finally:
        body.close()
