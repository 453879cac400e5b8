"""The settings of a local run (./cdk-deploy.sh --local): a deployment's, read and checked by the
same code (stacks/context_check.py reads the context files and `-c key=value` as the CDK CLI does,
stacks/config.py validates), with the few values that mean something only on AWS replaced by the
local run's own, which it says.

Standard library only: ./cdk-deploy.sh checks them on this machine's Python before any set-up.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.capacity import WORK_RETENTION_S, check_retention, worst_case_message_age_s
from stacks.config import ConfigError, OptimizerConfig, is_cdk_key, setting_names
from stacks.context_check import command_line_context, context_from, shadowed_settings

from .timescale import scaled_visibility_timeout

# Where cdk.json and cdk.context.json are read: the repository, where ./cdk-deploy.sh runs the CLI;
# and ~/.cdk.json's home (None: the user's). The tests point both at a folder of their own.
PROJECT = Path(__file__).resolve().parent.parent
HOME: Path | None = None
# The demo bucket: the emulator creates it, so yours is never used here.
LOCAL_BUCKET = {"bucket_name": "local-connect-recordings", "bucket_prefix": "connect/local-instance/CallRecordings/"}
# At most this many converter invocations at once (the event source's MaximumConcurrency, which
# the emulator honours): the local run shares a laptop's few cores with ffmpeg.
LOCAL_MAX_CONCURRENCY = 4
# The emulator's operator (emulator/iam.py) redrives the dead-letter queue, as an operator named in
# redrive_principals does on AWS: the work queue's policy lets it send.
LOCAL_OPERATOR = "arn:aws:iam::123456789012:user/emulator-operator"
# The context of a local run with every other setting at its default (the end-to-end tests' too).
LOCAL_CONTEXT: dict[str, Any] = {
    **LOCAL_BUCKET,
    "queue_poll_seconds": scaled_visibility_timeout(OptimizerConfig.queue_poll_seconds),
    "converter_max_concurrency": LOCAL_MAX_CONCURRENCY,
    "redrive_principals": LOCAL_OPERATOR,
}
# Settings that only a scheduler reads: the emulator has none, the local run starts each execution.
UNUSED_HERE = ("schedule", "schedule_enabled")


def host_architecture() -> str:
    return "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


@dataclass(frozen=True)
class LocalSettings:
    """What a local run synthesizes with, and what it tells the user about it."""

    context: dict[str, Any]  # the synthesis' context: LOCAL_CONTEXT, this machine's architecture, your other settings
    config: OptimizerConfig  # that context, validated
    not_default: dict[str, Any]  # every setting the run uses that differs from its default
    own: dict[str, str]  # the settings the local run sets itself, each with why (and yours, when it differs)
    warnings: list[str]  # as the deployment warns (a key set in both cdk.json and cdk.context.json)

    def lines(self) -> list[str]:
        """The first lines a local run prints: the settings it uses that differ from the defaults,
        yours and its own (each with why), and the warnings a deployment would print."""
        yours = [f"{key}={_text(value)}" for key, value in self.not_default.items() if key not in self.own]
        lines = [
            "settings (cdk.context.json, then -c, checked as a deployment checks them):",
            f"  yours, not at their defaults: {', '.join(yours) if yours else 'none'}",
            "  the local run's own, which win over yours:",
        ]
        for key, why in self.own.items():
            lines.append(
                f"    {key}: {why}" if key in UNUSED_HERE else f"    {key}={_text(getattr(self.config, key))}: {why}"
            )
        return lines + [f"warning: {warning}" for warning in self.warnings]

    def as_report(self) -> dict[str, Any]:
        return {"not_default": dict(self.not_default), "local_run_own": dict(self.own)}


def _text(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return json.dumps(value) if isinstance(value, bool) else str(value)


def _given(context: Mapping[str, Any], key: str) -> bool:
    return context.get(key) not in (None, "")


def read(pairs: Sequence[str], *, root: Path | None = None, home: Path | None = None) -> LocalSettings:
    """The local run's settings from `-c key=value` pairs over the context files, as a deployment
    reads them (ConfigError with the deployment's message when one is wrong)."""
    root, home = root or PROJECT, home or HOME
    context = context_from([token for pair in pairs for token in ("-c", pair)], root=root, home=home)
    # Every rule of the deployment over your settings (unknown keys with the nearest name
    # included), but bucket_name and bucket_prefix: the demo bucket's replace them, placeholders too.
    yours = OptimizerConfig.from_mapping({**context, **LOCAL_BUCKET})
    defaults = OptimizerConfig.from_mapping(LOCAL_BUCKET)
    own = _own(context, yours, defaults, frozenset(pair.split("=", 1)[0].strip() for pair in pairs))
    settings = {key: value for key, value in context.items() if not is_cdk_key(key)}
    local = {
        **LOCAL_CONTEXT,
        "lambda_architecture": host_architecture(),
        "queue_poll_seconds": scaled_visibility_timeout(yours.queue_poll_seconds),
        "converter_max_concurrency": min(yours.converter_max_concurrency, LOCAL_MAX_CONCURRENCY),
    }
    # Only your settings that change something: with every other at its default, the context (and
    # the synthesized template) is LOCAL_CONTEXT's.
    synth_context = {
        **{
            key: value
            for key, value in settings.items()
            if key not in local and key not in UNUSED_HERE and getattr(yours, key) != getattr(defaults, key)
        },
        **local,
    }
    config = OptimizerConfig.from_mapping(synth_context)
    _check_queue_retention(yours, config)
    not_default = {key: getattr(config, key) for key in LOCAL_BUCKET}
    not_default.update(
        (key, getattr(config, key))
        for key in sorted(setting_names())
        if getattr(config, key) != getattr(defaults, key) and key not in LOCAL_BUCKET
    )
    return LocalSettings(
        context=synth_context,
        config=config,
        not_default=not_default,
        own=own,
        warnings=shadowed_settings(root),
    )


def _check_queue_retention(yours: OptimizerConfig, local: OptimizerConfig) -> None:
    """The stack's queue-retention check (stacks/capacity.py) at synth, made here, before set-up: on
    your settings, as a deployment makes it, then on the local run's, whose fewer converters make
    a message wait longer (ConfigError saying which, and what to change here)."""
    check_retention(yours)
    age = worst_case_message_age_s(local)
    if age > WORK_RETENTION_S:
        raise ConfigError(
            f"with the local run's converter_max_concurrency={local.converter_max_concurrency} (at most "
            f"{LOCAL_MAX_CONCURRENCY} here: this machine's cores run ffmpeg), converter_batch_size="
            f"{local.converter_batch_size}, backfill_concurrency={local.backfill_concurrency} and max_receive_count="
            f"{local.max_receive_count}, a message could wait and be retried {age / 86_400:.1f} days, longer than the "
            "work queue keeps it (7 days). A deployment accepts your settings; to try them here, lower "
            "backfill_concurrency or max_receive_count"
        )


def _own(
    context: Mapping[str, Any], yours: OptimizerConfig, defaults: OptimizerConfig, typed: frozenset[str] = frozenset()
) -> dict[str, str]:
    """Why the local run uses its own value for each such setting, and yours when it differs
    (`typed`: the keys given with -c)."""
    own: dict[str, str] = {}
    for key in LOCAL_BUCKET:
        given = str(context.get(key) or "").strip()
        placeholder = "<" in given or "REQUIRED" in given.upper()  # the shipped one is not worth repeating
        differs = given and not placeholder and given != LOCAL_BUCKET[key]
        own[key] = "the demo bucket the emulator creates" + (f", not yours ({given})" if differs else "")
    architecture = host_architecture()
    own["lambda_architecture"] = "this machine's, for the ffmpeg it runs" + (
        f", not yours ({yours.lambda_architecture})"
        # The shipped cdk.context.json's arm64 is the default, not a choice: said only for a -c
        # value or one that is not the default.
        if _given(context, "lambda_architecture")
        and yours.lambda_architecture != architecture
        and ("lambda_architecture" in typed or yours.lambda_architecture != defaults.lambda_architecture)
        else ""
    )
    scaled = scaled_visibility_timeout(yours.queue_poll_seconds)
    own["queue_poll_seconds"] = (
        f"{'yours' if _given(context, 'queue_poll_seconds') else 'the default'}, {yours.queue_poll_seconds} s, "
        "scaled like the queues' visibility timeouts (1 s per hour)"
    )
    if scaled == yours.queue_poll_seconds:
        del own["queue_poll_seconds"]
    if yours.converter_max_concurrency > LOCAL_MAX_CONCURRENCY:
        own["converter_max_concurrency"] = (
            f"at most {LOCAL_MAX_CONCURRENCY} here, where ffmpeg shares this machine's cores"
            + (
                f", not yours ({yours.converter_max_concurrency})"
                if _given(context, "converter_max_concurrency")
                else ""
            )
        )
    own["redrive_principals"] = "the emulator's operator, who redrives here" + (
        f", not yours ({_text(yours.redrive_principals)})" if yours.redrive_principals else ""
    )
    for key in UNUSED_HERE:
        if getattr(yours, key) != getattr(defaults, key):
            own[key] = (
                f"yours ({_text(getattr(yours, key))}) is not used: the emulator has no scheduler, "
                "the local run starts each execution"
            )
    return own


def refuse_joined_context(argv: Sequence[str]) -> None:
    """Refuses `-ckey=value` as the deployment does (the CDK CLI does not read it; argparse would)."""
    for arg in argv:
        if arg.startswith("-c") and len(arg) > 2:
            command_line_context([arg])
