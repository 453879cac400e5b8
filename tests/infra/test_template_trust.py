"""Issue 18 on the template: who may send to the work queue, the converter's actions exactly and
their conditions, item-prefix conditions on every DynamoDB write, and what the state machine logs.
(The strict emulator evaluates these conditions too: tests/e2e/test_trust_boundary.py.)"""

from __future__ import annotations

import json
from typing import Any

from tests.infra.test_template import actions, flatten, grants, statements

DYNAMODB_WRITES = ("dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem")


def work_queue_policy(synth: Any) -> list[dict[str, Any]]:
    (work_id,) = [lid for lid in synth.resources("AWS::SQS::Queue") if lid.startswith("QueuesWork")]
    (policy,) = [
        p
        for p in synth.resources("AWS::SQS::QueuePolicy").values()
        if flatten(p["Properties"]["Queues"]) == f"<{work_id}>"
    ]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_the_work_queue_denies_sendmessage_to_all_but_the_enqueuer_and_the_redrive_principals(
    default_synth, custom_synth
):
    for synth, named in ((default_synth, []), (custom_synth, custom_synth.context["redrive_principals"].split(","))):
        (deny,) = [st for st in work_queue_policy(synth) if st.get("Sid") == "OnlyTheEnqueuerAndRedrivesSend"]
        assert deny["Effect"] == "Deny" and deny["Principal"] == {"AWS": "*"} and deny["Action"] == "sqs:SendMessage"
        (enqueuer_role,) = [lid for lid in synth.resources("AWS::IAM::Role") if lid.startswith("FunctionsEnqueuerRole")]
        assert deny["Condition"] == {
            "ArnNotEquals": {"aws:PrincipalArn": [{"Fn::GetAtt": [enqueuer_role, "Arn"]}, *named]}
        }


# The converter's S3 actions, exactly, each with its resource and condition.
OBJECTS = "arn:<AWS::Partition>:s3:::my-connect-recordings/connect/my-instance/CallRecordings/*"
BUCKET = "arn:<AWS::Partition>:s3:::my-connect-recordings"
PREFIX = "connect/my-instance/CallRecordings/*"
CONVERTER_S3 = [
    (
        (
            "s3:GetObject",
            "s3:GetObjectVersion",  # a verify run reads the original by its VersionId (optimizer/custody.py)
            "s3:GetObjectTagging",
            "s3:PutObjectTagging",
            "s3:GetObjectRetention",
            "s3:GetObjectLegalHold",
        ),
        OBJECTS,
        None,
    ),
    # a verify run looks for a conversion under a version without provenance, under the prefix only
    (("s3:ListBucketVersions",), BUCKET, {"StringLike": {"s3:prefix": [PREFIX]}}),
    (("s3:PutObject",), OBJECTS, {"Null": {"s3:if-match": "false"}}),
    (("s3:PutObjectLegalHold",), OBJECTS, {"StringEquals": {"s3:object-lock-legal-hold": "ON"}}),
    (
        ("s3:PutObjectRetention",),
        OBJECTS,
        {
            "StringEquals": {"s3:object-lock-mode": ["GOVERNANCE"]},
            "NumericLessThanEquals": {"s3:object-lock-remaining-retention-days": "3653"},
        },
    ),
    (("s3:ListBucket",), BUCKET, None),
    (("s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration"), BUCKET, None),
]


def test_the_converter_holds_exactly_these_actions(default_synth):
    found = {
        (action, resource, json.dumps(condition, sort_keys=True))
        for action, granted in grants(default_synth, "FunctionsConverterRole", "s3:").items()
        for resource, condition in granted
    }
    assert found == {
        (action, resource, json.dumps(condition, sort_keys=True))
        for group, resource, condition in CONVERTER_S3
        for action in group
    }
    every = sorted({a for st in statements(default_synth, "FunctionsConverterRole") for a in actions(st)})
    assert every == sorted(
        {
            *(a for group, _, _ in CONVERTER_S3 for a in group),
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
            "dynamodb:GetItem",
            "sqs:SendMessage",  # to the DLQ only (below)
            "sqs:GetQueueAttributes",
            "sqs:GetQueueUrl",
            "sqs:ReceiveMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:DeleteMessage",
        }
    )
    (send,) = [st for st in statements(default_synth, "FunctionsConverterRole") if "sqs:SendMessage" in actions(st)]
    assert flatten(send["Resource"]).startswith("<QueuesDeadLetter")


def test_the_converter_may_carry_over_the_lock_modes_configured(custom_synth):
    (retention,) = [
        st for st in statements(custom_synth, "FunctionsConverterRole") if actions(st) == ["s3:PutObjectRetention"]
    ]
    assert retention["Condition"] == {
        "StringEquals": {"s3:object-lock-mode": ["GOVERNANCE", "COMPLIANCE"]},
        "NumericLessThanEquals": {"s3:object-lock-remaining-retention-days": "2557"},
    }


def test_every_dynamodb_write_action_carries_item_prefix_conditions(default_synth):
    seen = 0
    for role, policy in default_synth.resources("AWS::IAM::Policy").items():
        for st in policy["Properties"]["PolicyDocument"]["Statement"]:
            writes = [a for a in actions(st) if a in DYNAMODB_WRITES or a == "dynamodb:*"]
            if not writes:
                continue
            seen += 1
            assert st["Effect"] == "Allow" and set(st["Condition"]) <= {
                "ForAllValues:StringLike",
                "ForAllValues:StringNotLike",
            }, (role, writes)
            ((operator, keys),) = st["Condition"].items()
            assert list(keys) == ["dynamodb:LeadingKeys"] and keys["dynamodb:LeadingKeys"], (role, writes)
            assert "*" not in keys["dynamodb:LeadingKeys"], (role, writes)
    # converter PutItem, UpdateItem; enqueuer PutItem, UpdateItem; lister UpdateItem, DeleteItem (a
    # redo's undone#); restorer PutItem, UpdateItem
    assert seen == 8
    (lister,) = [st for st in statements(default_synth, "FunctionsListerRole") if "dynamodb:UpdateItem" in actions(st)]
    # The run's item and the cursors (keys with no prefix to name): never another role's item kinds.
    assert lister["Condition"] == {
        "ForAllValues:StringNotLike": {
            "dynamodb:LeadingKeys": [
                "done#*",
                "failure#*",
                "attempt#*",
                "page#*",
                "count#*",
                "undone#*",
                "undo#days",
                "undo-left#*",
            ]
        }
    }


def test_the_state_machine_logs_errors_without_execution_data_unless_asked(default_synth, custom_synth):
    logging = default_synth.one("AWS::StepFunctions::StateMachine")["Properties"]["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ERROR", False)
    logging = custom_synth.one("AWS::StepFunctions::StateMachine")["Properties"]["LoggingConfiguration"]
    assert (logging["Level"], logging["IncludeExecutionData"]) == ("ALL", True)
