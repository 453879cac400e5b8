"""Does this account and region need `cdk bootstrap` before the app can be deployed?

    .venv/bin/python scripts/bootstrap_check.py ASSEMBLY_DIR [--profile P] [--region R]
    .venv/bin/python scripts/bootstrap_check.py --whoami [--profile P] [--region R]

Reads from the synthesized assembly the bootstrap version it requires and where that version is
published (`requiresBootstrapStackVersion`, `bootstrapStackVersionSsmParameter`, i.e.
/cdk-bootstrap/<qualifier>/version: a custom `@aws-cdk/core:bootstrapQualifier` is honoured), then
reads that SSM parameter with boto3 in the account and region of the credentials (the AWS CLI is
not needed). One line on stderr says what was found and, when a bootstrap is needed, what it will
grant (grants): the CloudFormation execution role that deploys every stack gets the policies of
--cloudformation-execution-policies, by default AdministratorAccess. --whoami only checks that
there are credentials and a region, and names the account: ./cdk-deploy.sh runs it before the
slow steps.

Exit status: 0 bootstrapped at a recent enough version; 10 bootstrap needed (not bootstrapped, or
older than required); 11 could not tell (e.g. no permission to read the parameter: the deploy
checks the version itself); 2 no credentials, no region or no assembly (nothing can be deployed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

OK, NEEDED, UNKNOWN, CANNOT = 0, 10, 11, 2
TEMPLATE = (
    Path(__file__).resolve().parent.parent
    / "node_modules"
    / "aws-cdk"
    / "lib"
    / "api"
    / "bootstrap"
    / "bootstrap-template.yaml"
)


def cli_template_version(template: Path = TEMPLATE) -> str:
    """The bootstrap version the pinned CLI's `cdk bootstrap` installs (33 for aws-cdk 2.1148.1)."""
    import re

    try:
        found = re.search(r"CdkBootstrapVersion:\s*\n(?:.*\n)*?\s*Value: '(\d+)'", template.read_text())
    except OSError:
        return "its own"
    return found.group(1) if found else "its own"


ADMINISTRATOR = "arn:aws:iam::aws:policy/AdministratorAccess"


def grants(fresh: bool, policies: Sequence[str], trust: Sequence[str]) -> str:
    """What `cdk bootstrap` will grant, said before it runs. The pinned CLI's rule (aws-cdk's
    bootstrap: "Using default execution policy of ...AdministratorAccess"; with --trust it
    refuses to run without --cloudformation-execution-policies); an upgrade keeps the stack's
    current policies unless new ones are given."""
    stack = (
        "It creates the CDKToolkit stack: an S3 bucket and an ECR repository for the app's assets, and IAM "
        "roles to publish assets, look up values, deploy, and the CloudFormation execution role that creates "
        "every resource of every stack deployed with it"
        if fresh
        else "It updates the CDKToolkit stack (its bucket, repository and roles) to the CLI's version"
    )
    if policies:
        role = f"That execution role gets only the policies given: {', '.join(policies)}"
    elif trust:
        role = (
            "With --trust the CDK refuses to bootstrap without --cloudformation-execution-policies: give the "
            "policies the execution role gets"
        )
    elif fresh:
        role = (
            f"That execution role gets {ADMINISTRATOR} (AdministratorAccess, the CDK's default when no "
            "--cloudformation-execution-policies is given): every action on every resource of the account, for "
            "whoever may deploy with the CDK here"
        )
    else:
        role = (
            "The execution role keeps the policies it has (the stack's CloudFormationExecutionPolicies "
            "parameter; AdministratorAccess if it was bootstrapped without any)"
        )
    accounts = f" Accounts trusted to deploy with it (--trust): {', '.join(trust)}." if trust else ""
    return (
        f"{stack}. {role}.{accounts} To grant less, pass --cloudformation-execution-policies ARN ("
        "docs/security.md#a-least-privilege-bootstrap), or bootstrap yourself first."
    )


def requirement(assembly: Path) -> tuple[int, str]:
    """(highest bootstrap version any artifact requires, the SSM parameter that holds the version)."""
    manifest = json.loads((assembly / "manifest.json").read_text())
    found = [
        (
            int(props["requiresBootstrapStackVersion"]),
            props.get("bootstrapStackVersionSsmParameter") or "/cdk-bootstrap/hnb659fds/version",
        )
        for artifact in manifest.get("artifacts", {}).values()
        if (props := artifact.get("properties") or {}).get("requiresBootstrapStackVersion") is not None
    ]
    if not found:
        raise ValueError(f"{assembly}/manifest.json names no bootstrap requirement (no stack synthesized?)")
    parameters = {parameter for _, parameter in found}
    if len(parameters) > 1:
        raise ValueError(
            f"the assembly uses several bootstrap qualifiers ({', '.join(sorted(parameters))}); deploy it with cdk "
            "yourself"
        )
    return max(version for version, _ in found), parameters.pop()


