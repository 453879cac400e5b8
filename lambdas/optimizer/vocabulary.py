"""The two vocabularies of a run's outcomes, each declared once: why a recording failed
(FailureKind) and why it was skipped (SkipReason).

A kind is the type of every `kind` in the code (PermanentFailure, NotWav, AudioMismatch, Outcome,
the dead letter), so mypy refuses one that is not declared here. Each kind says whether the
recording's own bytes are the cause, which is what known_failures.py remembers, and what the
operator can do about it: the table under docs/operations.md#when-something-fails must equal the
one rendered from it (failure_table; tests/unit/test_vocabulary.py holds the page to it). A StrEnum's members are
their strings, so messages, ledger items, counters and reports carry exactly the values they
carried before the registry: `failed_<kind>` and `skipped_<reason>` (the `counter` of each).
A value is stored (ledger items, dead letters): renaming one makes what earlier runs wrote
unreadable.

Adding a kind: one member here (its value is what the summary's failed_by_kind and the dead
letter show) with its Advice, raised where the code refuses; then
`.venv/bin/python -m pytest tests/unit/test_vocabulary.py` prints the table docs/operations.md
must hold.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

FAILED_PREFIX = "failed_"  # a run's counter of one kind: failed_<kind>
SKIPPED_PREFIX = "skipped_"  # a run's counter of one skip reason: skipped_<reason>


@dataclass(frozen=True)
class Advice:
    """One row of the operator's table: how the reason of such a failure starts, what it means,
    and what to do. Kinds that share a row share its Advice (the same object)."""

    reason: str
    meaning: str
    action: str


_STALE_SIZE = Advice(
    reason="`… bytes at byte …, after the data chunk's declared … bytes, are not RIFF chunks: audio past a stale "
    "data size?`",
    meaning="the header says the call is shorter than the audio the object holds (a recorder that crashed after "
    "an earlier header flush); converting would drop the rest",
    action="keep it as it is, or rewrite its header with the real sizes, e.g. `ffmpeg -ignore_length 1 -i in.wav "
    "-c copy out.wav` (reads to the end of the file), and upload that as a new version",
)
_TWO_DATA_CHUNKS = Advice(
    reason="`more than one data chunk`",
    meaning="two blocks of audio; every decoder plays only the first",
    action="keep it, or join the two blocks into one data chunk and upload it",
)
_TRUNCATED = Advice(
    reason="`truncated recording: the data chunk declares …`",
    meaning="the object holds less audio than its header announces: the upload or the recorder was cut off",
    action="keep it (it is the evidence that it was cut), or find the complete file",
)
_RIFF_SIZE = Advice(
    reason="`the RIFF header declares … bytes but the object has …`",
    meaning="the file's outer size contradicts the object: truncated, or bytes appended after the declared end",
    action="as for the two above",
)
_PARTIAL_FRAME = Advice(
    reason="`the audio ends inside a frame`",
    meaning="the last frame is cut by more than one byte (one channel's sample without the other's). One byte "
    "more than whole frames, the odd data size of a 16-bit file, is not refused: that half sample is dropped, as "
    "every decoder drops it (the log line's `audio.dropped_bytes`)",
    action="keep it, or trim the partial frame and upload a new version",
)
_RF64 = Advice(
    reason="`RF64 is not supported`",
    meaning="a 64-bit WAV (recordings over 4 GiB)",
    action="keep it; convert it by hand if you must",
)
_NO_AUDIO = Advice(
    reason="`the recording has no audio frames`",
    meaning="a header and metadata chunks, no audio",
    action="nothing to convert; delete it if your retention rules allow",
)
_NOT_A_WAV = Advice(
    reason="`the object is empty`, `not a RIFF/WAVE file`, `unsupported WAV codec`, `no audio data chunk`, "
    "`no valid chunk at byte …`, …",
    meaning="not a WAV this optimizer converts",
    action="keep it, or convert it by hand",
)
_CHANNELS_CANCEL = Advice(
    reason="`verification failed: channels cancel in the mono downmix`",
    meaning="the same voice on both channels with one inverted (a wiring fault): the mono (L + R) / 2 would be silence",
    action="keep it; convert it by hand with one channel only if that is what you want, or deploy with "
    "`-c target_format=alaw_stereo`, which keeps both channels (no downmix to cancel), then run the day with "
    '`"retry_failed": true` (the failure is remembered for that version)',
)
_UNCHECKABLE_AUDIO = Advice(
    reason="`verification failed: N-channel audio …`, `… not finite numbers`",
    meaning="more than 2 channels (no downmix we can check), or a float recording holding NaN / infinity",
    action="keep it",
)
_BUG = Advice(
    reason="`ffmpeg could not convert …`, `verification failed: …`",
    meaning="ffmpeg failed (not out of space, not killed: those are retried), or its output did not pass the "
    "checks (format, duration, the audio itself); nothing was written",
    action="report it with the key: it is a bug until proven otherwise",
)
_FFMPEG_KILLED = Advice(
    reason="`ffmpeg was killed by signal N on each of this run's N attempts …`",
    meaning="ffmpeg died of a signal (often the out-of-memory killer) on every attempt at this version",
    action='raise `converter_memory_mb`, then `"retry_failed": true`',
)
_NOT_THE_RECORDING = Advice(
    reason="`reading … was denied`, `S3 refused the new version`, `the object's Object Lock state cannot be "
    "read`, `… bytes of user metadata …`, …",
    meaning="not the recording's fault: a permission (also a lock the role may not read, or a retention mode "
    "outside `carried_lock_modes`), a KMS key, S3's rules, its 10 tags, metadata leaving no room for the "
    "provenance within S3's 2 KB",
    action="fix what the reason names, then redrive; not remembered, so the next run tries again",
)
_CUSTODY_MISMATCH = Advice(
    reason="`custody mismatch for s3://…: the current version is …, the record names …`, `its bytes have "
    "SHA-256 …, the record says …`, `the original … has SHA-256 …`, `its audio is not the original's (…)`, "
    "`… carries no provenance, but the version before it … was converted by run …`",
    meaning="a verify run found a converted recording that is not what its conversion wrote (a version "
    "replaced after it, changed bytes, a changed original)",
    action="find out who wrote the version (CloudTrail data events, S3 server access logs); the original "
    "version named is the evidence while it exists. A redrive verifies it again",
)
_UNKNOWN_RUN = Advice(
    reason="`the message has no run …`, `run '…' has no page '…' in the ledger …`",
    meaning="a message this optimizer's enqueuer did not send (one a redrive principal wrote by hand, or a "
    "forgery): nothing was read or written, and no run counts it",
    action="find out who sent it; delete it from the DLQ",
)
_GAVE_UP = Advice(
    reason="`gave up after N attempts: …`, `gave up after N receives and M attempts …`, `tried N times: each "
    "attempt stopped without an outcome …`",
    meaning="transient failures that did not pass, a message that kept coming back untried, or invocations that "
    "crashed, timed out or ran out of memory on every attempt",
    action="read the converter's log for the key (`outcome` = `retry`, or its errors), then redrive",
)
_BAD_MESSAGE = Advice(
    reason="`message body is not a recording message …`, `message body has no usable bucket/key`",
    meaning="a message on the work queue that is not a recording message: nothing was read or written",
    action="find out who sent it; delete it from the DLQ",
)
_OTHER = Advice(
    reason="any",
    meaning="a permanent failure raised without a kind (none is in this release), or a kind in the ledger that "
    "this release does not declare",
    action="read the reason; report it with the key",
)


class FailureKind(StrEnum):
    """Why a recording failed: the `kind` of its dead letter and of its `failed_<kind>` counter.
    `remembered`: the recording's own bytes are the cause (a ContentFailure), so the failure is
    remembered for that version and later runs skip it (known_failures.py); `advice`: its row in
    the operator's table."""

    remembered: bool
    advice: Advice

    def __new__(cls, value: str, remembered: bool, advice: Advice) -> FailureKind:
        member = str.__new__(cls, value)
        member._value_ = value
        member.remembered = remembered
        member.advice = advice
        return member

    @property
    def counter(self) -> str:
        """The run's counter of this kind (optimizer/outcomes.py counts it, summary.py reads it)."""
        return FAILED_PREFIX + self.value

    # The recording's own bytes (optimizer/wav.py, optimizer/audio.py, conversion.py, converter.py).
    STALE_SIZE = "stale_size", True, _STALE_SIZE
    TWO_DATA_CHUNKS = "two_data_chunks", True, _TWO_DATA_CHUNKS
    TRUNCATED = "truncated", True, _TRUNCATED
    RIFF_SIZE = "riff_size", True, _RIFF_SIZE
    PARTIAL_FRAME = "partial_frame", True, _PARTIAL_FRAME
    RF64 = "rf64", True, _RF64
    NO_AUDIO = "no_audio", True, _NO_AUDIO
    EMPTY = "empty", True, _NOT_A_WAV
    NOT_WAV = "not_wav", True, _NOT_A_WAV
    UNSUPPORTED_CODEC = "unsupported_codec", True, _NOT_A_WAV
    CORRUPT = "corrupt", True, _NOT_A_WAV
    CHANNELS_CANCEL = "channels_cancel", True, _CHANNELS_CANCEL
    TOO_MANY_CHANNELS = "too_many_channels", True, _UNCHECKABLE_AUDIO
    NOT_FINITE = "not_finite", True, _UNCHECKABLE_AUDIO
    FFMPEG_FAILED = "ffmpeg_failed", True, _BUG
    VERIFICATION_FAILED = "verification_failed", True, _BUG
    FFMPEG_KILLED = "ffmpeg_killed", True, _FFMPEG_KILLED
    # Not the recording's fault: fixed without changing the object, so never remembered.
    ACCESS_DENIED = "access_denied", False, _NOT_THE_RECORDING
    S3_REFUSED = "s3_refused", False, _NOT_THE_RECORDING
    SSE_C = "sse_c", False, _NOT_THE_RECORDING
    TAG_LIMIT = "tag_limit", False, _NOT_THE_RECORDING
    OUTSIDE_SCOPE = "outside_scope", False, _NOT_THE_RECORDING
    METADATA_LIMIT = "metadata_limit", False, _NOT_THE_RECORDING
    CUSTODY_MISMATCH = "custody_mismatch", False, _CUSTODY_MISMATCH
    UNKNOWN_RUN = "unknown_run", False, _UNKNOWN_RUN
    GAVE_UP = "gave_up", False, _GAVE_UP
    CRASHED = "crashed", False, _GAVE_UP
    BAD_MESSAGE = "bad_message", False, _BAD_MESSAGE
    OTHER = "other", False, _OTHER

    @classmethod
    def stored(cls, text: str) -> FailureKind:
        """The kind a ledger item names (written by this code): OTHER for none, as before kinds
        were stored, or for one this release does not declare."""
        return next((kind for kind in cls if kind.value == text), cls.OTHER)


