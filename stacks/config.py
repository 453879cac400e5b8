"""The deployment's configuration: read from CDK context once, validated, typed.

Every rule lives here so a bad value stops `cdk synth` with a message naming the key and the fix,
before anything reaches AWS.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .schedule import EXAMPLES, GUIDE, ScheduleError, check_expression, check_timezone

# The target formats are declared once, with the converter (lambdas/optimizer/formats.py, standard
# library only: this module still runs before any set-up).
_LAMBDA_DIR = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDA_DIR not in sys.path:
    sys.path.append(_LAMBDA_DIR)

from optimizer.formats import FORMATS, TARGET  # noqa: E402 - needs lambdas/ on the path, above

STORAGE_CLASSES = ("STANDARD", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR")
REFUSED_CLASSES = {
    "GLACIER": "GLACIER (Flexible Retrieval) needs a restore before a recording can be played",
    "DEEP_ARCHIVE": "DEEP_ARCHIVE needs a restore of up to 48 hours before a recording can be played",
}
ARCHITECTURES = ("arm64", "x86_64")
# CloudWatch Logs accepts only these retentions; the names are aws_logs.RetentionDays members.
LOG_RETENTION = {
    1: "ONE_DAY",
    3: "THREE_DAYS",
    5: "FIVE_DAYS",
    7: "ONE_WEEK",
    14: "TWO_WEEKS",
    30: "ONE_MONTH",
    60: "TWO_MONTHS",
    90: "THREE_MONTHS",
    120: "FOUR_MONTHS",
    150: "FIVE_MONTHS",
    180: "SIX_MONTHS",
    365: "ONE_YEAR",
    400: "THIRTEEN_MONTHS",
    545: "EIGHTEEN_MONTHS",
    731: "TWO_YEARS",
    1096: "THREE_YEARS",
    1827: "FIVE_YEARS",
    2192: "SIX_YEARS",
    2557: "SEVEN_YEARS",
    2922: "EIGHT_YEARS",
    3288: "NINE_YEARS",
    3653: "TEN_YEARS",
}
PLACEHOLDER_MARKERS = ("<", ">", "REQUIRED", "YOUR", "REPLACE", "CHANGE")

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IPV4 = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_KMS_KEY_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_STACK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{0,127}$")
_BOOLS = {"true": True, "false": False}
# Principals that may send to the work queue besides the enqueuer's role (redrives): IAM role or
# user ARNs, or the account root.
_PRINCIPAL_ARN = re.compile(r"^arn:aws[a-z-]*:(iam::\d{12}:(role|user)/[\w+=,.@/-]+|iam::\d{12}:root)$")
SFN_LOG_LEVELS = ("OFF", "FATAL", "ERROR", "ALL")
LOCK_MODES = ("GOVERNANCE", "COMPLIANCE")

# Context keys that belong to the CDK, not to this app, as the pinned CLI (aws-cdk 2.1148.1) sends
# or stores them (tests/infra/test_context_keys.py checks them against the real CLI):
#   aws:cdk:...         the CLI's switches (enable-path-metadata, version-reporting, bundling-stacks,
#                       disable-asset-staging, disable-version-reporting, ...)
#   @aws-cdk/...        feature flags (cdk.json) and settings such as @aws-cdk/core:bootstrapQualifier
#   <provider>:...      lookup results cached in cdk.context.json (availability-zones:account=...:region=...)
#   acknowledged-issue-numbers   written by `cdk acknowledge`
CDK_KEY_PREFIXES = ("aws:cdk:", "@aws-cdk/", "@aws-cdk-containers/")
CDK_KEYS = frozenset({"acknowledged-issue-numbers"})
LOOKUP_PROVIDERS = (
    "ami",
    "availability-zones",
    "cc-api-provider",
    "endpoint-service-availability-zones",
    "hosted-zone",
    "key-provider",
    "load-balancer",
    "load-balancer-listener",
    "plugin",
    "security-group",
    "ssm",
    "vpc-provider",
)


class ConfigError(ValueError):
    """A context value is missing or wrong; the message names the key and how to fix it."""


def _how_to_set(key: str, example: object) -> str:
    return f"pass `-c {key}={example}` (to ./cdk-deploy.sh or cdk) or set it in cdk.context.json"


def _int(key: str, value: Any, lo: int, hi: int, why: str = "") -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{key}={value!r} is not a whole number; {_how_to_set(key, lo)}") from None
    if not lo <= number <= hi:
        raise ConfigError(f"{key}={number} is out of range {lo}..{hi}{why}; {_how_to_set(key, lo)}")
    return number


def _bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text not in _BOOLS:
        raise ConfigError(f"{key}={value!r} must be true or false; {_how_to_set(key, 'true')}")
    return _BOOLS[text]


def validate_bucket_name(value: Any) -> str:
    if value is None or str(value).strip() == "":
        raise ConfigError(
            "bucket_name is required: the S3 bucket where Amazon Connect writes call recordings; "
            + _how_to_set("bucket_name", "my-connect-recordings")
        )
    name = str(value).strip()
    if any(marker in name.upper() for marker in PLACEHOLDER_MARKERS):
        raise ConfigError(
            f"bucket_name={name!r} is still the placeholder; " + _how_to_set("bucket_name", "my-connect-recordings")
        )
    if (
        not _BUCKET.match(name)
        or ".." in name
        or _IPV4.match(name)
        or name.startswith("xn--")
        or name.endswith("-s3alias")
    ):
        raise ConfigError(
            f"bucket_name={name!r} is not a valid S3 bucket name (3-63 characters: lowercase letters, digits, dots, "
            "hyphens; starting and ending with a letter or digit); "
            + _how_to_set("bucket_name", "my-connect-recordings")
        )
    return name


CONNECT_LAYOUT = "connect/<instance-alias>/CallRecordings/"
_PREFIX_HELP = (
    "Amazon Connect writes each call under connect/<instance-alias>/CallRecordings/YYYY/MM/DD/, so the prefix is "
    f"everything before the date, e.g. {CONNECT_LAYOUT} (your instance's own: the BucketPrefix of "
    "`aws connect list-instance-storage-configs --instance-id <id> --resource-type CALL_RECORDINGS`); "
)
# The former default: no Connect recording lies directly under it, so every run listed nothing.
FORMER_DEFAULT_PREFIX = "connect/"
# What a synthesis made only to remove the stack uses when bucket_prefix is not given: it needs
# only the stack's name (./cdk-deploy.sh destroy -c bucket_name=...), and is never deployed.
DESTROY_ONLY_PREFIX = "destroy-only/"


def validate_bucket_prefix(value: Any) -> str:
    """Required, like bucket_name: a wrong prefix lists no recording and every run "succeeds"."""
    example = "connect/my-instance/CallRecordings/"
    if value is None or str(value).strip() == "":
        raise ConfigError(
            "bucket_prefix is required: the path in the bucket up to the date. "
            + _PREFIX_HELP
            + _how_to_set("bucket_prefix", example)
        )
    text = str(value).strip()
    if "<" in text or ">" in text:
        raise ConfigError(
            f"bucket_prefix={text!r} is still the placeholder. " + _PREFIX_HELP + _how_to_set("bucket_prefix", example)
        )
    prefix = normalise_prefix(text)
    if prefix == FORMER_DEFAULT_PREFIX:
        raise ConfigError(
            f"bucket_prefix={text!r} holds no recording directly: it lacks the instance's folder. "
            + _PREFIX_HELP
            + _how_to_set("bucket_prefix", example)
        )
    return prefix


def normalise_prefix(value: Any) -> str:
    prefix = str(value).strip()
    if prefix.startswith("/"):
        raise ConfigError(f"bucket_prefix={prefix!r} must not start with '/'; S3 keys have no leading slash")
    if any(ch in prefix for ch in "*?"):
        raise ConfigError(f"bucket_prefix={prefix!r} must not contain '*' or '?' (they would widen IAM permissions)")
    if len(prefix.encode()) > 900:
        raise ConfigError("bucket_prefix is longer than 900 bytes; S3 keys are at most 1,024 bytes")
    return prefix if prefix == "" or prefix.endswith("/") else prefix + "/"


def storage_class_refusal(name: str) -> str | None:
    """Why a storage class is refused (None when it is not): the stack's reason, said by the estimator too."""
    reason = REFUSED_CLASSES.get(name.strip().upper())
    if reason is None:
        return None
    return f"{reason}; recordings must stay instantly playable. Use one of {', '.join(STORAGE_CLASSES)}"


