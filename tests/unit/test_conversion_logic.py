"""The converter's decisions before it writes: the ffmpeg command, verification of the output, the
tags and headers of the new version, and the dead-letter message."""

from __future__ import annotations

import datetime as dt
import json
import math
import struct
import subprocess
import wave
from urllib.parse import parse_qsl

import pytest

from optimizer.conversion import (
    PermanentFailure,
    ffmpeg_command,
    merged_tags,
    put_arguments,
    run_ffmpeg,
    verify,
)
from optimizer.formats import ALAW_8K_MONO
from optimizer.messages import Recording
from optimizer.outcomes import dead_letter_body
from optimizer.wav import ALAW, MULAW, PCM, WavInfo, read_wav_info

# --- ffmpeg command ---------------------------------------------------------------------------


def value_after(cmd: list[str], flag: str) -> str:
    assert cmd.count(flag) == 1, f"{flag} appears {cmd.count(flag)} times"
    return cmd[cmd.index(flag) + 1]


@pytest.mark.parametrize(
    "src, dst", [("/tmp/in.wav", "/tmp/out.wav"), ("/tmp/a dir/in put.wav", "/tmp/a dir/out put.wav")]
)
def test_ffmpeg_command_is_one_pass_to_alaw_mono_8k(src, dst):
    cmd = ffmpeg_command("/opt/bin/ffmpeg", src, dst)
    assert cmd[0] == "/opt/bin/ffmpeg"
    assert value_after(cmd, "-i") == src  # exactly one input
    assert value_after(cmd, "-ac") == "1"
    assert value_after(cmd, "-ar") == "8000"
    assert value_after(cmd, "-c:a") == "pcm_alaw"
    assert cmd[cmd.index("-i") - 2 : cmd.index("-i")] == ["-f", "wav"]  # the input is read as a WAV, no probing
    assert value_after(cmd, "-protocol_whitelist") == "file"  # nothing but the local file is opened
    assert cmd.index("-protocol_whitelist") < cmd.index("-i")  # an input option: before -i
    assert cmd[-3:-1] == ["-f", "wav"]  # and written as one
    assert cmd[-1] == dst and cmd.count(dst) == 1
    assert cmd.index("-i") < cmd.index("-c:a") < len(cmd) - 1  # output options come after the input
    assert "-nostdin" in cmd  # never waits on a terminal


# --- verify -----------------------------------------------------------------------------------


def pcm(frames: int, rate: int = 44100, channels: int = 2) -> WavInfo:
    align = channels * 2
    return WavInfo(PCM, channels, rate, align, 16, 44, frames * align, frames * align)


