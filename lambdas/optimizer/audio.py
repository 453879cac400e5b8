"""Checking a conversion's audio against its source, sample by sample, independently of ffmpeg.

The format checks (`conversion.verify`) prove the output is the target format and as long as the
input; they cannot see what the samples hold. Here the source is decoded by our own code (PCM
8/16/24/32/64-bit, float 32/64, mu-law, A-law; mono or stereo), downmixed as ffmpeg's `-ac 1`
does for stereo, (L + R) / 2, and compared with the output decoded through our own G.711 table
for the target's format tag (A-law: optimizer/formats.py):

- sources at 8 kHz: sample for sample, the whole band (ffmpeg does not resample them);
- any other rate: both signals are taken block by block into the frequency domain, the source's
  spectrum is cut to the 8 kHz grid (that is the resampling: zero phase, no delay to align), and
  both are compared in the same band, flat to 3.2 kHz and tapered to nothing at 3.4 kHz, so
  neither resampler's transition band enters the comparison (ffmpeg's response leaves ours
  above ~3.3 kHz: docs/benchmarks.md).

A stereo target (alaw_stereo) is checked channel by channel instead: each output channel against
its own source channel, by the same comparison, with no downmix (so no channel can cancel); a
source channel that is silent must come out silent, or the output has put sound where the
recording has none (one speaker leaking into the other's channel).

The comparison gives the output's signal-to-noise ratio against the downmix, over the whole file
and over every window of a few seconds (sliding by one second). A window "has signal" when the
downmix is above a floor; in a quieter window the error must stay below the floor less the
required SNR, so noise written over silence is caught too. Separately, the downmix must not lose a
channel: a channel with signal whose content vanishes from (L + R) / 2 (the same speech on both
channels, one inverted) is refused even though the output matches that silent downmix.

Everything is read in chunks: memory does not grow with the recording's length. Thresholds and
their measured margins: docs/benchmarks.md ("Audio verification").
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from .formats import TARGET, TargetFormat
from .vocabulary import FailureKind
from .wav import ALAW, IEEE_FLOAT, MULAW, PCM, WavInfo

# The comparison works on 8 kHz output, mono or stereo (the 8 kHz path sample for sample, the other
# rates on the 8 kHz grid): a target format of another rate would need more than a new table.
TARGET_RATE = 8000
CHANNEL_NAMES = ("left", "right")  # of a stereo output, in the order of the WAV's samples
# Thresholds, chosen from measurements on speech (docs/benchmarks.md, "Audio verification").
# A-law's own error is ~38 dB SNR; every wrong output measured is at or below 3 dB.
MIN_SNR_DB = 20.0
# A window "has signal" when the downmix's RMS reaches this level. A-law still gives ~30 dB there.
SIGNAL_FLOOR_DBFS = -40.0
# A channel with signal "vanishes" when the downmix keeps less than this fraction (in dB) of the
# level that channel alone would give it ((L + R) / 2 of a lone talker is 6 dB below that talker).
MAX_CHANNEL_LOSS_DB = 20.0
WINDOW_S = 3  # the stretch of a few seconds, sliding by 1 s
BAND_HZ = 3200.0  # compared band where the source is resampled: 0 .. BAND_HZ, tapered above
TAPER_HZ = 200.0  # raised-cosine taper from BAND_HZ to BAND_HZ + TAPER_HZ, then nothing
CHUNK_SECONDS = 16  # 8 kHz path: seconds per chunk (16 s of 8 kHz stereo 16-bit = 512 KB)
MARGIN_S = 0.05  # resampled path: overlap on each side of a 1-second block, discarded after use


class AudioMismatch(Exception):
    """The output's audio is not the source's downmix, or the downmix loses a channel. `kind`
    tells a source that cannot be converted faithfully from an output that is wrong."""

    def __init__(self, reason: str, kind: FailureKind = FailureKind.VERIFICATION_FAILED) -> None:
        super().__init__(reason)
        self.kind = kind


def _alaw_table() -> np.ndarray:
    """G.711 A-law decoding (ITU-T reference), in 16-bit units, for all 256 codes."""
    out = np.empty(256, np.float64)
    for byte in range(256):
        a = byte ^ 0x55
        seg = (a & 0x70) >> 4
        t = (a & 0x0F) << 4
        t = t + 8 if seg == 0 else (t + 0x108 if seg == 1 else (t + 0x108) << (seg - 1))
        out[byte] = t if a & 0x80 else -t
    return out


def _mulaw_table() -> np.ndarray:
    """G.711 mu-law decoding (ITU-T reference), in 16-bit units, for all 256 codes."""
    out = np.empty(256, np.float64)
    for byte in range(256):
        u = ~byte & 0xFF
        t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
        out[byte] = 0x84 - t if u & 0x80 else t - 0x84
    return out


ALAW_TABLE = _alaw_table()
MULAW_TABLE = _mulaw_table()
G711_TABLES = {ALAW: ALAW_TABLE, MULAW: MULAW_TABLE}  # by WAV format tag


@dataclass(frozen=True)
class SampleFormat:
    """How to turn a source's bytes into numbers: `scale` maps the decoded units to full scale."""

    dtype: str
    width: int
    channels: int
    scale: float
    table: np.ndarray | None = None  # A-law / mu-law codes
    offset: float = 0.0  # 8-bit PCM is unsigned


