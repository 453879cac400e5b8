"""Before `cdk destroy`: says what will be deleted, and refuses while that loses work.

    .venv/bin/python scripts/destroy_check.py [--even-if-busy] --cdk-args [cdk arguments ...]

Reads with boto3, in the account and region of the credentials (--profile / --region among the
cdk arguments), the stack of the bucket (`-c bucket_name`, or `-c stack_name`): its resources and
which of them the template retains (CloudFormation ListStackResources, GetTemplate), the messages
of its dead-letter queue (SQS GetQueueAttributes) and its runs in progress (Step Functions
ListExecutions, RUNNING). Prints, on stderr, what `cdk destroy` will delete and what it keeps.

Refuses (exit 2) while the dead-letter queue holds messages (failures nobody resolved: deleted
with the queue) or a run is in progress (its recordings would be left half done, its ledger
deleted under it), and when it cannot read those; --even-if-busy goes on anyway. Exit 0: go on
(also when the stack does not exist: `cdk destroy` says so itself).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

GO_ON, REFUSED = 0, 2
RETAINED = ("Retain", "RetainExceptOnCreate")
# What each resource type is, for a human; anything else is named by its type.
KINDS = {
    "AWS::Lambda::Function": "Lambda function(s)",
    "AWS::Lambda::Version": "Lambda version(s)",
    "AWS::Lambda::LayerVersion": "Lambda layer version(s)",
    "AWS::Lambda::EventSourceMapping": "SQS event source mapping(s)",
    "AWS::StepFunctions::StateMachine": "state machine(s)",
    "AWS::SQS::Queue": "SQS queue(s) (the work queue and the dead-letter queue, with any messages in them)",
    "AWS::DynamoDB::Table": "DynamoDB table(s) (the run ledger: the runs' counts, the remembered failures and the "
    "chain-of-custody records of the conversions)",
    "AWS::Logs::LogGroup": "log group(s)",
    "AWS::IAM::Role": "IAM role(s)",
    "AWS::IAM::Policy": "IAM policy(ies)",
    "AWS::SNS::Topic": "SNS topic(s) (the alarms')",
    "AWS::KMS::Key": "KMS key(s) (scheduled for deletion)",
    "AWS::CloudWatch::Alarm": "CloudWatch alarm(s)",
    "AWS::Scheduler::Schedule": "schedule(s)",
    "AWS::Events::Rule": "EventBridge rule(s)",
}


def stack_name(args: Sequence[str]) -> str:
    from stacks.config import OptimizerConfig
    from stacks.context_check import context_from

    return OptimizerConfig.from_mapping(context_from(args), to_destroy=True).stack_name


def describe(resources: Sequence[Mapping[str, Any]], template: Mapping[str, Any]) -> tuple[str, str]:
    """(what is deleted, what is kept), each a phrase."""
    declared = template.get("Resources") or {}
    deleted: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    for resource in resources:
        kind = KINDS.get(resource["ResourceType"], resource["ResourceType"])
        policy = (declared.get(resource["LogicalResourceId"]) or {}).get("DeletionPolicy")
        (kept if policy in RETAINED else deleted)[kind] += 1
    said = lambda counts: ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())) or "nothing"  # noqa: E731
    return said(deleted), said(kept)


def check(session: Any, name: str, even_if_busy: bool) -> tuple[int, list[str]]:
    import botocore.exceptions as errors

    cfn = session.client("cloudformation")
    try:
        stack = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except errors.ClientError as exc:
        if "does not exist" in str(exc):
            return GO_ON, [f"stack {name} does not exist in region {session.region_name}: nothing to check"]
        return _unreadable(f"cannot read stack {name} ({exc})", even_if_busy)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    lines = []
    try:
        resources = [
            r
            for page in cfn.get_paginator("list_stack_resources").paginate(StackName=name)
            for r in page["StackResourceSummaries"]
        ]
        template = cfn.get_template(StackName=name, TemplateStage="Original")["TemplateBody"]
        if isinstance(template, str):
            import json

            template = json.loads(template)
        deleted, kept = describe(resources, template)
        lines.append(
            f"`cdk destroy` will delete stack {name} and its {len(resources)} resources: {deleted}. Kept: the bucket "
            f"and its recordings (never part of the stack), and {kept} (retained by the template)"
        )
    except (errors.ClientError, ValueError) as exc:
        lines.append(f"cannot list what stack {name} holds ({exc}); `cdk destroy` deletes every resource it created")
    problems = []
    try:
        problems += _dead_letters(session, outputs.get("DeadLetterQueueUrl"))
        problems += _runs(session, outputs.get("StateMachineArn"))
    except errors.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        return _unreadable(
            f"cannot tell whether the dead-letter queue holds failures or a run is in progress ({code}: "
            f"{exc.response.get('Error', {}).get('Message', exc)}); sqs:GetQueueAttributes on the DLQ and "
            "states:ListExecutions on the state machine tell it",
            even_if_busy,
            lines,
        )
    if not problems:
        return GO_ON, [*lines, "the dead-letter queue is empty and no run is in progress"]
    if even_if_busy:
        return GO_ON, [*lines, *problems, "--even-if-busy: going on anyway"]
    return REFUSED, [
        *lines,
        *problems,
        "not destroying: resolve those first (docs/operations.md#remove), or run again with --even-if-busy to delete "
        "them with the stack",
    ]


def _unreadable(reason: str, even_if_busy: bool, lines: Sequence[str] = ()) -> tuple[int, list[str]]:
    if even_if_busy:
        return GO_ON, [*lines, reason, "--even-if-busy: going on anyway"]
    return REFUSED, [*lines, reason, "not destroying without knowing: fix the access, or run again with --even-if-busy"]


def _dead_letters(session: Any, url: str | None) -> list[str]:
    if not url:
        return []
    names = [
        "ApproximateNumberOfMessages",
        "ApproximateNumberOfMessagesNotVisible",
        "ApproximateNumberOfMessagesDelayed",
    ]
    attributes = session.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    held = sum(int(attributes.get(n, 0)) for n in names)
    if not held:
        return []
    return [
        f"the dead-letter queue holds {held} message(s) ({url}): failures nobody resolved, deleted with the queue. "
        "Read them (docs/operations.md#when-something-fails), redrive them, or keep a copy before destroying"
    ]


def _runs(session: Any, arn: str | None) -> list[str]:
    if not arn:
        return []
    running = session.client("stepfunctions").list_executions(
        stateMachineArn=arn, statusFilter="RUNNING", maxResults=100
    )["executions"]
    if not running:
        return []
    names = ", ".join(e["name"] for e in running[:5]) + (" ..." if len(running) > 5 else "")
    return [
        f"{len(running)} run(s) in progress ({names}): destroying now leaves their recordings half done and deletes "
        "their ledger. Wait for them, or stop them (aws stepfunctions stop-execution) first"
    ]


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/destroy_check.py", description=__doc__.split("\n\n")[1])
    parser.add_argument("--even-if-busy", action="store_true")
    parser.add_argument("--cdk-args", nargs=argparse.REMAINDER, default=[])
    args = parser.parse_args(argv)
    from bootstrap_check import identify
    from cdk_args import option_value

    try:
        name = stack_name(args.cdk_args)
    except Exception as exc:  # ConfigError: already refused by stacks.context_check; kept plain here
        print(f"error: {exc}", file=sys.stderr)
        return REFUSED
    session, where = identify(option_value(args.cdk_args, "profile"), option_value(args.cdk_args, "region"))
    if session is None:
        print(f"error: {where}", file=sys.stderr)
        return REFUSED
    status, lines = check(session, name, args.even_if_busy)
    for line in lines:
        print(f"[destroy] {line}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
