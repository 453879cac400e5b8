"""scripts/prune_versions.py: superseded Lambda versions are deleted once no execution can use them."""

from __future__ import annotations

import datetime as dt
import io
import sys
import zipfile
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import prune_versions  # noqa: E402

NOW = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)


def version(number: str, days_old: float, arn: str | None = None) -> dict:
    published = (NOW - dt.timedelta(days=days_old)).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return {"Version": number, "FunctionArn": arn or f"arn:fn:{number}", "LastModified": published}


def test_only_versions_superseded_longer_than_the_longest_run_and_a_day_ago_are_pruned():
    versions = [
        version("$LATEST", 100),
        version("1", 60),  # superseded by 2, 40 days ago
        version("2", 40),  # superseded by 3, 15.5 days ago: past 14 + 1 days
        version("3", 15.5),  # superseded by 4 only 14.5 days ago: an execution may still use it
        version("4", 14.5),  # superseded by 5 just now
        version("5", 0.1, arn="arn:fn:current"),  # the stack's current version
    ]
    assert prune_versions.versions_to_prune(versions, {"arn:fn:current"}, NOW) == ["1", "2"]
    # Published long ago but superseded yesterday: a run started the day before still uses it.
    assert prune_versions.versions_to_prune([version("7", 90), version("8", 1, "arn:fn:current")], set(), NOW) == []
    # The current version is never deleted, however old its successor (a rollback made it current).
    assert (
        prune_versions.versions_to_prune(
            [version("1", 90, "arn:fn:current"), version("2", 60)], {"arn:fn:current"}, NOW
        )
        == []
    )


def test_the_longest_run_is_the_state_machines_timeout():
    from stacks.orchestration import MAX_RUN

    assert MAX_RUN.to_days() == prune_versions.MAX_RUN_DAYS


def _zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("h.py", "def handler(e, c): return e\n")
    return buffer.getvalue()


@pytest.mark.parametrize("dry_run", [True, False])
def test_prune_reads_the_stack_and_deletes_with_the_deployers_credentials(dry_run, monkeypatch):
    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        role = session.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        lam = session.client("lambda")
        lam.create_function(
            FunctionName="f", Runtime="python3.12", Role=role, Handler="h.handler", Code={"ZipFile": _zip()}
        )
        old = lam.publish_version(FunctionName="f")
        lam.update_function_configuration(FunctionName="f", Description="v2")
        current = lam.publish_version(FunctionName="f")
        assert old["Version"] != current["Version"]
        resources = [
            {"ResourceType": "AWS::Lambda::Function", "PhysicalResourceId": "f"},
            {"ResourceType": "AWS::Lambda::Version", "PhysicalResourceId": current["FunctionArn"]},
        ]

        class _Stack:  # CloudFormation's answer for the stack (moto's needs extra packages)
            def get_paginator(self, name):
                assert name == "list_stack_resources"

                class _Pages:
                    def paginate(self, StackName):  # noqa: N803 - boto3's name
                        assert StackName == "s"
                        return [{"StackResourceSummaries": resources}]

                return _Pages()

        real_client = session.client

        def client(name, *a, **kw):
            return _Stack() if name == "cloudformation" else real_client(name, *a, **kw)

        monkeypatch.setattr(session, "client", client)
        later = dt.datetime.now(dt.UTC) + dt.timedelta(days=16)
        deleted = prune_versions.prune(session, "s", dry_run=dry_run, now=later)
        assert deleted == [f"f:{old['Version']}"]
        left = {v["Version"] for v in lam.list_versions_by_function(FunctionName="f")["Versions"]}
        assert (old["Version"] in left) == dry_run and current["Version"] in left