def sample_format(info: WavInfo) -> SampleFormat:
    """The decoder for a source, or AudioMismatch if its audio cannot be checked."""
    width = info.block_align // info.channels if info.channels else 0
    if info.channels not in (1, 2):
        # ffmpeg picks a layout-dependent matrix for more than 2 channels (centre, surround and LFE
        # weighted differently, guessed when the file has no channel mask): not a downmix we can
        # check independently, so such a recording is left as it is rather than converted blind.
        raise AudioMismatch(
            f"{info.channels}-channel audio: only mono and stereo downmixes can be verified",
            FailureKind.TOO_MANY_CHANNELS,
        )
    if info.format_tag == PCM and width in (1, 2, 3, 4, 8):
        if width == 1:
            return SampleFormat("u1", 1, info.channels, 1 / 128, offset=128.0)
        # 24-bit is read as the top three bytes of a 32-bit integer, 64-bit as its top 32 bits
        # (squares of 64-bit values would overflow float32; see `decode`).
        bits = {2: 16, 3: 32, 4: 32, 8: 32}[width]
        return SampleFormat({2: "<i2", 3: "<i4", 4: "<i4", 8: "<i8"}[width], width, info.channels, 2.0 ** (1 - bits))
    if info.format_tag == IEEE_FLOAT and width in (4, 8):
        return SampleFormat("<f4" if width == 4 else "<f8", width, info.channels, 1.0)
    if info.format_tag in (ALAW, MULAW) and width == 1:
        return SampleFormat("u1", 1, info.channels, 1 / 32768, table=G711_TABLES[info.format_tag].astype(np.float32))
    raise AudioMismatch(
        f"cannot decode format 0x{info.format_tag:04x} with {width} bytes per sample ({info.bits_per_sample}-bit) to "
        "check the audio"
    )


def decode(raw: bytes, fmt: SampleFormat) -> list[np.ndarray]:
    """The whole frames of `raw`, one contiguous float32 array per channel, in the format's units
    (x fmt.scale = full scale). Integers stay exact up to 24 bits, far below A-law's resolution."""
    frames = len(raw) // (fmt.width * fmt.channels)
    raw = raw[: frames * fmt.width * fmt.channels]
    if fmt.width == 2 and fmt.channels == 2 and fmt.table is None:
        # Connect's own format, so the common case: each frame read as one little-endian int32
        # (left in the low half) and split with shifts, 2.4x faster than two strided casts.
        frame = np.frombuffer(raw, "<i4")
        left = frame << 16
        left >>= 16
        return [left.astype(np.float32), (frame >> 16).astype(np.float32)]
    if fmt.width == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3)
        padded = np.zeros((len(b), 4), np.uint8)
        padded[:, 1:] = b  # little-endian: the sample in the top 24 bits of an int32, sign included
        x = padded.view("<i4").reshape(frames, fmt.channels)
    else:
        x = np.frombuffer(raw, fmt.dtype).reshape(frames, fmt.channels)
        if fmt.width == 8 and fmt.table is None and fmt.dtype == "<i8":
            x = x >> 32
    if fmt.table is not None:
        return [fmt.table.take(x[:, c]) for c in range(fmt.channels)]
    channels = [x[:, c].astype(np.float32) for c in range(fmt.channels)]
    if fmt.offset:
        for c in channels:
            c -= fmt.offset
    return channels


