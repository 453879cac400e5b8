"""The IAM condition keys the strict emulator evaluates (emulator/iam.py), and their operators.

The request context holds what AWS would put there for the calls this stack makes:

- `aws:PrincipalArn`: the role's ARN for an assumed role (not the session's), the user's otherwise
  (IAM user guide, "AWS global condition context keys");
- `aws:SecureTransport`: "true" (every emulated request counts as sent over HTTPS);
- for S3, from the request's headers: `s3:if-match` / `s3:if-none-match` (present with the
  If-Match / If-None-Match header: Amazon S3 user guide, "Enforce conditional writes"),
  `s3:object-lock-mode`, `s3:object-lock-retain-until-date`, `s3:object-lock-legal-hold`, and
  `s3:object-lock-remaining-retention-days` (whole days from now to the retain-until date, rounded
  up; Amazon S3 user guide, "Locking objects with Object Lock": "Setting limits on retention
  periods with a bucket policy").

A condition on any other key is not evaluated (moto's lenience stays): `statement_applies` then
answers None, unless a key it does evaluate already fails.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from typing import Any

EVALUATED = frozenset(
    {
        "aws:principalarn",
        "aws:securetransport",
        "s3:if-match",
        "s3:if-none-match",
        "s3:object-lock-mode",
        "s3:object-lock-retain-until-date",
        "s3:object-lock-legal-hold",
        "s3:object-lock-remaining-retention-days",
    }
)
_S3_HEADERS = {
    "if-match": "s3:if-match",
    "if-none-match": "s3:if-none-match",
    "x-amz-object-lock-mode": "s3:object-lock-mode",
    "x-amz-object-lock-retain-until-date": "s3:object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold": "s3:object-lock-legal-hold",
}
_ASSUMED_ROLE = re.compile(r"^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role/([^/]+)/.*$")


def principal_arn(caller_arn: str) -> str:
    """aws:PrincipalArn: for a role session, the role's ARN."""
    match = _ASSUMED_ROLE.match(caller_arn)
    if match:
        partition, account, role = match.groups()
        return f"arn:{partition}:iam::{account}:role/{role}"
    return caller_arn


def remaining_days(retain_until: str, now: dt.datetime | None = None) -> int | None:
    try:
        when = dt.datetime.fromisoformat(retain_until.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    seconds = (when - (now or dt.datetime.now(dt.UTC))).total_seconds()
    return max(0, math.ceil(seconds / 86400))


def request_context(headers: Mapping[str, Any], caller_arn: str, action: str) -> dict[str, str]:
    context = {"aws:principalarn": principal_arn(caller_arn), "aws:securetransport": "true"}
    if action.lower().startswith("s3:"):
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        for header, key in _S3_HEADERS.items():
            if header in lowered:
                context[key] = lowered[header]
        until = context.get("s3:object-lock-retain-until-date")
        days = remaining_days(until) if until else None
        if days is not None:
            context["s3:object-lock-remaining-retention-days"] = str(days)
    return context


def _like(pattern: str, value: str) -> bool:
    return re.fullmatch(".*".join(map(re.escape, pattern.split("*"))), value) is not None


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _matches(base: str, patterns: list[str], value: str) -> bool:
    """The positive form of the operator (StringEquals for StringNotEquals...)."""
    if base in ("StringEquals", "ArnEquals"):
        return value in patterns
    if base == "StringEqualsIgnoreCase":
        return value.lower() in (p.lower() for p in patterns)
    if base in ("StringLike", "ArnLike"):
        return any(_like(p, value) for p in patterns)
    if base == "Bool":
        return value.lower() in (p.lower() for p in patterns)
    number = _number(value)
    limits = [n for n in (_number(p) for p in patterns) if n is not None]
    if number is None or not limits:
        return False
    compare = {
        "NumericEquals": lambda a, b: a == b,
        "NumericLessThan": lambda a, b: a < b,
        "NumericLessThanEquals": lambda a, b: a <= b,
        "NumericGreaterThan": lambda a, b: a > b,
        "NumericGreaterThanEquals": lambda a, b: a >= b,
    }.get(base)
    if compare is None:
        raise KeyError(base)
    return any(compare(number, limit) for limit in limits)


def condition_holds(operator: str, key: str, patterns: Any, context: Mapping[str, str]) -> bool | None:
    """One condition (operator, key, values) against the request; None when not evaluated here."""
    key = key.lower()
    if key not in EVALUATED:
        return None
    values = [str(p) for p in (patterns if isinstance(patterns, list) else [patterns])]
    present = key in context
    if operator == "Null":  # "true": the key must be absent; "false": present
        return any((v.lower() == "true") != present for v in values)
    base = operator.split(":", 1)[-1]
    if_exists = base.endswith("IfExists")
    base = base.removesuffix("IfExists")
    if not present:
        # An absent key: a negated operator holds, any other does not (IAM user guide, "IAM JSON
        # policy elements: Condition operators"), ...IfExists holds.
        return if_exists or "Not" in base
    negated = "Not" in base
    base = base.replace("Not", "")
    try:
        matched = _matches(base, values, context[key])
    except KeyError:
        return None
    return not matched if negated else matched


def statement_applies(statement: Mapping[str, Any], context: Mapping[str, str]) -> bool | None:
    """False when a condition on an evaluated key does not hold; True when every condition was
    evaluated and holds (or there is none); None when some were not evaluated."""
    unknown = False
    for operator, block in (statement.get("Condition") or {}).items():
        for key, patterns in block.items():
            holds = condition_holds(operator, key, patterns, context)
            if holds is False:
                return False
            if holds is None:
                unknown = True
    return None if unknown else True
