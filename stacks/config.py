"""The deployment's configuration: read from CDK context once, validated, typed.

Every rule lives here so a bad value stops `cdk synth` with a message naming the key and the fix,
before anything reaches AWS. Each setting is declared once, as a field of OptimizerConfig with its
Rule: the validation, the settable keys, what the Lambda functions get (stacks/lambda_settings.py) and
the configuration table (docs/configuration.md#settings; `python -m stacks.config` prints it) are
read from there. Standard library only: ./cdk-deploy.sh and the local run check the settings before any set-up.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

# The target formats are declared once, with the converter (lambdas/optimizer/formats.py, standard
# library only: this module still runs before any set-up; stacks/__init__.py puts lambdas/ on the path).
from optimizer.formats import FORMATS, TARGET

from .schedule import EXAMPLES, GUIDE, ScheduleError, check_expression, check_timezone

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
    """The bucket name, stripped; ConfigError naming the fix when it is missing, a placeholder or invalid."""
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
    """The prefix ending in '/' (or empty); ConfigError for one IAM or S3 cannot take."""
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
            "README.md#what-it-costs says what each keeps)"
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
    """Whether a context key belongs to the CDK (feature flags, lookups), not to this app."""
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
        "the settings are listed in docs/configuration.md#settings"
    )


def default_stack_name(bucket_name: str) -> str:
    """The stack's name for the bucket, in the characters CloudFormation allows."""
    return "CallRecordingOptimizer-" + re.sub(r"[^A-Za-z0-9-]", "-", bucket_name)


# --- Each setting declared once ---------------------------------------------------------------
# A setting is a field of OptimizerConfig: its name, type and default are the field's; the field's
# Rule (its metadata) says how a value is checked, the reason the configuration table gives
# (docs/configuration.md#settings), and which field of the Lambda functions' Settings gets it.
# The validation (_from_getter), the settable keys (setting_names), the Lambdas' Settings
# (stacks/lambda_settings.py) and the configuration table (configuration_table) are read from it: adding a
# setting is one field plus its use.

Check = Callable[[str, Any], Any]  # (key, value as given) -> the value; ConfigError naming the key


@dataclass(frozen=True)
class Between:
    """A whole number in lo..hi; `why` follows the range in the refusal."""

    lo: int
    hi: int
    why: str = ""

    def __call__(self, key: str, value: Any) -> int:
        return _int(key, value, self.lo, self.hi, self.why)


@dataclass(frozen=True)
class OneOf:
    """One of `choices`, as given (stripped; upper-cased when `upper`)."""

    choices: tuple[str, ...]
    upper: bool = False

    def __call__(self, key: str, value: Any) -> str:
        text = str(value).strip()
        return str(_choice(key, text.upper() if self.upper else text, self.choices))


@dataclass(frozen=True)
class Rule:
    """A setting's declaration beside its field's name, type and default."""

    check: Check | None  # None: derived from the others, not a setting (DERIVED)
    reason: str  # the configuration table's "rule and reason"; {range} is a Between's lo..hi
    lambdas: str | None = None  # the field of optimizer.settings.Settings that gets the value
    shown: str | None = None  # the table's default, when the value alone does not say it
    raw: bool = False  # the check gets an absent or empty value as such (required, optional, derived default)


def rule(check: Check, reason: str, *, lambdas: str | None = None, shown: str | None = None, raw: bool = False) -> dict:
    """A setting's field metadata: its check, its reason in the configuration table, and the Settings
    field the Lambdas get it in (see Rule)."""
    return {"rule": Rule(check, reason, lambdas, shown, raw)}


def derived(reason: str) -> dict:
    """The field metadata of a value derived from the settings, not settable (DERIVED)."""
    return {"rule": Rule(None, reason)}


def _required_bucket_name(key: str, value: Any) -> str:
    return validate_bucket_name(value)


def _required_bucket_prefix(key: str, value: Any) -> str:
    return validate_bucket_prefix(value)


def _storage_class_check(key: str, value: Any) -> str:
    return _storage_class(value)


