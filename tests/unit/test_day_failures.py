"""Naming the days a run could not process, and the inputs that re-run exactly them."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from optimizer import day_failures, ledger
from optimizer.day_failures import ranges, rerun_inputs, with_failed_days
from tests.support import create_ledger_table

RUN = {"id": "r1", "days": 10, "dry_run": False, "start_date": "2022-01-01", "end_date": "2022-01-10"}
CLEAN = {"failed": 0, "cause": None, "output": {"listed": 3}}


def test_consecutive_days_become_ranges():
    assert ranges(["2022-01-03", "2022-01-01", "2022-01-02", "2022-01-05", "2022-01-05"]) == [
        ("2022-01-01", "2022-01-03"),
        ("2022-01-05", "2022-01-05"),
    ]
    assert ranges(["2020-02-28", "2020-02-29", "2020-03-01"]) == [("2020-02-28", "2020-03-01")]  # a leap day is no gap
    assert ranges([]) == []


def test_rerun_inputs_cover_exactly_the_failed_days():
    assert rerun_inputs(["2022-01-01", "2022-01-02", "2022-01-04"], dry_run=False) == [
        {"start_date": "2022-01-01", "end_date": "2022-01-02"},
        {"specific_date": "2022-01-04"},
    ]
    assert rerun_inputs(["2022-01-04"], dry_run=True) == [{"specific_date": "2022-01-04", "dry_run": True}]


def test_a_run_without_failed_days_is_unchanged_but_for_the_count():
    result = with_failed_days(CLEAN, RUN, {}, days_done=10)
    assert result == {**CLEAN, "days_failed": 0}


def test_failed_days_are_named_with_their_errors_and_rerun_inputs():
    failures = {
        "Sandbox.Timedout": {"days": ["2022-01-02", "2022-01-03"], "cause": "Task timed out after 120.00 seconds"},
        "AccessDenied": {"days": ["2022-01-07"], "cause": "not authorized to perform: s3:ListBucket"},
    }
    result = with_failed_days(CLEAN, RUN, failures, days_done=7)
    assert result["days_failed"] == 3
    failed = result["output"]["failed_days"]
    assert failed["days"] == ["2022-01-02..2022-01-03", "2022-01-07"] and failed["count"] == 3
    assert failed["errors"]["AccessDenied"] == {"days": 1, "cause": "not authorized to perform: s3:ListBucket"}
    assert failed["rerun_inputs"] == [
        {"start_date": "2022-01-02", "end_date": "2022-01-03"},
        {"specific_date": "2022-01-07"},
    ]
    assert "unrecorded" not in failed
    assert result["cause"].startswith(
        "3 day(s) of this run failed and were not processed: 2022-01-02..2022-01-03, 2022-01-07."
    )
    assert "Sandbox.Timedout on 2 day(s): Task timed out" in result["cause"]
    assert (
        """'{"start_date": "2022-01-02", "end_date": "2022-01-03"}' '{"specific_date": "2022-01-07"}'"""
        in result["cause"]
    )


def test_days_neither_done_nor_recorded_count_as_failed():
    result = with_failed_days(CLEAN, RUN, {}, days_done=9)
    assert result["days_failed"] == 1 and result["output"]["failed_days"]["unrecorded"] == 1
    assert "1 day(s) ended without a record" in result["cause"]


def test_recording_failures_keep_the_cause_of_a_failed_recording():
    result = with_failed_days(
        {"failed": 2, "cause": "2 recording(s) failed.", "output": {}},
        RUN,
        {"X": {"days": ["2022-01-01"], "cause": "c"}},
        9,
    )
    assert result["cause"].startswith("2 recording(s) failed. 1 day(s) of this run failed")


def test_the_cause_stays_bounded_when_failures_are_scattered():
    days = [f"2016-{m:02d}-{d:02d}" for m in range(1, 13) for d in range(1, 29, 2)]  # 168 separate days
    result = with_failed_days(
        CLEAN, {**RUN, "days": 3653}, {"E": {"days": days, "cause": "x" * 1000}}, 3653 - len(days)
    )
    assert len(result["output"]["failed_days"]["rerun_inputs"]) == 168
    assert (
        "and 148 more ranges" in result["cause"]
        and "(and 163 more inputs in this run's Summarize output)" in result["cause"]
    )
    assert len(result["cause"]) < 3_000


@mock_aws
def test_record_is_idempotent_and_read_groups_days_by_error():
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")
    create_ledger_table(dynamodb)
    for day in ("2022-01-02", "2022-01-01", "2022-01-02"):
        day_failures.record(dynamodb, "ledger", "r1", day, "States.TaskFailed", f"first cause {day}")
    day_failures.record(dynamodb, "ledger", "r1", "2022-01-05", "Sandbox.Timedout", "")
    # As Summarize reads them: the run's one ledger item, which also holds its counts.
    assert day_failures.of_item(ledger.read_item(dynamodb, "ledger", "r1")) == {
        "States.TaskFailed": {"days": ["2022-01-01", "2022-01-02"], "cause": "first cause 2022-01-02"},
        "Sandbox.Timedout": {"days": ["2022-01-05"], "cause": "(no cause given)"},
    }
    item = dynamodb.get_item(TableName="ledger", Key={"run": {"S": "r1"}})["Item"]
    assert int(item["expires_at"]["N"]) > 0  # the run's ledger item expires even if no page was ever counted
    with pytest.raises(ValueError):
        day_failures.record(dynamodb, "ledger", "r1", "not a day", "E", "c")
