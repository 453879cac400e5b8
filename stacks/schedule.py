"""EventBridge Scheduler's schedule expressions and time zones, checked before anything is deployed.

Standard library only: ./cdk-deploy.sh runs these checks on the system Python before any set-up.

The rules are EventBridge Scheduler's, from its user guide, "Schedule types in EventBridge
Scheduler" (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html), whose
cron fields and wildcards are those of EventBridge's "Cron expressions reference"
(https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html):

- ``rate(value unit)``: a positive whole number and minute(s), hour(s) or day(s); singular for 1.
- ``cron(minutes hours day-of-month month day-of-week year)``: six fields; values 0-59, 0-23,
  1-31, 1-12 or JAN-DEC, 1-7 or SUN-SAT, 1970-2199; every field takes ``, - * /``; day-of-month
  also ``? L W``, day-of-week also ``? L #``; exactly one of day-of-month and day-of-week is
  ``?``; a day-of-week with ``#`` holds that one expression only.
- ``at(yyyy-mm-ddThh:mm:ss)``: a one-time schedule.

A time zone is an IANA name (``Europe/Paris``), checked with ``zoneinfo``.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import datetime
from functools import lru_cache

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
RATE_UNITS = ("minute", "hour", "day")

# name, lowest, highest, names (1-based), wildcards beyond ", - * /"
_FIELDS: tuple[tuple[str, int, int, tuple[str, ...], str], ...] = (
    ("minutes", 0, 59, (), ""),
    ("hours", 0, 23, (), ""),
    ("day-of-month", 1, 31, (), "?LW"),
    ("month", 1, 12, MONTHS, ""),
    ("day-of-week", 1, 7, DAYS, "?L#"),
    ("year", 1970, 2199, (), ""),
)
_RATE = re.compile(r"^rate\(\s*(\S+)\s+(\S+)\s*\)$")
_AT = re.compile(r"^at\((\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})\)$")
GUIDE = "EventBridge Scheduler user guide, 'Schedule types'"
EXAMPLES = "'cron(0 23 * * ? *)' (23:00 every day), 'rate(12 hours)' or 'at(2030-01-31T23:00:00)'"


class ScheduleError(ValueError):
    """Why an expression is not one EventBridge Scheduler accepts (without the key: the caller adds it)."""


def _value(text: str, field: tuple[str, int, int, tuple[str, ...], str]) -> int:
    name, lo, hi, names, _ = field
    if text.upper() in names:
        return names.index(text.upper()) + 1
    if not text.isdigit():
        known = f" or {names[0]}-{names[-1]}" if names else ""
        raise ScheduleError(f"the {name} field has {text!r}, not a number {lo}-{hi}{known}")
    number = int(text)
    if not lo <= number <= hi:
        raise ScheduleError(f"the {name} field has {number}, out of range {lo}-{hi}")
    return number


def _element(text: str, field: tuple[str, int, int, tuple[str, ...], str]) -> None:
    """One comma-separated item of a cron field: a special form (L, W, #) or a value, range or step."""
    name = field[0]
    if text in ("", "?"):
        raise ScheduleError(f"the {name} field has an empty item" if not text else f"'?' stands alone in {name}")
    if not _special(text, field):
        _range(text, field)


def _special(text: str, field: tuple[str, int, int, tuple[str, ...], str]) -> bool:
    """Checks the day fields' special forms (L, LW, nW, n#k, nL); False when `text` is none of them."""
    name, _, _, _, extra = field
    if "L" in extra and name == "day-of-month" and text.upper() in ("L", "LW"):
        return True
    if "W" in extra and text.upper().endswith("W"):
        _value(text[:-1], field)  # nW: the weekday nearest day n
        return True
    if "#" in extra and "#" in text:
        day, _, nth = text.partition("#")
        _value(day, field)
        if not nth.isdigit() or not 1 <= int(nth) <= 5:
            raise ScheduleError(f"the {name} field has {text!r}: after '#' comes the week of the month, 1-5")
        return True
    if "L" in extra and name == "day-of-week" and text.upper().endswith("L"):
        if text.upper() != "L":
            _value(text[:-1], field)  # nL: the last day n of the month
        return True
    return False


def _range(text: str, field: tuple[str, int, int, tuple[str, ...], str]) -> None:
    """Checks a value, a range a-b or *, each with an optional /step."""
    name, lo, hi, _, _ = field
    base, slash, step = text.partition("/")
    if slash:
        if not step.isdigit() or int(step) < 1:
            raise ScheduleError(f"the {name} field has {text!r}: after '/' comes a whole number of 1 or more")
        if int(step) > hi - lo + 1 and name != "year":
            raise ScheduleError(f"the {name} field has {text!r}: a step of {step} is longer than the field ({lo}-{hi})")
    if base == "*":
        return
    first, dash, last = base.partition("-")
    _value(first, field)
    if dash:
        _value(last, field)


def _cron(body: str) -> None:
    parts = body.split()
    if len(parts) != len(_FIELDS):
        raise ScheduleError(
            f"a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), not {len(parts)}"
        )
    for text, field in zip(parts, _FIELDS, strict=True):
        name, _, _, _, extra = field
        if text == "?":
            if "?" not in extra:
                raise ScheduleError(f"'?' is allowed in day-of-month or day-of-week only, not in {name}")
            continue
        items = text.split(",")
        if "#" in text and len(items) > 1:
            raise ScheduleError(f"the {name} field has {text!r}: an expression with '#' stands alone")
        for item in items:
            _element(item, field)
    day_of_month, day_of_week = parts[2], parts[4]
    if (day_of_month == "?") == (day_of_week == "?"):
        raise ScheduleError(
            "exactly one of day-of-month and day-of-week must be '?' (the other says which days), "
            f"here {day_of_month!r} and {day_of_week!r}"
        )


def _rate(value: str, unit: str) -> None:
    if not value.isdigit() or int(value) < 1:
        raise ScheduleError(f"a rate's value is a whole number of 1 or more, not {value!r}")
    singular = unit.rstrip("s")
    if singular not in RATE_UNITS or unit not in (singular, singular + "s"):
        raise ScheduleError(f"a rate's unit is minute(s), hour(s) or day(s), not {unit!r}")
    expected = singular if int(value) == 1 else singular + "s"
    if unit != expected:
        raise ScheduleError(f"write 'rate({value} {expected})': the unit is singular for 1 and plural otherwise")


def check_expression(text: str) -> None:
    """Raises ScheduleError saying what is wrong, or returns when EventBridge Scheduler accepts ``text``."""
    if text.startswith("cron(") and text.endswith(")"):
        _cron(text[5:-1])
    elif rate := _RATE.match(text):
        _rate(rate.group(1), rate.group(2))
    elif text.startswith("rate("):
        raise ScheduleError("a rate is 'rate(value unit)', e.g. 'rate(1 day)' or 'rate(12 hours)'")
    elif at := _AT.match(text):
        try:
            datetime.fromisoformat(at.group(1))
        except ValueError as exc:
            raise ScheduleError(f"{at.group(1)} is not a date and time ({exc})") from None
    elif text.startswith("at("):
        raise ScheduleError("a one-time schedule is 'at(yyyy-mm-ddThh:mm:ss)', e.g. 'at(2030-01-31T23:00:00)'")
    else:
        raise ScheduleError("it is none of cron(...), rate(...) or at(...)")


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_timezone(name: str) -> None:
    """Raises ScheduleError unless ``name`` is an IANA time zone that zoneinfo knows."""
    zones = _zones()
    if zones:  # the system's database or the tzdata package
        if name not in zones:  # also a file of the database that is no zone (posixrules, localtime)
            raise ScheduleError(f"{name!r} is not an IANA time zone (e.g. UTC, Europe/Paris, America/New_York)")
        return
    # No database at all on this machine: only what zoneinfo can load here can be told apart.
    try:
        zoneinfo.ZoneInfo(name)
    except ValueError:  # a path, not a name
        raise ScheduleError(f"{name!r} is not an IANA time zone") from None
    except zoneinfo.ZoneInfoNotFoundError:
        pass
