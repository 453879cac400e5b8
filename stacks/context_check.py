"""Validates the deployment's context before anything touches AWS.

    python -m stacks.context_check [cdk arguments ...]
    python -m stacks.context_check --architecture-only [cdk arguments ...]
    python -m stacks.context_check --to-destroy [cdk arguments ...]

Reads the context the pinned CDK CLI would give the app, with its precedence (checked against the
CLI in tests/infra/test_context_keys.py): every `-c key=value` / `--context key=value` among the
arguments first, then cdk.json's "context", then cdk.context.json, then ~/.cdk.json's "context".
Validates it as `cdk synth` does and prints the Lambda architecture, so the deploy script builds
the matching ffmpeg layer; warns (stderr) when a key is set in both cdk.json and
cdk.context.json, where one silently shadows the other. Exits 2 with the message otherwise.
With --architecture-only (./cdk-deploy.sh setup) only lambda_architecture must be valid; with
--to-destroy (./cdk-deploy.sh destroy) bucket_prefix may be missing: removing needs the stack's name.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .config import ARCHITECTURES, ConfigError, OptimizerConfig, check_keys

PROJECT_CONFIG, PROJECT_CONTEXT = "cdk.json", "cdk.context.json"


def read_context_file(path: Path, section: str | None) -> dict[str, Any]:
    """A context file's object (its `section`, when given); {} when the file is absent, ConfigError
    naming the file when it is not JSON or not an object."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise ConfigError(f"{path} is not valid JSON ({exc})") from None
    if section is not None:
        data = data.get(section, {})
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the context must be a JSON object")
    return data


def command_line_context(args: Sequence[str]) -> dict[str, str]:
    """-c key=value as the CLI reads it: one value per -c (a second word is a stack name)."""
    context: dict[str, str] = {}
    it = iter(args)
    for arg in it:
        if arg in ("-c", "--context"):
            pair = next(it, "")
        elif arg.startswith("--context="):
            pair = arg.split("=", 1)[1]
        elif arg.startswith("-c") and len(arg) > 2:
            raise ConfigError(
                f"{arg}: write the context as `-c key=value` (the CDK CLI does not read {arg[:2]} joined to its value)"
            )
        else:
            continue
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"context argument {pair!r} must look like key=value")
        context[key] = value
    return context


def context_from(args: Sequence[str], root: Path | None = None, home: Path | None = None) -> dict[str, Any]:
    """The context the CDK CLI would read: ~/.cdk.json, cdk.context.json, cdk.json, then -c options."""
    root = Path.cwd() if root is None else root  # the CLI reads both files from where it runs
    home = Path.home() if home is None else home
    context: dict[str, Any] = {}
    for layer in (
        read_context_file(home / ".cdk.json", "context"),
        read_context_file(root / PROJECT_CONTEXT, None),
        read_context_file(root / PROJECT_CONFIG, "context"),
        command_line_context(args),
    ):
        context.update(layer)
    return context


def shadowed_settings(root: Path | None = None) -> list[str]:
    """One warning per key set in both files: the CLI takes cdk.json's value and ignores the other."""
    root = Path.cwd() if root is None else root
    try:
        in_json, in_context = (
            read_context_file(root / PROJECT_CONFIG, "context"),
            read_context_file(root / PROJECT_CONTEXT, None),
        )
    except ConfigError:
        return []  # reported by the validation itself
    return [
        f"{key} is set in both cdk.json ({json.dumps(in_json[key])}, used) and cdk.context.json "
        f"({json.dumps(in_context[key])}, ignored): keep it in one file"
        for key in sorted(set(in_json) & set(in_context))
    ]


def main(argv: Sequence[str]) -> int:
    """Prints the Lambda architecture the configuration deploys; exit status 2 with the error for a bad one."""
    args = list(argv)
    architecture_only = bool(args) and args[0] == "--architecture-only"
    to_destroy = bool(args) and args[0] == "--to-destroy"
    if architecture_only or to_destroy:
        args = args[1:]
    try:
        context = context_from(args)
        for warning in shadowed_settings():
            print(f"warning: {warning}", file=sys.stderr)
        if architecture_only:
            check_keys(context)
            architecture = str(context.get("lambda_architecture") or OptimizerConfig.lambda_architecture).strip()
            if architecture not in ARCHITECTURES:
                raise ConfigError(f"lambda_architecture={architecture!r} must be one of {', '.join(ARCHITECTURES)}")
        else:
            architecture = OptimizerConfig.from_mapping(context, to_destroy=to_destroy).lambda_architecture
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(architecture)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
