"""The errors the state machine's Retry and Catch name are errors its functions really raise.

Step Functions matches a Lambda error by the errorType Lambda reports: the name of the Python
exception's class. For every name in the deployed definition's Retry and Catch that AWS does not
define itself (States.*, Lambda.*, Sandbox.*), the function its state invokes is called with that
state's own payload in a situation that must raise it, through the emulator's Lambda runtime
(its role, its environment), and the errorType it reports must be that name. A renamed class, a
Catch naming an error nothing raises, or a new name without a case here all fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto.s3.exceptions import S3AccessDeniedError
from moto.s3.models import S3Backend

AWS_DEFINED = ("States.", "Lambda.", "Sandbox.")
DAY, DATE = "2022/01/01/", "01/01/2022"


def lambda_tasks(states: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every Lambda Invoke task of a definition, inside Map and Parallel states too."""
    for name, state in states.items():
        if state["Type"] == "Task" and state["Resource"].endswith(":states:::lambda:invoke"):
            yield name, state
        for inner in [state.get("ItemProcessor") or state.get("Iterator") or {}, *state.get("Branches", [])]:
            yield from lambda_tasks(inner.get("States", {}))


def custom_errors(state: dict[str, Any]) -> set[str]:
    return {
        e
        for rule in state.get("Retry", []) + state.get("Catch", [])
        for e in rule["ErrorEquals"]
        if not e.startswith(AWS_DEFINED)
    }


class Deployed:
    """The deployed state machine's Lambda tasks, invoked the way their states invoke them."""

    def __init__(self, deployment, lambdas) -> None:
        self.deployment, self.lambdas = deployment, lambdas
        self.tasks = dict(lambda_tasks(deployment.definition["States"]))
        # Each task invokes a published version (stacks/orchestration.py), never $LATEST.
        by_arn = {arn: name for name, spec in deployment.functions.items() for arn in spec.versions}
        self.function = {name: by_arn[state["Parameters"]["FunctionName"]] for name, state in self.tasks.items()}

    def invoke(self, state: str, **values: Any) -> tuple[Any, bool]:
        """The state's payload: its fixed fields, and a value for each field it takes from the state's data."""
        payload = self.tasks[state]["Parameters"]["Payload"]
        assert {k[:-2] for k in payload if k.endswith(".$")} == set(values), f"{state} takes {sorted(payload)}"
        return self.lambdas.invoke(
            self.function[state], {**{k: v for k, v in payload.items() if not k.endswith(".$")}, **values}
        )

    def succeed(self, state: str, **values: Any) -> Any:
        result, errored = self.invoke(state, **values)
        assert not errored, result
        return result

    def run(self) -> dict[str, Any]:
        return self.succeed("ResolveRun", input={"specific_date": DATE}, execution="error-contract")["run"]


def put_recording(deployment, name: str = "call.wav") -> str:
    key = deployment.synthesized.config.bucket_prefix + DAY + name
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=deployment.bucket, Key=key, Body=b"RIFF")
    return key


def invalid_input(deployed: Deployed, monkeypatch) -> tuple[str, dict[str, Any]]:
    return "ResolveRun", {"input": {"specific_date": "13/45/2022"}, "execution": "error-contract"}


def versioning_required(deployed: Deployed, monkeypatch) -> tuple[str, dict[str, Any]]:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.put_bucket_versioning(Bucket=deployed.deployment.bucket, VersioningConfiguration={"Status": "Suspended"})
    return "Preflight", {"run": deployed.run()}


def read_denied(deployed: Deployed, monkeypatch) -> tuple[str, dict[str, Any]]:
    """S3 answers 403 AccessDenied to the probe's read, as it does when the role may not use the
    object's KMS key (the emulator evaluates no key policy)."""
    key = put_recording(deployed.deployment)
    real = S3Backend.get_object

    def denied(self, bucket_name, key_name, *args, **kwargs):
        if key_name == key:
            raise S3AccessDeniedError()
        return real(self, bucket_name, key_name, *args, **kwargs)

    monkeypatch.setattr(S3Backend, "get_object", denied)
    return "Preflight", {"run": deployed.run()}


CASES: dict[str, Callable[[Deployed, Any], tuple[str, dict[str, Any]]]] = {
    "InvalidInput": invalid_input,
    "VersioningRequired": versioning_required,
    "ReadDenied": read_denied,
}


def test_every_error_name_the_definition_matches_has_a_case_here(stack):
    deployed = Deployed(*stack)
    named = {error: state for state, task in deployed.tasks.items() for error in custom_errors(task)}
    assert set(named) == set(CASES)


@pytest.mark.parametrize("error", CASES)
def test_the_function_a_state_invokes_reports_the_error_its_retry_or_catch_names(stack, monkeypatch, error):
    deployed = Deployed(*stack)
    state, values = CASES[error](deployed, monkeypatch)
    assert error in custom_errors(deployed.tasks[state])

    result, errored = deployed.invoke(state, **values)

    assert errored and result["errorType"] == error, result
