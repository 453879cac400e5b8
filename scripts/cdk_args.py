"""Splits ./cdk-deploy.sh's arguments between the cdk commands it runs, by the pinned CLI's own
option table (node_modules/aws-cdk/lib/cli/cli-type-registry.json), so that each command gets
only what it understands.

    python3 scripts/cdk_args.py COMMAND TARGET [ARG ...]
    python3 scripts/cdk_args.py --check COMMAND [ARG ...]

COMMAND is what the user asked for (deploy or destroy); TARGET is the cdk command about to run:
synth, bootstrap, deploy or destroy. Prints TARGET's arguments NUL-separated, in the order given.
The CLI's global options (-c, --profile, --region, --verbose, ...) go to every command, bootstrap's
own options (--trust, --bootstrap-kms-key-id, ...) only to bootstrap, deploy's own (--hotswap,
--require-approval, --outputs-file, ...) only to deploy, stack names only to deploy / destroy. An
option no command of COMMAND knows is an error (exit 2): the CLI would only warn and ignore it.
So is a word that is neither an option (nor an option's value) nor the stack of this app: a
misspelt command (`./cdk-deploy.sh deploi`) would otherwise be taken as a stack name.

--check runs before any set-up, on the system Python (standard library only): it refuses such a
word, and, once the CLI is installed, any option COMMAND does not understand. Without the CLI's
option table (a fresh clone, before `npm ci`) the word after an option may be its value, so it is
left to the routing, which runs before the big install.
"""

from __future__ import annotations

import difflib
import fnmatch
import json
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = ROOT / "node_modules" / "aws-cdk" / "lib" / "cli" / "cli-type-registry.json"
COMMANDS = ("deploy", "destroy", "setup")
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


def _words_without_table(args: Sequence[str]) -> list[str]:
    """The words that are surely no option's value, without knowing which options take one."""
    words: list[str] = []
    value_may_follow = False
    for arg in args:
        if arg.startswith("-") and arg != "-":
            # -c/--context take one value; --name=value holds its own; any other may take the next word.
            value_may_follow = "=" not in arg
        elif value_may_follow:
            value_may_follow = False
        else:
            words.append(arg)
    return words


def check_words(command: str, args: Sequence[str], stack: str | None, options: dict[str, Option] | None) -> None:
    """Every word that is not an option nor an option's value must name (or match) the stack of this app."""
    words = (
        [item.tokens[0] for item in parse(args, options) if item.option is None]
        if options is not None
        else _words_without_table(args)
    )
    for word in words:
        if command != "setup" and stack is not None and fnmatch.fnmatchcase(stack, word):
            continue
        near = difflib.get_close_matches(word.lower(), COMMANDS, n=1, cutoff=0.6)
        hint = f" (did you mean `./cdk-deploy.sh {near[0]}`?)" if near else ""
        commands = "a command of ./cdk-deploy.sh (deploy, destroy, setup, --local, --help)"
        if command == "setup":
            what = f"neither {commands} nor an option (setup takes no stack name)"
        elif stack is not None:
            what = f"neither {commands}, an option, nor the stack of this app ({stack})"
        else:
            what = (
                f"neither {commands}, an option, nor a stack of this app "
                "(stack_name, or CallRecordingOptimizer-<bucket_name>)"
            )
        raise ArgumentError(f"{word!r} is {what}{hint}; see ./cdk-deploy.sh --help")


def stack_name(args: Sequence[str]) -> str | None:
    """The stack this app would synthesize with these arguments' context, or None if not known yet."""
    sys.path.insert(0, str(ROOT))
    from stacks.config import ConfigError, default_stack_name, validate_bucket_name
    from stacks.context_check import context_from

    try:
        context = context_from(args, root=ROOT)
        return str(context.get("stack_name") or default_stack_name(validate_bucket_name(context.get("bucket_name"))))
    except ConfigError:
        return None  # the configuration's own check says why


def check(command: str, args: Sequence[str], registry: Path = REGISTRY) -> None:
    """Before any set-up: the words, and the options too once the CLI's option table is installed."""
    if command not in COMMANDS:
        raise ArgumentError(f"unknown command {command!r}; use one of {', '.join(COMMANDS)}")
    options = load_options(registry) if registry.exists() else None
    check_words(command, args, stack_name(args), options)
    if options is not None and command != "setup":
        route(command, command, args, options)


def route(command: str, target: str, args: Sequence[str], options: dict[str, Option] | None = None) -> list[str]:
    """The arguments of `cdk TARGET` when the user asked for COMMAND (deploy or destroy)."""
    if command not in ("deploy", "destroy") or target not in ("synth", "bootstrap", "deploy", "destroy"):
        raise ArgumentError(f"cannot route {command!r} arguments to {target!r}")
    options = options if options is not None else load_options()
    check_words(command, args, stack_name(args), options)
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
        if argv[0] == "--check":
            check(argv[1], argv[2:])
            return 0
        routed = route(argv[0], argv[1], argv[2:])
    except ArgumentError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    sys.stdout.write("".join(arg + "\0" for arg in routed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
