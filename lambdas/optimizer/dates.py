"""Which day a run processes: parsing and validating the state machine input."""
from __future__ import annotations

import datetime as dt
import re
from typing import Any, Mapping

ACCEPTED_FORMATS = 'MM/DD/YYYY (e.g. "01/31/2022") or YYYY-MM-DD (e.g. "2022-01-31")'
ALLOWED_KEYS = frozenset({"specific_date"})

_US = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")


class InvalidInput(Exception):
    """The execution input cannot be acted on. The class name is the Step Functions error name."""


def parse_date(text: str) -> dt.date:
    """Parses one of the two accepted formats, with a message that says what was wrong."""
    if m := _US.match(text):
        month, day, year = (int(g) for g in m.groups())
    elif m := _ISO.match(text):
        year, month, day = (int(g) for g in m.groups())
    else:
        raise InvalidInput(f"specific_date {text!r} is not in an accepted format; use {ACCEPTED_FORMATS}")
    try:
        return dt.date(year, month, day)
    except ValueError as exc:  # 13/45/2022, 02/29/2023 ...
        raise InvalidInput(f"specific_date {text!r} is not a calendar date ({exc}); use {ACCEPTED_FORMATS}") from None


def resolve_date(execution_input: Any, *, today: dt.date, num_days_age: int) -> tuple[dt.date, str]:
    """Returns (day to process, how it was chosen) or raises InvalidInput.

    An empty or absent specific_date means the scheduled run: today (UTC) - num_days_age.
    """
    if execution_input is None:
        execution_input = {}
    if not isinstance(execution_input, Mapping):
        raise InvalidInput(
            f"the input must be a JSON object such as {{\"specific_date\": \"01/31/2022\"}}, got {type(execution_input).__name__}; "
            f"specific_date takes {ACCEPTED_FORMATS}"
        )
    unknown = sorted(set(execution_input) - ALLOWED_KEYS)
    if unknown:
        raise InvalidInput(
            f"unknown input key(s) {', '.join(map(repr, unknown))}; the only accepted key is 'specific_date' with {ACCEPTED_FORMATS}"
        )
    value = execution_input.get("specific_date")
    if value is None or value == "":
        return today - dt.timedelta(days=num_days_age), "schedule"
    if not isinstance(value, str):
        raise InvalidInput(f"specific_date must be a string in {ACCEPTED_FORMATS}, got {type(value).__name__} {value!r}")
    day = parse_date(value.strip())
    if day > today:
        raise InvalidInput(
            f"specific_date {value!r} is in the future (today is {today.isoformat()} UTC); nothing to convert yet. "
            f"Give a past day as {ACCEPTED_FORMATS}"
        )
    return day, "input"


def day_prefix(bucket_prefix: str, day: dt.date) -> str:
    """Amazon Connect's layout: <prefix>YYYY/MM/DD/."""
    return f"{bucket_prefix}{day:%Y/%m/%d}/"
