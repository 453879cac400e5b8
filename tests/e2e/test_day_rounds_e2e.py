"""A day of any size (issue 16, item 4): its child execution runs in rounds, each within Step
Functions' quotas, on the strict emulator (emulator/quotas.py counts every execution's events)."""

from __future__ import annotations

import time

import boto3
import pytest

from emulator.local_run import set_page_keys
from emulator.run import run_execution
from optimizer import rounds

DAY = "connect/local-instance/CallRecordings/2022/01/01/"
DRY_RUN = {"specific_date": "01/01/2022", "dry_run": True}


def put_tiny(bucket: str, keys: list[str], body: bytes = b"RIFF") -> None:
    """Straight into moto's backend: thousands of objects in seconds (a dry run never reads them)."""
    from moto.s3.models import s3_backends

    backend = s3_backends["123456789012"]["aws"]
    for key in keys:
        backend.put_object(bucket, key, body)


def keys(n: int) -> list[str]:
    return [DAY + f"{i:08x}-5e1f-4b7a-9c0d-{i:012x}_20220101T10:00_UTC.wav" for i in range(n)]


def every_execution_within_quotas(execution) -> dict:
    limits = execution.limits
    assert limits is not None, "the strict emulator counts every execution"
    assert limits["history_events"] < rounds.HISTORY_LIMIT
    assert limits["largest_history_events"] < rounds.HISTORY_LIMIT
    assert limits["largest_state_bytes"] <= 256 * 1024
    assert limits["largest_child"]["largest_state_bytes"] <= 256 * 1024
    return limits


@pytest.mark.long
def test_a_day_longer_than_a_round_goes_on_in_the_next_rounds(stack):
    """Pages of 1 recording: 1,250 pages are 3 rounds of at most 600 (optimizer/rounds.py)."""
    deployment, lambdas = stack
    set_page_keys(deployment, 1)
    n = 2 * rounds.PAGES_PER_ROUND + 50
    put_tiny(deployment.bucket, keys(n))

    execution = run_execution(deployment, lambdas, DRY_RUN, timeout_s=1800)

    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output["listed"] == execution.output["recordings"] == n
    assert execution.states_entered.count("PauseDay") == 2
    assert execution.states_entered.count("ResumeDay") == 2
    assert execution.states_entered.count("NextRound") == 3
    limits = every_execution_within_quotas(execution)
    assert limits["executions"] == 4 and limits["child_executions"] == 3
    # A round of 600 pages is ~600 x 19 events: bounded by the round, not by the day.
    assert limits["largest_child"]["history_events"] >= rounds.PAGES_PER_ROUND * rounds.PAGE_EVENTS
    assert limits["largest_child"]["history_events"] <= rounds.round_events(rounds.PAGES_PER_ROUND, 0)


@pytest.mark.scale  # ~30 and ~15 minutes here: issue 16's proof, run by hand (-m scale)
def test_a_dry_run_of_6000_pages_succeeds_within_every_quota(stack):
    """Issue 16's criterion: 6,000 pages at even 5 events each cannot fit in one execution."""
    deployment, lambdas = stack
    set_page_keys(deployment, 1)
    put_tiny(deployment.bucket, keys(6_000))

    started = time.monotonic()
    execution = run_execution(
        deployment, lambdas, DRY_RUN, timeout_s=7200
    )  # a bound, not a timing: a loaded machine takes longer
    print(f"6,000 pages: {time.monotonic() - started:.0f} s, limits {execution.limits}")

    assert execution.status == "SUCCEEDED", execution.cause
    assert execution.output["listed"] == execution.output["recordings"] == 6_000
    limits = every_execution_within_quotas(execution)
    assert limits["child_executions"] == 10  # 6,000 pages in rounds of 600
    assert execution.states_entered.count("ListPage") == 6_000


@pytest.mark.scale  # ~30 and ~15 minutes here: issue 16's proof, run by hand (-m scale)
def test_a_real_run_of_1500_pages_converts_every_recording_once(stack, tmp_path):
    """Issue 16's criterion: pages of 1 recording, 1,500 short recordings (0.2 s each): three
    rounds, and every recording listed, enqueued and converted exactly once."""
    from emulator.samples import write_wav

    deployment, lambdas = stack
    set_page_keys(deployment, 1)
    body = write_wav(tmp_path / "short.wav", 0.2, seed=3).read_bytes()
    put_tiny(deployment.bucket, keys(1_500), body)

    started = time.monotonic()
    execution = run_execution(
        deployment, lambdas, {"specific_date": "01/01/2022"}, timeout_s=7200
    )  # a bound, not a timing: a loaded machine takes longer
    print(f"1,500 recordings, 1,500 pages: {time.monotonic() - started:.0f} s, limits {execution.limits}")

    assert execution.status == "SUCCEEDED", execution.cause
    output = execution.output
    assert output["listed"] == output["enqueued"] == output["converted"] == 1_500, output
    assert output["failed"] == output["unaccounted"] == 0
    limits = every_execution_within_quotas(execution)
    assert limits["child_executions"] == 3  # 1,500 pages in rounds of 600
    s3 = boto3.client("s3", region_name="us-east-1")
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=deployment.bucket, Prefix=DAY)
    versions = [v for page in pages for v in page.get("Versions", [])]
    assert len(versions) == 3_000  # each recording converted once: its original and one rewrite


def test_the_emulator_publishes_the_versions_the_state_machine_invokes(stack):
    """Issue 16, item 9, on the emulator: each Lambda task names a version published in moto (the
    state machine's role may invoke only those), and a run through them succeeds."""
    deployment, lambdas = stack
    named = set()
    for state in [
        *deployment.definition["States"].values(),
        *deployment.definition["States"]["Days"]["ItemProcessor"]["States"].values(),
    ]:
        if state["Type"] == "Task" and "lambda:invoke" in state["Resource"]:
            named.add(state["Parameters"]["FunctionName"])
    published = {arn for spec in deployment.functions.values() for arn in spec.versions}
    assert named == published and len(published) == 3  # lister, enqueuer, restorer (UndoPage)
    from moto.awslambda.models import lambda_backends

    backend = lambda_backends["123456789012"]["us-east-1"]  # moto's own records, not a signed request
    for arn in published:
        version = backend.get_function(arn)
        assert version.function_arn == arn and str(version.version) == arn.rsplit(":", 1)[1] != "$LATEST"
    execution = run_execution(deployment, lambdas, {"specific_date": "01/01/2022", "dry_run": True})
    assert execution.status == "SUCCEEDED", execution.cause
