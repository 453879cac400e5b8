"""The audio check inside the converter, against moto's S3 with the real ffmpeg from the layer.

A `convert` function injected into `convert_recording` writes a correct A-law mono 8 kHz file of
the right length whose audio is wrong (silence, the first half only, one leg's polarity flipped):
the format and duration checks pass it, the audio check must not. Cancelling channels need no
injection: ffmpeg converts them faithfully into silence. Each is refused as a ContentFailure with
its numbers, and the original stays byte for byte. Recordings that convert correctly (the
emulator's sample day: test_converter_corpus.py; a Connect-style speech call) still do."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

import converter
from benchmarks import speech
from optimizer.conversion import ContentFailure, convert_recording, run_ffmpeg
from tests.support import BUCKET, DAY, LambdaContext, assert_untouched, drain, put, sqs_event

SILENCE = 0xD5  # the A-law code of 0


@pytest.fixture(scope="module")
def call() -> bytes:
    """12 s of a Connect-style call: real speech, one talker per channel taking turns, 16-bit
    PCM stereo 8 kHz."""
    return speech.wav_bytes(speech.call(12, 8000), 8000)


def channels_of(src: str) -> np.ndarray:
    with wave.open(src) as w:
        return np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, 2).astype(np.float64) / 32768


def write_silence(ffmpeg: str, src: str, dst: str) -> None:
    Path(dst).write_bytes(speech.alaw_wav_bytes(np.full(len(channels_of(src)), SILENCE, np.uint8)))


def write_first_half(ffmpeg: str, src: str, dst: str) -> None:
    run_ffmpeg(ffmpeg, src, dst)
    good = Path(dst).read_bytes()
    codes = np.frombuffer(good[-len(channels_of(src)) :], np.uint8).copy()  # the data chunk ends the file
    codes[len(codes) // 2 :] = SILENCE
    Path(dst).write_bytes(speech.alaw_wav_bytes(codes))


def write_one_leg_flipped(ffmpeg: str, src: str, dst: str) -> None:
    frames = channels_of(src)
    Path(dst).write_bytes(speech.alaw_wav_bytes(speech.alaw_codes((frames[:, 0] - frames[:, 1]) / 2)))


@pytest.mark.parametrize(
    "convert, window",
    [
        (write_silence, r"at 0-3 s its SNR against the source's downmix is 0\.0 dB, 20 dB required"),
        (write_first_half, r"at [6-9]-(9|1[0-2]) s its SNR against the source's downmix is 0\.0 dB, 20 dB required"),
        # The right talker speaks at 2.5-5 s and 7.5-10 s: there (L - R) / 2 is the opposite of
        # (L + R) / 2, an error twice the signal.
        (
            write_one_leg_flipped,
            r"at [27]-(5|10) s its SNR against the source's downmix is -[56]\.\d dB, 20 dB required",
        ),
    ],
    ids=["silence", "first-half", "one-leg-flipped"],
)
def test_a_wrong_output_in_the_right_format_is_refused_and_the_original_kept(aws, call, convert, window):
    s3, settings = aws.s3, aws.settings
    rec = put(s3, DAY + f"{convert.__name__}.wav", call)

    with pytest.raises(
        ContentFailure, match=r"^verification failed: the output does not match the source: " + window
    ) as refused:
        convert_recording(rec, s3=s3, settings=settings, convert=convert)

    assert "(downmix at -2" in str(refused.value)  # the speech's level in that window
    assert_untouched(s3, rec.key, call)


def test_cancelling_channels_are_refused_through_the_handler_and_dead_lettered(aws):
    """The same speech on both channels, one inverted: ffmpeg's faithful downmix is silence."""
    s3 = aws.s3
    mono = speech.call(8, 8000).sum(axis=1)
    body = speech.wav_bytes(np.stack([mono, -mono], axis=1), 8000)
    rec = put(s3, DAY + "cancelling.wav", body)
    assert converter.handler(sqs_event(rec.to_body()), LambdaContext()) == {"batchItemFailures": []}

    (letter,) = drain(aws.dlq_url)
    assert letter["key"] == rec.key
    assert letter["failure"]["reason"].startswith(
        "verification failed: channels cancel in the mono downmix: at 0-3 s the left channel is at -2"
    )
    assert "but the downmix (L + R) / 2 at digital silence" in letter["failure"]["reason"]
    assert_untouched(s3, rec.key, body)


def test_a_connect_style_speech_call_converts_and_logs_what_was_measured(aws, caplog):
    s3 = aws.s3
    body = speech.wav_bytes(speech.call(60, 8000), 8000)
    rec = put(s3, DAY + "speech-call.wav", body)

    outcome = converter.process_record(SQSRecord(sqs_event(rec.to_body())["Records"][0]), aws.settings, None)

    assert outcome.outcome == "converted" and outcome.audio is not None
    assert s3.get_object_tagging(Bucket=BUCKET, Key=rec.key)["TagSet"] == [{"Key": "converted", "Value": "True"}]
    # 3-second windows of a 60-second call, sliding by 1 s: all 58 hold speech.
    assert outcome.audio["windows_with_signal"] == 58
    assert 30 <= outcome.audio["worst_window_snr_db"] <= outcome.audio["snr_db"] + 1 <= 45
    (logged,) = [r for r in caplog.records if r.name == "converter" and r.getMessage() == "recording"]
    assert logged.outcome == "converted" and logged.audio == outcome.audio  # one field of the JSON line