def _db(ratio: float) -> float:
    return 10 * math.log10(ratio) if ratio > 0 else -math.inf


class _Sums:
    """Per-second sums of squares in full-scale units, appended as the file is read: reference
    (the downmix, or for a stereo output one source channel, in the compared band), error (output
    - reference); for a downmix of stereo also each channel and their downmix at the source's
    rate, whole band, for the channel check."""

    def __init__(self, channels: int) -> None:
        self.stereo = channels == 2  # a downmix of two channels (never for a stereo output's channel)
        self.samples: list[int] = []  # output samples per second (8000, the last may be fewer)
        self.ref: list[float] = []
        self.err: list[float] = []
        self.frames: list[int] = []  # source frames per second
        self.left: list[float] = []
        self.right: list[float] = []
        self.mix: list[float] = []


def _row_sums(a: np.ndarray, width: int) -> np.ndarray:
    """Sums of squares of consecutive rows of `width` samples (the last row may be shorter).
    float32 products summed by einsum: ~1e-5 relative, far finer than the dB figures used."""
    full = len(a) // width * width
    rows = a[:full].reshape(-1, width)
    sums = np.einsum("ij,ij->i", rows, rows).astype(np.float64)
    if full < len(a):
        sums = np.append(sums, float(np.dot(a[full:], a[full:])))
    return sums


