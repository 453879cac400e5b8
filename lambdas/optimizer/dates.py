"""Which day a run processes: parsing and validating the state machine input."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

ACCEPTED_FORMATS = 'MM/DD/YYYY (e.g. "01/31/2022") or YYYY-MM-DD (e.g. "2022-01-31")'
ALLOWED_KEYS = frozenset(
    {"specific_date", "start_date", "end_date", "dry_run", "retry_failed", "force", "expire", "verify", "undo", "redo"}
)

_US = re.compile(r"^([0-9]{2})/([0-9]{2})/([0-9]{4})$")
_ISO = re.compile(r"^([0-9]{4})-([0-9]{2})-([0-9]{2})$")


class InvalidInput(Exception):
    """The execution input cannot be acted on. The class name is the Step Functions error name."""


def parse_date(text: str, key: str = "specific_date") -> dt.date:
    """Parses one of the two accepted formats, with a message that says what was wrong."""
    if m := _US.match(text):
        month, day, year = (int(g) for g in m.groups())
    elif m := _ISO.match(text):
        year, month, day = (int(g) for g in m.groups())
    else:
        raise InvalidInput(f"{key} {text!r} is not in an accepted format; use {ACCEPTED_FORMATS}")
    try:
        return dt.date(year, month, day)
    except ValueError as exc:  # 13/45/2022, 02/29/2023 ...
        raise InvalidInput(f"{key} {text!r} is not a calendar date ({exc}); use {ACCEPTED_FORMATS}") from None


MAX_RANGE_DAYS = 3653  # ten years, leap days included
KEYS_HELP = (
    'accepted inputs: {} (the scheduled day), {"specific_date": DATE}, '
    '{"start_date": DATE, "end_date": DATE}, each optionally with "dry_run": true and/or "retry_failed": true; '
    'a day younger than num_days_age also needs "force": true; "expire": true (with no date, a date or a range, '
    'and optionally "dry_run": true) deletes instead the recordings older than retention_days, when that is on; '
    '{"specific_date": DATE, "verify": true} or a range with "verify": true checks the converted recordings of those '
    "days against their chain of custody instead of converting; "
    '"undo": true (with a date or a range, optionally '
    '"dry_run": true) makes the converted recordings of those days their originals again, "redo": true lets a run '
    "convert recordings an undo restored"
)


@dataclass(frozen=True)
class RunRequest:
    days: tuple[dt.date, ...]  # oldest first
    source: str  # schedule | input | range
    dry_run: bool = False
    retry_failed: bool = False  # enqueue the recordings remembered as content failures too
    force: bool = False  # the input allowed days younger than num_days_age (never today or later)
    expire: bool = False  # retention by the recording's date: delete the days' recordings (optimizer/retention.py)
    verify: bool = False  # check the days' converted recordings against their custody (optimizer/custody.py)
    undo: bool = False  # restore the originals of the days' converted recordings (optimizer/undo.py)
    redo: bool = False  # convert the days' recordings an undo restored, and forget that they were undone


def _date_field(execution_input: Mapping[str, Any], key: str) -> dt.date | None:
    value = execution_input.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(f"{key} must be a string in {ACCEPTED_FORMATS}, got {type(value).__name__} {value!r}")
    return parse_date(value.strip(), key=key)


def _flag(execution_input: Mapping[str, Any], key: str) -> bool:
    value = execution_input.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInput(f"{key} must be true or false (JSON booleans, not strings), got {value!r}")
    return value


# What an undo (which restores originals and converts nothing) cannot share a run with; a redo is a
# conversion run, which cannot undo or verify in the same run either.
_NOT_WITH = {
    "undo": ("redo", "retry_failed", "force", "verify", "expire"),
    "redo": ("undo", "verify", "expire"),
}


def _exclusive(execution_input: Mapping[str, Any], *, undo: bool, redo: bool) -> None:
    for mode, on in (("undo", undo), ("redo", redo)):
        others = [k for k in _NOT_WITH[mode] if on and execution_input.get(k) is True]
        if others:
            raise InvalidInput(
                f'"{mode}": true cannot be combined with {", ".join(repr(k) for k in others)}; run them as separate '
                "executions" + ("; an undo needs no force, whatever the days' age" if "force" in others else "")
            )


def _not_future(day: dt.date, key: str, today: dt.date) -> dt.date:
    """Today and later are refused, force or not: today's calls are still being written."""
    if day > today:
        raise InvalidInput(
            f"{key} {day:%m/%d/%Y} is in the future (today is {today.isoformat()} UTC); nothing to convert yet. "
            f"Give a past day as {ACCEPTED_FORMATS}"
        )
    if day == today:
        raise InvalidInput(
            f"{key} {day:%m/%d/%Y} is today ({today.isoformat()} UTC): calls are still being recorded and "
            '"force": true does not change that. Give a past day as ' + ACCEPTED_FORMATS
        )
    return day


