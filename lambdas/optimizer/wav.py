"""Reading a WAV file's structure from disk without loading the audio, accounting for every byte.

Hand-written on purpose: the stdlib `wave` module rejects A-law (format tag 6), which is exactly
the output to verify, and pydub decodes the whole file into memory (a 4-hour call is ~460 MB).
Only chunk headers are read, plus at most TAIL_WINDOW bytes when a streaming writer left
placeholder sizes.

The reader walks every chunk to the end of the object and refuses (NotWav) any file whose bytes
it cannot account for: a header that contradicts the object's size, audio past a stale data size,
two data chunks, a data chunk cut short, a last frame cut by more than one byte (one byte more
than whole frames, the odd data size, is half a sample: dropped, and counted in partial_bytes).
ffmpeg silently decodes what a header declares (or everything to the end), so without these
checks a recording with audio past a stale size would lose that audio and still pass a duration
check made against the header.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from .vocabulary import FailureKind

PCM, IEEE_FLOAT, ALAW, MULAW, EXTENSIBLE = 1, 3, 6, 7, 0xFFFE
CONVERTIBLE = frozenset({PCM, IEEE_FLOAT, ALAW, MULAW})
FORMAT_NAMES = {PCM: "PCM", IEEE_FLOAT: "IEEE float", ALAW: "A-law", MULAW: "mu-law"}
# Sizes left by writers that cannot seek back to fix the header: ffmpeg writing to a pipe puts
# 0xFFFFFFFF in both, SoX writing to a pipe 0x7FFFF024 (RIFF) and 0x7FFFF000 (data), some
# writers 0. They mean "unknown", not a contradiction: the data then runs to the end of the object.
RIFF_PLACEHOLDERS = frozenset({0, 0xFFFFFFFF, 0x7FFFF024})
DATA_PLACEHOLDERS = frozenset({0, 0xFFFFFFFF, 0x7FFFF000})
# With a placeholder data size, a trailing chunk sequence (LIST, id3 ...) is looked for in the
# object's last TAIL_WINDOW bytes; a larger trailing chunk would be read as audio.
TAIL_WINDOW = 1024 * 1024
_CHUNK_ID = re.compile(rb"(?=[\x20-\x7e]{4})")


class NotWav(Exception):
    """The file is not a WAV recording this optimizer can convert; the reason says why, and `kind`
    names the class of refusal in the run's summary (failed_by_kind) and the table of
    docs/operations.md#when-something-fails."""

    def __init__(self, reason: str, kind: FailureKind = FailureKind.CORRUPT) -> None:
        super().__init__(reason)
        self.kind = kind


@dataclass(frozen=True)
class WavInfo:
    format_tag: int
    channels: int
    sample_rate: int
    block_align: int
    bits_per_sample: int
    data_offset: int
    data_bytes: int  # the audio bytes the file really holds (after the byte accounting)
    declared_data_bytes: int
    # The header's sizes are placeholders and trailing chunks follow the audio: a decoder that
    # trusts the header would read those chunks as audio (see fix_placeholder_sizes).
    audio_ends_early: bool = False
    # The odd data size: a data chunk one byte longer than its whole frames (a 16-bit writer that
    # wrote an odd byte count). That byte is half a sample, no frame: decoders drop it, and so
    # does the conversion. Counted here, outside data_bytes, so that what is dropped is exact.
    partial_bytes: int = 0

    @property
    def frames(self) -> int:
        """The number of sample frames in the data chunk."""
        return self.data_bytes // self.block_align

    @property
    def duration(self) -> float:
        """The audio's length in seconds."""
        return self.frames / self.sample_rate

    @property
    def complete(self) -> bool:
        """The data chunk holds every byte its header announces."""
        return self.declared_data_bytes == self.data_bytes

    def describe(self) -> str:
        """The format and length as a message names them."""
        name = FORMAT_NAMES.get(self.format_tag, f"format 0x{self.format_tag:04x}")
        return f"{name} {self.bits_per_sample}-bit {self.sample_rate} Hz {self.channels} ch, {self.duration:.3f} s"


def read_wav_info(path: str | os.PathLike[str]) -> WavInfo:
    """The WAV header's facts of the file; NotWav, with its kind, when it is not one this reads."""
    size = os.path.getsize(path)
    if size == 0:
        raise NotWav("the object is empty (0 bytes)", kind=FailureKind.EMPTY)
    with open(path, "rb") as f:
        return _read(f, size)


