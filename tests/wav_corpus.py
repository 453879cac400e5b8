"""A corpus of odd but valid, and of broken, WAV recordings, each with the outcome it must have.

Used by the unit tests (the byte accounting), the converter tests on moto (outcome, reason, the
original untouched, the converted bytes) and by hand through the local run:

    .venv/bin/python -m tests.wav_corpus /tmp/corpus      # the files, and /tmp/corpus.expected.json
    ./cdk-deploy.sh --local --recordings /tmp/corpus

The audio is the sample day's voice-like conversation (emulator/samples.py). Real writers are used
where they are at hand (the layer's ffmpeg for the other rates and formats, to a file and to a
pipe); the header variants other writers leave (SoX on a pipe, recorders that crashed after an
earlier header flush) are built byte by byte from that audio.
"""

from __future__ import annotations

import argparse
import json
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from emulator.samples import conversation

RATE = 8000


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[Builder], bytes]
    outcome: str  # converted | skipped | failed
    reason: str | None = None  # a fragment of the skip or failure reason
    kind: str | None = None  # of a failure: the class counted in the run's summary (failed_by_kind)
    # How the converted bytes are known to be right: "same" = byte-identical to what ffmpeg
    # makes of the original as it is (the converter before the byte accounting); "audio_only" =
    # identical to what ffmpeg makes of the same audio with exact header sizes and nothing after.
    expect_bytes: str | None = None


def chunk(chunk_id: bytes, body: bytes, declared: int | None = None, *, pad: bool = True) -> bytes:
    size = len(body) if declared is None else declared
    return struct.pack("<4sI", chunk_id, size) + body + (b"\x00" if pad and len(body) % 2 else b"")


def fmt_chunk(tag: int, channels: int, rate: int, bits: int) -> bytes:
    align = channels * ((bits + 7) // 8)
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits))


def riff(body: bytes, declared: int | None = None) -> bytes:
    payload = b"WAVE" + body
    return b"RIFF" + struct.pack("<I", len(payload) if declared is None else declared) + payload


LIST_INFO = chunk(b"LIST", b"INFO" + chunk(b"ISFT", b"Lavf61.7.100\x00") + chunk(b"ICMT", b"agent=42\x00"))
FACT = chunk(b"fact", struct.pack("<I", 0))


class Builder:
    """Makes the audio once per corpus; `ffmpeg` is the layer's binary (the real writer)."""

    def __init__(self, ffmpeg: str, seconds: float = 6.0) -> None:
        self.ffmpeg = ffmpeg
        self.pcm = conversation(seconds, seed=7).raw_data  # s16le, 8 kHz, 2 channels
        self.fmt = fmt_chunk(1, 2, RATE, 16)

    def wav(
        self, *before: bytes, audio: bytes | None = None, data_size: int | None = None, after: bytes = b""
    ) -> bytes:
        """fmt, the chunks `before`, data, the chunks `after`, with exact sizes unless told."""
        audio = self.pcm if audio is None else audio
        return riff(self.fmt + b"".join(before) + chunk(b"data", audio, data_size) + after)

    def ffmpeg_write(self, *args: str, pipe: bool = False) -> bytes:
        """The conversation re-encoded by ffmpeg: to a seekable file, or to a pipe (placeholders)."""
        command = [
            self.ffmpeg,
            "-nostdin",
            "-v",
            "error",
            "-f",
            "s16le",
            "-ar",
            str(RATE),
            "-ac",
            "2",
            "-i",
            "pipe:0",
            *args,
            "-f",
            "wav",
            "-y",
        ]
        if pipe:
            return subprocess.run([*command, "pipe:1"], input=self.pcm, check=True, capture_output=True).stdout
        with tempfile.TemporaryDirectory() as tmp:  # a real file: ffmpeg seeks back and writes the sizes
            out = Path(tmp) / "out.wav"
            subprocess.run([*command, str(out)], input=self.pcm, check=True)
            return out.read_bytes()


def _stale(b: Builder) -> bytes:
    """A recorder that crashed after a header flush at half the call: sizes say half, all is there."""
    half = len(b.pcm) // 2
    return riff(b.fmt + chunk(b"data", b.pcm, half), 4 + len(b.fmt) + 8 + half)


def _sox_pipe(b: Builder) -> bytes:
    return b"RIFF" + struct.pack("<I", 0x7FFFF024) + b"WAVE" + b.fmt + b"data" + struct.pack("<I", 0x7FFFF000) + b.pcm


def _zero_sizes(b: Builder) -> bytes:
    return b"RIFF" + struct.pack("<I", 0) + b"WAVE" + b.fmt + b"data" + struct.pack("<I", 0) + b.pcm


