"""Connect-style sample recordings: stereo, 16-bit PCM, 8 kHz, a voice-like signal per channel
(agent left, customer right, taking turns), built with pydub."""

from __future__ import annotations

import random
import warnings
from functools import cache
from pathlib import Path

with warnings.catch_warnings():
    # pydub looks for ffmpeg on PATH at import; generating PCM WAVs does not need it.
    warnings.simplefilter("ignore", RuntimeWarning)
    from pydub import AudioSegment
    from pydub.generators import Sine

RATE = 8000
SYLLABLE_MS = 180


@cache
def _syllable(pitch: int) -> bytes:
    """A vowel-ish burst: a fundamental and two harmonics under a short fade in and out."""
    tone = Sine(pitch, sample_rate=RATE, bit_depth=16).to_audio_segment(SYLLABLE_MS, volume=-14)
    for harmonic, gain in ((2, -20), (3, -26)):
        tone = tone.overlay(
            Sine(pitch * harmonic, sample_rate=RATE, bit_depth=16).to_audio_segment(SYLLABLE_MS, volume=gain)
        )
    return tone.set_channels(1).fade_in(30).fade_out(50).raw_data


def _silence(ms: int) -> bytes:
    return b"\x00\x00" * (RATE * ms // 1000)


def conversation(seconds: float, seed: int) -> AudioSegment:
    """Two speakers taking turns; each channel is silent while the other speaks."""
    rng = random.Random(seed)
    target = int(seconds * RATE) * 2  # bytes per channel
    left: list[bytes] = []
    right: list[bytes] = []
    size = 0
    speaker = 0
    while size < target:
        turn = b"".join(
            _syllable(rng.choice((120, 140, 160) if speaker == 0 else (190, 220, 250)))
            + _silence(rng.choice((20, 40, 80)))
            for _ in range(rng.randint(4, 16))
        )
        gap = _silence(rng.choice((200, 400, 700)))
        talk, quiet = (left, right) if speaker == 0 else (right, left)
        talk += [turn, gap]
        quiet += [_silence(len(turn) * 1000 // (RATE * 2)), gap]
        size += len(turn) + len(gap)
        speaker ^= 1
    channels = [
        AudioSegment(data=b"".join(parts).ljust(target, b"\x00")[:target], sample_width=2, frame_rate=RATE, channels=1)
        for parts in (left, right)
    ]
    return AudioSegment.from_mono_audiosegments(*channels)


def write_wav(path: Path, seconds: float, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    conversation(seconds, seed).export(str(path), format="wav")
    return path


# A day of about a dozen calls between 5 seconds and 5 minutes, named like Connect's
# <contact-id>_<timestamp>_UTC.wav.
SAMPLE_DAY_SECONDS = (5, 12, 20, 31, 45, 60, 75, 90, 120, 150, 210, 300)


def write_sample_day(directory: Path, date_compact: str = "20220101") -> list[Path]:
    paths = []
    for i, seconds in enumerate(SAMPLE_DAY_SECONDS):
        contact_id = f"{i:08x}-5e1f-4b7a-9c0d-{i * 7919:012x}"
        name = f"{contact_id}_{date_compact}T{8 + i:02d}:{(i * 7) % 60:02d}_UTC.wav"
        paths.append(write_wav(directory / name, seconds, seed=i))
    return paths
