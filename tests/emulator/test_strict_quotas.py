"""The strict emulator refuses what Step Functions refuses (emulator.quotas), each shown on a
small state machine run by moto's engine, next to what moto alone lets through."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import boto3
import pytest
from moto import mock_aws

from emulator import quotas

ROLE = "arn:aws:iam::123456789012:role/quota-tests"


def run(definition: dict, execution_input: dict | None = None, *, timeout_s: float = 60) -> dict:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    arn = sfn.create_state_machine(name=f"q{time.monotonic_ns()}", definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]
    execution = sfn.start_execution(stateMachineArn=arn, input=json.dumps(execution_input or {}))["executionArn"]
    deadline = time.monotonic() + timeout_s
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the execution did not end"
        time.sleep(0.05)
    described["record"] = quotas.record_of(execution)
    return described


@pytest.fixture(autouse=True)
def _quiet_moto():
    # moto logs every failed state with its whole (here, huge) definition.
    logging.getLogger("moto").setLevel(logging.CRITICAL)


@pytest.fixture
def moto_sfn():
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield


@pytest.fixture
def strict(moto_sfn):
    with quotas.enforced():
        yield


def pass_with_string(length: int, **extra) -> dict:
    # The Pass state's output is {"x":"<length characters>"}: length + 8 bytes.
    return {"Type": "Pass", "Result": {"x": "a" * length}, "End": True, **extra}


def test_the_quota_constants_are_step_functions_documented_values():
    assert quotas.MAX_PAYLOAD_BYTES == 256 * 1024 == 262_144
    assert quotas.MAX_HISTORY_EVENTS == 25_000


def test_a_state_output_of_exactly_256_kib_passes_one_byte_more_fails_naming_the_state(strict):
    exact = run({"StartAt": "Big", "States": {"Big": pass_with_string(262_144 - 8)}})
    assert exact["status"] == "SUCCEEDED"
    over = run({"StartAt": "Big", "States": {"Big": pass_with_string(262_144 - 7)}})
    assert (over["status"], over["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert "'Big'" in over["cause"]


@pytest.mark.long  # what moto alone lets through: why the strict emulator exists
def test_moto_alone_refuses_an_output_of_exactly_256_kib(moto_sfn):
    # What the strict emulator corrects: moto compares with `<`.
    assert run({"StartAt": "Big", "States": {"Big": pass_with_string(262_144 - 8)}})["status"] == "FAILED"


def caught_oversized_result() -> dict:
    """A task whose result is over the quota (two 140,000-byte messages), with a Catch-all."""
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName=f"big{time.monotonic_ns()}")["QueueUrl"]
    for _ in range(2):
        sqs.send_message(QueueUrl=url, MessageBody="m" * 140_000)
    return {
        "StartAt": "Receive",
        "States": {
            "Receive": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sqs:receiveMessage",
                "Parameters": {"QueueUrl": url, "MaxNumberOfMessages": 10},
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}],
                "End": True,
            },
            "Caught": {"Type": "Succeed"},
        },
    }


def test_states_all_does_not_catch_data_limit_exceeded(strict):
    execution = run(caught_oversized_result())
    assert (execution["status"], execution["error"]) == ("FAILED", "States.DataLimitExceeded")
    # AWS's own cause names the integration, not the state (e.g. jogold/cloudstructs#163).
    assert "'aws-sdk:sqs' returned a result with a size exceeding" in execution["cause"]


@pytest.mark.long  # what moto alone lets through: why the strict emulator exists
def test_moto_alone_catches_data_limit_exceeded_with_states_all(moto_sfn):
    assert run(caught_oversized_result())["status"] == "SUCCEEDED"


def distributed_map(child_states: dict, *, result_path=None, **map_fields) -> dict:
    return {
        "StartAt": "Days",
        "States": {
            "Days": {
                "Type": "Map",
                "ItemsPath": "$.items",
                "MaxConcurrency": 4,
                "ResultPath": result_path,
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
                    "StartAt": "Child",
                    "States": child_states,
                },
                "End": True,
                **map_fields,
            }
        },
    }


def test_a_distributed_map_result_over_256_kib_fails_even_with_result_path_null(strict):
    # 300 children each returning 1,008 bytes: the result AWS builds is ~300 KiB (aws-cdk#24799).
    execution = run(distributed_map({"Child": pass_with_string(1_000)}), {"items": list(range(300))})
    assert (execution["status"], execution["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert "'Days'" in execution["cause"] and "result" in execution["cause"]


def test_children_that_return_nothing_keep_the_map_result_small(strict):
    child = {
        "Child": {"Type": "Pass", "Result": {"x": "a" * 1_000}, "Next": "Done"},
        "Done": {"Type": "Succeed", "OutputPath": None},
    }
    execution = run(distributed_map(child), {"items": list(range(300))})
    assert execution["status"] == "SUCCEEDED"
    limits = execution["record"].as_report()
    assert limits["child_executions"] == 300
    assert limits["largest_child"]["largest_state_bytes"] == 1_008
    # Each child: ExecutionStarted, two states entered and exited, ExecutionSucceeded.
    assert limits["largest_child"]["history_events"] == 6


@pytest.mark.long  # what moto alone lets through: why the strict emulator exists
def test_moto_alone_lets_a_map_result_over_256_kib_through(moto_sfn):
    execution = run(distributed_map({"Child": pass_with_string(1_000)}), {"items": list(range(300))})
    assert execution["status"] == "SUCCEEDED"


LOOP: dict[str, Any] = {
    "StartAt": "Init",
    "States": {
        "Init": {"Type": "Pass", "Result": 0, "ResultPath": "$.n", "Next": "Again"},
        "Again": {"Type": "Pass", "Parameters": {"n.$": "States.MathAdd($.n, 1)"}, "Next": "Check"},
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericLessThan": 100000, "Next": "Again"}],
            "Default": "Done",
        },
        "Done": {"Type": "Succeed"},
    },
}


def test_an_execution_fails_at_the_history_quota(strict, monkeypatch):
    monkeypatch.setattr(quotas, "MAX_HISTORY_EVENTS", 60)  # the mechanism, quickly; the real value is tested above
    execution = run(LOOP)
    assert (execution["status"], execution["error"]) == ("FAILED", "States.Runtime")
    assert "quota of 60 history events" in execution["cause"]
    assert execution["record"].limits.history_events == 60
    events = boto3.client("stepfunctions", region_name="us-east-1").get_execution_history(
        executionArn=execution["executionArn"], maxResults=1000
    )["events"]
    assert len(events) == 60 and events[-1]["type"] == "ExecutionFailed"


def test_a_child_execution_has_its_own_history_quota(strict, monkeypatch):
    monkeypatch.setattr(quotas, "MAX_HISTORY_EVENTS", 60)
    execution = run(distributed_map(LOOP["States"] | {"Child": {"Type": "Pass", "Next": "Init"}}), {"items": [{}]})
    # The child failed at its quota; with no tolerated failures, the Map Run fails.
    assert (execution["status"], execution["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert execution["record"].children[0].history_events == 60


FAILING_CHILD = {
    "Child": {
        "Type": "Choice",
        "Choices": [{"Variable": "$", "NumericEquals": 3, "Next": "Broken"}],
        "Default": "Fine",
    },
    "Broken": {"Type": "Fail", "Error": "DayFailed", "Cause": "day 3"},
    "Fine": {"Type": "Succeed"},
}


def test_one_failed_child_fails_the_map_run_by_default(strict):
    execution = run(distributed_map(FAILING_CHILD), {"items": list(range(8))})
    assert (execution["status"], execution["error"]) == ("FAILED", "States.ExceedToleratedFailureThreshold")
    assert "1 of its 8 child executions failed" in execution["cause"]


def test_a_tolerated_failure_percentage_lets_the_map_finish(strict):
    # 100.0: moto's ASL grammar takes only a decimal here (emulator.deploy writes the template's 100 so).
    execution = run(distributed_map(FAILING_CHILD, ToleratedFailurePercentage=100.0), {"items": list(range(8))})
    assert execution["status"] == "SUCCEEDED"


@pytest.mark.long  # what moto alone lets through: why the strict emulator exists
def test_moto_alone_ignores_a_failed_child(moto_sfn):
    assert run(distributed_map(FAILING_CHILD), {"items": list(range(8))})["status"] == "SUCCEEDED"


def test_the_execution_timeout_is_enforced(strict):
    execution = run(
        {"TimeoutSeconds": 1, "StartAt": "Sleep", "States": {"Sleep": {"Type": "Wait", "Seconds": 5, "End": True}}}
    )
    assert execution["status"] == "TIMED_OUT"


def test_task_parameters_over_256_kib_fail_before_the_call(strict):
    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="quota-tests")["QueueUrl"]
    definition: dict[str, Any] = {
        "StartAt": "Send",
        "States": {
            "Send": {
                "Type": "Task",
                "Resource": "arn:aws:states:::aws-sdk:sqs:sendMessage",
                "Parameters": {"QueueUrl": url, "MessageBody.$": "$.body"},
                "End": True,
            }
        },
    }
    execution = run(definition, {"body": "b" * 200_000, "pad": "p" * 50_000})
    assert execution["status"] == "SUCCEEDED"  # a 250,000-byte input is fine, and so are the parameters
    execution = run(
        definition
        | {
            "States": {
                "Send": definition["States"]["Send"]
                | {"Parameters": {"QueueUrl": url, "MessageBody.$": "$.body", "Again.$": "$.body"}}
            }
        },
        {"body": "b" * 140_000},
    )
    assert (execution["status"], execution["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert "'Send'" in execution["cause"] and "parameters" in execution["cause"]
    assert (
        len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]) == 1
    )  # only the first run's message


def test_an_execution_input_over_256_kib_fails_in_its_first_state(strict):
    execution = run({"StartAt": "First", "States": {"First": {"Type": "Pass", "End": True}}}, {"x": "i" * 262_144})
    assert (execution["status"], execution["error"]) == ("FAILED", "States.DataLimitExceeded")
    assert "The input of state 'First' is 262,152 bytes" in execution["cause"]


@pytest.mark.long  # what moto alone lets through: why the strict emulator exists
def test_moto_alone_lets_an_input_over_256_kib_through_a_pass_state_s_input(moto_sfn):
    # (it refuses the Pass state's output instead: the same input, passed on)
    execution = run(
        {"StartAt": "First", "States": {"First": {"Type": "Pass", "Result": 1, "End": True}}}, {"x": "i" * 262_144}
    )
    assert execution["status"] == "SUCCEEDED"