def _target_format_check(key: str, value: Any) -> str:
    return _target_format(value)


def _optional_kms_check(key: str, value: Any) -> str | None:
    return _optional_kms(value)


def _optional_email_check(key: str, value: Any) -> str | None:
    return _optional_email(value)


def _schedule_check(key: str, value: Any) -> str:
    return _schedule(value)


def _timezone_check(key: str, value: Any) -> str:
    return _timezone(value)


def _log_retention_check(key: str, value: Any) -> int:
    return int(_choice(key, _int(key, value, 1, 3653), tuple(LOG_RETENTION)))


def _retention_days_check(key: str, value: Any) -> int:
    return _retention_days(value)


def _principals_check(key: str, value: Any) -> tuple[str, ...]:
    return _principals(value)


def _lock_modes_check(key: str, value: Any) -> tuple[str, ...]:
    return _lock_modes(value)


def _stack_name_check(key: str, value: Any) -> str:
    """Empty when not given: the bucket's default name (default_stack_name) is filled in then."""
    stack_name = str(value or "")
    if stack_name and not _STACK_NAME.match(stack_name):
        raise ConfigError(
            f"stack_name={stack_name!r} must start with a letter and hold only letters, digits and hyphens (max 128)"
        )
    return stack_name


@dataclass(frozen=True)
class OptimizerConfig:
    bucket_name: str = field(
        metadata=rule(
            _required_bucket_name,
            (
                "the bucket Connect writes to; imported, never created, changed or deleted. The shipped placeholder is "
                "refused."
            ),
            shown="— (required)",
            lambdas="bucket",
            raw=True,
        ),
    )
    bucket_prefix: str = field(
        metadata=rule(
            _required_bucket_prefix,
            (
                "the path up to the date: Connect writes `connect/<instance-alias>/CallRecordings/YYYY/MM/DD/`, so "
                "`connect/<instance-alias>/CallRecordings/` (your instance's own is the `BucketPrefix` of `aws connect "
                "list-instance-storage-configs --instance-id ID --resource-type CALL_RECORDINGS`); a trailing `/` is "
                "added. The shipped placeholder is refused, and so is `connect/` alone (the former default, under which"
                " no recording lies: every run listed nothing). No `*`/`?` (they would widen IAM)."
            ),
            lambdas="bucket_prefix",
            shown="— (required)",
            raw=True,
        ),
    )
    num_days_age: int = field(
        default=7,
        metadata=rule(
            Between(1, 3650),
            "{range}: the scheduled run converts the UTC day this many days ago (after analytics are done).",
            lambdas="num_days_age",
        ),
    )
    storage_class: str = field(
        default="GLACIER_IR",
        metadata=rule(
            _storage_class_check,
            (
                "STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING or GLACIER_IR. GLACIER and DEEP_ARCHIVE are "
                "refused: recordings must stay instantly playable. With STANDARD the listing cannot tell converted from"
                " original, so the converter's tag check decides."
            ),
            lambdas="target_class",
        ),
    )
    kms_key_arn: str | None = field(
        default=None,
        metadata=rule(
            _optional_kms_check,
            (
                "the customer key of an SSE-KMS bucket: the converter gets `kms:Decrypt` and `kms:GenerateDataKey` on "
                "it, through S3 only."
            ),
            raw=True,
        ),
    )
    schedule: str = field(
        default="cron(0 23 * * ? *)",
        metadata=rule(
            _schedule_check,
            (
                "EventBridge Scheduler expression, checked by its rules ([Schedule "
                "types](https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html); "
                "`stacks/schedule.py`): `cron(minutes hours day-of-month month day-of-week year)` with exactly one of "
                "the two days `?`, `rate(1 day)` / `rate(12 hours)` (singular for 1), or a one-time "
                "`at(yyyy-mm-ddThh:mm:ss)`."
            ),
        ),
    )
    schedule_timezone: str = field(
        default="UTC",
        metadata=rule(
            _timezone_check,
            (
                "IANA zone of the schedule, checked with Python's `zoneinfo` (the day to process is always computed in "
                "UTC, like Connect's prefixes)."
            ),
        ),
    )
    schedule_enabled: bool = field(
        default=True,
        metadata=rule(
            _bool,
            (
                "`false` deploys everything with the schedule disabled (EventBridge Scheduler `State: DISABLED`): "
                "nothing runs until you deploy again with `true` "
                "([Before production](README.md#before-production-a-careful-first-day)). Manual runs work either way."
            ),
        ),
    )
    lambda_architecture: str = field(
        default="arm64",
        metadata=rule(
            OneOf(ARCHITECTURES),
            "or `x86_64`; the ffmpeg layer is built for it. arm64 is ~20 % cheaper per GB-second.",
        ),
    )
    converter_memory_mb: int = field(
        default=512,
        metadata=rule(
            Between(512, 10240, " MB (ffmpeg and a 1-hour call need > 256 MB)"),
            (
                "{range}. Measured peak, sampled from `/proc` with the audio check included: 82 MB (Python 67 MB + "
                "ffmpeg 15 MB at the same instant) for a 4-hour call (docs/benchmarks.md: the newest full run "
                "recommends 768 MB for the speed of a batch of 4-hour calls); below 1,769 MB the CPU-bound ffmpeg pass "
                "costs the same at any size, so the smallest size with a 2× margin is cheapest (docs/benchmarks.md). "
                "Confirm on your account with AWS Lambda Power Tuning."
            ),
        ),
    )
    converter_batch_size: int = field(
        default=10,
        metadata=rule(
            Between(1, 10, " (one invocation must finish its batch within the timeout)"),
            (
                "{range} recordings per invocation: fewer invocations and requests; a batch of ten 4-hour calls is "
                "modelled at 271 s, under half the 600 s timeout."
            ),
        ),
    )
    converter_max_concurrency: int = field(
        default=50,
        metadata=rule(
            Between(2, 1000, " (the SQS event source's limits)"),
            (
                "{range} concurrent converters (the SQS event source's cap); `./cdk-deploy.sh` refuses a value that "
                "would leave the account's other functions fewer than 100 or half of its unreserved concurrency ([The "
                "concurrency check](docs/configuration.md#the-concurrency-check)). Cost does not depend on it, time "
                "does: a 6-year backfill at 3 M minutes a month "
                "takes ~6 days at 50 (15.5 days at 20, beyond the 14-day run limit); ~160 S3 requests a second."
            ),
        ),
    )
    converter_timeout_seconds: int = field(
        default=600, metadata=derived("derived: a 4-hour call's conversion fits (docs/configuration.md#fixed-sizes)")
    )
    converter_ephemeral_mb: int = field(
        default=2048,
        metadata=derived("derived: a 4-hour call's WAV and its result fit in /tmp (docs/configuration.md#fixed-sizes)"),
    )
    max_receive_count: int = field(
        default=3,
        metadata=rule(
            Between(1, 100),
            (
                "{range} attempts the converter makes at a recording before it dead-letters it itself (its own "
                "attempts, counted in the ledger, not SQS's receives); the queue's redrive threshold is 6 higher."
            ),
            lambdas="max_receive_count",
        ),
    )
    queue_poll_seconds: int = field(
        default=60,
        metadata=rule(
            Between(1, 3600),
            (
                "{range} between two checks: of the queue's depth while a day waits for room (a day fails "
                "`QueueNotDraining` after 10 h of checks in a row without the queue shrinking, at the defaults: "
                "`stacks/orchestration.py`, `stalled_waits_limit`), and of the run's outcomes at its end (at most 2,000"
                " checks, stretched after 1,000 to cover the longest a message can wait). Both keep each execution's "
                "history under 25,000 events."
            ),
            lambdas="queue_poll_seconds",
        ),
    )
    log_retention_days: int = field(
        default=90,
        metadata=rule(
            _log_retention_check,
            "one of CloudWatch's retention values; log groups are retained on `cdk destroy`.",
        ),
    )
    overwrite_converted: bool = field(
        default=False,
        metadata=rule(
            _bool,
            (
                "when true, recordings tagged `converted=True` (or already A-law) are converted again, e.g. to move "
                "them to another class. A mono recording is converted mono: nothing is upmixed."
            ),
            lambdas="overwrite_converted",
        ),
    )
    # What the converter writes (optimizer/formats.py, the one declaration of the formats).
    target_format: str = field(
        default=TARGET.key,
        metadata=rule(
            _target_format_check,
            (
                "`alaw_mono` (A-law 8 kHz mono) or `alaw_stereo` (A-law 8 kHz stereo: each speaker on their own "
                "channel, twice the size); the trade-offs: [What it costs](README.md#what-it-costs). A mono "
                "source is written mono under either."
            ),
            lambdas="target_format",
        ),
    )
    backfill_concurrency: int = field(
        default=4,
        metadata=rule(
            Between(1, 40, " (days listed at once by a backfill)"),
            (
                "{range} days listed at once by a range. Each day's pages wait while the work queue holds 20,000 "
                "messages (fewer with few converters: at most a day of work at their slowest pace), so the converter's "
                "concurrency, not the backfill, sets the pace. The stack refuses settings under which a message could "
                "wait and be retried longer than the work queue keeps it (7 days; 17.2 hours at the defaults, worst "
                "case: `stacks/capacity.py`)."
            ),
        ),
    )
    catch_up_days: int = field(
        default=3,
        metadata=rule(
            Between(0, 30, " (earlier days the scheduled run re-checks)"),
            (
                "{range} earlier days the scheduled run re-checks, so missed runs are caught up; nearly free, since "
                "converted objects are skipped at listing."
            ),
            lambdas="catch_up_days",
        ),
    )
    require_versioning: bool = field(
        default=True,
        metadata=rule(
            _bool,
            (
                "refuse to run on an unversioned bucket (`VersioningRequired`): the originals would be destroyed. "
                "`false` accepts that, with a warning in each run's output."
            ),
            lambdas="require_versioning",
        ),
    )
    alarm_email: str | None = field(
        default=None,
        metadata=rule(
            _optional_email_check,
            "an address subscribed to the alarm topic (confirm the e-mail AWS sends).",
            raw=True,
        ),
    )
    retention_days: int = field(
        default=0,
        metadata=rule(
            _retention_days_check,
            (
                f"0, or {MIN_RETENTION_DAYS}..{MAX_RETENTION_DAYS}: [retention by the recording's date]"
                "(docs/operations.md#retention-by-the-recordings-date). When on, the stack deletes (adds a delete "
                "marker over) each "
                f"recording more than this many days after its call; a value from 1 to {MIN_RETENTION_DAYS - 1} is "
                "refused at synth. Off, no role of the stack may delete an object."
            ),
            lambdas="retention_days",
            shown="`0` (off)",
        ),
    )
    retention_max_deletes: int = field(
        default=10_000,
        metadata=rule(
            Between(
                1, MAX_RETENTION_DELETES, " (recordings one retention run may delete; the rest waits for the next run)"
            ),
            (
                "{range} recordings one retention run deletes at most; the rest is left for the next run, and the run's"
                " output says where it stopped. Set it above your daily number of calls."
            ),
            lambdas="retention_max_deletes",
        ),
    )
    redrive_principals: tuple[str, ...] = field(
        default=(),
        metadata=rule(
            _principals_check,
            (
                "comma-separated IAM role or user ARNs that may send to the work queue besides the enqueuer's role: "
                "whoever runs the `RedriveDeadLettersCommand` (StartMessageMoveTask sends to the work queue as its "
                "caller). Name the role's ARN (`arn:aws:iam::<account>:role/<name>`), not an assumed-role session's: "
                "the queue's policy compares `aws:PrincipalArn`. Empty: nobody else can send, and a redrive fails with "
                "AccessDenied ([When something fails](docs/operations.md#when-something-fails))."
            ),
            raw=True,
        ),
    )
    state_machine_log_level: str = field(
        default="ERROR",
        metadata=rule(
            OneOf(SFN_LOG_LEVELS, upper=True),
            (
                "`OFF`, `FATAL`, `ERROR` or `ALL`: what the state machine writes to its log group ([What is stored "
                "where](docs/security.md#what-is-stored-where))."
            ),
        ),
    )
    state_machine_log_execution_data: bool = field(
        default=False,
        metadata=rule(
            _bool,
            ("`true` adds each event's input and output (every listed key, ETag and size) to the state machine's log."),
        ),
    )
    carried_lock_modes: tuple[str, ...] = field(
        default=("GOVERNANCE",),
        metadata=rule(
            _lock_modes_check,
            (
                "the Object Lock retention modes the converter may carry over to a new version (`GOVERNANCE`, "
                "`COMPLIANCE` or both): its `s3:PutObjectRetention` holds `s3:object-lock-mode` to them. A recording "
                "under another mode fails `access_denied`, untouched."
            ),
        ),
    )
    carried_retention_max_days: int = field(
        default=3653,
        metadata=rule(
            Between(1, 36500, " (days of Object Lock retention left that the converter may carry over)"),
            (
                "{range}: the longest remaining Object Lock retention (`s3:object-lock-remaining-retention-days`) the "
                "converter may set on a new version."
            ),
        ),
    )
    stack_name: str = field(
        default="",
        metadata=rule(
            _stack_name_check,
            "two deployments for two buckets coexist in one account and region (no physical name is hard-coded).",
            shown="`CallRecordingOptimizer-<bucket>`",
            raw=True,
        ),
    )

    @property
    def visibility_timeout_seconds(self) -> int:
        """The work queue's visibility timeout: 6 times the converter's timeout."""
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
        """Each setting by its Rule, in the declaration's order; an absent or empty value is the
        field's default (but where the Rule takes it raw); a derived one is its default."""
        values: dict[str, Any] = {}
        for item in fields(cls):
            declared: Rule = item.metadata["rule"]
            if declared.check is None:
                continue
            found = get(item.name)
            if not declared.raw and (found is None or found == ""):
                found = item.default
            values[item.name] = declared.check(item.name, found)
        values["stack_name"] = values["stack_name"] or default_stack_name(values["bucket_name"])
        return cls(**values)


