"""A day that still fails after its retries stops nothing: the run finishes, its summary names
the failed days with their errors and the inputs that re-run just them (strict emulator)."""

from __future__ import annotations

import json

import boto3
import pytest

from emulator.run import run_execution
from emulator.runtime import scaled_retry_waits
from emulator.samples import write_wav

pytestmark = pytest.mark.long  # state machine executions, one of them a ten-year backfill

ROOT = "connect/local-instance/CallRecordings/"


def s3():
    return boto3.client("s3", region_name="us-east-1")


def inject_failure(lambdas, monkeypatch, function: str, when) -> list[dict]:
    """The function (by logical id prefix) crashes on the events `when` selects, as a Lambda does."""
    original = lambdas.invoke
    calls: list[dict] = []

    def invoke(function_name, event):
        if lambdas.deployment.functions[function_name].logical_id.startswith(function) and when(event):
            calls.append(event)
            return {"errorType": "RuntimeError", "errorMessage": "injected failure"}, True
        return original(function_name, event)

    monkeypatch.setattr(lambdas, "invoke", invoke)
    return calls


@pytest.fixture(scope="module")
def wav(tmp_path_factory):
    return write_wav(tmp_path_factory.mktemp("days") / "a.wav", 1, seed=1).read_bytes()


def test_a_failed_day_does_not_stop_the_others_and_is_named_with_its_rerun_input(stack, wav, monkeypatch):
    deployment, lambdas = stack
    keys = {day: f"{ROOT}2022/01/0{day}/call.wav" for day in range(1, 6)}
    for key in keys.values():
        s3().put_object(Bucket=deployment.bucket, Key=key, Body=wav)
    calls = inject_failure(
        lambdas,
        monkeypatch,
        "FunctionsLister",
        lambda e: e.get("action") == "ListPage" and e["day"] in ("2022-01-02", "2022-01-04"),
    )

    with scaled_retry_waits(0.01):
        execution = run_execution(deployment, lambdas, {"start_date": "2022-01-01", "end_date": "2022-01-05"})

    assert (execution.status, execution.error) == ("FAILED", "DaysFailed") and execution.cause is not None
    assert "2 day(s) of this run failed and were not processed: 2022-01-02, 2022-01-04" in execution.cause
    assert "RuntimeError on 2 day(s)" in execution.cause and "injected failure" in execution.cause
    assert """'{"specific_date": "2022-01-02"}' '{"specific_date": "2022-01-04"}'""" in execution.cause
    # ListPage is retried on States.TaskFailed (3 retries) before the day records its failure.
    assert sorted(c["day"] for c in calls) == ["2022-01-02"] * 4 + ["2022-01-04"] * 4
    summary = json.loads(lambdas.last_result("Summarize"))
    assert summary["days_failed"] == 2 and summary["failed"] == 0
    failed = summary["output"]["failed_days"]
    assert failed["days"] == ["2022-01-02", "2022-01-04"] and failed["count"] == 2
    assert list(failed["errors"]) == ["RuntimeError"] and failed["errors"]["RuntimeError"]["days"] == 2
    assert failed["rerun_inputs"] == [{"specific_date": "2022-01-02"}, {"specific_date": "2022-01-04"}]
    # The other days were converted.
    classes = {
        day: s3().head_object(Bucket=deployment.bucket, Key=key).get("StorageClass", "STANDARD")
        for day, key in keys.items()
    }
    assert classes == {1: "GLACIER_IR", 2: "STANDARD", 3: "GLACIER_IR", 4: "STANDARD", 5: "GLACIER_IR"}
    assert execution.child_executions == 5

    # Once the cause is gone, the given inputs re-run just those days.
    monkeypatch.undo()
    for rerun in failed["rerun_inputs"]:
        again = run_execution(deployment, lambdas, rerun)
        assert again.status == "SUCCEEDED" and again.output["converted"] == 1
    assert all(
        s3().head_object(Bucket=deployment.bucket, Key=key)["StorageClass"] == "GLACIER_IR" for key in keys.values()
    )


def test_a_ten_year_backfill_where_every_day_fails_still_finishes_with_its_summary(stack, monkeypatch):
    """3,653 child executions, each failing (its enqueuer crashes on every attempt: the first and
    3 retries, with their backoff scaled down here): the Map's result stays 3 bytes a day (~11 KB, not the ~1.8 MB of
    every child's last state that ended the run in States.DataLimitExceeded), the ledger item holds
    the 3,653 days, the cause stays short."""
    deployment, lambdas = stack
    calls = inject_failure(lambdas, monkeypatch, "FunctionsEnqueuer", lambda e: True)

    with scaled_retry_waits(0.001):
        execution = run_execution(
            deployment, lambdas, {"start_date": "01/01/2016", "end_date": "12/31/2025"}, timeout_s=3600
        )

    assert (execution.status, execution.error) == ("FAILED", "DaysFailed"), execution.cause
    assert execution.cause is not None and execution.limits is not None
    assert (
        len({c["page"]["prefix"] for c in calls}) == 3653
        and len(calls) == 4 * 3653
        and execution.child_executions == 3653
    )
    assert execution.cause.startswith(
        "3653 day(s) of this run failed and were not processed: 2016-01-01..2025-12-31. RuntimeError on 3653 day(s)"
    )
    assert (
        """'{"start_date": "2016-01-01", "end_date": "2025-12-31"}'""" in execution.cause
        and len(execution.cause) < 2_000
    )
    assert execution.limits["map_results"] == {"Days": 2 + 3653 * 2 + 3652}  # [{},{},...]
    assert execution.limits["largest_state_bytes"] < 64 * 1024  # the list of days, in the parent's state
    assert execution.limits["largest_child"]["history_events"] < 100
    summary = json.loads(lambdas.last_result("Summarize"))
    assert summary["output"]["failed_days"]["rerun_inputs"] == [{"start_date": "2016-01-01", "end_date": "2025-12-31"}]