def _read(f: BinaryIO, size: int) -> WavInfo:
    head = f.read(12)
    if len(head) == 12 and head[:4] in (b"RF64", b"BW64") and head[8:12] == b"WAVE":
        raise NotWav(
            f"RF64 is not supported ({head[:4].decode()} header: a 64-bit WAV for recordings over 4 GiB)",
            kind=FailureKind.RF64,
        )
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise NotWav("not a RIFF/WAVE file (header missing or corrupt)", kind=FailureKind.NOT_WAV)
    riff_size = struct.unpack("<I", head[4:8])[0]
    fmt: tuple[int, int, int, int, int] | None = None
    pos = 12
    while pos < size:
        chunk_id, chunk_size = _chunk_header(f, pos, size, "before the audio data")
        body = pos + 8
        if chunk_id == b"data":
            if fmt is None:
                raise NotWav("data chunk before fmt chunk")
            info = _data_chunk(f, size, fmt, body, chunk_size)
            _check_riff_size(riff_size, size)
            return info
        if body + chunk_size > size:
            raise NotWav(
                f"the {_name(chunk_id)} chunk at byte {pos} declares {chunk_size} bytes but the object ends "
                f"{size - body} bytes after its header (truncated or corrupt file)"
            )
        if chunk_id == b"fmt ":
            if fmt is not None:
                raise NotWav("more than one fmt chunk (ambiguous audio format)")
            if chunk_size < 16:
                raise NotWav("fmt chunk too short")
            f.seek(body)
            fmt = _parse_fmt(f.read(min(chunk_size, 40)))
        pos = body + chunk_size + (chunk_size & 1)
    raise NotWav("no audio data chunk found (truncated or corrupt file)")


def _data_chunk(f: BinaryIO, size: int, fmt: tuple[int, int, int, int, int], body: int, declared: int) -> WavInfo:
    tag, channels, rate, block_align, bits = fmt
    available = size - body

    def info(audio: int, *, ends_early: bool = False, placeholder: bool = False) -> WavInfo:
        partial = audio % block_align
        if partial == 1 and block_align > 1:  # the odd data size: half a sample, dropped
            return WavInfo(
                tag,
                channels,
                rate,
                block_align,
                bits,
                body,
                audio - 1,
                audio - 1 if placeholder else declared - 1,
                ends_early,
                partial_bytes=1,
            )
        if partial:
            raise NotWav(
                f"the audio ends inside a frame: {audio} data bytes are {audio // block_align} frames of "
                f"{block_align} bytes and {audio % block_align} byte(s) more (a recording cut off mid-write)",
                kind=FailureKind.PARTIAL_FRAME,
            )
        # A placeholder declares nothing: what is there is what the writer meant.
        return WavInfo(
            tag, channels, rate, block_align, bits, body, audio, audio if placeholder else declared, ends_early
        )

    read = _file_reader(f)
    if declared == 0 and _chunk_sequence_end(read, body, size) == size:
        return info(0)  # an empty recording followed by metadata: no audio, not "audio to the end"
    if declared in DATA_PLACEHOLDERS and declared != available:
        trailing = _trailing_chunks_start(f, body, size)
        if trailing is None:
            return info(available, placeholder=True)
        audio = trailing - body
        if audio % block_align and (audio - 1) % block_align == 0 and (audio - 1) & 1:
            audio -= 1  # an odd-sized audio run and its pad byte
        return info(audio, ends_early=True, placeholder=True)
    if declared > available:
        raise NotWav(
            f"truncated recording: the data chunk declares {declared} bytes ({_seconds(fmt, declared)}) but "
            f"the object holds only {available} after its header ({_seconds(fmt, available)})",
            kind=FailureKind.TRUNCATED,
        )
    end = min(body + declared + (declared & 1), size)  # an odd chunk's pad byte is often not written at the end
    after = _chunk_sequence_end(read, end, size)
    if after != size:
        if _is_data_at(read, after, size):
            raise NotWav(
                "more than one data chunk (the audio after the first would be dropped)",
                kind=FailureKind.TWO_DATA_CHUNKS,
            )
        extra = size - after
        raise NotWav(
            f"{extra} bytes at byte {after}, after the data chunk's declared {declared} bytes "
            f"({_seconds(fmt, declared)}), are not RIFF chunks: audio past a stale data size? "
            f"(as audio they would be {_seconds(fmt, extra)} more); not converted, so that nothing is dropped",
            kind=FailureKind.STALE_SIZE,
        )
    return info(declared)


