"""The synthesized stack deployed into moto, with the real handlers running in-process."""

from __future__ import annotations

import io

import pytest
from moto import mock_aws

from emulator.deploy import deploy
from emulator.faults import Faults, parse
from emulator.local_run import LOCAL_CONTEXT, host_architecture
from emulator.runtime import InProcessLambdas

# The context ./cdk-deploy.sh --local synthesizes: the local-run tests and the ones below share
# one synthesis (tests/conftest.py, shared_synthesis).
CONTEXT = {**LOCAL_CONTEXT, "lambda_architecture": host_architecture()}


@pytest.fixture(scope="session", autouse=True)
def _one_synthesis_per_context(shared_synthesis):
    """Every synthesis in these tests, the local run's included, goes through the shared one."""


@pytest.fixture(scope="session")
def synthesized(shared_synthesis):
    return shared_synthesis(CONTEXT)


@pytest.fixture
def injections() -> list[str]:
    """The faults `stack` injects, as --inject takes them: a test overrides it, e.g.
    @pytest.mark.parametrize("injections", [["s3.PutObject=lost-response@1"]])."""
    return []


@pytest.fixture
def seed() -> int:
    return 1


@pytest.fixture
def stack(synthesized, injections, seed):
    """(deployment, lambdas); lambdas.faults holds the injected faults and how often each fired."""
    faults = Faults([parse(text) for text in injections], seed) if injections else None
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        deployment = deploy(synthesized)
        lambdas = InProcessLambdas(deployment, log_stream=io.StringIO(), faults=faults)
        with lambdas.installed():
            yield deployment, lambdas