def _storage_class(value: Any) -> str:
    name = str(value).strip().upper()
    if (refusal := storage_class_refusal(name)) is not None:
        raise ConfigError(f"storage_class={name} is refused: {refusal}")
    if name not in STORAGE_CLASSES:
        raise ConfigError(f"storage_class={value!r} is unknown; use one of {', '.join(STORAGE_CLASSES)}")
    return name


def _target_format(value: Any) -> str:
    key = str(value).strip().lower()
    if key not in FORMATS:
        raise ConfigError(
            f"target_format={value!r} is unknown; use one of {', '.join(FORMATS)} (default {TARGET.key}; "
            "README's trade-offs say what each keeps)"
        )
    return key


def _choice(key: str, value: Any, choices: tuple[Any, ...]) -> Any:
    if value not in choices:
        raise ConfigError(f"{key}={value!r} must be one of {', '.join(map(str, choices))}")
    return value


def _optional_kms(value: Any) -> str | None:
    if value in (None, ""):
        return None
    arn = str(value).strip()
    if not _KMS_KEY_ARN.match(arn):
        raise ConfigError(
            f"kms_key_arn={arn!r} is not a KMS key ARN (arn:aws:kms:<region>:<account>:key/<key-id>); "
            "leave it empty when the bucket uses SSE-S3"
        )
    return arn


