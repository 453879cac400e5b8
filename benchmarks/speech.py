"""Speech recordings in every format the converter accepts, for the audio check's tests and its
margins (`benchmarks/audio_check.py`).

The speech is real: tests/fixtures/speech.wav, two espeak-ng talkers of 2.5 s each (made by
tests/fixtures/make_speech.sh, committed so that nothing here needs espeak-ng). A "call" puts
them on two channels taking turns, as Amazon Connect records them (agent left, customer right,
each silent while the other speaks); the writer here is our own (numpy), independent of ffmpeg.
"""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "speech.wav"
FIXTURE_RATE = 16000
TURN_S = 2.5

# name -> (format tag, bytes per sample)
ENCODINGS = {
    "u8": (1, 1),
    "s16": (1, 2),
    "s24": (1, 3),
    "s32": (1, 4),
    "s64": (1, 8),
    "f32": (3, 4),
    "f64": (3, 8),
    "alaw": (6, 1),
    "mulaw": (7, 1),
}


def talkers() -> tuple[np.ndarray, np.ndarray]:
    """The fixture's two talkers, float64 in [-1, 1), 16 kHz, 2.5 s each."""
    with wave.open(str(FIXTURE)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (FIXTURE_RATE, 1, 2)
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float64) / 32768
    half = int(TURN_S * FIXTURE_RATE)
    return x[:half], x[half : 2 * half]


def resample(x: np.ndarray, rate: int) -> np.ndarray:
    """Linear interpolation from 16 kHz: crude on purpose. Above 16 kHz it leaves images of the
    speech above 8 kHz, the kind of content ffmpeg's filter must remove before 8 kHz."""
    if rate == FIXTURE_RATE:
        return x.copy()
    n = int(round(len(x) * rate / FIXTURE_RATE))
    return np.interp(np.arange(n) * (FIXTURE_RATE / rate), np.arange(len(x)), x)


def call(seconds: float, rate: int, *, channels: int = 2, level_db: float = 0.0) -> np.ndarray:
    """(frames, channels) float64: talker A on the left, then B on the right, in turns of 2.5 s,
    each channel silent while the other speaks. Mono: the same turns on one channel."""
    a, b = (resample(t, rate) * 10 ** (level_db / 20) for t in talkers())
    turn = len(a)
    n = int(round(seconds * rate))
    out = np.zeros((n, 2))
    for i, start in enumerate(range(0, n, turn)):
        stop = min(start + turn, n)
        out[start:stop, i % 2] = (a, b)[i % 2][: stop - start]
    return out if channels == 2 else out.sum(axis=1, keepdims=True)


def alaw_codes(x: np.ndarray) -> np.ndarray:
    """Nearest A-law code of each full-scale sample (our own encoder, for sources and outputs)."""
    return _nearest_code(x, "alaw")


def _nearest_code(x: np.ndarray, law: str) -> np.ndarray:
    from optimizer.audio import ALAW_TABLE, MULAW_TABLE

    table = (ALAW_TABLE if law == "alaw" else MULAW_TABLE) / 32768
    order = np.argsort(table, kind="stable")
    values = table[order]
    i = np.clip(np.searchsorted(values, x), 1, len(values) - 1)
    nearer = np.where(np.abs(x - values[i - 1]) <= np.abs(values[i] - x), i - 1, i)
    return order[nearer].astype(np.uint8)


def encode(frames: np.ndarray, encoding: str) -> bytes:
    """Interleaved sample bytes of float frames in [-1, 1)."""
    x = np.asarray(frames, np.float64)
    if encoding == "u8":
        data = np.clip(np.round(x * 128) + 128, 0, 255).astype(np.uint8)
    elif encoding in ("s16", "s24", "s32", "s64"):
        bits = min(int(encoding[1:]), 32)  # 64-bit: 32 significant bits, shifted up
        full = 2 ** (bits - 1)
        ints = np.clip(np.round(x * full), -full, full - 1).astype(np.int64)
        if bits == 24:
            return (ints.astype("<i4").reshape(-1, 1).view(np.uint8)[:, :3]).tobytes()
        data = (ints << 32).astype("<i8") if encoding == "s64" else ints.astype("<i2" if bits == 16 else "<i4")
    elif encoding in ("f32", "f64"):
        data = x.astype("<f4" if encoding == "f32" else "<f8")
    else:
        data = _nearest_code(x, encoding)
    return data.tobytes()


def wav_bytes(frames: np.ndarray, rate: int, encoding: str = "s16", *, data: bytes | None = None) -> bytes:
    """A canonical WAV (RIFF, fmt, data) of `frames`, or of ready-made sample bytes `data`."""
    tag, width = ENCODINGS[encoding]
    channels = frames.shape[1] if frames.ndim == 2 else 1
    body = encode(frames, encoding) if data is None else data
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * channels * width, channels * width, 8 * width)
    if tag != 1:  # non-PCM formats carry a cbSize field
        fmt += struct.pack("<H", 0)
    chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(body)) + body
    if len(body) % 2:
        chunks += b"\x00"
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks


def write(path: Path, frames: np.ndarray, rate: int, encoding: str = "s16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(frames, rate, encoding))
    return path


def alaw_wav_bytes(codes: np.ndarray) -> bytes:
    """A correct A-law mono 8 kHz WAV around the given codes (the injected wrong outputs)."""
    codes = np.asarray(codes, np.uint8)
    return wav_bytes(np.zeros((len(codes), 1)), 8000, "alaw", data=codes.tobytes())


def write_long(path: Path, seconds: int, rate: int) -> Path:
    """A long stereo 16-bit call without holding it in memory: 20 s of turns (a whole number of
    turn pairs, so the turns go on across the joins) repeated."""
    block = encode(call(4 * 2 * TURN_S, rate), "s16")
    total = seconds * rate * 4
    header = wav_bytes(np.zeros((0, 2)), rate, "s16")
    header = header[:4] + struct.pack("<I", len(header) - 8 + total) + header[8:-4] + struct.pack("<I", total)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    with open(tmp, "wb") as f:
        f.write(header)
        for start in range(0, total, len(block)):
            f.write(block[: total - start])
    tmp.rename(path)
    return path
