"""The byte accounting (issue 9, rule 1): every byte of a recording is audio, a chunk, or a reason
to refuse it. Crafted headers for each rule, then the whole corpus of tests/wav_corpus.py."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

import pytest

from optimizer.wav import TAIL_WINDOW, NotWav, fix_placeholder_sizes, read_wav_info
from tests.wav_corpus import CASES, LIST_INFO, build, chunk, fmt_chunk, riff

FMT = fmt_chunk(1, 2, 8000, 16)  # PCM 16-bit stereo: 4-byte frames
# 16,000 bytes = 4,000 frames, none of them printable ASCII: no chunk id can hide in it.
AUDIO = bytes(0x80 | (i * 37 % 128) for i in range(16_000))


def header(riff_size: int, data_size: int, *before: bytes) -> bytes:
    return (
        b"RIFF"
        + struct.pack("<I", riff_size)
        + b"WAVE"
        + FMT
        + b"".join(before)
        + b"data"
        + struct.pack("<I", data_size)
    )


def info_of(tmp_path: Path, raw: bytes):
    path = tmp_path / "f.wav"
    path.write_bytes(raw)
    return read_wav_info(path)


def refused(tmp_path: Path, raw: bytes) -> str:
    with pytest.raises(NotWav) as err:
        info_of(tmp_path, raw)
    return str(err.value)


# --- placeholders are not contradictions ------------------------------------------------------


@pytest.mark.parametrize(
    "riff_size, data_size",
    [
        (0xFFFFFFFF, 0xFFFFFFFF),
        (0x7FFFF024, 0x7FFFF000),
        (0, 0),
        (len(FMT) + 12 + len(AUDIO), 0xFFFFFFFF),
        (0xFFFFFFFF, len(AUDIO)),
    ],
    ids=["ffmpeg-pipe", "sox-pipe", "zeros", "real-riff-placeholder-data", "placeholder-riff-real-data"],
)
def test_placeholder_sizes_mean_the_audio_runs_to_the_end(tmp_path, riff_size, data_size):
    info = info_of(tmp_path, header(riff_size, data_size) + AUDIO)
    assert (info.data_bytes, info.frames, info.audio_ends_early) == (len(AUDIO), 4000, False)


def test_placeholder_then_trailing_chunks_stops_the_audio_before_them(tmp_path):
    raw = header(0xFFFFFFFF, 0xFFFFFFFF) + AUDIO + LIST_INFO + chunk(b"id3 ", b"ID3\x04" + b"\x00" * 20)
    info = info_of(tmp_path, raw)
    assert (info.data_bytes, info.audio_ends_early) == (len(AUDIO), True)


def test_trailing_chunk_larger_than_the_tail_window_is_read_as_audio(tmp_path):
    """The documented limit: the search for trailing chunks looks at the last TAIL_WINDOW bytes."""
    big = chunk(b"LIST", b"INFO" + b"\x01" * TAIL_WINDOW)
    info = info_of(tmp_path, header(0xFFFFFFFF, 0xFFFFFFFF) + AUDIO + big)
    assert info.data_bytes == len(AUDIO) + len(big)


def test_fix_placeholder_sizes_makes_ffmpeg_stop_where_the_audio_does(tmp_path, ffmpeg):
    path = tmp_path / "f.wav"
    path.write_bytes(header(0xFFFFFFFF, 0xFFFFFFFF) + AUDIO + LIST_INFO)

    def decoded() -> bytes:
        cmd = [ffmpeg, "-v", "error", "-i", str(path), "-f", "s16le", "-"]
        return subprocess.run(cmd, capture_output=True, check=True).stdout

    assert len(decoded()) > len(AUDIO)  # as it is, ffmpeg decodes the LIST chunk as audio
    fix_placeholder_sizes(path, read_wav_info(path))
    assert decoded() == AUDIO
    assert read_wav_info(path).data_bytes == len(AUDIO)


def test_fix_placeholder_sizes_leaves_a_file_without_trailing_chunks_alone(tmp_path):
    raw = header(0xFFFFFFFF, 0xFFFFFFFF) + AUDIO
    path = tmp_path / "f.wav"
    path.write_bytes(raw)
    fix_placeholder_sizes(path, read_wav_info(path))
    assert path.read_bytes() == raw


# --- accepted structures ----------------------------------------------------------------------


def test_chunks_before_and_after_the_data_are_accepted(tmp_path):
    raw = riff(
        FMT + LIST_INFO + chunk(b"fact", b"\x00" * 4) + chunk(b"data", AUDIO) + LIST_INFO + chunk(b"JUNK", b"\x00" * 9)
    )
    assert info_of(tmp_path, raw).data_bytes == len(AUDIO)


@pytest.mark.parametrize("pad", [True, False], ids=["pad-byte", "pad-missing-at-end"])
def test_odd_data_size_with_or_without_its_final_pad_byte(tmp_path, pad):
    mono8 = fmt_chunk(1, 1, 8000, 8)
    raw = riff(mono8 + chunk(b"data", b"\x80" * 801, pad=pad))
    assert info_of(tmp_path, raw).frames == 801


@pytest.mark.parametrize("delta", [-1, 1])
def test_riff_size_off_by_a_pad_byte_is_accepted(tmp_path, delta):
    raw = riff(FMT + chunk(b"data", AUDIO))
    raw = raw[:4] + struct.pack("<I", len(raw) - 8 + delta) + raw[8:]
    assert info_of(tmp_path, raw).data_bytes == len(AUDIO)


def test_data_size_zero_then_only_chunks_is_an_empty_recording(tmp_path):
    raw = riff(FMT + chunk(b"data", b"") + LIST_INFO)
    info = info_of(tmp_path, raw)
    assert info.frames == 0  # the converter refuses it as "no audio frames", not 126 ms of noise


# --- refusals, each with the numbers ----------------------------------------------------------


def test_audio_past_a_stale_data_size_is_refused_with_the_numbers(tmp_path):
    raw = riff(FMT + chunk(b"data", AUDIO, declared=8000))
    reason = refused(tmp_path, raw)
    assert "8000 bytes at byte 8044" in reason and "declared 8000 bytes (0.250 s)" in reason
    assert "audio past a stale data size" in reason and "0.250 s more" in reason


def test_stale_riff_and_data_sizes_after_a_crash_are_refused(tmp_path):
    raw = header(4 + len(FMT) + 8 + 8000, 8000) + AUDIO
    assert "audio past a stale data size" in refused(tmp_path, raw)


def test_two_data_chunks_are_refused(tmp_path):
    raw = riff(FMT + chunk(b"data", AUDIO[:8000]) + chunk(b"data", AUDIO[8000:]))
    assert "more than one data chunk" in refused(tmp_path, raw)


def test_data_size_beyond_the_object_is_a_truncated_recording(tmp_path):
    raw = header(4 + len(FMT) + 8 + 32000, 32000) + AUDIO
    reason = refused(tmp_path, raw)
    assert "truncated recording" in reason and "declares 32000 bytes (1.000 s)" in reason and "only 16000" in reason


@pytest.mark.parametrize("delta, word", [(-100, "bytes past the declared end"), (100, "truncated")])
def test_a_real_riff_size_that_disagrees_with_the_object_is_refused(tmp_path, delta, word):
    raw = riff(FMT + chunk(b"data", AUDIO))
    raw = raw[:4] + struct.pack("<I", len(raw) - 8 + delta) + raw[8:]
    reason = refused(tmp_path, raw)
    assert f"declares {len(raw) + delta} bytes but the object has {len(raw)}" in reason and word in reason


def test_partial_last_frame_is_refused(tmp_path):
    # Two bytes of a 4-byte frame: a whole sample of one channel without the other's, not the odd size.
    assert "ends inside a frame" in refused(tmp_path, riff(FMT + chunk(b"data", AUDIO[:-2])))
    assert "and 3 byte(s) more" in refused(tmp_path, riff(FMT + chunk(b"data", AUDIO[:-1])))


@pytest.mark.parametrize("fmt, frame", [(FMT, 4), (fmt_chunk(1, 1, 8000, 16), 2)], ids=["stereo", "mono"])
def test_the_odd_data_size_is_whole_frames_and_half_a_sample_dropped(tmp_path, fmt, frame):
    """A 16-bit data chunk one byte longer than its whole frames (and its pad byte): it converts,
    and the byte that is no sample is counted, not hidden: data_bytes holds the whole frames only."""
    audio = AUDIO[: 400 * frame + 1]
    info = info_of(tmp_path, riff(fmt + chunk(b"data", audio)))
    assert (info.frames, info.data_bytes, info.partial_bytes, info.complete) == (400, 400 * frame, 1, True)
    placeholder = info_of(tmp_path, header(0xFFFFFFFF, 0xFFFFFFFF).replace(FMT, fmt) + audio)
    assert (placeholder.frames, placeholder.partial_bytes) == (400, 1)


def test_partial_frame_with_placeholder_sizes_is_refused(tmp_path):
    assert "ends inside a frame" in refused(tmp_path, header(0xFFFFFFFF, 0xFFFFFFFF) + AUDIO[:-2])


@pytest.mark.parametrize("magic", [b"RF64", b"BW64"])
def test_rf64_has_its_own_reason(tmp_path, magic):
    assert "RF64 is not supported" in refused(tmp_path, magic + b"\xff\xff\xff\xffWAVE" + FMT)


def test_stray_bytes_before_the_data_are_refused(tmp_path):
    raw = riff(FMT + b"\x00\x01\x02" + chunk(b"data", AUDIO))
    assert "no valid chunk at byte 36" in refused(tmp_path, raw)


def test_a_second_fmt_chunk_is_refused(tmp_path):
    raw = riff(FMT + fmt_chunk(1, 1, 16000, 16) + chunk(b"data", AUDIO))
    assert "more than one fmt chunk" in refused(tmp_path, raw)


# --- the corpus -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ffmpeg):
    directory = tmp_path_factory.mktemp("corpus")
    return directory, build(ffmpeg, directory)


# Refused later than the header: by the converter (no frames) or by the audio check.
_REFUSED_AFTER_THE_HEADER = {"no audio frames", "channels cancel"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_header_verdicts(corpus, case):
    directory, _ = corpus
    path = directory / case.name
    if case.outcome == "failed" and case.reason not in _REFUSED_AFTER_THE_HEADER:
        with pytest.raises(NotWav, match=case.reason):
            read_wav_info(path)
    else:
        info = read_wav_info(path)
        assert info.frames > 0 or case.reason == "no audio frames"
