"""The target format seam (optimizer/formats.py): the one shipped format, A-law 8 kHz mono, is
what ffmpeg is asked for, what verification and the audio check expect, and what the dry run
projects; and the verification and audio check really read the format they are given (a mu-law
target, defined here only: not shipped, see formats.py)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from benchmarks import speech
from optimizer import audio
from optimizer.audio import AudioMismatch, check_audio
from optimizer.conversion import ContentFailure, ffmpeg_command, put_arguments, verify
from optimizer.enqueueing import PCM_HEADER_BYTES, projected_size
from optimizer.formats import ALAW_8K_MONO, TARGET
from optimizer.wav import ALAW, MULAW, PCM, WavInfo, read_wav_info

MULAW_8K_MONO = dataclasses.replace(ALAW_8K_MONO, name="mu-law", codec="pcm_mulaw", format_tag=MULAW)
CONNECT_BYTES_PER_SECOND = 8000 * 2 * 2  # 16-bit stereo 8 kHz


def test_a_law_8k_mono_is_the_one_target():
    assert TARGET is ALAW_8K_MONO
    assert (TARGET.codec, TARGET.format_tag, TARGET.sample_rate, TARGET.channels, TARGET.bits_per_sample) == (
        "pcm_alaw",
        ALAW,
        8000,
        1,
        8,
    )
    assert TARGET.content_type == "audio/wav"
    assert TARGET.bytes_per_second == 8000
    assert TARGET.describe() == "A-law 8-bit 8000 Hz mono"


def test_the_ffmpeg_command_asks_for_the_target():
    cmd = ffmpeg_command("ffmpeg", "in.wav", "out.wav", MULAW_8K_MONO)
    assert cmd[cmd.index("-c:a") + 1] == "pcm_mulaw"
    assert cmd[cmd.index("-ar") + 1] == "8000" and cmd[cmd.index("-ac") + 1] == "1"
    assert ffmpeg_command("ffmpeg", "in.wav", "out.wav") == ffmpeg_command("ffmpeg", "in.wav", "out.wav", TARGET)


@pytest.mark.parametrize("size", [0, 1, 44, 45, 47, 48, 49, 32_044, 32_045, 10**9 + 3])
def test_the_projection_is_the_dry_runs(size):
    """What enqueueing.projected_size computes for a Connect recording, from the target."""
    assert TARGET.projected_size(size - PCM_HEADER_BYTES, CONNECT_BYTES_PER_SECOND) == projected_size(size)


def test_a_one_second_connect_recording_projects_to_a_quarter_plus_ffmpegs_header():
    assert TARGET.projected_size(32_000, CONNECT_BYTES_PER_SECOND) == 8_000 + 58


def test_a_new_version_without_a_content_type_gets_the_targets():
    original = {"ETag": '"e"'}
    assert put_arguments(original, {}, storage_class="GLACIER_IR")["ContentType"] == "audio/wav"
    other = dataclasses.replace(TARGET, content_type="audio/x-wav")
    assert put_arguments(original, {}, storage_class="GLACIER_IR", target=other)["ContentType"] == "audio/x-wav"


def g711(tag: int, frames: int = 8000) -> WavInfo:
    return WavInfo(tag, 1, 8000, 1, 8, 44, frames, frames)


def test_verification_expects_the_target_it_is_given():
    source = WavInfo(PCM, 2, 8000, 4, 16, 44, 32_000, 32_000)
    verify(source, g711(ALAW))
    verify(source, g711(MULAW), target=MULAW_8K_MONO)
    with pytest.raises(ContentFailure, match="output is A-law .* expected mu-law 8-bit 8000 Hz mono"):
        verify(source, g711(ALAW), target=MULAW_8K_MONO)
    with pytest.raises(ContentFailure, match="output is mu-law .* expected A-law 8-bit 8000 Hz mono"):
        verify(source, g711(MULAW))


def test_the_audio_check_decodes_the_output_with_the_targets_table(tmp_path: Path):
    frames = speech.call(3, 8000, channels=1)
    src = speech.write(tmp_path / "in.wav", frames, 8000, "s16")
    mulaw = speech.write(tmp_path / "mulaw.wav", frames, 8000, "mulaw")
    alaw = speech.write(tmp_path / "alaw.wav", frames, 8000, "alaw")

    def run(out: Path, target=TARGET) -> audio.AudioCheck:
        return check_audio(str(src), read_wav_info(src), str(out), read_wav_info(out), target)

    assert run(alaw).snr_db > audio.MIN_SNR_DB
    assert run(mulaw, MULAW_8K_MONO).snr_db > audio.MIN_SNR_DB
    with pytest.raises(AudioMismatch, match="expected mu-law mono 8000 Hz"):
        run(alaw, MULAW_8K_MONO)
    # The same bytes read through the other law's table are not the source: the table is the target's.
    wrong = tmp_path / "mulaw-labelled-alaw.wav"
    wrong.write_bytes(speech.wav_bytes(frames, 8000, "alaw", data=speech.encode(frames, "mulaw")))
    with pytest.raises(AudioMismatch, match="the output does not match the source"):
        run(wrong)


def test_the_audio_check_refuses_a_target_it_cannot_compare(tmp_path: Path):
    src = speech.write(tmp_path / "in.wav", speech.call(1, 16000, channels=1), 16000, "s16")
    info = read_wav_info(src)
    wideband = dataclasses.replace(TARGET, sample_rate=16000)
    with pytest.raises(ValueError, match="8 kHz mono or stereo G.711 output only"):
        check_audio(str(src), info, str(src), info, wideband)
