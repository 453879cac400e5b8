"""`target_format=alaw_stereo` end to end on the strict emulator: the stack synthesized with that
context (as `-c target_format=alaw_stereo` gives it), a day of stereo Connect calls and one mono
recording. Every stereo call comes out A-law, 8 kHz, 2 channels, each channel within 30 dB SNR
of its own source channel (decoded by the test's own G.711 table); the mono one stays mono."""

from __future__ import annotations

import io

import boto3
import numpy as np
import pytest
from moto import mock_aws

from benchmarks import speech
from emulator.deploy import deploy
from emulator.run import run_execution
from emulator.runtime import InProcessLambdas
from optimizer.audio import ALAW_TABLE
from optimizer.wav import ALAW, read_wav_info
from tests.e2e.conftest import CONTEXT

pytestmark = pytest.mark.long  # a state machine execution on moto

DAY = f"{CONTEXT['bucket_prefix']}2022/01/01/"
CALLS = {f"{DAY}call-{i}.wav": speech.call(4 + 3 * i, 8000, level_db=-3.0 * i) for i in range(3)}
MONO = f"{DAY}mono.wav"


@pytest.fixture
def stereo_stack(shared_synthesis):
    synthesized = shared_synthesis({**CONTEXT, "target_format": "alaw_stereo"})
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        deployment = deploy(synthesized)
        lambdas = InProcessLambdas(deployment, log_stream=io.StringIO())
        with lambdas.installed():
            yield deployment, lambdas


def snr_db(source: np.ndarray, codes: np.ndarray) -> float:
    decoded = ALAW_TABLE[codes] / 32768
    return float(10 * np.log10(np.sum(source**2) / np.sum((decoded - source) ** 2)))


def test_stereo_calls_keep_both_channels_and_a_mono_one_stays_mono(stereo_stack, tmp_path):
    deployment, lambdas = stereo_stack
    s3 = boto3.client("s3", region_name="us-east-1")
    assert deployment.function("FunctionsConverter").environment["TARGET_FORMAT"] == "alaw_stereo"
    for key, call in CALLS.items():
        s3.put_object(Bucket=deployment.bucket, Key=key, Body=speech.wav_bytes(call, 8000))
    s3.put_object(Bucket=deployment.bucket, Key=MONO, Body=speech.wav_bytes(speech.call(3, 8000, channels=1), 8000))

    run = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})
    assert (run.status, run.output["converted"]) == ("SUCCEEDED", len(CALLS) + 1)

    for key, call in CALLS.items():
        path = tmp_path / key.rsplit("/", 1)[-1]
        path.write_bytes(s3.get_object(Bucket=deployment.bucket, Key=key)["Body"].read())
        info = read_wav_info(path)
        assert (info.format_tag, info.sample_rate, info.channels, info.bits_per_sample) == (ALAW, 8000, 2, 8)
        codes = np.frombuffer(path.read_bytes()[info.data_offset :], np.uint8)[: info.frames * 2].reshape(-1, 2)
        assert len(codes) == len(call)
        for channel in (0, 1):
            assert snr_db(call[:, channel], codes[:, channel]) >= 30, (key, channel)
    mono = tmp_path / "mono.wav"
    mono.write_bytes(s3.get_object(Bucket=deployment.bucket, Key=MONO)["Body"].read())
    assert (read_wav_info(mono).format_tag, read_wav_info(mono).channels) == (ALAW, 1)
