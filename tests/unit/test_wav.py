"""Reading WAV headers: what the converter is told about its input and its output."""

from __future__ import annotations

import random
import struct
import wave
from pathlib import Path

import pytest

from optimizer.formats import ALAW_8K_MONO
from optimizer.wav import ALAW, EXTENSIBLE, IEEE_FLOAT, MULAW, PCM, NotWav, WavInfo, read_wav_info

# The tail of every WAVEFORMATEXTENSIBLE sub-format GUID (the first two bytes hold the format tag).
KSDATAFORMAT_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def chunk(chunk_id: bytes, body: bytes, declared: int | None = None) -> bytes:
    size = len(body) if declared is None else declared
    return struct.pack("<4sI", chunk_id, size) + body + (b"\x00" if len(body) % 2 else b"")


def riff(*chunks: bytes) -> bytes:
    payload = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


def fmt(
    tag: int, channels: int, rate: int, bits: int, *, block_align: int | None = None, extra: bytes | None = None
) -> bytes:
    align = channels * ((bits + 7) // 8) if block_align is None else block_align
    body = struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits)
    if extra is not None:
        body += struct.pack("<H", len(extra)) + extra  # cbSize + extension
    return chunk(b"fmt ", body)


def extensible_fmt(sub_tag: int, channels: int, rate: int, bits: int) -> bytes:
    align = channels * ((bits + 7) // 8)
    extension = struct.pack("<HI", bits, 0x3 if channels == 2 else 0x4) + struct.pack("<H", sub_tag) + KSDATAFORMAT_TAIL
    assert len(extension) == 22
    return fmt(EXTENSIBLE, channels, rate, bits, block_align=align, extra=extension)


def write(tmp_path: Path, data: bytes, name: str = "f.wav") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def write_pcm(path: Path, *, channels: int, rate: int, width: int, frames: int) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(width)
        w.setframerate(rate)
        w.writeframes(bytes((i * 7) % 256 for i in range(frames * channels * width)))
    return path


# --- PCM written by the stdlib ----------------------------------------------------------------


def test_pcm_stereo_16_bit_one_second(tmp_path):
    info = read_wav_info(write_pcm(tmp_path / "a.wav", channels=2, rate=8000, width=2, frames=8000))
    assert (info.format_tag, info.channels, info.sample_rate, info.bits_per_sample) == (PCM, 2, 8000, 16)
    assert info.block_align == 4
    assert info.frames == 8000
    assert info.duration == 1.0
    assert info.data_offset == 44  # RIFF header 12 + fmt chunk 8+16 + data header 8
    assert info.data_bytes == info.declared_data_bytes == 8000 * 4
    assert info.complete is True
    assert ALAW_8K_MONO.matches(info) is False


@pytest.mark.parametrize(
    "channels, rate, width, frames",
    [
        (1, 8000, 1, 8000),
        (1, 8000, 2, 4000),
        (2, 44100, 2, 44100),
        (1, 16000, 3, 1600),
        (2, 48000, 4, 2400),
        (6, 48000, 2, 480),
        (1, 8000, 2, 0),
    ],
)
def test_pcm_matrix_agrees_with_the_stdlib(tmp_path, channels, rate, width, frames):
    path = write_pcm(tmp_path / "a.wav", channels=channels, rate=rate, width=width, frames=frames)
    info = read_wav_info(path)
    with wave.open(str(path), "rb") as w:
        assert info.frames == w.getnframes() == frames
        assert info.channels == w.getnchannels()
        assert info.sample_rate == w.getframerate()
        assert info.bits_per_sample == 8 * w.getsampwidth()
    assert info.duration == frames / rate
    assert info.block_align == channels * width
    assert info.complete


# --- hand-made headers ------------------------------------------------------------------------


def test_alaw_mono_8k(tmp_path):
    data = bytes(range(256)) * 50  # 12,800 bytes = frames at 1 byte per frame
    info = read_wav_info(write(tmp_path, riff(fmt(ALAW, 1, 8000, 8), chunk(b"data", data))))
    assert ALAW_8K_MONO.matches(info)
    assert info.format_tag == ALAW
    assert info.frames == 12_800
    assert info.duration == 12_800 / 8000
    assert info.data_offset == 12 + 8 + 16 + 8
    assert info.complete


def test_alaw_with_cbsize_as_ffmpeg_writes_it(tmp_path):
    # Non-PCM fmt chunks usually carry cbSize = 0: an 18-byte fmt chunk.
    info = read_wav_info(write(tmp_path, riff(fmt(ALAW, 1, 8000, 8, extra=b""), chunk(b"data", b"\xd5" * 8000))))
    assert ALAW_8K_MONO.matches(info) and info.frames == 8000 and info.duration == 1.0
    assert info.data_offset == 12 + 8 + 18 + 8


@pytest.mark.parametrize(
    "tag, channels, rate, bits",
    [
        (MULAW, 1, 8000, 8),
        (ALAW, 2, 8000, 8),
        (ALAW, 1, 16000, 8),
        (ALAW, 1, 11025, 8),
        (PCM, 1, 8000, 8),
        (PCM, 1, 8000, 16),
        (IEEE_FLOAT, 1, 8000, 32),
    ],
)
def test_other_formats_are_not_alaw_mono_8k(tmp_path, tag, channels, rate, bits):
    align = channels * bits // 8
    info = read_wav_info(write(tmp_path, riff(fmt(tag, channels, rate, bits), chunk(b"data", b"\x00" * align * 100))))
    assert ALAW_8K_MONO.matches(info) is False
    assert info.format_tag == tag
    assert info.frames == 100


@pytest.mark.parametrize(
    "sub_tag, channels, rate, bits",
    [(PCM, 2, 48000, 16), (PCM, 1, 44100, 24), (IEEE_FLOAT, 2, 48000, 32), (ALAW, 1, 8000, 8)],
)
def test_wave_format_extensible_resolves_the_sub_format(tmp_path, sub_tag, channels, rate, bits):
    align = channels * bits // 8
    frames = rate // 10
    info = read_wav_info(
        write(tmp_path, riff(extensible_fmt(sub_tag, channels, rate, bits), chunk(b"data", b"\x01" * align * frames)))
    )
    assert info.format_tag == sub_tag
    assert (info.channels, info.sample_rate, info.bits_per_sample, info.block_align) == (channels, rate, bits, align)
    assert info.frames == frames
    assert info.duration == pytest.approx(0.1)
    assert info.data_offset == 12 + 8 + 40 + 8
    assert ALAW_8K_MONO.matches(info) is (sub_tag == ALAW)


def test_extensible_with_unsupported_sub_format(tmp_path):
    path = write(tmp_path, riff(extensible_fmt(0x0055, 2, 44100, 16), chunk(b"data", b"\x00" * 400)))
    with pytest.raises(NotWav, match="0x0055"):
        read_wav_info(path)


def test_chunks_before_data_and_odd_sizes_are_skipped_with_padding(tmp_path):
    info_chunk = b"INFOINAM" + struct.pack("<I", 3) + b"ab\x00"  # 15 bytes: odd, padded to 16
    assert len(info_chunk) % 2 == 1
    data = b"\x10\x20" * 2 * 300  # 300 stereo 16-bit frames
    raw = riff(
        fmt(PCM, 2, 8000, 16),
        chunk(b"LIST", info_chunk),
        chunk(b"junk", b"xyz"),  # odd again
        chunk(b"fact", struct.pack("<I", 300)),
        chunk(b"data", data),
    )
    info = read_wav_info(write(tmp_path, raw))
    expected_offset = 12 + (8 + 16) + (8 + 15 + 1) + (8 + 3 + 1) + (8 + 4) + 8
    assert info.data_offset == expected_offset
    assert raw[info.data_offset : info.data_offset + len(data)] == data
    assert info.frames == 300 and info.complete


def test_odd_sized_data_chunk(tmp_path):
    info = read_wav_info(write(tmp_path, riff(fmt(PCM, 1, 8000, 8), chunk(b"data", b"\x80" * 8001))))
    assert info.frames == 8001 and info.data_bytes == 8001 and info.complete


def test_trailing_chunk_after_data_is_not_audio(tmp_path):
    raw = riff(fmt(PCM, 1, 8000, 16), chunk(b"data", b"\x00\x01" * 800), chunk(b"LIST", b"INFOxxxx"))
    info = read_wav_info(write(tmp_path, raw))
    assert info.data_bytes == 1600 and info.frames == 800 and info.complete


@pytest.mark.parametrize("declared", [0xFFFFFFFF, 0])
def test_streaming_writer_size_uses_the_bytes_present(tmp_path, declared):
    data = b"\x00\x00" * 2 * 4000  # 4,000 stereo 16-bit frames
    info = read_wav_info(write(tmp_path, riff(fmt(PCM, 2, 8000, 16), chunk(b"data", data, declared=declared))))
    assert info.data_bytes == len(data)
    assert info.frames == 4000
    assert info.duration == 0.5
    assert info.complete


# --- refused ----------------------------------------------------------------------------------


def fmt_raw(body: bytes) -> bytes:
    return chunk(b"fmt ", body)


NOT_WAV = [
    ("empty", b"", "empty"),
    ("short", b"RIF", "RIFF"),
    ("random", random.Random(1).randbytes(4096), "RIFF"),
    ("text", b"this is not audio at all\n" * 10, "RIFF"),
    ("riff-avi", b"RIFF" + struct.pack("<I", 4) + b"AVI ", "RIFF"),
    ("header-only", b"RIFF" + struct.pack("<I", 4) + b"WAVE", "data"),
    ("no-data-chunk", riff(fmt(PCM, 1, 8000, 16)), "data"),
    ("no-data-but-list", riff(fmt(PCM, 1, 8000, 16), chunk(b"LIST", b"INFO")), "data"),
    (
        "huge-chunk-before-data",
        riff(fmt(PCM, 1, 8000, 16), chunk(b"LIST", b"INFO", declared=0xFFFFFF00), chunk(b"data", b"\x00" * 16)),
        "'LIST' chunk at byte 36 declares 4294967040 bytes",
    ),
    ("data-before-fmt", riff(chunk(b"data", b"\x00" * 16), fmt(PCM, 1, 8000, 16)), "fmt"),
    ("mp3-in-wav", riff(fmt(0x0055, 2, 44100, 0, block_align=1), chunk(b"data", b"\xff\xfb" * 100)), "0x0055"),
    ("ms-adpcm", riff(fmt(0x0002, 1, 8000, 4, block_align=256), chunk(b"data", b"\x00" * 512)), "0x0002"),
    ("ima-adpcm", riff(fmt(0x0011, 1, 8000, 4, block_align=256), chunk(b"data", b"\x00" * 512)), "0x0011"),
    ("gsm", riff(fmt(0x0031, 1, 8000, 0, block_align=65), chunk(b"data", b"\x00" * 650)), "0x0031"),
    ("block-align-too-small", riff(fmt(PCM, 2, 8000, 16, block_align=2), chunk(b"data", b"\x00" * 16)), "block align"),
    ("block-align-too-big", riff(fmt(ALAW, 1, 8000, 8, block_align=2), chunk(b"data", b"\x00" * 16)), "block align"),
    ("block-align-zero", riff(fmt(PCM, 1, 8000, 16, block_align=0), chunk(b"data", b"\x00" * 16)), "block align"),
    ("zero-channels", riff(fmt(PCM, 0, 8000, 16, block_align=2), chunk(b"data", b"\x00" * 16)), "channels"),
    ("zero-rate", riff(fmt(PCM, 1, 0, 16), chunk(b"data", b"\x00" * 16)), "Hz"),
    ("zero-bits", riff(fmt(PCM, 1, 8000, 0, block_align=1), chunk(b"data", b"\x00" * 16)), "fmt"),
    ("fmt-too-short", riff(fmt_raw(b"\x01\x00" * 7), chunk(b"data", b"\x00" * 16)), "fmt"),
    (
        "extensible-too-short",
        riff(fmt(EXTENSIBLE, 1, 8000, 16, extra=b"\x10\x00"), chunk(b"data", b"\x00" * 16)),
        "extensible",
    ),
    # The file ends inside the fmt chunk: its header promises 16 bytes, 6 are there.
    ("truncated-in-fmt", riff(chunk(b"fmt ", struct.pack("<HHI", PCM, 1, 8000), declared=16)), "fmt"),
    (
        "truncated-in-extensible-fmt",
        riff(chunk(b"fmt ", fmt(EXTENSIBLE, 1, 8000, 16, extra=b"\x00" * 22)[8:30], declared=40)),
        "fmt",
    ),
]


@pytest.mark.parametrize(
    "raw, reason", [(raw, reason) for _, raw, reason in NOT_WAV], ids=[name for name, _, _ in NOT_WAV]
)
def test_not_a_convertible_wav_says_why(tmp_path, raw, reason):
    path = write(tmp_path, raw)
    with pytest.raises(NotWav) as err:
        read_wav_info(path)
    assert reason.lower() in str(err.value).lower()


def test_unsupported_codec_message_names_the_problem(tmp_path):
    path = write(tmp_path, riff(fmt(0x0055, 2, 44100, 0, block_align=1), chunk(b"data", b"\xff" * 100)))
    with pytest.raises(NotWav) as err:
        read_wav_info(path)
    message = str(err.value)
    assert "codec" in message and "0x0055" in message
    assert "PCM" in message and "A-law" in message  # what is accepted instead


# --- WavInfo ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "info, parts",
    [
        (WavInfo(ALAW, 1, 8000, 1, 8, 44, 8000, 8000), ["A-law", "8-bit", "8000 Hz", "1 ch", "1.000 s"]),
        (
            WavInfo(PCM, 2, 44100, 4, 16, 44, 44100 * 4 * 2, 44100 * 4 * 2),
            ["PCM", "16-bit", "44100 Hz", "2 ch", "2.000 s"],
        ),
        (WavInfo(MULAW, 1, 8000, 1, 8, 44, 4000, 4000), ["mu-law", "8000 Hz", "0.500 s"]),
    ],
)
def test_describe_names_codec_rate_channels_and_duration(info, parts):
    text = info.describe()
    assert all(part in text for part in parts), text
