"""The second target format, A-law 8 kHz stereo (optimizer/formats.py, `target_format=alaw_stereo`):
what ffmpeg is asked for and what the dry run projects; a mono source stays mono; and the audio
check compares a stereo output channel by channel (whole file and windows), refusing a swapped,
leaked, downmixed or invented channel and sound where the source's channel is silent.

The sources are written by our own writer, the outputs by the layer's ffmpeg with the converter's
exact command line (tests/unit/test_audio.py does the same for mono)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmarks import speech
from optimizer import audio
from optimizer.audio import AudioMismatch, check_audio
from optimizer.conversion import ffmpeg_command, projected_output_bytes
from optimizer.enqueueing import projected_size
from optimizer.formats import ALAW_8K_MONO, ALAW_8K_STEREO, FORMATS, TARGET, target_format
from optimizer.wav import read_wav_info
from tests.support import make_settings

STEREO = ALAW_8K_STEREO
SILENCE = 0xD5  # the A-law code of 0


def convert(ffmpeg: str, src: Path, dst: Path, target=STEREO) -> Path:
    subprocess.run(ffmpeg_command(ffmpeg, str(src), str(dst), target), check=True, capture_output=True)
    return dst


def check(src: Path, dst: Path, target=STEREO) -> audio.AudioCheck:
    return check_audio(str(src), read_wav_info(src), str(dst), read_wav_info(dst), target)


def frames_of(path: Path) -> np.ndarray:
    """The output's codes, one row per frame."""
    info = read_wav_info(path)
    data = path.read_bytes()[info.data_offset : info.data_offset + info.data_bytes]
    return np.frombuffer(data, np.uint8).reshape(-1, info.channels)


def replace_stereo(path: Path, codes: np.ndarray) -> Path:
    """A correct A-law stereo 8 kHz file holding other codes (rows of (left, right))."""
    codes = np.ascontiguousarray(codes, np.uint8)
    path.write_bytes(speech.wav_bytes(np.zeros((len(codes), 2)), 8000, "alaw", data=codes.tobytes()))
    return path


# --- the format ----------------------------------------------------------------------------------


def test_both_formats_are_declared_once_with_mono_the_default():
    assert TARGET is ALAW_8K_MONO and FORMATS == {"alaw_mono": ALAW_8K_MONO, "alaw_stereo": ALAW_8K_STEREO}
    assert (STEREO.codec, STEREO.sample_rate, STEREO.channels, STEREO.bits_per_sample) == ("pcm_alaw", 8000, 2, 8)
    assert STEREO.bytes_per_second == 2 * ALAW_8K_MONO.bytes_per_second
    assert STEREO.describe() == "A-law 8-bit 8000 Hz stereo"
    assert STEREO.skip_reason == ALAW_8K_MONO.skip_reason == "already_alaw"
    assert target_format("alaw_stereo") is STEREO
    with pytest.raises(ValueError, match=r"target_format='stereo' is unknown; use one of alaw_mono, alaw_stereo"):
        target_format("stereo")


def test_ffmpeg_is_asked_for_two_channels():
    cmd = ffmpeg_command("ffmpeg", "in.wav", "out.wav", STEREO)
    assert cmd[cmd.index("-ac") + 1] == "2" and cmd[cmd.index("-c:a") + 1] == "pcm_alaw"


def test_a_format_never_adds_channels():
    """A mono source under alaw_stereo is written mono; a mono target still downmixes stereo."""
    assert STEREO.for_source(1) is ALAW_8K_MONO
    assert STEREO.for_source(2) is STEREO
    assert ALAW_8K_MONO.for_source(2) is ALAW_8K_MONO and ALAW_8K_MONO.for_source(1) is ALAW_8K_MONO


def test_the_dry_run_projects_half_of_connects_pcm_for_stereo():
    one_second = 44 + 32_000  # Connect's header + 1 s of 16-bit stereo 8 kHz
    assert projected_size(one_second, STEREO) == 16_000 + 58
    assert projected_size(one_second) == projected_size(one_second, ALAW_8K_MONO) == 8_000 + 58


def test_the_settings_carry_the_target_format_to_the_functions():
    settings = make_settings(target_format="alaw_stereo")
    assert settings.target is STEREO
    assert settings.to_env()["TARGET_FORMAT"] == "alaw_stereo"
    assert make_settings().target is ALAW_8K_MONO


def test_ffmpegs_stereo_output_is_the_projected_size(ffmpeg, tmp_path):
    src = speech.write(tmp_path / "in.wav", speech.call(3, 8000), 8000)
    out = convert(ffmpeg, src, tmp_path / "out.wav")
    info = read_wav_info(out)
    assert (info.format_tag, info.channels, info.sample_rate, info.bits_per_sample) == (6, 2, 8000, 8)
    assert out.stat().st_size == projected_size(src.stat().st_size, STEREO)
    assert projected_output_bytes(read_wav_info(src), STEREO) >= out.stat().st_size - STEREO.header_bytes


# --- the audio check, channel by channel ---------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "encoding"),
    [(8000, "s16"), (8000, "alaw"), (8000, "f32"), (16000, "s16"), (44100, "s24"), (48000, "f32")],
)
def test_a_real_stereo_conversion_passes_channel_by_channel(ffmpeg, tmp_path, rate, encoding):
    src = speech.write(tmp_path / "in.wav", speech.call(8, rate), rate, encoding)
    measured = check(src, convert(ffmpeg, src, tmp_path / "out.wav"))
    assert len(measured.channels) == 2
    for channel in measured.channels:
        assert channel.snr_db >= 30 and channel.windows_with_signal >= 5
    assert measured.snr_db == min(c.snr_db for c in measured.channels)
    assert [sorted(c) for c in measured.log_field()["channels"]] == [sorted(measured.channels[0].log_field())] * 2


