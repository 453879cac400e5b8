"""Schedule expressions and time zones are checked by EventBridge Scheduler's rules (stacks/schedule.py,
which cites the user guide's "Schedule types"), so a bad one stops before anything is deployed
instead of failing inside CloudFormation after the layer upload; and the checks that run before
any set-up need nothing but the standard library."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from stacks.config import ConfigError, OptimizerConfig
from stacks.schedule import ScheduleError, check_expression, check_timezone
from tests.support import PREFIX

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0 23 * * ? *)",  # the default
        "cron(15 10 ? * MON-FRI *)",
        "cron(0/15 8-17 ? JAN-MAR,DEC 2-6 2030-2035)",
        "cron(0 8 L * ? *)",  # the last day of the month
        "cron(0 8 LW * ? *)",
        "cron(0 8 15W * ? *)",  # the weekday nearest the 15th
        "cron(0 8 ? * 6L *)",  # the last Friday
        "cron(0 8 ? * FRI#3 *)",  # the third Friday
        "cron(0 8 ? * 6#3 *)",
        "cron(0 8 1,15 * ? *)",
        "cron(* */2 ? * * *)",
        "cron(59 23 31 12 ? 2199)",
        "cron(0 0 1 jan ? 1970)",
        "rate(1 day)",
        "rate(1 minute)",
        "rate(12 hours)",
        "rate(5 minutes)",
        "at(2030-01-31T23:00:00)",
    ],
)
def test_expressions_eventbridge_scheduler_accepts_are_accepted(expression):
    check_expression(expression)
    assert (
        OptimizerConfig.from_mapping({"bucket_name": "my-b", "bucket_prefix": PREFIX, "schedule": expression}).schedule
        == expression
    )


@pytest.mark.parametrize(
    "expression, says",
    [
        ("cron(0 25 * * ? *)", "the hours field has 25, out of range 0-23"),
        ("cron(60 1 * * ? *)", "the minutes field has 60, out of range 0-59"),
        ("cron(0 1 32 * ? *)", "the day-of-month field has 32, out of range 1-31"),
        ("cron(0 1 0 * ? *)", "the day-of-month field has 0, out of range 1-31"),
        ("cron(0 1 ? 13 MON *)", "the month field has 13, out of range 1-12"),
        ("cron(0 1 ? * 8 *)", "the day-of-week field has 8, out of range 1-7"),
        ("cron(0 1 ? * MONDAY *)", "the day-of-week field has 'MONDAY', not a number 1-7 or SUN-SAT"),
        ("cron(0 1 ? FOO * *)", "the month field has 'FOO', not a number 1-12 or JAN-DEC"),
        ("cron(0 1 * * ? 1969)", "the year field has 1969, out of range 1970-2199"),
        ("cron(0 1 * * ? 2200)", "the year field has 2200, out of range 1970-2199"),
        ("cron(0 23 * * * *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 23 ? * ? *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(0 23 1 * MON *)", "exactly one of day-of-month and day-of-week must be '?'"),
        ("cron(? 23 * * ? *)", "'?' is allowed in day-of-month or day-of-week only, not in minutes"),
        ("cron(0 23 * * ?)", "a cron expression has 6 fields"),
        ("cron(0 23 * * ? * *)", "a cron expression has 6 fields"),
        ("cron(0 23 ? * 3#6 *)", "after '#' comes the week of the month, 1-5"),
        ("cron(0 23 ? * 3#1,6#3 *)", "an expression with '#' stands alone"),
        ("cron(0/0 23 * * ? *)", "after '/' comes a whole number of 1 or more"),
        ("cron(0 1W * * ? *)", "the hours field has '1W'"),  # W belongs to day-of-month only
        ("cron(0 1 * * ? L)", "the year field has 'L'"),
        ("cron(0 1 1,,2 * ? *)", "the day-of-month field has an empty item"),
        ("rate(1 days)", "write 'rate(1 day)'"),
        ("rate(2 hour)", "write 'rate(2 hours)'"),
        ("rate(0 days)", "a rate's value is a whole number of 1 or more"),
        ("rate(1.5 hours)", "a rate's value is a whole number of 1 or more"),
        ("rate(2 weeks)", "a rate's unit is minute(s), hour(s) or day(s)"),
        ("rate(1day)", "a rate is 'rate(value unit)'"),
        ("at(2030-02-30T00:00:00)", "is not a date and time"),
        ("at(2030-01-31 23:00)", "a one-time schedule is 'at(yyyy-mm-ddThh:mm:ss)'"),
        ("every day", "none of cron(...), rate(...) or at(...)"),
        ("0 23 * * ?", "none of cron(...), rate(...) or at(...)"),
    ],
)
def test_each_wrong_expression_is_refused_naming_the_key_and_what_is_wrong(expression, says):
    with pytest.raises(ScheduleError, match=_literal(says)):
        check_expression(expression)
    with pytest.raises(ConfigError) as refused:
        OptimizerConfig.from_mapping({"bucket_name": "my-b", "bucket_prefix": PREFIX, "schedule": expression})
    message = str(refused.value)
    assert message.startswith(f"schedule={expression!r} is not an EventBridge Scheduler expression: ")
    assert says in message and "-c schedule=" in message and "Schedule types" in message


def _literal(text: str) -> str:
    import re

    return re.escape(text)


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata"])
def test_iana_time_zones_are_accepted(zone):
    check_timezone(zone)
    assert (
        OptimizerConfig.from_mapping(
            {"bucket_name": "my-b", "bucket_prefix": PREFIX, "schedule_timezone": zone}
        ).schedule_timezone
        == zone
    )


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus", "Europe/Pariss", "CEST+2", "../etc/passwd", "/usr/share/zoneinfo/UTC"]
)
def test_unknown_time_zones_are_refused_naming_the_key(zone):
    with pytest.raises(ConfigError) as refused:
        OptimizerConfig.from_mapping({"bucket_name": "my-b", "bucket_prefix": PREFIX, "schedule_timezone": zone})
    assert str(refused.value).startswith(f"schedule_timezone={zone!r} is not an IANA time zone")
    assert "-c schedule_timezone=" in str(refused.value)


def _bare_python(*args: str) -> subprocess.CompletedProcess:
    """The system Python as ./cdk-deploy.sh runs it before any set-up: no site-packages at all (-S)."""
    return subprocess.run(
        [sys.executable, "-S", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env={"PATH": "/usr/bin"}
    )


def test_the_checks_before_set_up_need_only_the_standard_library():
    result = _bare_python(
        "-m",
        "stacks.context_check",
        "-c",
        "bucket_name=my-b",
        "-c",
        f"bucket_prefix={PREFIX}",
        "-c",
        "schedule=cron(0 25 * * ? *)",
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "schedule='cron(0 25 * * ? *)'" in result.stderr and "the hours field has 25" in result.stderr
    zone = _bare_python(
        "-m",
        "stacks.context_check",
        "-c",
        "bucket_name=my-b",
        "-c",
        f"bucket_prefix={PREFIX}",
        "-c",
        "schedule_timezone=Mars/Olympus",
    )
    assert zone.returncode == 2 and "schedule_timezone='Mars/Olympus' is not an IANA time zone" in zone.stderr
    good = _bare_python(
        "-m",
        "stacks.context_check",
        "-c",
        "bucket_name=my-b",
        "-c",
        f"bucket_prefix={PREFIX}",
        "-c",
        "schedule=rate(12 hours)",
    )
    assert good.returncode == 0 and good.stdout.strip() in ("arm64", "x86_64"), good.stderr
    word = _bare_python("scripts/cdk_args.py", "--check", "deploy", "deploi", "-c", "bucket_name=my-b")
    assert word.returncode == 2 and "'deploi' is neither a command" in word.stderr, word.stderr