def identify(profile: str | None, region: str | None) -> tuple[Any, str] | tuple[None, str]:
    """(boto3 session, "account A, region R"), or (None, why not)."""
    import boto3
    import botocore.exceptions as errors

    try:
        session = boto3.Session(profile_name=profile, region_name=region or os.environ.get("AWS_REGION") or None)
    except errors.ProfileNotFound as exc:
        return None, str(exc)
    if not session.region_name:
        return None, "no AWS region: set AWS_REGION (or AWS_DEFAULT_REGION), a region in your profile, or pass --region"
    try:
        account = session.client("sts").get_caller_identity()["Account"]
    except (errors.NoCredentialsError, errors.PartialCredentialsError) as exc:
        return None, f"no AWS credentials ({exc}): set them for the target account (e.g. AWS_PROFILE) and run again"
    except errors.BotoCoreError as exc:
        return None, f"cannot reach AWS STS to identify the account: {exc}"
    except errors.ClientError as exc:
        return None, f"the credentials were refused by STS: {exc.response['Error'].get('Message') or exc}"
    return session, f"account {account}, region {session.region_name}"


def check(
    assembly: Path,
    profile: str | None,
    region: str | None,
    policies: Sequence[str] = (),
    trust: Sequence[str] = (),
) -> tuple[int, str]:
    status, message = _check(assembly, profile, region)
    if status == NEEDED:
        fresh = "does not exist" in message
        message = f"{message}. {grants(fresh, policies, trust)}"
    return status, message


def _check(assembly: Path, profile: str | None, region: str | None) -> tuple[int, str]:
    import botocore.exceptions as errors

    try:
        required, parameter = requirement(assembly)
    except (OSError, ValueError, KeyError) as exc:
        return CANNOT, f"cannot read the synthesized assembly: {exc}"
    session, where = identify(profile, region)
    if session is None:
        return CANNOT, where
    try:
        value = session.client("ssm").get_parameter(Name=parameter)["Parameter"]["Value"]
    except errors.ClientError as exc:
        code = exc.response["Error"].get("Code", "")
        if code == "ParameterNotFound":
            return (
                NEEDED,
                f"{where} is not bootstrapped ({parameter} does not exist): bootstrapping (the pinned CLI installs "
                f"version {cli_template_version()})",
            )
        return (
            UNKNOWN,
            f"cannot read {parameter} in {where} ({code}): not bootstrapping; cdk deploy checks the version itself",
        )
    except errors.BotoCoreError as exc:
        return (
            UNKNOWN,
            f"cannot read {parameter} in {where} ({exc}): not bootstrapping; cdk deploy checks the version itself",
        )
    try:
        version = int(value)
    except ValueError:
        return UNKNOWN, f"{parameter} in {where} holds {value!r}, not a version number: not bootstrapping"
    if version < required:
        return NEEDED, (
            f"{where} is bootstrapped at version {version}, older than the {required} this app requires: "
            f"bootstrapping (the pinned CLI installs version {cli_template_version()})"
        )
    return (
        OK,
        f"{where} is bootstrapped at version {version} (the app requires {required} or newer): no bootstrap needed",
    )


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/bootstrap_check.py", description=__doc__.split("\n\n")[1])
    parser.add_argument("assembly", type=Path, nargs="?")
    parser.add_argument("--whoami", action="store_true")
    parser.add_argument("--profile")
    parser.add_argument("--region")
    parser.add_argument("--cloudformation-execution-policies", dest="policies", action="append", default=[])
    parser.add_argument("--trust", action="append", default=[])
    args = parser.parse_args(argv)
    if args.whoami:
        session, where = identify(args.profile, args.region)
        status, message = (OK, f"deploying to {where}") if session else (CANNOT, where)
    elif args.assembly is None:
        parser.error("give the assembly directory or --whoami")
    else:
        split = lambda values: [v for value in values for v in value.split(",") if v]  # noqa: E731
        status, message = check(args.assembly, args.profile, args.region, split(args.policies), split(args.trust))
    print(("error: " if status == CANNOT else "[bootstrap] ") + message, file=sys.stderr)
    return status


def option_values(args: Sequence[str], name: str) -> list[str]:
    """Every value given to `--name` (as `--name V` or `--name=V`)."""
    values = []
    for i, arg in enumerate(args):
        spelling, has_value, rest = arg.partition("=")
        if spelling == f"--{name}":
            if has_value:
                values.append(rest)
            elif i + 1 < len(args) and not args[i + 1].startswith("-"):
                values.append(args[i + 1])
    return values


def _profile_and_region(args: Sequence[str]) -> list[Any]:
    from cdk_args import option_value

    out: list[Any] = []
    for name in ("profile", "region"):
        if (value := option_value(args, name)) is not None:
            out += [f"--{name}", value]
    for name in ("cloudformation-execution-policies", "trust"):
        out += [f"--{name}={value}" for value in option_values(args, name)]
    return out


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[2] == "--cdk-args":
        # ./cdk-deploy.sh passes its own arguments: --profile / --region are read from them.
        sys.exit(main([sys.argv[1], *_profile_and_region(sys.argv[3:])]))
    sys.exit(main(sys.argv[1:]))
