"""The audio check (lambdas/optimizer/audio.py): its decoders against ffmpeg's, every format the
converter accepts passing after a real ffmpeg pass, and each wrong output refused with its numbers.

The speech is the committed espeak-ng fixture (tests/fixtures/speech.wav) through
benchmarks/speech.py; the sources are written by our own writer, the outputs by the layer's ffmpeg
with the converter's exact command line."""

from __future__ import annotations

import re
import subprocess
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from benchmarks import speech
from optimizer import audio
from optimizer.audio import AudioMismatch, check_audio
from optimizer.conversion import ffmpeg_command
from optimizer.wav import read_wav_info

RATES = (8000, 16000, 44100, 48000)
ENCODINGS = tuple(speech.ENCODINGS)  # u8 s16 s24 s32 s64 f32 f64 alaw mulaw
SILENCE = 0xD5  # the A-law code of 0


def convert(ffmpeg: str, src: Path, dst: Path) -> Path:
    subprocess.run(ffmpeg_command(ffmpeg, str(src), str(dst)), check=True, capture_output=True)
    return dst


def check(src: Path, dst: Path) -> audio.AudioCheck:
    return check_audio(str(src), read_wav_info(src), str(dst), read_wav_info(dst))


def codes_of(path: Path) -> np.ndarray:
    info = read_wav_info(path)
    return np.frombuffer(path.read_bytes()[info.data_offset : info.data_offset + info.data_bytes], np.uint8)


def replace_output(path: Path, codes: np.ndarray) -> Path:
    """A correct A-law mono 8 kHz file, the same length, holding other audio."""
    path.write_bytes(speech.alaw_wav_bytes(codes))
    return path


# --- decoders ------------------------------------------------------------------------------------


def ffmpeg_decode(ffmpeg: str, src: Path) -> np.ndarray:
    """ffmpeg's own decoding of every channel, as 64-bit floats, no resampling, no downmix."""
    raw = subprocess.run(
        [
            ffmpeg,
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(src),
            "-f",
            "f64le",
            "-c:a",
            "pcm_f64le",
            "-",
        ],
        check=True,
        capture_output=True,
    ).stdout
    return np.frombuffer(raw, "<f8")


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("encoding", ENCODINGS)
def test_each_decoder_matches_ffmpegs(ffmpeg, tmp_path, encoding, channels):
    frames = speech.call(5, 16000, channels=channels, level_db=6)
    src = speech.write(tmp_path / f"{encoding}.wav", frames, 16000, encoding)
    info = read_wav_info(src)
    fmt = audio.sample_format(info)
    ours = audio.decode(src.read_bytes()[info.data_offset : info.data_offset + info.data_bytes], fmt)

    assert len(ours) == channels and all(len(c) == info.frames for c in ours)
    interleaved = np.stack(ours, axis=1).reshape(-1).astype(np.float64) * fmt.scale
    reference = ffmpeg_decode(ffmpeg, src)
    assert len(reference) == info.frames * channels
    # float32 holds 24 bits: exact for 8/16/24-bit and the G.711 laws, 2^-24 for 32/64-bit.
    assert np.max(np.abs(interleaved - reference)) <= 2**-23
    assert np.sqrt(np.mean(reference**2)) > 0.03  # speech, not silence


@pytest.mark.parametrize("law", ["alaw", "mulaw"])
def test_g711_tables_match_ffmpeg_for_all_256_codes(ffmpeg, tmp_path, law):
    codes = np.arange(256, dtype=np.uint8)
    src = tmp_path / f"{law}.wav"
    src.write_bytes(speech.wav_bytes(np.zeros((256, 1)), 8000, law, data=codes.tobytes()))
    table = audio.ALAW_TABLE if law == "alaw" else audio.MULAW_TABLE
    assert np.array_equal(table / 32768, ffmpeg_decode(ffmpeg, src))