FAILURE_TABLE_HEADER = (
    "| kind in `failed_by_kind` | reason starts with | what it means | what you can do |",
    "|---|---|---|---|",
)


def failure_table() -> str:
    """The operator's table of failure kinds (docs/operations.md#when-something-fails), one row per
    Advice, its kinds in declaration order."""
    rows: dict[int, tuple[Advice, list[FailureKind]]] = {}
    for kind in FailureKind:
        rows.setdefault(id(kind.advice), (kind.advice, []))[1].append(kind)
    lines = list(FAILURE_TABLE_HEADER)
    for advice, kinds in rows.values():
        names = ", ".join(f"`{kind}`" for kind in kinds)
        lines.append(f"| {names} | {advice.reason} | {advice.meaning} | {advice.action} |")
    return "\n".join(lines)


# Which counter of the summary's `skipped` a reason belongs to: the lister's (a listed object not
# enqueued), the converter's, a verify run's, an undo's.
SkipCounter = Literal["lister", "converter", "verify", "undo"]


class SkipReason(StrEnum):
    """Why a recording was left as it is, counted `skipped_<reason>`. `by`: whose count it is in
    the summary (summary.py) and in the truth check (emulator/truth.py): the converter skips some
    `archived` too, counted with the lister's."""

    by: SkipCounter

    def __new__(cls, value: str, by: SkipCounter) -> SkipReason:
        member = str.__new__(cls, value)
        member._value_ = value
        member.by = by
        return member

    @property
    def counter(self) -> str:
        """The run's counter of this reason."""
        return SKIPPED_PREFIX + self.value

    NOT_AUDIO = "not_audio", "lister"  # the key does not end .wav
    ALREADY_TARGET_CLASS = "already_target_class", "lister"  # listed in the target storage class
    ARCHIVED = "archived", "lister"  # in an archive class (Glacier Flexible Retrieval, Deep Archive)
    KNOWN_FAILURE = "known_failure", "lister"  # a remembered content failure (known_failures.py)
    # remembered as already in the target format by an earlier run's converter (known_formats.py)
    KNOWN_TARGET_FORMAT = "known_target_format", "lister"
    ALREADY_CONVERTED = "already_converted", "converter"  # this optimizer's conversion (its tag, its provenance)
    ALREADY_ALAW = "already_alaw", "converter"  # already in the target format (formats.py)
    GONE = "gone", "converter"  # no longer there when read
    CHANGED = "changed", "converter"  # another version since it was listed
    NOT_CONVERTED = "not_converted", "verify"  # a verify run met a recording without provenance
    UNDONE = "undone", "undo"  # undone by an undo run: a plain run leaves it alone


def skip_reasons(by: SkipCounter) -> tuple[SkipReason, ...]:
    """The reasons counted as `by`'s, in declaration order (the summary's order)."""
    return tuple(reason for reason in SkipReason if reason.by == by)