def alaw(frames: int, *, tag=ALAW, channels=1, rate=8000, bits=8, declared: int | None = None) -> WavInfo:
    align = channels * ((bits + 7) // 8)
    data = frames * align
    return WavInfo(tag, channels, rate, align, bits, 46, data, data if declared is None else declared)


ONE_SECOND_44K = pcm(44100)


@pytest.mark.parametrize(
    "source, output",
    [
        (ONE_SECOND_44K, alaw(8000)),
        (pcm(8000, rate=8000, channels=1), alaw(8000)),
        (pcm(48000 * 3600, rate=48000), alaw(8000 * 3600)),  # an hour
        (ONE_SECOND_44K, alaw(8000 + 40)),  # 5 ms longer
        (ONE_SECOND_44K, alaw(8000 - 40)),
        (ONE_SECOND_44K, alaw(8000 + 80)),  # exactly 10 ms: the tolerance is inclusive
        (ONE_SECOND_44K, alaw(8000 - 80)),
        (pcm(44100 + 441), alaw(8000)),  # input 10 ms longer
        (pcm(48000 * 3600, rate=48000), alaw(8000 * 3600 + 80)),
        (pcm(16000 * 7, rate=16000, channels=1), alaw(8000 * 7 - 80)),
    ],
)
def test_verify_accepts_a_matching_output(source, output):
    verify(source, output)  # raises on refusal
    assert abs(output.duration - source.duration) <= 0.010 + 1e-9


@pytest.mark.parametrize(
    "output, problem",
    [
        (alaw(8000, tag=MULAW), "mu-law"),
        (alaw(8000, tag=PCM, bits=16), "PCM"),
        (alaw(8000, tag=PCM, bits=8), "PCM"),
        (alaw(16000, rate=16000), "16000 Hz"),
        (alaw(8000, rate=11025), "11025 Hz"),
        (alaw(8000, channels=2), "2 ch"),
        (alaw(8000, declared=8000 * 2), "8000 of 16000"),
        (alaw(0), "no audio frames"),
        (alaw(8000 + 81), "differs by"),  # 10.125 ms longer
        (alaw(8000 - 81), "differs by"),
        (alaw(4000), "differs by"),  # half the recording is missing
        (alaw(16000), "differs by"),
    ],
)
def test_verify_refuses(output, problem):
    with pytest.raises(PermanentFailure) as err:
        verify(ONE_SECOND_44K, output)
    assert "verification failed" in str(err.value)
    assert problem in str(err.value)


def test_verify_refuses_zero_frames_even_from_an_empty_source():
    with pytest.raises(PermanentFailure, match="no audio frames"):
        verify(pcm(0), alaw(0))


@pytest.mark.parametrize(
    "tolerance, extra_frames, accepted", [(0.0, 0, True), (0.0, 1, False), (0.05, 400, True), (0.05, 401, False)]
)
def test_verify_tolerance_is_a_parameter(tolerance, extra_frames, accepted):
    output = alaw(8000 + extra_frames)
    if accepted:
        verify(pcm(8000, rate=8000), output, tolerance=tolerance)
    else:
        with pytest.raises(PermanentFailure):
            verify(pcm(8000, rate=8000), output, tolerance=tolerance)


# --- tags -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "existing, expected",
    [
        ({}, {"converted": "True"}),
        ({"team": "sales"}, {"team": "sales", "converted": "True"}),
        ({"converted": "False", "x": "1"}, {"converted": "True", "x": "1"}),
        ({"converted": "True"}, {"converted": "True"}),
        ({f"k{i}": str(i) for i in range(9)}, {**{f"k{i}": str(i) for i in range(9)}, "converted": "True"}),
        # Overwriting a converted object that already has the 10 tags S3 allows.
        (
            {**{f"k{i}": str(i) for i in range(9)}, "converted": "True"},
            {**{f"k{i}": str(i) for i in range(9)}, "converted": "True"},
        ),
    ],
)
def test_merged_tags_adds_converted_and_keeps_the_others(existing, expected):
    before = dict(existing)
    assert merged_tags(existing) == expected
    assert existing == before  # not modified


def test_an_eleventh_tag_is_refused():
    existing = {f"k{i}": str(i) for i in range(10)}
    with pytest.raises(PermanentFailure) as err:
        merged_tags(existing)
    assert "10" in str(err.value) and "converted" in str(err.value)


# --- the new version's headers ----------------------------------------------------------------

KMS_KEY = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
RETAIN = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)


def get_object_response(**overrides):
    response = {
        "ETag": '"0123456789abcdef0123456789abcdef"',
        "ContentLength": 123456,
        "LastModified": dt.datetime(2022, 1, 31, tzinfo=dt.UTC),
        "VersionId": "v1",
        "ContentType": "audio/x-wav",
        "Metadata": {"contact-id": "c-1", "agent": "Zoë"},
        "StorageClass": "STANDARD",
        "TagCount": 1,
    }
    response.update(overrides)
    return {k: v for k, v in response.items() if v is not ...}