def _counts(n: int, width: int) -> list[int]:
    return [width] * (n // width) + ([n % width] if n % width else [])


def _read(f: BinaryIO, info: WavInfo, fmt: SampleFormat, start: int, stop: int) -> list[np.ndarray]:
    """Frames [start, stop) of the source, clipped to the frames present, one array per channel."""
    start, stop = max(start, 0), min(stop, info.frames)
    f.seek(info.data_offset + start * info.block_align)
    return decode(f.read(max(stop - start, 0) * info.block_align), fmt)


def _codes(f: BinaryIO, output: WavInfo, start: int, stop: int) -> np.ndarray:
    """Codes of the output's frames [start, stop) (one byte per sample, channels interleaved),
    clipped to the frames present."""
    start, stop = max(start, 0), min(stop, output.frames)
    f.seek(output.data_offset + start * output.block_align)
    return np.frombuffer(f.read(max(stop - start, 0) * output.block_align), np.uint8)


@functools.lru_cache(maxsize=8)
def _pair_table(scale: float, format_tag: int) -> np.ndarray:
    """65,536 pairs of decoded output samples (x 2, in units of `scale`), indexed by two codes read
    as one little-endian uint16: half as many look-ups as decoding byte by byte (the look-up is
    the 8 kHz path's largest cost). Built once per source format (0.5 ms), then reused."""
    table = (G711_TABLES[format_tag] * (2 / 32768 / scale)).astype(np.float32)
    pairs = np.stack([np.tile(table, 256), np.repeat(table, 256)], axis=1)
    pairs.flags.writeable = False
    return pairs


def _add_8k(sums: _Sums, m: np.ndarray, y: np.ndarray, unit: float, n: int) -> None:
    """One chunk of the 8 kHz path: reference m and output y (both x 2, in the source's units)."""
    ref = _row_sums(m, TARGET_RATE) * unit
    y -= m  # the look-up's own array (or a column of it), changed in place
    sums.ref += list(ref)
    sums.err += list(_row_sums(y, TARGET_RATE) * unit)
    if sums.stereo:
        sums.mix += list(ref)
    sums.samples += _counts(n, TARGET_RATE)
    sums.frames += _counts(n, TARGET_RATE)


def _sums_at_8k(
    src: BinaryIO, source: WavInfo, fmt: SampleFormat, out: BinaryIO, output: WavInfo, frames: int
) -> list[_Sums]:
    """Same rate: no resampling, so the reference (the downmix, or each source channel for a
    stereo output) and the output are compared sample for sample, whole band. Works in the
    source's units (m = L + R, or 2 x the channel: the output's value x 2) and scales the sums, so
    the samples are converted once."""
    if output.channels == 2:
        return _channels_at_8k(src, source, fmt, out, output, frames)
    sums = _Sums(fmt.channels)
    pairs = _pair_table(fmt.scale, output.format_tag)
    unit = (fmt.scale / 2) ** 2  # (m / 2 x scale)^2: full scale
    chunk = CHUNK_SECONDS * TARGET_RATE
    for start in range(0, frames, chunk):
        stop = min(start + chunk, frames)
        channels = _read(src, source, fmt, start, stop)
        if sums.stereo:
            left, right = channels
            sums.left += list(_row_sums(left, TARGET_RATE) * fmt.scale**2)
            sums.right += list(_row_sums(right, TARGET_RATE) * fmt.scale**2)
            left += right
            m = left
        else:
            m = channels[0]
            m *= 2
        codes = _codes(out, output, start, stop)
        if len(codes) % 2:
            codes = np.append(codes, np.uint8(0))
        y = pairs.take(codes.view("<u2"), axis=0).reshape(-1)[: stop - start]
        _add_8k(sums, m, y, unit, stop - start)
    return [sums]


def _channels_at_8k(
    src: BinaryIO, source: WavInfo, fmt: SampleFormat, out: BinaryIO, output: WavInfo, frames: int
) -> list[_Sums]:
    """A stereo output at the source's rate: each channel against the same source channel. The
    two codes of a frame, read as one little-endian uint16, are its (left, right) pair."""
    sums = [_Sums(1), _Sums(1)]
    pairs = _pair_table(fmt.scale, output.format_tag)
    unit = (fmt.scale / 2) ** 2
    chunk = CHUNK_SECONDS * TARGET_RATE
    for start in range(0, frames, chunk):
        stop = min(start + chunk, frames)
        channels = _read(src, source, fmt, start, stop)
        codes = _codes(out, output, start, stop)
        if len(codes) % 2:
            codes = np.append(codes, np.uint8(0))
        y = pairs.take(codes.view("<u2"), axis=0)[: stop - start]
        for c, channel in enumerate(channels):
            channel *= 2
            _add_8k(sums[c], channel, y[:, c], unit, stop - start)
    return sums


def compared_band(rate: int) -> tuple[float, float]:
    """(band, taper) in Hz: BAND_HZ, or less for a source below 8 kHz whose own band ends lower."""
    return min(BAND_HZ, 0.4 * rate), min(TAPER_HZ, 0.05 * rate)


def band_mask(n_bins: int, block_s: float, band_hz: float, taper_hz: float) -> np.ndarray:
    """Weights of rfft bins 0..n_bins-1 (spacing 1/block_s Hz): 1 up to band_hz, a raised-cosine
    taper to 0 at band_hz + taper_hz. Smooth, so its impulse response is short (a few ms) and the
    blocks' overlap of MARGIN_S hides their edges."""
    f = np.arange(n_bins) / block_s
    w = np.clip((f - band_hz) / taper_hz, 0.0, 1.0)
    return 0.5 + 0.5 * np.cos(np.pi * w)


def _reflect(x: np.ndarray, before: int, length: int) -> np.ndarray:
    """x, `before` samples of which are missing before the file's start and the rest of
    `length` after its end, padded by reflection as ffmpeg's resampler pads its input, so the
    first and last milliseconds are filtered alike on both sides."""
    after = length - before - len(x)
    if before or after:
        x = (
            np.pad(x, (before, after), mode="reflect" if len(x) > 1 else "edge")
            if len(x)
            else np.zeros(length, x.dtype)
        )
    return x


def block_margin(rate: int) -> int:
    """The overlap on each side of a 1-second block, in 8 kHz samples: at least MARGIN_S and a
    whole number of source frames too."""
    unit = TARGET_RATE // math.gcd(rate, TARGET_RATE)  # 8 kHz samples per whole number of source frames
    return unit * math.ceil(MARGIN_S * TARGET_RATE / unit)


def _sums_resampled(
    src: BinaryIO, source: WavInfo, fmt: SampleFormat, out: BinaryIO, output: WavInfo, frames: int
) -> list[_Sums]:
    """Other rates, one second at a time with MARGIN_S of overlap on each side: both signals into
    the frequency domain with the same bin spacing (the source's spectrum, cut to the 8 kHz
    grid, is the resampled reference), the same band weighted, back to 8 kHz samples."""
    rate = source.sample_rate
    margin_out = block_margin(rate)
    margin_src = margin_out * rate // TARGET_RATE
    n_out, n_src = TARGET_RATE + 2 * margin_out, rate + 2 * margin_src  # one block, margins included
    mask = band_mask(n_out // 2 + 1, n_out / TARGET_RATE, *compared_band(rate))
    bins = int(np.count_nonzero(mask))
    mask = mask[:bins]
    decoded = (G711_TABLES[output.format_tag] / 32768).astype(np.float32)
    # A whole multiple of 8 kHz (16, 32, 48, 96 kHz): the block is `factor` interleaved 8 kHz
    # blocks, and one decimation-in-time step gives the source spectrum's first bins from their
    # own small FFTs, about twice as fast as the FFT at the source's rate (the largest cost here).
    factor = rate // TARGET_RATE if rate % TARGET_RATE == 0 else 1
    twiddles = np.exp(-2j * np.pi * np.outer(np.arange(factor), np.arange(bins)) / n_src).astype(np.complex64)

    def source_spectrum(m: np.ndarray) -> np.ndarray:
        if factor == 1:
            return np.fft.rfft(m)[:bins]
        parts = np.fft.rfft(m.reshape(n_out, factor).T, axis=1)[:, :bins]
        return (parts * twiddles).sum(axis=0)

    def compare(sums: _Sums, m: np.ndarray, y: np.ndarray, lead: int, lead_out: int, core_out: int) -> None:
        m = _reflect(m, lead, n_src)
        y = _reflect(y, lead_out, n_out)
        ref_spec = source_spectrum(m) * (mask * (n_out / n_src))
        err_spec = np.fft.rfft(y)[:bins] * mask
        err_spec -= ref_spec
        ref = np.fft.irfft(ref_spec, n_out)[margin_out : margin_out + core_out]
        err = np.fft.irfft(err_spec, n_out)[margin_out : margin_out + core_out]
        sums.ref.append(float(np.dot(ref, ref)))
        sums.err.append(float(np.dot(err, err)))
        sums.samples.append(core_out)

    per_channel = output.channels == 2  # a stereo output: each channel against its source channel
    all_sums = [_Sums(1), _Sums(1)] if per_channel else [_Sums(fmt.channels)]
    sums = all_sums[0]
    for o0 in range(0, frames, TARGET_RATE):
        s0 = o0 * rate // TARGET_RATE
        core_out, core_src = min(TARGET_RATE, frames - o0), max(0, min(rate, source.frames - s0))
        channels = _read(src, source, fmt, s0 - margin_src, s0 + rate + margin_src)
        lead = max(0, margin_src - s0)  # frames before the file's start
        codes = _codes(out, output, o0 - margin_out, o0 + TARGET_RATE + margin_out)
        if per_channel:
            decoded_pairs = decoded.take(codes[: len(codes) // 2 * 2]).reshape(-1, 2)
            for c, channel in enumerate(channels):
                channel *= np.float32(fmt.scale)
                compare(all_sums[c], channel, decoded_pairs[:, c], lead, max(0, margin_out - o0), core_out)
                all_sums[c].frames.append(core_src)
            continue
        if sums.stereo:
            left, right = channels
            inside = slice(margin_src - lead, margin_src - lead + core_src)
            sums.left.append(float(np.dot(left[inside], left[inside])) * fmt.scale**2)
            sums.right.append(float(np.dot(right[inside], right[inside])) * fmt.scale**2)
            left += right
            m = left
            m *= np.float32(fmt.scale / 2)
            sums.mix.append(float(np.dot(m[inside], m[inside])))
        else:
            m = channels[0]
            m *= np.float32(fmt.scale)
        compare(sums, m, decoded.take(codes), lead, max(0, margin_out - o0), core_out)
        sums.frames.append(core_src)
    return all_sums


@dataclass(frozen=True)
class AudioCheck:
    """What the check measured; `log_field()` is one field of the converter's log line."""

    snr_db: float  # output against the source downmix, whole file
    worst_window_snr_db: float | None  # the lowest over the windows with signal (None: no such window)
    worst_window_start_s: int | None
    windows_with_signal: int
    seconds_compared: float
    band_hz: float | None  # None: the whole band (8 kHz source, no resampling)
    # A stereo output: each channel's own check (left, right). The fields above are then the lowest
    # SNR of the two, the worst window of either, and the most windows with signal of either.
    channels: tuple[AudioCheck, ...] = ()

    def log_field(self) -> dict[str, Any]:
        """The measures as the log and the outcome carry them, rounded (per channel for stereo)."""
        field: dict[str, Any] = {
            "snr_db": _rounded(self.snr_db),
            "worst_window_snr_db": _rounded(self.worst_window_snr_db),
            "worst_window_start_s": self.worst_window_start_s,
            "windows_with_signal": self.windows_with_signal,
        }
        if self.channels:
            field["channels"] = [c.log_field() for c in self.channels]
        return field


def _rounded(value: float | None) -> float | None:
    if value is None:
        return None
    return round(value, 1) if math.isfinite(value) else (999.0 if value > 0 else -999.0)


def _windows(values: Sequence[float], width: int) -> np.ndarray:
    """Sums over every run of `width` consecutive seconds (all of them if fewer)."""
    a = np.asarray(values, np.float64)
    if len(a) <= width:
        return np.array([a.sum()])
    c = np.concatenate(([0.0], np.cumsum(a)))
    return c[width:] - c[:-width]


def _span(start: int, seconds: int, total: float) -> str:
    return f"{start}-{min(start + seconds, total):g} s"


def _level(power: float) -> str:
    return f"{_db(power):.1f} dBFS" if power > 0 else "digital silence"


def _channel_loss(sums: _Sums, width: int, total_s: float, floor: float) -> None:
    """A mono downmix of stereo: AudioMismatch when a channel with signal vanishes in it.
    Each channel against the downmix, whole band, in the source's frames."""
    frames = np.maximum(_windows(sums.frames, width), 1)
    mix = _windows(sums.mix, width) / frames
    for name, values in zip(CHANNEL_NAMES, (sums.left, sums.right), strict=True):
        channel = _windows(values, width) / frames
        # A lone talker's (L + R) / 2 is that channel / 2, a quarter of its power: 1.0 here.
        kept = np.divide(mix, channel / 4, out=np.full_like(mix, np.inf), where=channel >= floor)
        worst = int(np.argmin(kept))
        if kept[worst] < 10 ** (-MAX_CHANNEL_LOSS_DB / 10):
            raise AudioMismatch(
                f"channels cancel in the mono downmix: at {_span(worst, width, total_s)} the {name} channel is at "
                f"{_level(channel[worst])} but the downmix (L + R) / 2 at {_level(mix[worst])}, "
                f"{-_db(kept[worst]):.1f} dB below half that channel ({MAX_CHANNEL_LOSS_DB:g} dB allowed)",
                FailureKind.CHANNELS_CANCEL,
            )


@dataclass(frozen=True)
class _Compared:
    """What one comparison names in its messages: the output's side and the reference's."""

    output: str = "the output"
    reference: str = "the source's downmix"
    short: str = "downmix"  # the reference, in a parenthesis
    channel: str | None = None  # of a stereo output

    @classmethod
    def of_channel(cls, name: str) -> _Compared:
        return cls(f"the output's {name} channel", f"the source's {name} channel", f"{name} channel", name)


def _silent_channel(ref: np.ndarray, err: np.ndarray, width: int, total_s: float, what: _Compared) -> None:
    """A stereo output's channel whose source channel is silent (below the floor in every window)
    must be silent too: AudioMismatch naming where the output put sound instead."""
    floor = 10 ** (SIGNAL_FLOOR_DBFS / 10)
    allowed = 10 ** ((SIGNAL_FLOOR_DBFS - MIN_SNR_DB) / 10)
    if what.channel is None or (ref >= floor).any() or (err <= allowed).all():
        return
    worst = int(np.argmax(err))
    raise AudioMismatch(
        f"the {what.channel} channel is silent in the source (at most {_level(float(ref.max()))}) but not in the "
        f"output: at {_span(worst, width, total_s)} the output's {what.channel} channel holds {_level(err[worst])}, "
        f"{SIGNAL_FLOOR_DBFS - MIN_SNR_DB:g} dBFS allowed"
    )


def judge(sums: _Sums, *, band_hz: float | None, what: _Compared = _Compared()) -> AudioCheck:
    """The verdict on the measured sums: AudioMismatch with the numbers, or what was measured.

    Each window of WINDOW_S seconds (sliding by 1 s), and the whole file, must have its error at
    least MIN_SNR_DB below the reference (the source's downmix, or a stereo output's source
    channel), or below SIGNAL_FLOOR_DBFS - MIN_SNR_DB (-60 dBFS) where the reference is quieter
    than the floor: silence stays silence."""
    if not sums.samples:
        raise AudioMismatch("no audio to compare (the source is shorter than one 8 kHz sample)")
    if not np.isfinite(sums.ref + sums.err + sums.left + sums.right + sums.mix).all():
        # A float source can hold NaN or infinity: every comparison with NaN is false, so it
        # must be refused here rather than slip through the thresholds.
        raise AudioMismatch(
            "the source holds samples that are not finite numbers (NaN, infinity or values beyond float range)",
            FailureKind.NOT_FINITE,
        )
    floor = 10 ** (SIGNAL_FLOOR_DBFS / 10)
    total_s = sum(sums.samples) / TARGET_RATE
    width = min(WINDOW_S, len(sums.samples))
    if sums.stereo:
        _channel_loss(sums, width, total_s, floor)
    n = _windows(sums.samples, width)
    ref, err = _windows(sums.ref, width) / n, _windows(sums.err, width) / n
    _silent_channel(ref, err, width, total_s, what)
    with np.errstate(divide="ignore"):
        window_snr = 10 * np.log10(np.maximum(ref, floor) / err)
    worst = int(np.argmin(window_snr))
    if window_snr[worst] < MIN_SNR_DB:
        at = _span(worst, width, total_s)
        if ref[worst] >= floor:
            raise AudioMismatch(
                f"{what.output} does not match the source: at {at} its SNR against {what.reference} is "
                f"{window_snr[worst]:.1f} dB, {MIN_SNR_DB:g} dB required ({what.short} at {_level(ref[worst])})"
            )
        raise AudioMismatch(
            f"{what.output} does not match the source: at {at} {what.reference} is quiet ({_level(ref[worst])}) "
            f"but {what.output} differs from it by {_level(err[worst])}, "
            f"{SIGNAL_FLOOR_DBFS - MIN_SNR_DB:g} dBFS allowed"
        )
    samples = sum(sums.samples)
    ref_total, err_total = sum(sums.ref) / samples, sum(sums.err) / samples
    snr = _db(max(ref_total, floor) / err_total) if err_total > 0 else math.inf
    if snr < MIN_SNR_DB:
        raise AudioMismatch(
            f"{what.output} does not match the source: its SNR over the whole recording is {snr:.1f} dB, "
            f"{MIN_SNR_DB:g} dB required"
        )
    signal = ref >= floor
    best = int(np.argmin(np.where(signal, window_snr, np.inf))) if signal.any() else None
    return AudioCheck(
        snr_db=snr,
        worst_window_snr_db=float(window_snr[best]) if best is not None else None,
        worst_window_start_s=best,
        windows_with_signal=int(signal.sum()),
        seconds_compared=total_s,
        band_hz=band_hz,
    )


def measure(
    source_path: str, source: WavInfo, output_path: str, output: WavInfo, target: TargetFormat = TARGET
) -> _Sums:
    """The sums of a mono target's comparison (the benchmarks read them); measure_all for any."""
    if target.channels != 1:
        raise ValueError(f"measure compares a mono output; measure_all compares {target.describe()}")
    return measure_all(source_path, source, output_path, output, target)[0]


def measure_all(
    source_path: str, source: WavInfo, output_path: str, output: WavInfo, target: TargetFormat = TARGET
) -> list[_Sums]:
    """The sums of each comparison: one for a mono output (against the source's downmix), one per
    channel for a stereo output (against the same channel of a stereo source)."""
    if target.format_tag not in G711_TABLES or target.channels not in (1, 2) or target.sample_rate != TARGET_RATE:
        raise ValueError(f"the audio check compares 8 kHz mono or stereo G.711 output only, not {target.describe()}")
    fmt = sample_format(source)
    expected_output = (target.format_tag, target.channels, target.sample_rate, target.channels)
    if (output.format_tag, output.channels, output.sample_rate, output.block_align) != expected_output:
        raise AudioMismatch(
            f"the output is format 0x{output.format_tag:04x}, {output.channels} channel(s), {output.sample_rate} Hz, "
            f"expected {target.name} {'mono' if target.channels == 1 else 'stereo'} {target.sample_rate} Hz"
        )
    if output.channels > source.channels:
        raise AudioMismatch(f"the output has {output.channels} channels, the source {source.channels}: none is added")
    # ffmpeg's output may be a few samples longer or shorter (the duration check bounds it).
    expected = source.frames * TARGET_RATE // source.sample_rate
    frames = min(output.frames, expected)
    with open(source_path, "rb") as src, open(output_path, "rb") as out, np.errstate(over="ignore", invalid="ignore"):
        if source.sample_rate == TARGET_RATE:
            return _sums_at_8k(src, source, fmt, out, output, frames)
        return _sums_resampled(src, source, fmt, out, output, frames)


def check_audio(
    source_path: str, source: WavInfo, output_path: str, output: WavInfo, target: TargetFormat = TARGET
) -> AudioCheck:
    """AudioMismatch (the reason with the numbers) unless the output is the source's downmix, or,
    for a stereo output, each channel the source's same channel."""
    sums = measure_all(source_path, source, output_path, output, target)
    band_hz = None if source.sample_rate == TARGET_RATE else compared_band(source.sample_rate)[0]
    if len(sums) == 1:
        return judge(sums[0], band_hz=band_hz)
    checks = tuple(
        judge(s, band_hz=band_hz, what=_Compared.of_channel(name)) for s, name in zip(sums, CHANNEL_NAMES, strict=True)
    )
    worst = min(checks, key=lambda c: math.inf if c.worst_window_snr_db is None else c.worst_window_snr_db)
    return dataclasses.replace(
        worst,
        snr_db=min(c.snr_db for c in checks),
        windows_with_signal=max(c.windows_with_signal for c in checks),
        channels=checks,
    )
