"""Deletes the Lambda versions no execution can still use, after ./cdk-deploy.sh deploys.

    .venv/bin/python scripts/prune_versions.py ASSEMBLY_DIR [--profile P] [--region R] [--dry-run]

The state machine invokes the version of each function published with its deployment
(stacks/orchestration.py), so an execution keeps the code it started with for all of its at most
MAX_RUN (14 days). Each deployment that changes a function publishes a new version and the stack
retains the superseded one (RemovalPolicy.RETAIN: CloudFormation would otherwise delete it while
executions still invoke it). This script deletes, with the deployer's own credentials, the
versions of the stack's functions that are not current and were superseded (the next version
published) more than MAX_RUN + a day ago: every execution that may have started with them has
ended, by its timeout at the latest. The functions themselves need no permission over their versions.

`cdk destroy` needs none of this: deleting a function deletes all its versions (Lambda API
reference, DeleteFunction). Exit status: 0 done (or nothing to do), 2 could not read the stack.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

MAX_RUN_DAYS = 14  # stacks/orchestration.py, MAX_RUN: the state machine's timeout
MARGIN_DAYS = 1
CANNOT = 2


def _published(version: Mapping[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(version["LastModified"].replace("+0000", "+00:00"))


def versions_to_prune(
    versions: Iterable[Mapping[str, Any]], current: set[str], now: dt.datetime, *, keep_days: int = MAX_RUN_DAYS
) -> list[str]:
    """The version numbers to delete: published (not $LATEST), not current, and superseded more
    than `keep_days` + MARGIN_DAYS ago, i.e. the next version was published before then (an
    execution started before that next version may have started with this one, up to MAX_RUN
    ago). `versions` as ListVersionsByFunction returns them."""
    cutoff = now - dt.timedelta(days=keep_days + MARGIN_DAYS)
    published = sorted((v for v in versions if v["Version"] != "$LATEST"), key=lambda v: int(v["Version"]))
    old = []
    for version, successor in zip(published, published[1:], strict=False):
        if version["FunctionArn"] in current or version["Version"] in current:
            continue
        if _published(successor) < cutoff:
            old.append(version["Version"])
    return old


def stack_name(assembly: Path) -> str:
    manifest = json.loads((assembly / "manifest.json").read_text())
    (name,) = [
        artifact.get("properties", {}).get("stackName", artifact_id)
        for artifact_id, artifact in manifest["artifacts"].items()
        if artifact.get("type") == "aws:cloudformation:stack"
    ]
    return name


def prune(session: Any, stack: str, *, dry_run: bool, now: dt.datetime) -> list[str]:
    cloudformation, lam = session.client("cloudformation"), session.client("lambda")
    resources = [
        r
        for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=stack)
        for r in page["StackResourceSummaries"]
    ]
    current = {r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::Lambda::Version"}
    deleted = []
    for function in (r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::Lambda::Function"):
        versions = [
            v
            for page in lam.get_paginator("list_versions_by_function").paginate(FunctionName=function)
            for v in page["Versions"]
        ]
        for number in versions_to_prune(versions, current, now):
            if not dry_run:
                lam.delete_function(FunctionName=function, Qualifier=number)
            deleted.append(f"{function}:{number}")
    return deleted


def main(argv: Sequence[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bootstrap_check import identify

    parser = argparse.ArgumentParser(prog="scripts/prune_versions.py", description=__doc__.split("\n\n")[1])
    parser.add_argument("assembly", type=Path)
    parser.add_argument("--profile")
    parser.add_argument("--region")
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    session, where = identify(args.profile, args.region)
    if session is None:
        print(f"[versions] not pruned: {where}", file=sys.stderr)
        return CANNOT
    try:
        deleted = prune(session, stack_name(args.assembly), dry_run=args.dry_run, now=dt.datetime.now(dt.UTC))
    except Exception as exc:  # a failed prune leaves old versions, never breaks the deployment
        print(f"[versions] not pruned ({type(exc).__name__}: {exc}); run it again later", file=sys.stderr)
        return CANNOT
    verb = "would delete" if args.dry_run else "deleted"
    print(
        f"[versions] {verb} {len(deleted)} Lambda version(s) older than {MAX_RUN_DAYS + MARGIN_DAYS} days"
        + (f": {', '.join(deleted)}" if deleted else ""),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "--cdk-args":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from bootstrap_check import _profile_and_region

        sys.exit(main([sys.argv[1], *_profile_and_region(sys.argv[3:])]))
    sys.exit(main(sys.argv[1:]))
