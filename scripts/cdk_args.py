"""Splits ./cdk-deploy.sh's arguments between the cdk commands it runs, by the pinned CLI's own
option table (node_modules/aws-cdk/lib/cli/cli-type-registry.json), so that each command gets
only what it understands.

    python3 scripts/cdk_args.py COMMAND TARGET [ARG ...]

COMMAND is what the user asked for (deploy or destroy); TARGET is the cdk command about to run:
synth, bootstrap, deploy or destroy. Prints TARGET's arguments NUL-separated, in the order given.
The CLI's global options (-c, --profile, --region, --verbose, ...) go to every command, bootstrap's
own options (--trust, --bootstrap-kms-key-id, ...) only to bootstrap, deploy's own (--hotswap,
--require-approval, --outputs-file, ...) only to deploy, stack names only to deploy / destroy. An
option no command of COMMAND knows is an error (exit 2): the CLI would only warn and ignore it.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "node_modules" / "aws-cdk" / "lib" / "cli" / "cli-type-registry.json"
REFUSED = {
    "app": "this script deploys this repository's app (app.py)",
    "output": "the script synthesizes into cdk.out and deploys that assembly",
    "qualifier": "set the qualifier as context instead, `-c @aws-cdk/core:bootstrapQualifier=QUALIFIER`, so the app, "
    "the bootstrap check and cdk bootstrap all use it",
}


class ArgumentError(ValueError):
    pass


@dataclass
class Option:
    name: str
    takes_value: bool
    commands: set[str] = field(default_factory=set)  # "global" or command names


@dataclass
class Parsed:
    tokens: list[str]
    option: Option | None  # None for a positional argument (a stack name)


def load_options(registry: Path = REGISTRY) -> dict[str, Option]:
    """Every spelling (--name, its aliases, -x) of the global, bootstrap, deploy and destroy options."""
    try:
        data = json.loads(registry.read_text())
    except OSError as exc:
        raise ArgumentError(
            f"cannot read the CDK CLI's option table {registry} ({exc.strerror}); run ./cdk-deploy.sh setup"
        ) from None
    options: dict[str, Option] = {}

    def add(name: str, spec: dict[str, Any], scope: str) -> None:
        option = options.get("--" + name) or Option(name, spec.get("type") != "boolean")
        option.commands.add(scope)
        aliases = spec.get("alias") or []
        for alias in [name] + ([aliases] if isinstance(aliases, str) else list(aliases)):
            options[("-" if len(alias) == 1 else "--") + alias] = option

    for name, spec in data["globalOptions"].items():
        add(name, spec, "global")
    for command in ("bootstrap", "deploy", "destroy"):
        for name, spec in data["commands"][command].get("options", {}).items():
            add(name, spec, command)
    return options


def _kebab(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", lambda m: "-" + m.group(1).lower(), name)


def parse(args: Sequence[str], options: dict[str, Option]) -> list[Parsed]:
    parsed: list[Parsed] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            parsed.append(Parsed([arg], None))
            continue
        if arg == "--":
            raise ArgumentError("'--' is not supported: give stack names and options directly")
        spelling, has_value, _ = arg.partition("=")
        if spelling.startswith("--"):
            spelling = "--" + _kebab(spelling[2:])
        option = options.get(spelling)
        if option is None and spelling.startswith("--no-") and not has_value:
            option = options.get("--" + spelling[5:])
            if option is not None and option.takes_value:
                option = None
        if option is None:
            if re.fullmatch(r"-[A-Za-z].+", spelling):
                raise ArgumentError(f"{arg}: write a short option and its value apart, e.g. `-c key=value`")
            raise ArgumentError(f"unknown option {spelling}; see `npx cdk deploy --help` and ./cdk-deploy.sh --help")
        if option.name in REFUSED:
            raise ArgumentError(f"{spelling} is not accepted here: {REFUSED[option.name]}")
        tokens = [arg]
        if option.takes_value and not has_value:
            if i >= len(args):
                raise ArgumentError(f"{arg} needs a value")
            tokens.append(args[i])
            i += 1
        parsed.append(Parsed(tokens, option))
    return parsed


def route(command: str, target: str, args: Sequence[str], options: dict[str, Option] | None = None) -> list[str]:
    """The arguments of `cdk TARGET` when the user asked for COMMAND (deploy or destroy)."""
    if command not in ("deploy", "destroy") or target not in ("synth", "bootstrap", "deploy", "destroy"):
        raise ArgumentError(f"cannot route {command!r} arguments to {target!r}")
    options = options if options is not None else load_options()
    understood = {"deploy": {"deploy", "bootstrap"}, "destroy": {"destroy"}}[command]
    out: list[str] = []
    for item in parse(args, options):
        if item.option is None:
            if target == command:
                out += item.tokens
            continue
        scopes = item.option.commands
        if not scopes & (understood | {"global"}):
            raise ArgumentError(
                f"{item.tokens[0]} is an option of `cdk {'/'.join(sorted(scopes))}`, not of `cdk {command}`"
            )
        if "global" in scopes or target in scopes:
            out += item.tokens
    return out


def option_value(args: Sequence[str], name: str) -> str | None:
    """The last value given to a global option such as --profile or --region (None if absent)."""
    value = None
    options = {"--" + name: Option(name, True)}
    for i, arg in enumerate(args):
        spelling, has_value, rest = arg.partition("=")
        if spelling in options:
            value = rest if has_value else (args[i + 1] if i + 1 < len(args) else None)
    return value


def main(argv: Sequence[str]) -> int:
    if len(argv) < 2:
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    try:
        routed = route(argv[0], argv[1], argv[2:])
    except ArgumentError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write("".join(arg + "\0" for arg in routed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
