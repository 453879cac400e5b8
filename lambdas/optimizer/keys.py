"""What counts as a recording, by key."""

from __future__ import annotations

AUDIO_EXTENSIONS = (".wav",)
# S3 can no longer serve these without a restore; converting them would need one first.
ARCHIVE_CLASSES = frozenset({"GLACIER", "DEEP_ARCHIVE"})


def is_audio_key(key: str) -> bool:
    """Audio is chosen by extension, case-insensitively (.wav, .WAV, .Wav)."""
    return key.lower().endswith(AUDIO_EXTENSIONS)