def _old_enough(days: tuple[dt.date, ...], today: dt.date, num_days_age: int, force: bool) -> tuple[dt.date, ...]:
    """A manual run of a day the schedule has not reached yet (younger than num_days_age) needs
    "force": true: its analytics or QA may still read the original recording."""
    newest_allowed = today - dt.timedelta(days=num_days_age)
    young = [day for day in days if day > newest_allowed]
    if young and not force:
        which = (
            f"{young[0]:%m/%d/%Y} is"
            if len(young) == 1
            else f"{len(young)} days of the range ({young[0]:%m/%d/%Y} to {young[-1]:%m/%d/%Y}) are"
        )
        raise InvalidInput(
            f"{which} younger than num_days_age={num_days_age} (today is {today.isoformat()} UTC): the scheduled "
            "run leaves recordings that long for analytics and QA. Wait until "
            f"{young[-1] + dt.timedelta(days=num_days_age):%m/%d/%Y}"
            + (f" (or end the range at {newest_allowed:%m/%d/%Y})" if len(days) > len(young) else "")
            + ', or add "force": true to the input to convert them now'
        )
    return days


def _verify_field(execution_input: Mapping[str, Any], *, dry_run: bool, retry_failed: bool, dated: bool) -> bool:
    """A verify run: of given days only; a mode of its own (nothing is converted, so no dry run and
    no retry of failures)."""
    verify = execution_input.get("verify", False)
    if not isinstance(verify, bool):
        raise InvalidInput(
            f"verify must be true or false (JSON booleans, not strings), got {verify!r}; true checks the converted "
            "recordings of the days against their chain of custody"
        )
    if not verify:
        return False
    if dry_run or retry_failed:
        which = " and ".join(k for k, v in (("dry_run", dry_run), ("retry_failed", retry_failed)) if v)
        raise InvalidInput(
            f'"verify": true cannot be combined with {which}: a verify run converts nothing and writes nothing to '
            "S3; run the verification and the conversion as two executions"
        )
    if not dated:
        raise InvalidInput(
            '"verify": true needs the days to check: {"specific_date": DATE, "verify": true} or '
            f'{{"start_date": DATE, "end_date": DATE, "verify": true}}; DATE is {ACCEPTED_FORMATS}'
        )
    return True


