"""The converter under `target_format=alaw_stereo`, against moto's S3 with the layer's ffmpeg: a
stereo recording keeps both channels, a mono one stays mono (also when `overwrite_converted`
converts it again), and what is already A-law 8 kHz in its own channels is skipped."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import converter
from benchmarks import speech
from optimizer.audio import ALAW_TABLE
from optimizer.conversion import convert_recording
from optimizer.formats import ALAW_8K_STEREO
from optimizer.wav import read_wav_info
from tests.support import BUCKET, DAY, LambdaContext, put, sqs_event, versions


@pytest.fixture
def stereo_settings(aws):
    return dataclasses.replace(aws.settings, target_format=ALAW_8K_STEREO.key)


def body_info(s3, key: str, tmp_path):
    path = tmp_path / key.rsplit("/", 1)[-1]
    path.write_bytes(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    return path, read_wav_info(path)


def channel_snr_db(source: np.ndarray, codes: np.ndarray) -> float:
    """The decoded A-law channel against the source channel (full scale), over the whole call."""
    decoded = ALAW_TABLE[codes] / 32768
    return 10 * np.log10(np.sum(source**2) / np.sum((decoded - source) ** 2))


def test_a_stereo_call_keeps_both_channels_at_half_the_size(aws, stereo_settings, tmp_path):
    call = speech.call(6, 8000)
    wav = speech.wav_bytes(call, 8000)
    rec = put(aws.s3, DAY + "stereo.wav", wav)
    outcome = convert_recording(rec, s3=aws.s3, settings=stereo_settings)
    assert outcome.outcome == "converted"
    path, info = body_info(aws.s3, rec.key, tmp_path)
    assert (info.format_tag, info.sample_rate, info.channels, info.bits_per_sample) == (6, 8000, 2, 8)
    assert outcome.bytes_after == (len(wav) - 44) // 2 + ALAW_8K_STEREO.header_bytes  # half the PCM + header
    codes = np.frombuffer(path.read_bytes()[info.data_offset :], np.uint8).reshape(-1, 2)
    for c in (0, 1):  # each channel against its own source channel, decoded by our own table
        assert channel_snr_db(call[:, c], codes[:, c]) >= 30
    assert outcome.audio is not None
    assert [c["snr_db"] >= 30 for c in outcome.audio["channels"]] == [True, True]


def test_a_mono_recording_stays_mono(aws, stereo_settings, tmp_path):
    rec = put(aws.s3, DAY + "mono.wav", speech.wav_bytes(speech.call(4, 8000, channels=1), 8000))
    assert convert_recording(rec, s3=aws.s3, settings=stereo_settings).outcome == "converted"
    _, info = body_info(aws.s3, rec.key, tmp_path)
    assert (info.format_tag, info.channels) == (6, 1)


@pytest.mark.parametrize("channels", [1, 2])
def test_alaw_in_its_own_channels_is_already_there(aws, stereo_settings, channels):
    rec = put(
        aws.s3, DAY + f"alaw-{channels}.wav", speech.wav_bytes(speech.call(2, 8000, channels=channels), 8000, "alaw")
    )
    outcome = convert_recording(rec, s3=aws.s3, settings=stereo_settings)
    assert (outcome.outcome, outcome.reason) == ("skipped", "already_alaw")
    assert len(versions(aws.s3, rec.key)) == 1


def test_overwrite_converted_never_upmixes(aws, stereo_settings, tmp_path):
    """A recording converted to mono earlier is converted again, mono: its second channel is gone."""
    settings = dataclasses.replace(stereo_settings, overwrite_converted=True)
    rec = put(aws.s3, DAY + "was-mono.wav", speech.wav_bytes(speech.call(3, 8000, channels=1), 8000, "alaw"))
    assert convert_recording(rec, s3=aws.s3, settings=settings).outcome == "converted"
    _, info = body_info(aws.s3, rec.key, tmp_path)
    assert (info.format_tag, info.channels) == (6, 1)
    assert len(versions(aws.s3, rec.key)) == 2


def test_the_handler_writes_the_deployments_target(aws, monkeypatch, tmp_path):
    """TARGET_FORMAT in the function's environment (stacks/lambda_settings.py sets it) is what it writes."""
    monkeypatch.setenv("TARGET_FORMAT", "alaw_stereo")
    rec = put(aws.s3, DAY + "by-handler.wav", speech.wav_bytes(speech.call(3, 8000), 8000))
    response = converter.handler(sqs_event(rec.to_body()), LambdaContext())
    assert response["batchItemFailures"] == []
    _, info = body_info(aws.s3, rec.key, tmp_path)
    assert info.channels == 2
