"""The truth of the recordings already in the target format (emulator/truth_formats.py): the fmt
chunk read from a version's first bytes, and a summary held to it in check_runs."""

from __future__ import annotations

import struct

import pytest

from emulator.truth import check_runs
from emulator.truth_formats import fmt_of, in_format
from optimizer.formats import TARGET
from optimizer.wav import ALAW
from tests.unit.test_truth import NOTES, converted, run_of, summary, upload


def wav_head(tag: int, channels: int, rate: int, bits: int, *, before_fmt: bytes = b"") -> bytes:
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    return b"RIFF" + struct.pack("<I", 1000) + b"WAVE" + before_fmt + b"fmt " + struct.pack("<I", len(fmt)) + fmt


def test_the_fmt_chunk_is_found_after_other_chunks():
    junk = b"JUNK" + struct.pack("<I", 3) + b"abc\x00"  # odd size: padded to even
    assert fmt_of(wav_head(ALAW, 1, 8000, 8, before_fmt=junk)) == (ALAW, 1, 8000, 8)
    assert in_format(wav_head(ALAW, 1, 8000, 8), TARGET)


def test_connect_pcm_stereo_an_other_rate_and_not_a_wav_are_not_in_the_target_format():
    assert not in_format(wav_head(1, 2, 8000, 16), TARGET)
    assert not in_format(wav_head(ALAW, 1, 16000, 8), TARGET)
    assert not in_format(wav_head(ALAW, 2, 8000, 8), TARGET)
    assert fmt_of(b"ID3\x03 not a wav at all") is None
    assert fmt_of(b"RIFF\x00\x00\x00\x00WAVEdata") is None  # no fmt chunk in the bytes read
    # Audio before its format: the converter's reader refuses it, so it is in no format here either.
    data_first = b"data" + struct.pack("<I", 2) + b"\x00\x00"
    assert fmt_of(wav_head(ALAW, 1, 8000, 8, before_fmt=data_first)) is None


def test_under_alaw_stereo_a_mono_and_a_stereo_alaw_are_in_it_as_the_converter_judges():
    """The converter keeps a mono source mono (TargetFormat.for_source): under alaw_stereo a mono
    A-law recording is skipped already_alaw, so the truth check counts it in the target format."""
    from optimizer.formats import ALAW_8K_STEREO

    assert in_format(wav_head(ALAW, 1, 8000, 8), ALAW_8K_STEREO)
    assert in_format(wav_head(ALAW, 2, 8000, 8), ALAW_8K_STEREO)
    assert not in_format(wav_head(1, 2, 8000, 16), ALAW_8K_STEREO)
    assert not in_format(wav_head(ALAW, 3, 8000, 8), ALAW_8K_STEREO)


ALAW_UPLOAD = upload("alaw.wav", 16_000)
PCM = upload("pcm.wav", 64_000)
IN_FORMAT = {ALAW_UPLOAD.key}


def check(output, *, pcm_converted: bool = True):
    run = run_of("r1", output)
    listed = [ALAW_UPLOAD.key, PCM.key, NOTES.key]
    versions = [ALAW_UPLOAD, PCM, NOTES, *([converted(PCM, "r1", 16_058)] if pcm_converted else [])]
    (checked,) = check_runs([run], versions, [], listed, lambda v: v.key in IN_FORMAT and v.provenance is None)
    return checked


@pytest.mark.parametrize("reason, enqueued", [("already_alaw", 2), ("known_target_format", 1)])
def test_a_summary_that_skips_what_s3_holds_in_the_format_agrees(reason, enqueued):
    counts = {"listed": 3, "skipped_not_audio": 1, "enqueued": enqueued, "converted": 1, f"skipped_{reason}": 1}
    output = summary(bytes_before=64_000, bytes_after=16_058, **counts)
    checked = check(output)
    assert checked.truth.in_target_format == 1 and checked.differences == []


def test_a_recording_skipped_as_in_the_format_that_is_not_is_a_difference():
    # The lister skipped the PCM recording by a wrong memory: it would never be converted.
    output = summary(listed=3, skipped_not_audio=1, enqueued=0, skipped_known_target_format=2, skipped_already_alaw=0)
    checked = check(output, pcm_converted=False)
    assert checked.differences == [
        "skipped in the target format: the summary says 2 known_target_format + 0 already_alaw, but S3 holds 1 "
        "listed original(s) in it (their fmt chunks); a recording skipped for a format it is not in is never converted"
    ]