def resolve_request(
    execution_input: Any, *, today: dt.date, num_days_age: int, catch_up_days: int = 0, retention_days: int = 0
) -> RunRequest:
    """What a run must do, or InvalidInput with a message a human can act on.

    The scheduled run (no date) covers today (UTC) - num_days_age and the catch_up_days days
    before it, so missed runs are caught up; converted objects are skipped at listing, so the
    overlap is nearly free. The checks run in a fixed order: the first one failing names the fix.
    """
    execution_input = _input_object(execution_input)
    dry_run, retry_failed, force = _run_flags(execution_input)
    undo, redo = _flag(execution_input, "undo"), _flag(execution_input, "redo")
    _exclusive(execution_input, undo=undo, redo=redo)
    specific = _date_field(execution_input, "specific_date")
    start, end = _date_field(execution_input, "start_date"), _date_field(execution_input, "end_date")
    verify = _verify_field(
        execution_input, dry_run=dry_run, retry_failed=retry_failed, dated=bool(specific or start or end)
    )
    if verify and execution_input.get("expire") is True:
        raise InvalidInput(
            '"verify": true and "expire": true are two modes: a verify run reads, a retention run deletes; '
            "run them as two executions"
        )
    if verify:  # reads only: no age to respect, nothing to force
        force = True
    if specific and (start or end):
        raise InvalidInput(f"give either specific_date or start_date and end_date, not both; {KEYS_HELP}")
    if _expire_field(execution_input, retry_failed=retry_failed, force=force):
        return _expire_request(specific, start, end, today, retention_days, catch_up_days, dry_run)
    if specific or start or end:
        return _dated_request(
            specific,
            start,
            end,
            today=today,
            num_days_age=num_days_age,
            flags=RunRequest((), "input", dry_run, retry_failed, force, verify=verify, undo=undo, redo=redo),
        )
    _scheduled_only(undo=undo, redo=redo, force=force)
    target = today - dt.timedelta(days=num_days_age)
    return RunRequest(
        tuple(target - dt.timedelta(days=i) for i in range(catch_up_days, -1, -1)), "schedule", dry_run, retry_failed
    )


def _input_object(execution_input: Any) -> Mapping[str, Any]:
    """The input as a JSON object of known keys (none: {}), or InvalidInput listing the accepted ones."""
    if execution_input is None:
        execution_input = {}
    if not isinstance(execution_input, Mapping):
        raise InvalidInput(
            f"the input must be a JSON object, got {type(execution_input).__name__}; {KEYS_HELP}; DATE is "
            f"{ACCEPTED_FORMATS}"
        )
    unknown = sorted(set(execution_input) - ALLOWED_KEYS)
    if unknown:
        raise InvalidInput(
            f"unknown input key(s) {', '.join(map(repr, unknown))}; {KEYS_HELP}; DATE is {ACCEPTED_FORMATS}"
        )
    return execution_input


def _run_flags(execution_input: Mapping[str, Any]) -> tuple[bool, bool, bool]:
    """dry_run, retry_failed and force, each a JSON boolean, or InvalidInput saying what it does."""
    dry_run = execution_input.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise InvalidInput(f"dry_run must be true or false, got {dry_run!r}")
    retry_failed = execution_input.get("retry_failed", False)
    if not isinstance(retry_failed, bool):
        raise InvalidInput(
            f"retry_failed must be true or false (JSON booleans, not strings), got {retry_failed!r}; "
            "true enqueues again the recordings earlier runs remembered as content failures"
        )
    force = execution_input.get("force", False)
    if not isinstance(force, bool):
        raise InvalidInput(
            f"force must be true or false (JSON booleans, not strings), got {force!r}; true lets a specific_date or "
            "range hold days younger than num_days_age (never today or later)"
        )
    return dry_run, retry_failed, force


def _expire_field(execution_input: Mapping[str, Any], *, retry_failed: bool, force: bool) -> bool:
    """Whether the run is a retention run, which takes no retry_failed or force."""
    expire = execution_input.get("expire", False)
    if not isinstance(expire, bool):
        raise InvalidInput(f"expire must be true or false (JSON booleans, not strings), got {expire!r}")
    if expire and (retry_failed or force):
        raise InvalidInput(
            '"expire": true deletes recordings and converts none: it takes no "retry_failed" or "force" '
            "(a day younger than retention_days is never deleted); run the conversion and the retention apart"
        )
    return expire


def _dated_request(
    specific: dt.date | None,
    start: dt.date | None,
    end: dt.date | None,
    *,
    today: dt.date,
    num_days_age: int,
    flags: RunRequest,
) -> RunRequest:
    """A run of a given day or range (`flags` carries its options): past days only, and old enough
    unless forced; an undo restores days of any age."""
    if specific:
        days: tuple[dt.date, ...] = (_not_future(specific, "specific_date", today),)
        source = "input"
    else:
        days, source = _range_days(start, end, lambda day, key: _not_future(day, key, today)), "range"
    days = days if flags.undo else _old_enough(days, today, num_days_age, flags.force)
    return replace(flags, days=days, source=source)


