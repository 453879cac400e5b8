"""The synthesized stack deployed into moto, with the real handlers running in-process."""

from __future__ import annotations

import io

import pytest
from moto import mock_aws

from emulator.deploy import deploy
from emulator.faults import Faults, parse
from emulator.local_settings import LOCAL_CONTEXT, host_architecture
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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After every end-to-end test that passed, while its emulator still stands: each execution's
    summary against the truth in S3 and the DLQ (emulator/truth.py). Any difference fails the test.

    A test whose scenario makes the truth legitimately differ says so with
    @pytest.mark.truth_differs(reason="..."): its differences must then exist (a marker the truth
    no longer needs fails too), and are kept in the test's user properties."""
    result = yield
    deployments = [
        value[0] for value in item.funcargs.values() if isinstance(value, tuple) and value and _is_deployment(value[0])
    ]
    if not deployments:
        return result
    from emulator import truth

    checks = [check for deployment in deployments for check in truth.check(deployment)]
    differences = truth.plain(checks)
    marker = item.get_closest_marker("truth_differs")
    if marker is None:
        if differences:
            pytest.fail(f"the run summaries disagree with the truth (emulator/truth.py):\n{differences}", pytrace=False)
        return result
    if not marker.kwargs.get("reason"):
        pytest.fail("@pytest.mark.truth_differs needs reason=...: why this scenario's truth differs", pytrace=False)
    if not differences:
        pytest.fail(
            f"marked truth_differs ({marker.kwargs['reason']}), but every run agrees with the truth: remove the marker",
            pytrace=False,
        )
    item.user_properties.append(("truth_differences", differences))
    return result


def _is_deployment(value) -> bool:
    from emulator.deploy import Deployment

    return isinstance(value, Deployment)