def _check_riff_size(riff_size: int, size: int) -> None:
    declared_end = riff_size + 8
    if declared_end == size or (riff_size in RIFF_PLACEHOLDERS):
        return
    if abs(declared_end - size) == 1:
        return  # one pad byte counted but not written, or written but not counted
    raise NotWav(
        f"the RIFF header declares {declared_end} bytes but the object has {size} "
        f"({'truncated' if declared_end > size else 'bytes past the declared end'}); not converted, so that nothing "
        "is dropped",
        kind=FailureKind.RIFF_SIZE,
    )


Reader = Callable[[int, int], bytes]


def _file_reader(f: BinaryIO) -> Reader:
    def read(pos: int, n: int) -> bytes:
        f.seek(pos)
        return f.read(n)

    return read


def _chunk_header(f: BinaryIO, pos: int, size: int, where: str) -> tuple[bytes, int]:
    if size - pos < 8:
        raise NotWav(f"{size - pos} stray byte(s) at byte {pos}, {where} (truncated or corrupt file)")
    f.seek(pos)
    chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
    if not _printable(chunk_id):
        raise NotWav(f"no valid chunk at byte {pos}, {where} (id {chunk_id!r}; truncated or corrupt file)")
    return chunk_id, chunk_size


def _chunk_sequence_end(read: Reader, pos: int, size: int) -> int:
    """Where a run of well-formed chunks starting at `pos` stops: `size` when it ends exactly at
    the end of the object. A data chunk stops the run (a second data chunk is never metadata)."""
    while pos + 8 <= size:
        chunk_id, chunk_size = struct.unpack("<4sI", read(pos, 8))
        end = pos + 8 + chunk_size
        if not _printable(chunk_id) or chunk_id == b"data" or end > size:
            return pos
        pos = min(end + (chunk_size & 1), size)  # the last chunk's pad byte is often not written
    return pos


def _trailing_chunks_start(f: BinaryIO, body: int, size: int) -> int | None:
    """With a placeholder data size: the first offset in the tail from which well-formed chunks
    run exactly to the end of the object, if there is one."""
    start = max(body, size - TAIL_WINDOW)
    f.seek(start)
    tail = f.read(size - start)

    def read(pos: int, n: int) -> bytes:
        return tail[pos - start : pos - start + n]

    for match in _CHUNK_ID.finditer(tail):
        pos = start + match.start()
        if pos + 8 <= size and _chunk_sequence_end(read, pos, size) == size:
            return pos
    return None


def _is_data_at(read: Reader, pos: int, size: int) -> bool:
    return pos + 8 <= size and read(pos, 4) == b"data"


def _printable(chunk_id: bytes) -> bool:
    return all(0x20 <= byte <= 0x7E for byte in chunk_id)


def _name(chunk_id: bytes) -> str:
    return repr(chunk_id.decode("ascii"))


def _seconds(fmt: tuple[int, int, int, int, int], data_bytes: int) -> str:
    seconds = data_bytes / fmt[3] / fmt[2]
    return f"{seconds:.3f} s" if seconds >= 0.1 else f"{seconds * 1000:.2f} ms"


def fix_placeholder_sizes(path: str | os.PathLike[str], info: WavInfo) -> None:
    """Writes the real sizes into a local copy whose header has placeholders while trailing chunks
    follow the audio, so that ffmpeg reads the audio and not the chunks after it (with a
    placeholder it decodes everything to the end). Never applied to the original in S3."""
    if not info.audio_ends_early:
        return
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(4)
        f.write(struct.pack("<I", size - 8))
        f.seek(info.data_offset - 4)
        f.write(struct.pack("<I", info.data_bytes))


def _parse_fmt(raw: bytes) -> tuple[int, int, int, int, int]:
    if len(raw) < 16:
        raise NotWav("fmt chunk truncated (the file ends inside it)")
    tag, channels, rate, _byte_rate, block_align, bits = struct.unpack("<HHIIHH", raw[:16])
    if tag == EXTENSIBLE:
        if len(raw) < 26:
            raise NotWav("extensible fmt chunk too short")
        tag = struct.unpack("<H", raw[24:26])[0]  # first two bytes of the sub-format GUID
    if tag not in CONVERTIBLE:
        raise NotWav(
            f"unsupported WAV codec (format tag 0x{tag:04x}); only PCM, float, A-law and mu-law are converted",
            kind=FailureKind.UNSUPPORTED_CODEC,
        )
    if channels < 1 or rate < 1 or block_align < 1 or bits < 1:
        raise NotWav(f"invalid fmt chunk ({channels} channels, {rate} Hz, block align {block_align})")
    if block_align != channels * ((bits + 7) // 8):
        raise NotWav(f"inconsistent fmt chunk (block align {block_align} for {channels} x {bits}-bit)")
    return tag, channels, rate, block_align, bits