def test_a_format_the_check_cannot_decode_is_refused_with_what_it_is(tmp_path):
    src = speech.write(tmp_path / "half-float.wav", np.zeros((800, 1)), 8000, "s16")
    data = bytearray(src.read_bytes())
    data[20:22] = (3).to_bytes(2, "little")  # IEEE float, 16-bit: no such float ffmpeg reads
    src.write_bytes(bytes(data))
    with pytest.raises(
        AudioMismatch, match=r"cannot decode format 0x0003 with 2 bytes per sample \(16-bit\) to check the audio"
    ):
        audio.sample_format(read_wav_info(src))


def test_an_output_that_is_not_alaw_mono_8k_is_refused(ffmpeg, tmp_path):
    src = speech.write(tmp_path / "in.wav", speech.call(1, 8000), 8000)
    with pytest.raises(
        AudioMismatch, match="the output is format 0x0001, 2 channel\\(s\\), 8000 Hz, expected A-law mono 8000 Hz"
    ):
        check(src, src)


def test_more_than_two_channels_are_not_verified_and_say_so(tmp_path):
    src = speech.write(tmp_path / "three.wav", np.zeros((800, 3)), 8000)
    with pytest.raises(AudioMismatch, match="3-channel audio: only mono and stereo downmixes can be verified"):
        audio.sample_format(read_wav_info(src))


# --- what converts correctly passes ----------------------------------------------------------------


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("rate", RATES)
def test_every_accepted_format_passes_after_a_real_conversion(ffmpeg, tmp_path, rate, encoding, channels):
    src = speech.write(tmp_path / "in.wav", speech.call(7, rate, channels=channels), rate, encoding)
    measured = check(src, convert(ffmpeg, src, tmp_path / "out.wav"))

    # A-law's own error is ~38 dB; 8-bit PCM at 8 kHz measures 34 dB. 30 dB is 10 above the threshold.
    assert measured.snr_db >= 30 and measured.worst_window_snr_db is not None and measured.worst_window_snr_db >= 30, (
        measured
    )
    assert measured.windows_with_signal == 5  # 3-second windows of a 7-second call, all speech
    assert measured.band_hz == (None if rate == 8000 else audio.BAND_HZ)


@pytest.mark.parametrize("rate", [6000, 11025, 22050, 32000, 96000])
def test_other_rates_pass_too(ffmpeg, tmp_path, rate):
    src = speech.write(tmp_path / "in.wav", speech.call(5, rate), rate)
    measured = check(src, convert(ffmpeg, src, tmp_path / "out.wav"))
    assert measured.snr_db >= 30 and measured.worst_window_snr_db is not None and measured.worst_window_snr_db >= 30, (
        measured
    )


@pytest.mark.parametrize("rate", [8000, 48000])
@pytest.mark.parametrize(
    "variant",
    ["loud", "quiet", "short", "odd_length", "double_talk", "dual_mono", "tone_above_band", "noise_floor"],
)
def test_real_world_variants_pass(ffmpeg, tmp_path, rate, variant):
    call = speech.call(8, rate)
    t = np.arange(len(call))[:, None] / rate
    frames = {
        "loud": lambda: call * 10 ** (10 / 20),  # peaks near full scale
        "quiet": lambda: call * 10 ** (-30 / 20),  # the downmix at about -58 dBFS
        "short": lambda: speech.call(0.4, rate),
        "odd_length": lambda: speech.call(3.3 + 7 / rate, rate),
        # Both talkers at once, and the same talker on both channels (mono recorded as stereo).
        "double_talk": lambda: call + np.roll(call[:, ::-1], rate) * 0.7,
        "dual_mono": lambda: np.repeat(call.sum(axis=1, keepdims=True), 2, axis=1),
        "tone_above_band": lambda: call + 0.1 * np.sin(2 * np.pi * 3900 * t),  # between the bands
        "noise_floor": lambda: call + 0.003 * np.random.default_rng(7).standard_normal(call.shape),
    }[variant]()
    src = speech.write(tmp_path / "in.wav", frames, rate)
    measured = check(src, convert(ffmpeg, src, tmp_path / "out.wav"))
    assert measured.snr_db >= 28, measured


