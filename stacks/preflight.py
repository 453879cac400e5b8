"""Validates the deployment's context before anything touches AWS.

    python -m stacks.preflight [cdk arguments ...]

Reads the context the CDK CLI would see (cdk.json, cdk.context.json, then every `-c key=value`
among the arguments, later ones winning), validates it like `cdk synth` does, and prints the
Lambda architecture so the deploy script builds the matching ffmpeg layer. Exits 2 with the
validation message otherwise.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Sequence

from .config import ConfigError, OptimizerConfig

ROOT = Path(__file__).resolve().parent.parent


def context_from(args: Sequence[str], root: Path = ROOT) -> dict[str, Any]:
    context: dict[str, Any] = {}
    for name in ("cdk.json", "cdk.context.json"):
        path = root / name
        if path.exists():
            data = json.loads(path.read_text())
            context.update(data.get("context", {}) if name == "cdk.json" else data)
    it = iter(args)
    for arg in it:
        if arg in ("-c", "--context"):
            pair = next(it, "")
        elif arg.startswith("--context="):
            pair = arg.split("=", 1)[1]
        elif arg.startswith("-c") and len(arg) > 2:
            pair = arg[2:]
        else:
            continue
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"context argument {pair!r} must look like key=value")
        context[key] = value
    return context


def main(argv: Sequence[str]) -> int:
    try:
        config = OptimizerConfig.from_mapping(context_from(argv))
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(config.lambda_architecture)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