@pytest.mark.parametrize("rate", [8000, 44100])
def test_swapped_channels_are_refused(ffmpeg, tmp_path, rate):
    src = speech.write(tmp_path / "in.wav", speech.call(8, rate), rate)
    out = convert(ffmpeg, src, tmp_path / "out.wav")
    replace_stereo(out, frames_of(out)[:, ::-1])
    with pytest.raises(AudioMismatch, match=r"the output's left channel does not match the source: at \d-\d+ s"):
        check(src, out)


def test_the_downmix_written_to_both_channels_is_refused(ffmpeg, tmp_path):
    """A fake stereo of a real one: each talker leaks into the other's channel."""
    src = speech.write(tmp_path / "in.wav", speech.call(8, 8000), 8000)
    mono = frames_of(convert(ffmpeg, src, tmp_path / "mono.wav", ALAW_8K_MONO))[:, 0]
    out = replace_stereo(tmp_path / "out.wav", np.stack([mono, mono], axis=1))
    with pytest.raises(AudioMismatch, match=r"the output's left channel does not match the source"):
        check(src, out)


def test_a_channel_silent_in_the_source_must_be_silent_in_the_output(ffmpeg, tmp_path):
    call = speech.call(8, 8000)
    call[:, 1] = 0  # the customer's side never speaks (a one-sided recording)
    src = speech.write(tmp_path / "in.wav", call, 8000)
    out = convert(ffmpeg, src, tmp_path / "out.wav")
    assert check(src, out).channels[1].windows_with_signal == 0  # the faithful conversion passes
    codes = frames_of(out).copy()
    codes[:, 1] = codes[:, 0]  # the agent's voice leaked into the silent channel
    replace_stereo(out, codes)
    with pytest.raises(
        AudioMismatch,
        match=r"the right channel is silent in the source \(at most digital silence\) but not in the output: "
        r"at \d-\d s the output's right channel holds -\d+\.\d dBFS, -60 dBFS allowed",
    ):
        check(src, out)


def test_noise_over_a_silent_channel_is_refused(ffmpeg, tmp_path):
    call = speech.call(6, 8000)
    call[:, 0] = 0
    src = speech.write(tmp_path / "in.wav", call, 8000)
    out = convert(ffmpeg, src, tmp_path / "out.wav")
    codes = frames_of(out).copy()
    codes[:, 0] = speech.alaw_codes(0.01 * np.random.default_rng(5).standard_normal(len(codes)))
    replace_stereo(out, codes)
    with pytest.raises(AudioMismatch, match=r"the left channel is silent in the source .* holds -40\.\d dBFS"):
        check(src, out)


def test_a_stereo_output_of_a_mono_source_is_refused(ffmpeg, tmp_path):
    """No fake stereo: ffmpeg's own upmix is refused by the check, whatever the target says."""
    src = speech.write(tmp_path / "in.wav", speech.call(4, 8000, channels=1), 8000)
    out = convert(ffmpeg, src, tmp_path / "out.wav", STEREO)
    with pytest.raises(AudioMismatch, match="the output has 2 channels, the source 1: none is added"):
        check(src, out)


def test_channels_that_cancel_in_a_downmix_are_kept_in_stereo(ffmpeg, tmp_path):
    """The wiring fault refused for mono (channels_cancel) loses nothing in stereo."""
    mono = speech.call(6, 8000).sum(axis=1)
    src = speech.write(tmp_path / "in.wav", np.stack([mono, -mono], axis=1), 8000)
    with pytest.raises(AudioMismatch, match="channels cancel in the mono downmix"):
        check(src, convert(ffmpeg, src, tmp_path / "mono.wav", ALAW_8K_MONO), ALAW_8K_MONO)
    assert all(c.snr_db >= 30 for c in check(src, convert(ffmpeg, src, tmp_path / "out.wav")).channels)


def test_a_late_bad_stretch_in_one_channel_is_found_across_chunks(ffmpeg, tmp_path):
    seconds = audio.CHUNK_SECONDS + 8
    src = speech.write(tmp_path / "in.wav", speech.call(seconds, 8000), 8000)
    out = convert(ffmpeg, src, tmp_path / "out.wav")
    codes = frames_of(out).copy()
    codes[(seconds - 5) * 8000 :, 1] = SILENCE
    replace_stereo(out, codes)
    with pytest.raises(AudioMismatch, match=r"the output's right channel does not match the source: at (1[5-9]|2\d)-"):
        check(src, out)


def test_a_verify_run_checks_a_conversion_as_the_format_it_is_in(ffmpeg, tmp_path):
    """custody.audio_problem: a stereo conversion holds under alaw_stereo, and a mono one made
    before the setting changed still holds (checked as mono); a swapped stereo one does not."""
    from optimizer.custody import audio_problem

    src = speech.write(tmp_path / "in.wav", speech.call(6, 8000), 8000)
    stereo = convert(ffmpeg, src, tmp_path / "stereo.wav")
    mono = convert(ffmpeg, src, tmp_path / "mono.wav", ALAW_8K_MONO)
    assert audio_problem(str(src), str(stereo), STEREO) is None
    assert audio_problem(str(src), str(mono), STEREO) is None
    replace_stereo(stereo, frames_of(stereo)[:, ::-1])
    assert "the output's left channel does not match" in (audio_problem(str(src), str(stereo), STEREO) or "")