def test_a_silent_recording_passes(ffmpeg, tmp_path):
    src = speech.write(tmp_path / "in.wav", np.zeros((8000 * 4, 2)), 8000)
    measured = check(src, convert(ffmpeg, src, tmp_path / "out.wav"))
    assert measured.windows_with_signal == 0 and measured.worst_window_snr_db is None
    assert measured.snr_db >= 30  # A-law's 0 decodes to 1/4096: 72 dB below full scale
    assert measured.log_field() == {
        "snr_db": measured.snr_db.__round__(1),
        "worst_window_snr_db": None,
        "worst_window_start_s": None,
        "windows_with_signal": 0,
    }


# --- what does not match is refused, with the numbers ----------------------------------------------

WINDOW = r"at (\d+)-(\d+(?:\.\d+)?) s its SNR against the source's downmix is (-?\d+\.\d) dB, 20 dB required"


def snr_in(message: str) -> tuple[int, float]:
    match = re.search(WINDOW, message)
    assert match, message
    return int(match.group(1)), float(match.group(3))


@pytest.mark.parametrize("rate", [8000, 44100])
def test_silence_written_over_speech_is_refused(ffmpeg, tmp_path, rate):
    src = speech.write(tmp_path / "in.wav", speech.call(9, rate), rate)
    out = convert(ffmpeg, src, tmp_path / "out.wav")
    replace_output(out, np.full(len(codes_of(out)), SILENCE, np.uint8))
    with pytest.raises(AudioMismatch, match="the output does not match the source") as refused:
        check(src, out)
    assert snr_in(str(refused.value))[1] <= 0.5  # the error is the speech itself: 0 dB