def test_put_arguments_keep_what_describes_the_object():
    original = get_object_response(
        CacheControl="max-age=60",
        ContentDisposition='attachment; filename="call.wav"',
        ContentLanguage="en-US",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=RETAIN,
        ObjectLockLegalHoldStatus="ON",
    )
    args = put_arguments(original, {"team": "sales"}, storage_class="GLACIER_IR")
    assert args["IfMatch"] == original["ETag"]
    assert args["StorageClass"] == "GLACIER_IR"
    assert args["Metadata"] == original["Metadata"]
    assert args["ContentType"] == "audio/x-wav"
    assert args["CacheControl"] == "max-age=60"
    assert args["ContentDisposition"] == 'attachment; filename="call.wav"'
    assert args["ContentLanguage"] == "en-US"
    assert args["ObjectLockMode"] == "GOVERNANCE"
    assert args["ObjectLockRetainUntilDate"] == RETAIN
    assert args["ObjectLockLegalHoldStatus"] == "ON"
    assert dict(parse_qsl(args["Tagging"])) == {"team": "sales", "converted": "True"}
    # Properties of the old bytes must not be claimed for the new ones.
    for stale in ("ContentLength", "ETag", "LastModified", "VersionId", "Body", "TagCount"):
        assert stale not in args
    assert "ServerSideEncryption" not in args


def test_an_expired_retention_is_not_copied_but_the_legal_hold_is():
    """S3 refuses a PutObject whose retain-until date has passed (400 InvalidArgument)."""
    now = dt.datetime(2031, 6, 1, tzinfo=dt.UTC)
    original = get_object_response(
        ObjectLockMode="COMPLIANCE", ObjectLockRetainUntilDate=RETAIN, ObjectLockLegalHoldStatus="ON"
    )
    args = put_arguments(original, {}, storage_class="GLACIER_IR", now=now)
    assert "ObjectLockRetainUntilDate" not in args and "ObjectLockMode" not in args
    assert args["ObjectLockLegalHoldStatus"] == "ON"
    kept = put_arguments(original, {}, storage_class="GLACIER_IR", now=RETAIN - dt.timedelta(seconds=1))
    assert (kept["ObjectLockMode"], kept["ObjectLockRetainUntilDate"]) == ("COMPLIANCE", RETAIN)


def test_put_arguments_metadata_is_a_copy():
    original = get_object_response()
    args = put_arguments(original, {}, storage_class="STANDARD")
    args["Metadata"]["new"] = "x"
    assert "new" not in original["Metadata"]


@pytest.mark.parametrize("content_type", [..., None])
def test_content_type_defaults_to_audio_wav(content_type):
    args = put_arguments(get_object_response(ContentType=content_type), {}, storage_class="GLACIER_IR")
    assert args["ContentType"] == "audio/wav"


@pytest.mark.parametrize("metadata", [..., None, {}])
def test_no_metadata_gives_empty_metadata(metadata):
    assert put_arguments(get_object_response(Metadata=metadata), {}, storage_class="GLACIER_IR")["Metadata"] == {}


@pytest.mark.parametrize(
    "sse, expected",
    [
        ({}, {}),
        ({"ServerSideEncryption": "AES256"}, {"ServerSideEncryption": "AES256"}),
        (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KMS_KEY, "BucketKeyEnabled": True},
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KMS_KEY, "BucketKeyEnabled": True},
        ),
        (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KMS_KEY, "BucketKeyEnabled": False},
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KMS_KEY},
        ),
        (
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KMS_KEY},
            {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": KMS_KEY},
        ),
        (
            {"ServerSideEncryption": "aws:kms:dsse", "SSEKMSKeyId": KMS_KEY},
            {"ServerSideEncryption": "aws:kms:dsse", "SSEKMSKeyId": KMS_KEY},
        ),
    ],
    ids=["none", "sse-s3", "kms-bucket-key", "kms-bucket-key-off", "kms", "dsse-kms"],
)
def test_encryption_is_kept(sse, expected):
    args = put_arguments(get_object_response(**sse), {}, storage_class="GLACIER_IR")
    got = {k: args[k] for k in ("ServerSideEncryption", "SSEKMSKeyId", "BucketKeyEnabled") if args.get(k)}
    assert got == expected