def _optional_email(value: Any) -> str | None:
    if value in (None, ""):
        return None
    email = str(value).strip()
    if not _EMAIL.match(email):
        raise ConfigError(f"alarm_email={email!r} is not an e-mail address; leave it empty for no subscription")
    return email


def _principals(value: Any) -> tuple[str, ...]:
    """`-c redrive_principals=arn,arn` (or a JSON list in cdk.context.json)."""
    if value in (None, ""):
        return ()
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    arns = tuple(str(item).strip() for item in items if str(item).strip())
    bad = [arn for arn in arns if not _PRINCIPAL_ARN.match(arn)]
    if bad:
        raise ConfigError(
            f"redrive_principals has {', '.join(map(repr, bad))}: each must be an IAM role or user ARN "
            "(arn:aws:iam::<account>:role/<name> or :user/<name>), the identity that runs the redrive command "
            "(`aws sts get-caller-identity`; for an assumed role, the role's ARN, not the session's); "
            + _how_to_set("redrive_principals", "arn:aws:iam::111122223333:role/Operator")
        )
    return arns


def _lock_modes(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, (list, tuple)) else str(value).split(",")
    modes = tuple(str(item).strip().upper() for item in items if str(item).strip())
    if not modes or any(mode not in LOCK_MODES for mode in modes):
        raise ConfigError(
            f"carried_lock_modes={value!r} must name GOVERNANCE, COMPLIANCE or both, comma-separated; "
            + _how_to_set("carried_lock_modes", "GOVERNANCE,COMPLIANCE")
        )
    return modes


def _schedule(value: Any) -> str:
    text = str(value).strip()
    try:
        check_expression(text)
    except ScheduleError as exc:
        raise ConfigError(
            f"schedule={text!r} is not an EventBridge Scheduler expression: {exc}; use e.g. {EXAMPLES} "
            f"({GUIDE}); " + _how_to_set("schedule", "'cron(0 23 * * ? *)'")
        ) from None
    return text


def _timezone(value: Any) -> str:
    name = str(value).strip()
    try:
        check_timezone(name)
    except ScheduleError as exc:
        raise ConfigError(f"schedule_timezone={exc}; " + _how_to_set("schedule_timezone", "Europe/Paris")) from None
    return name


MIN_RETENTION_DAYS = 90
MAX_RETENTION_DAYS = 36_500
MAX_RETENTION_DELETES = 1_000_000


def _retention_days(value: Any) -> int:
    """0 (off) or MIN_RETENTION_DAYS..MAX_RETENTION_DAYS: a short retention deleting a day that is
    still being converted, listened to or audited is the mistake this guards against."""
    key = "retention_days"
    try:
        days = int(str(value).strip())
    except ValueError:
        raise ConfigError(f"{key}={value!r} is not a whole number; {_how_to_set(key, 2192)}") from None
    if days == 0:
        return 0
    if not MIN_RETENTION_DAYS <= days <= MAX_RETENTION_DAYS:
        raise ConfigError(
            f"{key}={days} is refused: retention by the recording's date deletes recordings, so it is either off "
            f"(0, the default) or at least {MIN_RETENTION_DAYS} days (at most {MAX_RETENTION_DAYS}); "
            + _how_to_set(key, 2192)
            + f" (e.g. 2192 for 6 years), or `-c {key}=0` to turn it off"
        )
    return days