def _placeholder_then_list(b: Builder) -> bytes:
    return b"RIFF" + b"\xff\xff\xff\xff" + b"WAVE" + b.fmt + b"data" + b"\xff\xff\xff\xff" + b.pcm + LIST_INFO


def _two_data_chunks(b: Builder) -> bytes:
    half = len(b.pcm) // 2
    return riff(b.fmt + chunk(b"data", b.pcm[:half]) + chunk(b"data", b.pcm[half:]))


def _truncated(b: Builder) -> bytes:
    whole = b.wav()
    return whole[: len(whole) - len(b.pcm) // 3]


def _riff_says_less(b: Builder) -> bytes:
    whole = b.wav(LIST_INFO)
    return whole[:4] + struct.pack("<I", len(whole) - 8 - 100) + whole[8:]


def _u8_mono(b: Builder, frames: int) -> bytes:
    left = memoryview(b.pcm).cast("h")[0::2]
    return bytes(((sample >> 8) + 128) & 0xFF for sample in left[:frames])


def _odd_8bit(b: Builder, *, pad: bool, trailing: bytes = b"") -> bytes:
    audio = _u8_mono(b, 8001)
    return riff(fmt_chunk(1, 1, RATE, 8) + chunk(b"data", audio, pad=pad) + trailing)


def _rf64(b: Builder) -> bytes:
    ds64 = chunk(b"ds64", struct.pack("<QQQI", 0, len(b.pcm), len(b.pcm) // 4, 0))
    return b"RF64" + b"\xff\xff\xff\xff" + b"WAVE" + ds64 + b.fmt + b"data" + b"\xff\xff\xff\xff" + b.pcm


def _garbage_after(b: Builder) -> bytes:
    return b.wav() + b"\x01\x02\x03\x04\x05\x06\x07"


def _stereo_inverted(b: Builder) -> bytes:
    """The same voice on both legs, one inverted: the (L+R)/2 downmix is silence."""
    left = memoryview(b.pcm).cast("h")[0::2]
    both = bytearray()
    for sample in left:
        both += struct.pack("<hh", sample, max(-32767, -sample))
    return b.wav(audio=bytes(both))


CASES: tuple[Case, ...] = (
    # --- odd but valid: converted -----------------------------------------------------------
    Case("connect-standard.wav", lambda b: b.wav(), "converted", expect_bytes="same"),
    Case(
        "ffmpeg-file-list-before-data.wav",
        lambda b: b.ffmpeg_write("-c:a", "pcm_s16le"),
        "converted",
        expect_bytes="same",
    ),
    Case(
        "ffmpeg-pipe-placeholders.wav",
        lambda b: b.ffmpeg_write("-c:a", "pcm_s16le", pipe=True),
        "converted",
        expect_bytes="same",
    ),
    Case("sox-pipe-placeholders.wav", _sox_pipe, "converted", expect_bytes="same"),
    Case("zero-sizes-streaming.wav", _zero_sizes, "converted", expect_bytes="same"),
    Case("list-and-fact-before-data.wav", lambda b: b.wav(LIST_INFO, FACT), "converted", expect_bytes="same"),
    Case("list-after-data.wav", lambda b: b.wav(after=LIST_INFO), "converted", expect_bytes="same"),
    Case("placeholder-sizes-then-list.wav", _placeholder_then_list, "converted", expect_bytes="audio_only"),
    Case(
        "odd-8bit-with-pad.wav", lambda b: _odd_8bit(b, pad=True, trailing=LIST_INFO), "converted", expect_bytes="same"
    ),
    Case("odd-8bit-pad-missing-at-end.wav", lambda b: _odd_8bit(b, pad=False), "converted", expect_bytes="same"),
    Case(
        "pcm16-16k-stereo.wav",
        lambda b: b.ffmpeg_write("-ar", "16000", "-c:a", "pcm_s16le"),
        "converted",
        expect_bytes="same",
    ),
    Case(
        "pcm16-44k1-stereo.wav",
        lambda b: b.ffmpeg_write("-ar", "44100", "-c:a", "pcm_s16le"),
        "converted",
        expect_bytes="same",
    ),
    Case(
        "pcm16-48k-stereo.wav",
        lambda b: b.ffmpeg_write("-ar", "48000", "-c:a", "pcm_s16le"),
        "converted",
        expect_bytes="same",
    ),
    Case("pcm8-stereo.wav", lambda b: b.ffmpeg_write("-c:a", "pcm_u8"), "converted", expect_bytes="same"),
    Case(
        "pcm24-48k-stereo.wav",
        lambda b: b.ffmpeg_write("-ar", "48000", "-c:a", "pcm_s24le"),
        "converted",
        expect_bytes="same",
    ),
    Case(
        "pcm32-44k1-stereo.wav",
        lambda b: b.ffmpeg_write("-ar", "44100", "-c:a", "pcm_s32le"),
        "converted",
        expect_bytes="same",
    ),
    Case(
        "float32-16k-stereo.wav",
        lambda b: b.ffmpeg_write("-ar", "16000", "-c:a", "pcm_f32le"),
        "converted",
        expect_bytes="same",
    ),
    Case("mulaw-stereo.wav", lambda b: b.ffmpeg_write("-c:a", "pcm_mulaw"), "converted", expect_bytes="same"),
    Case("alaw-stereo.wav", lambda b: b.ffmpeg_write("-c:a", "pcm_alaw"), "converted", expect_bytes="same"),
    Case("pcm16-mono.wav", lambda b: b.ffmpeg_write("-ac", "1", "-c:a", "pcm_s16le"), "converted", expect_bytes="same"),
    # The odd data size: one byte more than whole frames (and its pad byte): the half sample is
    # dropped, as ffmpeg drops it (issue 16: it used to be refused as partial_frame).
    Case("odd-data-size.wav", lambda b: b.wav(audio=b.pcm[:-3]), "converted", expect_bytes="same"),
    # --- already in the target format: skipped ----------------------------------------------
    Case("already-alaw-mono.wav", lambda b: b.ffmpeg_write("-ac", "1", "-c:a", "pcm_alaw"), "skipped", "already_alaw"),
    # --- broken: refused, original untouched ------------------------------------------------
    Case("stale-sizes-after-crash.wav", _stale, "failed", "audio past a stale data size", "stale_size"),
    Case(
        "data-declares-half.wav",
        lambda b: b.wav(data_size=len(b.pcm) // 2),
        "failed",
        "audio past a stale data size",
        "stale_size",
    ),
    Case("garbage-after-data.wav", _garbage_after, "failed", "are not RIFF chunks", "stale_size"),
    Case("two-data-chunks.wav", _two_data_chunks, "failed", "more than one data chunk", "two_data_chunks"),
    Case("truncated.wav", _truncated, "failed", "truncated recording", "truncated"),
    Case("riff-size-says-less.wav", _riff_says_less, "failed", "the RIFF header declares", "riff_size"),
    Case(
        "zero-data-then-list.wav", lambda b: b.wav(audio=b"", after=LIST_INFO), "failed", "no audio frames", "no_audio"
    ),
    # Half a stereo frame: one channel's sample without the other's.
    Case("partial-last-frame.wav", lambda b: b.wav(audio=b.pcm[:-2]), "failed", "ends inside a frame", "partial_frame"),
    Case("rf64.wav", _rf64, "failed", "RF64 is not supported", "rf64"),
    Case("empty-object.wav", lambda b: b"", "failed", "the object is empty", "empty"),
    Case("not-a-wav.wav", lambda b: b"ID3\x04\x00" + b.pcm[:4000], "failed", "not a RIFF/WAVE file", "not_wav"),
    Case(
        "adpcm-codec.wav",
        lambda b: riff(fmt_chunk(2, 2, RATE, 4)[: 8 + 16] + chunk(b"data", b.pcm[:4000])),
        "failed",
        "unsupported WAV codec",
        "unsupported_codec",
    ),
    Case("channels-cancel.wav", _stereo_inverted, "failed", "channels cancel", "channels_cancel"),
)


def build(ffmpeg: str, directory: Path) -> dict[str, Case]:
    """Writes every case into `directory`; returns them by file name."""
    directory.mkdir(parents=True, exist_ok=True)
    builder = Builder(ffmpeg)
    for case in CASES:
        (directory / case.name).write_bytes(case.build(builder))
    return {case.name: case for case in CASES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--ffmpeg", default=None, help="ffmpeg binary (default: the layer's build for this machine)")
    args = parser.parse_args(argv)
    if args.ffmpeg is None:
        from emulator.local_settings import host_architecture

        arch = host_architecture()
        args.ffmpeg = str(
            Path(__file__).resolve().parent.parent / "layers" / "ffmpeg" / "build" / arch / "bin" / "ffmpeg"
        )
    cases = build(args.ffmpeg, args.directory)
    expected = {name: {"outcome": c.outcome, "reason": c.reason, "kind": c.kind} for name, c in cases.items()}
    expected_file = args.directory.with_name(args.directory.name + ".expected.json")
    expected_file.write_text(json.dumps(expected, indent=2) + "\n")
    print(
        f"{len(cases)} recordings written to {args.directory}, their expected outcomes to {expected_file}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
