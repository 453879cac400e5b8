"""Shared fixtures: fake AWS credentials (nothing here may reach AWS) and the built ffmpeg."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from emulator.local_settings import host_architecture

ROOT = Path(__file__).resolve().parent.parent

# Before any boto3 client exists: moto intercepts every call, these only satisfy botocore.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION": "1",
    "POWERTOOLS_METRICS_NAMESPACE": "CallRecordingOptimizer",
}.items():
    os.environ[_name] = _value


@pytest.fixture(scope="session")
def ffmpeg() -> str:
    """The layer's ffmpeg for this machine, built by layers/build.sh if it is not yet."""
    binary = ROOT / "layers" / "ffmpeg" / "build" / host_architecture() / "bin" / "ffmpeg"
    if not binary.exists():
        subprocess.run([str(ROOT / "layers" / "build.sh"), host_architecture()], check=True)
    return str(binary)


@pytest.fixture(scope="session", autouse=True)
def _local_runs_read_no_settings_of_yours(tmp_path_factory):
    """The local runs of the tests read their settings from an empty folder, not from your
    cdk.context.json or ~/.cdk.json: every setting at its default, whatever you keep there."""
    from emulator import local_settings

    empty = tmp_path_factory.mktemp("no-settings")
    kept = local_settings.PROJECT, local_settings.HOME
    local_settings.PROJECT = local_settings.HOME = empty
    yield
    local_settings.PROJECT, local_settings.HOME = kept


@pytest.fixture(autouse=True)
def _fresh_clients():
    """Handlers cache their boto3 clients per container; each test is a new container."""
    from optimizer import aws, trust

    aws.client.cache_clear()
    trust.forget()  # what the converter remembers of the ledger's pages and the bucket
    yield
    aws.client.cache_clear()
    trust.forget()


@pytest.fixture
def ledger_dynamodb():
    """A DynamoDB client on moto with the run ledger's table ("ledger"), as the stack creates it."""
    import boto3
    from moto import mock_aws

    from tests.support import create_ledger_table

    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_ledger_table(client)
        yield client


@pytest.fixture(scope="session")
def shared_synthesis(tmp_path_factory, ffmpeg):
    """One synthesis per context for the whole session (the CDK takes ~15 s in Node each time).

    emulator.synth.synthesize is wrapped for the session: a second call with the same context
    (a local run, a deployment into moto, the benchmark's stack) gets the same cloud assembly,
    in a session folder rather than the caller's. The assembly depends only on the context and
    the code, and nothing writes into it after synthesis (emulator/deploy.py only reads it).
    """
    from emulator import synth as synth_module

    real = synth_module.synthesize
    assemblies: dict[str, object] = {}

    def synthesize(context, outdir=None):
        key = json.dumps(dict(context), sort_keys=True)
        if key not in assemblies:
            assemblies[key] = real(context, tmp_path_factory.mktemp("cdk.out"))
        return assemblies[key]

    patch = pytest.MonkeyPatch()
    patch.setattr(synth_module, "synthesize", synthesize)
    yield synthesize
    patch.undo()