@pytest.mark.parametrize(
    "tags",
    [
        {"team": "a&b=c"},
        {"note": "hello world", "path": "a/b:c@d"},
        {"ünïcødé": "çødé ✓ 日本", "plus": "1+1", "percent": "100%", "eq": "=", "amp": "&"},
        {"empty": "", "hash": "#1", "q": "?x=y"},
        {"key with spaces": "value + more", "tilde~": "_-."},
    ],
)
def test_tagging_is_url_encoded_and_survives(tags):
    args = put_arguments(get_object_response(), tags, storage_class="GLACIER_IR")
    tagging = args["Tagging"]
    pairs = parse_qsl(tagging, keep_blank_values=True, strict_parsing=True)
    assert len(pairs) == len(tags) + 1  # one pair per tag, none split by '&' or '='
    assert dict(pairs) == {**tags, "converted": "True"}
    assert tagging.isascii() and " " not in tagging  # a valid header value


def test_put_arguments_refuse_an_eleventh_tag():
    with pytest.raises(PermanentFailure):
        put_arguments(get_object_response(), {f"k{i}": "v" for i in range(10)}, storage_class="GLACIER_IR")


# --- real ffmpeg ------------------------------------------------------------------------------


def ffmpeg_last_error_line(ffmpeg: str, src, dst) -> str:
    proc = subprocess.run(ffmpeg_command(ffmpeg, str(src), str(dst)), capture_output=True, text=True)
    assert proc.returncode != 0
    return proc.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "content",
    [b"this is not audio\n" * 20, b"", b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\xff" * 16],
    ids=["text", "empty", "broken-riff"],
)
def test_run_ffmpeg_on_a_corrupt_input_is_a_permanent_failure_with_ffmpegs_message(ffmpeg, tmp_path, content):
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    src.write_bytes(content)
    expected_detail = ffmpeg_last_error_line(ffmpeg, src, tmp_path / "probe.wav")
    with pytest.raises(PermanentFailure) as err:
        run_ffmpeg(ffmpeg, str(src), str(dst))
    message = str(err.value)
    assert "ffmpeg" in message
    assert expected_detail[:300] in message


def test_run_ffmpeg_output_verifies_against_its_input(ffmpeg, tmp_path):
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    rate, seconds = 44100, 1.5
    frames = int(rate * seconds)
    with wave.open(str(src), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(
            b"".join(struct.pack("<hh", int(8000 * math.sin(2 * math.pi * 440 * i / rate)), 0) for i in range(frames))
        )
    run_ffmpeg(ffmpeg, str(src), str(dst))
    source, output = read_wav_info(src), read_wav_info(dst)
    assert ALAW_8K_MONO.matches(output) and output.complete
    assert abs(output.frames - 8000 * seconds) <= 80  # within the 10 ms tolerance
    verify(source, output)


# --- dead letters -----------------------------------------------------------------------------


def test_dead_letter_body_keeps_the_message_and_adds_the_reason():
    rec = Recording("bkt", "p/2022/01/31/a+b %2B ✓\x01.wav", '"etag"', 42)
    original = rec.to_body()
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    body = dead_letter_body(original, "verification failed: output lasts 0.5 s")
    after = dt.datetime.now(dt.UTC)
    data = json.loads(body)
    for field, value in json.loads(original).items():
        assert data[field] == value
    assert data["failure"]["reason"] == "verification failed: output lasts 0.5 s"
    at = dt.datetime.fromisoformat(data["failure"]["at"])
    assert at.utcoffset() == dt.timedelta(0)
    assert before <= at <= after
    # Redriving the dead letter to the work queue still gives the same recording.
    assert Recording.from_body(body) == rec


@pytest.mark.parametrize("raw", ["not json {", "", "[1, 2]", '"just a string"', "42", "null"])
def test_dead_letter_body_keeps_an_unreadable_body_as_raw_body(raw):
    data = json.loads(dead_letter_body(raw, "message body is not a recording message"))
    assert data["raw_body"] == raw
    assert data["failure"]["reason"] == "message body is not a recording message"
    assert set(data) == {"raw_body", "failure"}


def test_dead_letter_reason_with_unicode_survives():
    reason = "ffmpeg could not convert the audio: Données invalides ✗"
    assert json.loads(dead_letter_body("{}", reason))["failure"]["reason"] == reason