def _range_days(
    start: dt.date | None, end: dt.date | None, last_allowed: Callable[[dt.date, str], dt.date]
) -> tuple[dt.date, ...]:
    """The days from start_date to end_date inclusive, end_date checked by `last_allowed` first."""
    if not (start and end):
        raise InvalidInput(f"a range needs both start_date and end_date ({ACCEPTED_FORMATS}, inclusive)")
    last_allowed(end, "end_date")
    if start > end:
        raise InvalidInput(f"start_date {start:%m/%d/%Y} is after end_date {end:%m/%d/%Y}; swap them")
    count = (end - start).days + 1
    if count > MAX_RANGE_DAYS:
        raise InvalidInput(f"the range holds {count} days; at most {MAX_RANGE_DAYS} (10 years) per run, split it")
    return tuple(start + dt.timedelta(days=i) for i in range(count))


def _scheduled_only(*, undo: bool, redo: bool, force: bool) -> None:
    """The scheduled run (no date) never undoes, redoes or needs force: InvalidInput if asked to."""
    if undo or redo:
        which = "undo" if undo else "redo"
        raise InvalidInput(
            f'"{which}": true needs the days it applies to: a specific_date or a start_date and end_date '
            f"({ACCEPTED_FORMATS}); the scheduled run never undoes or redoes"
        )
    if force:
        raise InvalidInput(
            '"force": true applies to a specific_date or a range only; the scheduled run takes the day num_days_age '
            "days ago, which needs no force"
        )


def newest_expirable(today: dt.date, retention_days: int) -> dt.date:
    """The newest day whose every recording is more than retention_days old: a call at 23:59 that
    day is retention_days days and a minute old at 00:00 UTC of today. S3 lifecycle Expiration
    counts the same way: creation + Days, rounded up to the next midnight UTC (Amazon S3 user
    guide, "Lifecycle configuration elements",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/intro-lifecycle-rules.html)."""
    return today - dt.timedelta(days=retention_days + 1)


def _expire_request(
    specific: dt.date | None,
    start: dt.date | None,
    end: dt.date | None,
    today: dt.date,
    retention_days: int,
    catch_up_days: int,
    dry_run: bool,
) -> RunRequest:
    """The days of a retention run: never one with a recording younger than retention_days."""
    if retention_days <= 0:
        raise InvalidInput(
            '"expire": true asks for retention by the recording\'s date, which this deployment has off: deploy with '
            "-c retention_days=N (N at least 90, the days a recording is kept after its call; "
            "docs/operations.md#retention-by-the-recordings-date)"
        )
    newest = newest_expirable(today, retention_days)

    def old_enough(day: dt.date, key: str) -> dt.date:
        if day > newest:
            raise InvalidInput(
                f"{key} {day:%m/%d/%Y} holds recordings younger than retention_days={retention_days} (today is "
                f"{today.isoformat()} UTC): the newest day a retention run deletes is {newest:%m/%d/%Y}; "
                '"force" cannot change that'
            )
        return day

    if specific:
        return RunRequest((old_enough(specific, "specific_date"),), "input", dry_run, expire=True)
    if start or end:
        return RunRequest(_range_days(start, end, old_enough), "range", dry_run, expire=True)
    # The scheduled retention run: the newest expirable day and catch_up_days before it.
    days = tuple(newest - dt.timedelta(days=i) for i in range(catch_up_days, -1, -1))
    return RunRequest(days, "schedule", dry_run, expire=True)


def day_prefix(bucket_prefix: str, day: dt.date) -> str:
    """Amazon Connect's layout: <prefix>YYYY/MM/DD/."""
    return f"{bucket_prefix}{day:%Y/%m/%d}/"
