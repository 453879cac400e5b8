"""What the converter writes: one TargetFormat names the codec for ffmpeg, the WAV it must come
out as (checked by conversion.verify, decoded by audio.check_audio through the G.711 table of its
format tag), the skip for a recording already in it, and its size for the dry run's projection.

Two are shipped, chosen by the `target_format` setting: A-law 8 kHz mono (TARGET, the default: a
quarter of Connect's PCM, the two speakers mixed) and A-law 8 kHz stereo (half of it, each
speaker kept on its own channel). A format never adds channels: a mono source written under the
stereo format stays mono (`for_source`), so nothing is upmixed into a fake stereo.

Both are A-law. mu-law would be one more TargetFormat (pcm_mulaw, format tag 7: the layer's
ffmpeg has the encoder and audio.py already decodes it), with pcm_mulaw added to the encoders
layers/ffmpeg/build.sh checks the binary for; none ships because no deployment has asked for one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from .vocabulary import SkipReason
from .wav import ALAW, WavInfo


@dataclass(frozen=True)
class TargetFormat:
    key: str  # the setting's value (-c target_format=...) and what a remembered skip is keyed by
    name: str  # in messages: "A-law"
    codec: str  # ffmpeg's encoder
    format_tag: int  # of the WAV's fmt chunk; also selects the table audio.py decodes the output with
    sample_rate: int
    channels: int
    bits_per_sample: int
    content_type: str  # given to a new version whose original had none
    header_bytes: int  # what ffmpeg writes before the samples (RIFF, fmt, fact, data)
    skip_reason: SkipReason  # the outcome of a recording already in this format

    @property
    def bytes_per_second(self) -> int:
        """The audio payload's bytes per second of sound."""
        return self.sample_rate * self.channels * self.bits_per_sample // 8

    def matches(self, info: WavInfo) -> bool:
        """The WAV is in this format (a complete one or not: verify checks that separately)."""
        return (info.format_tag, info.channels, info.sample_rate, info.bits_per_sample) == (
            self.format_tag,
            self.channels,
            self.sample_rate,
            self.bits_per_sample,
        )

    def describe(self) -> str:
        """The format as a message names it, e.g. "A-law 8-bit 8000 Hz mono"."""
        layout = {1: "mono", 2: "stereo"}.get(self.channels, f"{self.channels} ch")
        return f"{self.name} {self.bits_per_sample}-bit {self.sample_rate} Hz {layout}"

    def for_source(self, channels: int) -> TargetFormat:
        """The format a source of `channels` channels is written in: this one, or, for a source
        with fewer channels than this format has, the shipped format of the same codec and rate
        with the source's own channels (a mono source stays mono: no channel is invented)."""
        if channels >= self.channels:
            return self
        for other in FORMATS.values():
            if (other.codec, other.sample_rate, other.channels) == (self.codec, self.sample_rate, channels):
                return other
        raise ValueError(f"no {self.name} {self.sample_rate} Hz format with {channels} channel(s) is declared")

    def ffmpeg_output_options(self) -> list[str]:
        """Channels (a downmix for mono), rate and encoder, as ffmpeg's output options."""
        return ["-ac", str(self.channels), "-ar", str(self.sample_rate), "-c:a", self.codec]

    def projected_size(self, data_bytes: int, source_bytes_per_second: int) -> int:
        """The converted object's size for `data_bytes` of source samples at that byte rate
        (Connect's 16-bit stereo 8 kHz: 32,000 B/s, so A-law 8 kHz mono is exactly a quarter,
        stereo a half)."""
        return max(0, data_bytes) * self.bytes_per_second // source_bytes_per_second + self.header_bytes


ALAW_8K_MONO = TargetFormat(
    key="alaw_mono",
    name="A-law",
    codec="pcm_alaw",
    format_tag=ALAW,
    sample_rate=8000,
    channels=1,
    bits_per_sample=8,
    content_type="audio/wav",
    header_bytes=58,
    skip_reason=SkipReason.ALREADY_ALAW,
)
ALAW_8K_STEREO = dataclasses.replace(ALAW_8K_MONO, key="alaw_stereo", channels=2)  # same 58-byte header
TARGET = ALAW_8K_MONO  # the default format the converter writes
# Every format the converter can write, by its key: the one declaration a setting is checked against.
FORMATS: dict[str, TargetFormat] = {f.key: f for f in (ALAW_8K_MONO, ALAW_8K_STEREO)}


def target_format(key: str) -> TargetFormat:
    """The format of a `target_format` setting's value; ValueError naming the key and the values."""
    try:
        return FORMATS[key]
    except KeyError:
        raise ValueError(f"target_format={key!r} is unknown; use one of {', '.join(FORMATS)}") from None
