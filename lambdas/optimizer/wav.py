"""Reading a WAV header from disk without loading the audio.

Hand-written on purpose: the stdlib `wave` module rejects A-law (format tag 6), which is exactly
the output to verify, and pydub decodes the whole file into memory (a 4-hour call is ~460 MB).
Only the RIFF chunk headers are read here.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass

PCM, IEEE_FLOAT, ALAW, MULAW, EXTENSIBLE = 1, 3, 6, 7, 0xFFFE
CONVERTIBLE = frozenset({PCM, IEEE_FLOAT, ALAW, MULAW})
FORMAT_NAMES = {PCM: "PCM", IEEE_FLOAT: "IEEE float", ALAW: "A-law", MULAW: "mu-law"}
# Writers that stream (cannot seek back) leave the data size as 0 or 0xFFFFFFFF.
_UNKNOWN_SIZES = (0, 0xFFFFFFFF)


class NotWav(Exception):
    """The file is not a WAV recording this optimizer can convert; the reason says why."""


@dataclass(frozen=True)
class WavInfo:
    format_tag: int
    channels: int
    sample_rate: int
    block_align: int
    bits_per_sample: int
    data_offset: int
    data_bytes: int  # audio bytes actually present in the file
    declared_data_bytes: int

    @property
    def frames(self) -> int:
        return self.data_bytes // self.block_align

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    @property
    def complete(self) -> bool:
        """The data chunk holds every byte its header announces."""
        return self.declared_data_bytes == self.data_bytes

    @property
    def is_alaw_mono_8k(self) -> bool:
        return (self.format_tag, self.channels, self.sample_rate, self.bits_per_sample) == (ALAW, 1, 8000, 8)

    def describe(self) -> str:
        name = FORMAT_NAMES.get(self.format_tag, f"format 0x{self.format_tag:04x}")
        return f"{name} {self.bits_per_sample}-bit {self.sample_rate} Hz {self.channels} ch, {self.duration:.3f} s"


def read_wav_info(path: str | os.PathLike[str]) -> WavInfo:
    size = os.path.getsize(path)
    if size == 0:
        raise NotWav("the object is empty (0 bytes)")
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            raise NotWav("not a RIFF/WAVE file (header missing or corrupt)")
        fmt = None
        pos = 12
        while pos + 8 <= size:
            f.seek(pos)
            chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
            body = pos + 8
            if chunk_id == b"fmt ":
                if chunk_size < 16:
                    raise NotWav("fmt chunk too short")
                raw = f.read(min(chunk_size, 40))
                if len(raw) < 16:
                    raise NotWav("fmt chunk truncated (the file ends inside it)")
                fmt = _parse_fmt(raw)
            elif chunk_id == b"data":
                if fmt is None:
                    raise NotWav("data chunk before fmt chunk")
                available = size - body
                declared = available if chunk_size in _UNKNOWN_SIZES else chunk_size
                tag, channels, rate, block_align, bits = fmt
                return WavInfo(tag, channels, rate, block_align, bits, body, min(declared, available), declared)
            pos = body + chunk_size + (chunk_size & 1)
        raise NotWav("no audio data chunk found (truncated or corrupt file)")


def _parse_fmt(raw: bytes) -> tuple[int, int, int, int, int]:
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", raw[:16])
    if tag == EXTENSIBLE:
        if len(raw) < 26:
            raise NotWav("extensible fmt chunk too short")
        tag = struct.unpack("<H", raw[24:26])[0]  # first two bytes of the sub-format GUID
    if tag not in CONVERTIBLE:
        raise NotWav(f"unsupported WAV codec (format tag 0x{tag:04x}); only PCM, float, A-law and mu-law are converted")
    if channels < 1 or rate < 1 or block_align < 1 or bits < 1:
        raise NotWav(f"invalid fmt chunk ({channels} channels, {rate} Hz, block align {block_align})")
    if block_align != channels * ((bits + 7) // 8):
        raise NotWav(f"inconsistent fmt chunk (block align {block_align} for {channels} x {bits}-bit)")
    return tag, channels, rate, block_align, bits
