"""The synthesized stack deployed into moto, with the real handlers running in-process."""
from __future__ import annotations

import io
import platform

import pytest
from moto import mock_aws

from emulator.deploy import deploy
from emulator.runtime import InProcessLambdas

CONTEXT = {
    "bucket_name": "e2e-connect-recordings",
    "bucket_prefix": "connect/e2e/CallRecordings/",
    "queue_poll_seconds": 1,
    "lambda_architecture": "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64",
}


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory, ffmpeg):
    from emulator.synth import synthesize

    return synthesize(CONTEXT, tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture
def stack(synthesized):
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        deployment = deploy(synthesized)
        lambdas = InProcessLambdas(deployment, log_stream=io.StringIO())
        with lambdas.installed():
            yield deployment, lambdas
