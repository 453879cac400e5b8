"""Retention by the recording's date in the template: absent unless on; when on, a function of
its own whose role adds delete markers under the prefix and never removes a version, a branch
of the state machine, and a second schedule (stacks/retention.py, stacks/functions.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.config import ConfigError, OptimizerConfig
from tests.infra.conftest import _synth
from tests.infra.test_template import actions, flatten, statements

PREFIX = "connect/my-instance/CallRecordings/"


@pytest.fixture(scope="session")
def retention_synth(tmp_path_factory):
    context = {"bucket_name": "my-connect-recordings", "bucket_prefix": PREFIX, "retention_days": "2192"}
    return _synth({**context, "retention_max_deletes": 5000, "schedule_enabled": "false"}, tmp_path_factory)


def every_action(synth) -> set[str]:
    return {
        action
        for policy in synth.resources("AWS::IAM::Policy").values()
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        for action in actions(statement)
    }


def test_off_by_default_no_role_may_delete_and_nothing_expires(default_synth):
    assert not {a for a in every_action(default_synth) if a.startswith("s3:Delete")}
    assert not [lid for lid in default_synth.resources("AWS::Lambda::Function") if "Expirer" in lid]
    assert len(default_synth.resources("AWS::Scheduler::Schedule")) == 1
    definition = flatten(default_synth.one("AWS::StepFunctions::StateMachine")["Properties"]["DefinitionString"])
    assert "ExpirePage" not in definition
    env = default_synth.function("FunctionsLister")["Properties"]["Environment"]["Variables"]
    assert env["RETENTION_DAYS"] == "0"


def test_the_expirers_role_is_exactly_delete_markers_and_lock_reads_under_the_prefix(retention_synth):
    found = statements(retention_synth, "FunctionsExpirerRole")
    s3 = sorted((sorted(actions(st)), flatten(st["Resource"]), json.dumps(st.get("Condition"))) for st in found)
    s3 = [entry for entry in s3 if any(a.startswith("s3:") for a in entry[0])]
    bucket = "arn:<AWS::Partition>:s3:::my-connect-recordings"
    assert s3 == [
        (["s3:DeleteObject", "s3:GetObjectLegalHold", "s3:GetObjectRetention"], f"{bucket}/{PREFIX}*", "null"),
        (
            ["s3:GetBucketObjectLockConfiguration", "s3:GetBucketVersioning", "s3:GetLifecycleConfiguration"],
            bucket,
            "null",
        ),
        (["s3:ListBucketVersions"], bucket, json.dumps({"StringLike": {"s3:prefix": [f"{PREFIX}*"]}})),
    ]
    others = {a for st in found for a in actions(st) if not a.startswith("s3:")}
    assert others <= {"logs:CreateLogStream", "logs:PutLogEvents"}, others  # its log group, nothing else
    # Only the expirer may delete, and nobody may remove a version.
    deleting = {
        lid
        for lid, policy in retention_synth.resources("AWS::IAM::Policy").items()
        if any(
            a.startswith("s3:Delete") for st in policy["Properties"]["PolicyDocument"]["Statement"] for a in actions(st)
        )
    }
    assert len(deleting) == 1 and next(iter(deleting)).startswith("FunctionsExpirerRole")
    assert "s3:DeleteObjectVersion" not in every_action(retention_synth)
    env = retention_synth.function("FunctionsExpirer")["Properties"]["Environment"]["Variables"]
    assert (env["RETENTION_DAYS"], env["RETENTION_MAX_DELETES"]) == ("2192", "5000")


def test_the_retention_schedule_starts_expire_runs_and_follows_schedule_enabled(retention_synth):
    schedules = {
        json.loads(s["Properties"]["Target"]["Input"]).get("expire", False): s
        for s in retention_synth.resources("AWS::Scheduler::Schedule").values()
    }
    assert set(schedules) == {False, True}
    assert {s["Properties"]["State"] for s in schedules.values()} == {"DISABLED"}  # schedule_enabled=false
    definition = flatten(retention_synth.one("AWS::StepFunctions::StateMachine")["Properties"]["DefinitionString"])
    assert '"Expire":{"Type":"Choice"' in definition and "FunctionsExpirer" in definition


def test_nag_and_cfn_lint_find_nothing_with_retention_on(retention_synth):
    assert retention_synth.nag_findings == []
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), retention_synth.path], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("days", ["1", "30", "89", "36501", "-5"])
def test_a_retention_under_90_days_is_refused_naming_the_key(days):
    with pytest.raises(ConfigError, match=r"retention_days=-?\d+ is refused: .*at least 90 days.*-c retention_days="):
        OptimizerConfig.from_mapping({"bucket_name": "my-bucket", "bucket_prefix": PREFIX, "retention_days": days})


def test_retention_settings_validate_and_default():
    base = {"bucket_name": "my-bucket", "bucket_prefix": PREFIX}
    config = OptimizerConfig.from_mapping(base)
    assert (config.retention_days, config.retention_max_deletes) == (0, 10_000)
    assert OptimizerConfig.from_mapping({**base, "retention_days": "90"}).retention_days == 90
    with pytest.raises(ConfigError, match="retention_days='six years' is not a whole number"):
        OptimizerConfig.from_mapping({**base, "retention_days": "six years"})
    with pytest.raises(ConfigError, match=r"retention_max_deletes=0 is out of range 1\.\.1000000"):
        OptimizerConfig.from_mapping({**base, "retention_max_deletes": 0})