@pytest.mark.parametrize("rate", [8000, 48000])
def test_only_the_first_half_written_is_refused(ffmpeg, tmp_path, rate):
    src = speech.write(tmp_path / "in.wav", speech.call(12, rate), rate)
    out = convert(ffmpeg, src, tmp_path / "out.wav")
    codes = codes_of(out).copy()
    codes[len(codes) // 2 :] = SILENCE
    replace_output(out, codes)
    with pytest.raises(AudioMismatch) as refused:
        check(src, out)
    start, snr = snr_in(str(refused.value))
    assert start >= 4 and snr <= 3.5  # a window in the second half, from 4-7 s (it overlaps 6 s) on


@pytest.mark.parametrize("rate", [8000, 16000])
def test_one_legs_polarity_flipped_is_refused(ffmpeg, tmp_path, rate):
    """Connect: one talker per channel, taking turns. (L - R) / 2 equals (L + R) / 2 wherever the
    right talker is silent, so only the windows where the right one speaks give it away."""
    call = speech.call(10, rate)
    src = speech.write(tmp_path / "in.wav", call, rate)
    flipped = speech.write(tmp_path / "flipped.wav", call * [1, -1], rate)
    out = convert(ffmpeg, flipped, tmp_path / "out.wav")
    with pytest.raises(AudioMismatch) as refused:
        check(src, out)
    start, snr = snr_in(str(refused.value))
    assert snr <= -5  # where only the right talker speaks, the error is twice the signal: -6 dB
    assert start in (2, 7)  # 2-5 s and 7-10 s: 2.5 s of B (2.5-5 s, 7.5-10 s), 0.5 s of A


@pytest.mark.parametrize("rate", [8000, 48000])
def test_cancelling_channels_are_refused(ffmpeg, tmp_path, rate):
    mono = speech.call(6, rate).sum(axis=1)
    src = speech.write(tmp_path / "in.wav", np.stack([mono, -mono], axis=1), rate)
    out = convert(ffmpeg, src, tmp_path / "out.wav")  # a faithful conversion of a silent downmix
    with pytest.raises(
        AudioMismatch,
        match=r"channels cancel in the mono downmix: at 0-3 s the left channel is at -2\d\.\d dBFS "
        r"but the downmix \(L \+ R\) / 2 at digital silence",
    ):
        check(src, out)


def test_a_channel_mostly_cancelled_is_refused_and_a_quieter_one_is_not(ffmpeg, tmp_path):
    mono = speech.call(6, 8000).sum(axis=1)
    for gain, refused in ((-0.95, True), (-0.5, False)):
        src = speech.write(tmp_path / "in.wav", np.stack([mono, gain * mono], axis=1), 8000)
        out = convert(ffmpeg, src, tmp_path / "out.wav")
        if refused:  # (1 - 0.95) / 2 of the left channel: 26 dB below its half
            with pytest.raises(
                AudioMismatch, match=r"channels cancel .* (2[5-7]\.\d) dB below half that channel \(20 dB allowed\)"
            ):
                check(src, out)
        else:  # (1 - 0.5) / 2: 6 dB below its half, still there
            assert check(src, out).snr_db >= 30


def test_noise_where_the_source_is_silent_is_refused(ffmpeg, tmp_path):
    frames = np.zeros((8000 * 6, 2))
    src = speech.write(tmp_path / "in.wav", frames, 8000)
    out = convert(ffmpeg, src, tmp_path / "out.wav")
    replace_output(out, speech.alaw_codes(0.01 * np.random.default_rng(3).standard_normal(len(frames))))
    with pytest.raises(
        AudioMismatch,
        match=r"at \d-\d s the source's downmix is quiet \(digital silence\) but the output differs "
        r"from it by -40\.\d dBFS, -60 dBFS allowed",
    ):
        check(src, out)


def test_a_late_bad_stretch_is_found_across_chunks(ffmpeg, tmp_path):
    """40 s: the 8 kHz path reads 16-second chunks; 3 s of silence at 30-33 s is still caught."""
    src = speech.write(tmp_path / "in.wav", speech.call(40, 8000), 8000)
    out = convert(ffmpeg, src, tmp_path / "out.wav")
    codes = codes_of(out).copy()
    codes[30 * 8000 : 33 * 8000] = SILENCE
    replace_output(out, codes)
    with pytest.raises(AudioMismatch) as refused:
        check(src, out)
    start, snr = snr_in(str(refused.value))
    assert start == 30 and snr <= 0.5
    assert "at 30-33 s" in str(refused.value)


@pytest.mark.parametrize("bad", [np.nan, np.inf, 1e30])
def test_a_float_source_with_values_that_are_not_numbers_is_refused(ffmpeg, tmp_path, bad):
    frames = speech.call(4, 8000)
    frames[12345, 0] = bad
    src = speech.write(tmp_path / "in.wav", frames, 8000, "f32")
    out = convert(ffmpeg, src, tmp_path / "out.wav")
    with pytest.raises(AudioMismatch, match="the source holds samples that are not finite numbers"):
        check(src, out)


def test_output_one_sample_late_is_refused(ffmpeg, tmp_path):
    src = speech.write(tmp_path / "in.wav", speech.call(6, 8000), 8000)
    out = convert(ffmpeg, src, tmp_path / "out.wav")
    replace_output(out, np.roll(codes_of(out), 1))
    with pytest.raises(AudioMismatch, match="the output does not match the source"):
        check(src, out)


# --- memory --------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate, seconds", [(8000, 600), (48000, 120)])
def test_memory_does_not_grow_with_the_recording(ffmpeg, tmp_path, rate, seconds):
    """numpy's buffers are traced by tracemalloc: the check holds a chunk, never the file."""
    src = speech.write(tmp_path / "in.wav", speech.call(seconds, rate), rate)
    out = convert(ffmpeg, src, tmp_path / "out.wav")
    tracemalloc.start()
    try:
        check(src, out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert src.stat().st_size > 19e6
    assert peak < 6e6, peak  # measured: 4.9 MB (8 kHz, 16-second chunks), 2.2 MB (48 kHz, 1-second blocks)