def is_cdk_key(key: str) -> bool:
    return (
        key in CDK_KEYS or key.startswith(CDK_KEY_PREFIXES) or (":" in key and key.split(":", 1)[0] in LOOKUP_PROVIDERS)
    )


def check_keys(keys: Iterable[str]) -> None:
    """A key neither this app nor the CDK knows is a typo until proven otherwise: it would be ignored."""
    known = setting_names()
    unknown = sorted(k for k in keys if k not in known and not is_cdk_key(k))
    if not unknown:
        return
    problems = []
    for key in unknown:
        near = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
        problems.append(f"{key!r} (did you mean {near[0]}?)" if near else repr(key))
    raise ConfigError(
        f"unknown setting{'s' if len(problems) > 1 else ''} {', '.join(problems)}: fix or remove "
        f"{'them' if len(problems) > 1 else 'it'} (-c, cdk.json or cdk.context.json); "
        "the settings are listed in README's Configuration"
    )


def default_stack_name(bucket_name: str) -> str:
    return "CallRecordingOptimizer-" + re.sub(r"[^A-Za-z0-9-]", "-", bucket_name)


@dataclass(frozen=True)
class OptimizerConfig:
    bucket_name: str
    bucket_prefix: str  # required, no default: validate_bucket_prefix
    num_days_age: int = 7
    storage_class: str = "GLACIER_IR"
    # What the converter writes (optimizer/formats.py): alaw_mono, or alaw_stereo to keep the
    # agent and the customer on their own channels at twice the size (README's trade-offs).
    target_format: str = TARGET.key
    kms_key_arn: str | None = None
    schedule: str = "cron(0 23 * * ? *)"
    schedule_timezone: str = "UTC"
    # false: everything is deployed, the schedule in State DISABLED (README, "Before production")
    schedule_enabled: bool = True
    lambda_architecture: str = "arm64"
    # Defaults from the benchmark (docs/benchmarks.md); reasons in README's configuration table.
    converter_memory_mb: int = 512
    converter_batch_size: int = 10
    converter_max_concurrency: int = 50
    converter_timeout_seconds: int = 600
    converter_ephemeral_mb: int = 2048
    max_receive_count: int = 3
    queue_poll_seconds: int = 60
    log_retention_days: int = 90
    overwrite_converted: bool = False
    stack_name: str = ""
    # Days listed at once by a backfill; each waits for room in the queue, so the converter's
    # concurrency sets the pace. See README for the measurement behind the default.
    backfill_concurrency: int = 4
    catch_up_days: int = 3
    require_versioning: bool = True
    alarm_email: str | None = None
    # Retention by the recording's date (README, "Retention by the recording's date"): 0 is off,
    # the default; otherwise at least MIN_RETENTION_DAYS. The only deletion the stack can make.
    retention_days: int = 0
    retention_max_deletes: int = 10_000  # deletions per run at most; the rest waits for the next run
    # Who may send to the work queue besides the enqueuer's role: the identities that redrive
    # the dead-letter queue (README, "When something fails"). Empty: nobody else.
    redrive_principals: tuple[str, ...] = ()
    # The state machine's logs (README, "What is stored where"): ERROR without execution data.
    state_machine_log_level: str = "ERROR"
    state_machine_log_execution_data: bool = False
    # The Object Lock retention modes the converter may carry over to a new version, and the
    # longest remaining retention it may set (s3:object-lock-mode, ...-remaining-retention-days).
    carried_lock_modes: tuple[str, ...] = ("GOVERNANCE",)
    carried_retention_max_days: int = 3653

    @property
    def visibility_timeout_seconds(self) -> int:
        # AWS's guidance for SQS event sources: at least 6x the function timeout.
        return 6 * self.converter_timeout_seconds

    @classmethod
    def from_mapping(cls, context: Mapping[str, Any], *, to_destroy: bool = False) -> OptimizerConfig:
        """The whole context (`app.node.get_all_context()`); absent keys take the defaults above.

        to_destroy: the synthesis only names the stack to remove (./cdk-deploy.sh destroy), so a
        missing or placeholder bucket_prefix is not an error there; every other rule holds."""
        if "page_keys" in context:
            raise ConfigError(
                "page_keys is not a deployment setting: it is the local run's test aid, "
                "./cdk-deploy.sh --local --page-keys N (pages of at most N recordings)"
            )
        check_keys(context)
        if to_destroy:
            try:
                validate_bucket_prefix(context.get("bucket_prefix"))
            except ConfigError:
                context = {**context, "bucket_prefix": DESTROY_ONLY_PREFIX}
        return cls._from_getter(context.get)

    @classmethod
    def _from_getter(cls, get: Callable[[str], Any]) -> OptimizerConfig:

        def value(key: str) -> Any:
            found = get(key)
            return getattr(cls, key) if found is None or found == "" else found

        bucket = validate_bucket_name(get("bucket_name"))
        stack_name = str(get("stack_name") or default_stack_name(bucket))
        if not _STACK_NAME.match(stack_name):
            raise ConfigError(
                f"stack_name={stack_name!r} must start with a letter and hold only letters, digits and hyphens "
                "(max 128)"
            )
        return cls(
            bucket_name=bucket,
            bucket_prefix=validate_bucket_prefix(get("bucket_prefix")),
            num_days_age=_int("num_days_age", value("num_days_age"), 1, 3650),
            storage_class=_storage_class(value("storage_class")),
            target_format=_target_format(value("target_format")),
            kms_key_arn=_optional_kms(get("kms_key_arn")),
            schedule=_schedule(value("schedule")),
            schedule_timezone=_timezone(value("schedule_timezone")),
            schedule_enabled=_bool("schedule_enabled", value("schedule_enabled")),
            lambda_architecture=_choice(
                "lambda_architecture", str(value("lambda_architecture")).strip(), ARCHITECTURES
            ),
            converter_memory_mb=_int(
                "converter_memory_mb",
                value("converter_memory_mb"),
                512,
                10240,
                " MB (ffmpeg and a 1-hour call need > 256 MB)",
            ),
            converter_batch_size=_int(
                "converter_batch_size",
                value("converter_batch_size"),
                1,
                10,
                " (one invocation must finish its batch within the timeout)",
            ),
            converter_max_concurrency=_int(
                "converter_max_concurrency",
                value("converter_max_concurrency"),
                2,
                1000,
                " (the SQS event source's limits)",
            ),
            max_receive_count=_int("max_receive_count", value("max_receive_count"), 1, 100),
            queue_poll_seconds=_int("queue_poll_seconds", value("queue_poll_seconds"), 1, 3600),
            log_retention_days=_choice(
                "log_retention_days",
                _int("log_retention_days", value("log_retention_days"), 1, 3653),
                tuple(LOG_RETENTION),
            ),
            overwrite_converted=_bool("overwrite_converted", value("overwrite_converted")),
            stack_name=stack_name,
            backfill_concurrency=_int(
                "backfill_concurrency", value("backfill_concurrency"), 1, 40, " (days listed at once by a backfill)"
            ),
            catch_up_days=_int(
                "catch_up_days", value("catch_up_days"), 0, 30, " (earlier days the scheduled run re-checks)"
            ),
            require_versioning=_bool("require_versioning", value("require_versioning")),
            alarm_email=_optional_email(get("alarm_email")),
            retention_days=_retention_days(value("retention_days")),
            retention_max_deletes=_int(
                "retention_max_deletes",
                value("retention_max_deletes"),
                1,
                MAX_RETENTION_DELETES,
                " (recordings one retention run may delete; the rest waits for the next run)",
            ),
            redrive_principals=_principals(get("redrive_principals")),
            state_machine_log_level=_choice(
                "state_machine_log_level", str(value("state_machine_log_level")).strip().upper(), SFN_LOG_LEVELS
            ),
            state_machine_log_execution_data=_bool(
                "state_machine_log_execution_data", value("state_machine_log_execution_data")
            ),
            carried_lock_modes=_lock_modes(value("carried_lock_modes")),
            carried_retention_max_days=_int(
                "carried_retention_max_days",
                value("carried_retention_max_days"),
                1,
                36500,
                " (days of Object Lock retention left that the converter may carry over)",
            ),
        )


# Derived from the others, not settable: the converter's timeout and /tmp fit a 4-hour call.
DERIVED = frozenset({"converter_timeout_seconds", "converter_ephemeral_mb"})


def setting_names() -> frozenset[str]:
    """The context keys this app reads: the fields of OptimizerConfig, but the derived ones."""
    return frozenset(f.name for f in fields(OptimizerConfig)) - DERIVED
