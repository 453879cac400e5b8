"""The handlers' world on moto: one versioned bucket, the work and dead-letter queues, the run
ledger, and the environment the stack gives every function (helpers: tests/support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from moto import mock_aws

from emulator.samples import write_wav
from optimizer.settings import Settings
from tests.support import BUCKET, LEDGER, create_ledger_table, make_settings


@dataclass
class Aws:
    s3: Any
    sqs: Any
    dynamodb: Any
    queue_url: str
    dlq_url: str
    settings: Settings  # what the handlers read from the environment below


@pytest.fixture(scope="session")
def _clients() -> tuple[Any, Any, Any]:
    """Made once: a boto3 client takes tens of milliseconds to create, and moto intercepts any
    client's requests while a mock is active, whenever the client was made."""
    return boto3.client("s3"), boto3.client("sqs"), boto3.client("dynamodb")


@pytest.fixture
def aws(ffmpeg, monkeypatch, _clients) -> Iterator[Aws]:
    s3, sqs, dynamodb = _clients
    with mock_aws():
        s3.create_bucket(Bucket=BUCKET)
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        queue_url = sqs.create_queue(QueueName="work")["QueueUrl"]
        dlq_url = sqs.create_queue(QueueName="dlq")["QueueUrl"]
        create_ledger_table(dynamodb)
        # As the stack builds it (stacks/lambda_settings.py), from the configuration's defaults.
        settings = make_settings(queue_url=queue_url, dlq_url=dlq_url, ledger_table=LEDGER, ffmpeg_path=ffmpeg)
        for name, value in settings.to_env().items():
            monkeypatch.setenv(name, value)
        yield Aws(s3, sqs, dynamodb, queue_url, dlq_url, Settings.from_env())


@pytest.fixture(scope="session")
def stereo_wav(tmp_path_factory) -> bytes:
    """3 seconds of a Connect-style recording: PCM 16-bit, 8 kHz, 2 channels."""
    return write_wav(tmp_path_factory.mktemp("wav") / "call.wav", 3, seed=1).read_bytes()