def declarations() -> list[tuple[str, Rule]]:
    """Every field of OptimizerConfig with its Rule, in the declaration's order (derived ones too)."""
    return [(item.name, item.metadata["rule"]) for item in fields(OptimizerConfig)]


def _shown(value: Any) -> str:
    if value is None or value == ():
        return "empty"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, tuple):
        return f"`{','.join(value)}`"
    return f"`{value}`"


def _from_docs(reason: str) -> str:
    """A reason's links, written from the repository's root (so the docs check resolves them in the
    code), as docs/configuration.md, where the table is, reaches them."""
    return (
        reason.replace("](docs/configuration.md#", "](#")
        .replace("](docs/", "](")
        .replace("](README.md", "](../README.md")
    )


def configuration_table() -> list[str]:
    """The configuration table of docs/configuration.md#settings (Markdown lines), made from the declarations."""
    lines = ["| key | default | rule and reason |", "|---|---|---|"]
    for item in fields(OptimizerConfig):
        declared: Rule = item.metadata["rule"]
        if declared.check is None:
            continue
        reason = declared.reason
        if isinstance(declared.check, Between):
            reason = reason.replace("{range}", f"{declared.check.lo}..{declared.check.hi}")
        lines.append(f"| `{item.name}` | {declared.shown or _shown(item.default)} | {_from_docs(reason)} |")
    return lines


# Derived from the others, not settable: the converter's timeout and /tmp fit a 4-hour call.
DERIVED = frozenset(name for name, declared in declarations() if declared.check is None)


def setting_names() -> frozenset[str]:
    """The context keys this app reads: the fields of OptimizerConfig, but the derived ones."""
    return frozenset(name for name, declared in declarations() if declared.check is not None)


if (
    __name__ == "__main__"
):  # python -m stacks.config: the configuration table, for docs/configuration.md, from the declarations
    print("\n".join(configuration_table()))
