"""One synthesis per session (the jsii runtime takes seconds to start), with cdk-nag applied."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

KMS_KEY = "arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@dataclass
class Synth:
    template: dict[str, Any]
    nag_findings: list[str]
    path: str
    context: dict[str, Any]

    def resources(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.template["Resources"].items() if r["Type"] == cfn_type}

    def one(self, cfn_type: str) -> dict[str, Any]:
        (resource,) = self.resources(cfn_type).values()
        return resource

    def function(self, logical_prefix: str) -> dict[str, Any]:
        (resource,) = [
            r for lid, r in self.resources("AWS::Lambda::Function").items() if lid.startswith(logical_prefix)
        ]
        return resource


def _synth(context: dict[str, Any], tmp_path_factory) -> Synth:
    import aws_cdk as cdk
    from aws_cdk import Aspects
    from aws_cdk.assertions import Annotations, Match
    from cdk_nag import AwsSolutionsChecks

    from emulator.synth import feature_flags
    from stacks.optimizer_stack import add_optimizer_stack

    outdir = tmp_path_factory.mktemp("cdk.out")
    # The template a deployment gets: cdk.json's feature flags, as the CLI gives them.
    app = cdk.App(outdir=str(outdir), context={**feature_flags(), **context})
    Aspects.of(app).add(AwsSolutionsChecks())
    stack = add_optimizer_stack(app)
    assembly = app.synth()
    annotations = Annotations.from_stack(stack)
    findings = [
        f"{m.id}: {m.entry.data}"
        for find in (annotations.find_error, annotations.find_warning)
        for m in find("*", Match.string_like_regexp("AwsSolutions-.*"))
    ]
    artifact = assembly.get_stack_by_name(stack.stack_name)
    path = outdir / artifact.template_file
    return Synth(template=json.loads(path.read_text()), nag_findings=findings, path=str(path), context=context)


@pytest.fixture(scope="session")
def default_synth(tmp_path_factory) -> Synth:
    """Only the required keys: every other value is the default."""
    return _synth(
        {"bucket_name": "my-connect-recordings", "bucket_prefix": "connect/my-instance/CallRecordings/"},
        tmp_path_factory,
    )


@pytest.fixture(scope="session")
def custom_synth(tmp_path_factory) -> Synth:
    return _synth(
        {
            "bucket_name": "acme.connect.recordings",
            "bucket_prefix": "connect/acme/CallRecordings",
            "kms_key_arn": KMS_KEY,
            "lambda_architecture": "x86_64",
            "storage_class": "standard_ia",
            "converter_memory_mb": "2048",
            "converter_batch_size": 5,
            "converter_max_concurrency": 7,
            "max_receive_count": 4,
            "queue_poll_seconds": 30,
            "log_retention_days": 365,
            "overwrite_converted": "true",
            "schedule": "cron(30 2 * * ? *)",
            "schedule_timezone": "Europe/Paris",
            "schedule_enabled": "false",
            "alarm_email": "ops@example.com",
            "backfill_concurrency": 8,
            "redrive_principals": "arn:aws:iam::111122223333:role/Operator,arn:aws:iam::111122223333:user/oncall",
            "state_machine_log_level": "all",
            "state_machine_log_execution_data": "true",
            "carried_lock_modes": "GOVERNANCE,COMPLIANCE",
            "carried_retention_max_days": 2557,
        },
        tmp_path_factory,
    )
