"""The day a run processes: the two accepted formats, the scheduled default, and clear refusals."""

from __future__ import annotations

import datetime as dt

import pytest

from optimizer.dates import InvalidInput, day_prefix, resolve_request
from tests.support import make_settings

TODAY = dt.date(2024, 3, 15)
AGE = 7


def resolve(execution_input, *, today=TODAY, age=AGE):
    """(day, source) of a one-day input: without catch-up days, every input here is one day."""
    request = resolve_request(execution_input, today=today, num_days_age=age)
    (day,) = request.days
    return day, request.source


def assert_names_formats(message: str) -> None:
    # Whatever the problem, the operator is told what to type instead.
    assert "MM/DD/YYYY" in message, message
    assert "YYYY-MM-DD" in message, message


# --- accepted ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        ("01/31/2022", dt.date(2022, 1, 31)),
        ("2022-01-31", dt.date(2022, 1, 31)),
        # Month first in the US form, day last in ISO: 01/02 is January 2nd.
        ("01/02/2022", dt.date(2022, 1, 2)),
        ("2022-01-02", dt.date(2022, 1, 2)),
        ("12/31/1999", dt.date(1999, 12, 31)),
        ("  01/31/2022  ", dt.date(2022, 1, 31)),
        ("\t2022-01-31\n", dt.date(2022, 1, 31)),
        (" 2022-01-31", dt.date(2022, 1, 31)),
        # 2024 is a leap year.
        ("02/29/2024", dt.date(2024, 2, 29)),
        ("2024-02-29", dt.date(2024, 2, 29)),
        # The newest day a manual run takes without "force": the scheduled run's own day.
        ("03/08/2024", TODAY - dt.timedelta(days=AGE)),
        ("2024-03-08", TODAY - dt.timedelta(days=AGE)),
    ],
)
def test_specific_date_in_either_format_is_used_as_given(text, expected):
    assert resolve({"specific_date": text}) == (expected, "input")


@pytest.mark.parametrize("execution_input", [None, {}, {"specific_date": ""}, {"specific_date": None}])
@pytest.mark.parametrize("age", [0, 1, 7, 400])
def test_empty_or_absent_date_means_the_scheduled_day(execution_input, age):
    assert resolve(execution_input, age=age) == (TODAY - dt.timedelta(days=age), "schedule")


@pytest.mark.parametrize(
    "today, age, expected",
    [
        (dt.date(2024, 3, 1), 1, dt.date(2024, 2, 29)),  # leap year
        (dt.date(2023, 3, 1), 1, dt.date(2023, 2, 28)),  # common year
        (dt.date(2024, 1, 3), 7, dt.date(2023, 12, 27)),  # across the new year
    ],
)
def test_scheduled_day_crosses_month_and_year_boundaries(today, age, expected):
    assert resolve({"specific_date": ""}, today=today, age=age) == (expected, "schedule")


# --- refused ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "execution_input, problem",
    [
        ({"specific_date": "13/45/2022"}, "not a calendar date"),
        ({"specific_date": "00/10/2022"}, "not a calendar date"),
        ({"specific_date": "02/29/2023"}, "not a calendar date"),  # 2023 is not a leap year
        ({"specific_date": "2023-02-29"}, "not a calendar date"),
        ({"specific_date": "2022-02-30"}, "not a calendar date"),
        ({"specific_date": "2022-1-5"}, "not in an accepted format"),
        ({"specific_date": "01-01-2022"}, "not in an accepted format"),
        ({"specific_date": "2022/01/05"}, "not in an accepted format"),
        ({"specific_date": "01/31/22"}, "not in an accepted format"),
        ({"specific_date": "1/31/2022"}, "not in an accepted format"),
        ({"specific_date": "01/31/2022 10:00"}, "not in an accepted format"),
        ({"specific_date": "January 31, 2022"}, "not in an accepted format"),
        ({"specific_date": "yesterday"}, "not in an accepted format"),
        ({"specific_date": 20220101}, "must be a string"),
        ({"specific_date": 1.5}, "must be a string"),
        ({"specific_date": True}, "must be a string"),
        ({"specific_date": ["01/01/2022"]}, "must be a string"),
        ({"specific_date": {"month": 1}}, "must be a string"),
        (["01/01/2022"], "JSON object"),
        ([], "JSON object"),
        ("01/01/2022", "JSON object"),
        (20220101, "JSON object"),
        (True, "JSON object"),
        ({"specific_date": "01/01/2022", "foo": 1}, "unknown input key"),
        ({"date": "01/01/2022"}, "unknown input key"),
        ({"Specific_Date": "01/01/2022"}, "unknown input key"),
    ],
)
def test_invalid_input_names_the_problem_and_the_accepted_formats(execution_input, problem):
    with pytest.raises(InvalidInput) as err:
        resolve(execution_input)
    message = str(err.value)
    assert problem in message
    assert_names_formats(message)


@pytest.mark.parametrize(
    "execution_input, problem",
    [
        ({"start_date": "01/05/2022", "end_date": "01/04/2022"}, "is after end_date"),
        ({"start_date": "01/01/2010", "end_date": "01/02/2020"}, "at most 3653"),
        ({"start_date": "01/01/2022", "end_date": "03/16/2024"}, "in the future"),
        ({"start_date": "01/01/2022"}, "needs both start_date and end_date"),
        ({"start_date": "2022-02-30", "end_date": "2022-03-01"}, "start_date '2022-02-30' is not a calendar date"),
        ({"specific_date": "01/01/2022", "start_date": "01/01/2022", "end_date": "01/02/2022"}, "not both"),
        ({"specific_date": "01/01/2022", "dry_run": "yes"}, "dry_run must be true or false"),
    ],
)
def test_a_bad_range_or_option_is_refused_naming_the_problem(execution_input, problem):
    """Moved from tests/e2e/test_operations_e2e.py, which keeps one range end to end."""
    with pytest.raises(InvalidInput) as err:
        resolve_request(execution_input, today=TODAY, num_days_age=AGE)
    assert problem in str(err.value)


@pytest.mark.parametrize("text", ["13/45/2022", "02/29/2023", "2022-1-5", "01-01-2022"])
def test_invalid_date_text_is_quoted_in_the_message(text):
    with pytest.raises(InvalidInput, match=text):
        resolve({"specific_date": text})


def test_unknown_keys_are_named():
    with pytest.raises(InvalidInput) as err:
        resolve({"specific_date": "01/01/2022", "foo": 1, "bar": 2})
    assert "'foo'" in str(err.value) and "'bar'" in str(err.value)


@pytest.mark.parametrize(
    "text",
    ["03/16/2024", "2024-03-16", "12/31/2099", " 2025-01-01 "],
)
def test_future_date_is_refused(text):
    with pytest.raises(InvalidInput) as err:
        resolve({"specific_date": text})
    message = str(err.value)
    assert "future" in message
    assert TODAY.isoformat() in message  # says what "today" was
    assert_names_formats(message)


# --- prefix -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bucket_prefix, day, expected",
    [
        ("", dt.date(2022, 1, 5), "2022/01/05/"),
        ("connect/acme/CallRecordings/", dt.date(2022, 1, 5), "connect/acme/CallRecordings/2022/01/05/"),
        ("connect/acme/CallRecordings/", dt.date(2022, 12, 31), "connect/acme/CallRecordings/2022/12/31/"),
        ("p/", dt.date(2024, 2, 29), "p/2024/02/29/"),
        ("p/", dt.date(2021, 10, 1), "p/2021/10/01/"),
    ],
)
def test_day_prefix_is_zero_padded_connect_layout(bucket_prefix, day, expected):
    assert day_prefix(bucket_prefix, day) == expected


def test_lister_resolve_builds_the_run_from_the_date():
    import lister

    settings = make_settings(bucket="recordings", bucket_prefix="connect/acme/CallRecordings/", num_days_age=3)
    result = lister.requested_run(settings, {"specific_date": "01/05/2022"}, "exec-1", TODAY)
    assert result["run"] == {
        "id": "exec-1",
        "bucket": "recordings",
        "source": "input",
        "dry_run": False,
        "retry_failed": False,
        "force": False,
        "start_date": "2022-01-05",
        "end_date": "2022-01-05",
        "days": 1,
        "prefix": "connect/acme/CallRecordings/2022/01/05/",
    }
    assert result["days"] == ["2022-01-05"]


# --- retry_failed -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "execution_input",
    [
        {"specific_date": "01/05/2022", "retry_failed": True},
        {"start_date": "01/01/2022", "end_date": "01/03/2022", "retry_failed": True},
        {"retry_failed": True},  # the scheduled day
        {"specific_date": "01/05/2022", "retry_failed": True, "dry_run": True},
    ],
)
def test_retry_failed_true_is_carried_by_every_input_shape(execution_input):
    request = resolve_request(execution_input, today=TODAY, num_days_age=AGE)
    assert request.retry_failed is True
    assert request.dry_run is execution_input.get("dry_run", False)


@pytest.mark.parametrize(
    "execution_input", [{}, {"specific_date": "01/05/2022"}, {"specific_date": "01/05/2022", "retry_failed": False}]
)
def test_retry_failed_is_false_unless_asked(execution_input):
    assert resolve_request(execution_input, today=TODAY, num_days_age=AGE).retry_failed is False


@pytest.mark.parametrize("value", ["true", "yes", 1, 0, None, [], {"on": True}])
def test_retry_failed_must_be_a_json_boolean(value):
    with pytest.raises(InvalidInput) as err:
        resolve_request({"specific_date": "01/05/2022", "retry_failed": value}, today=TODAY, num_days_age=AGE)
    message = str(err.value)
    assert message.startswith("retry_failed must be true or false") and repr(value) in message


def test_the_help_names_retry_failed():
    with pytest.raises(InvalidInput, match='"retry_failed": true'):
        resolve_request({"retry": True}, today=TODAY, num_days_age=AGE)


def test_lister_resolve_carries_retry_failed_in_the_run():
    import lister

    settings = make_settings(bucket="recordings", bucket_prefix="p/", num_days_age=3)
    result = lister.requested_run(settings, {"specific_date": "01/05/2022", "retry_failed": True}, "exec-2", TODAY)
    assert result["run"]["retry_failed"] is True


# --- young days, today, force -----------------------------------------------------------------


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize(
    "execution_input",
    [
        {"specific_date": "03/15/2024"},
        {"specific_date": "2024-03-15"},
        {"start_date": "03/01/2024", "end_date": "03/15/2024"},
        {"start_date": "2024-03-15", "end_date": "2024-03-15"},
    ],
)
def test_today_is_always_refused_force_or_not(execution_input, force):
    with pytest.raises(InvalidInput) as err:
        resolve_request({**execution_input, "force": force}, today=TODAY, num_days_age=AGE)
    message = str(err.value)
    assert "is today" in message and TODAY.isoformat() in message
    assert '"force": true does not change that' in message
    assert_names_formats(message)


@pytest.mark.parametrize("force", [False, True])
@pytest.mark.parametrize(
    "execution_input",
    [{"specific_date": "03/16/2024"}, {"start_date": "03/10/2024", "end_date": "2024-03-20"}],
)
def test_the_future_is_always_refused_force_or_not(execution_input, force):
    with pytest.raises(InvalidInput, match="in the future"):
        resolve_request({**execution_input, "force": force}, today=TODAY, num_days_age=AGE)


@pytest.mark.parametrize("age", [1, 3, 7, 30])
def test_every_day_younger_than_num_days_age_needs_force(age):
    """Yesterday back to the day after the scheduled day: refused without force, taken with it."""
    for days_ago in range(1, age):
        day = TODAY - dt.timedelta(days=days_ago)
        with pytest.raises(InvalidInput) as err:
            resolve_request({"specific_date": day.isoformat()}, today=TODAY, num_days_age=age)
        message = str(err.value)
        # Why, and the two ways out: the day it becomes old enough, or force.
        assert f"{day:%m/%d/%Y} is younger than num_days_age={age}" in message
        assert f"Wait until {day + dt.timedelta(days=age):%m/%d/%Y}" in message
        assert 'add "force": true' in message
        forced = resolve_request({"specific_date": day.isoformat(), "force": True}, today=TODAY, num_days_age=age)
        assert (forced.days, forced.source, forced.force) == ((day,), "input", True)
    oldest_young = TODAY - dt.timedelta(days=age)  # the scheduled day itself: old enough
    assert resolve_request({"specific_date": oldest_young.isoformat()}, today=TODAY, num_days_age=age).days == (
        oldest_young,
    )


def test_a_range_with_any_young_day_needs_force():
    # 03/01 .. 03/09: 03/09 is 6 days old, younger than 7; the others are old enough.
    young_end = {"start_date": "03/01/2024", "end_date": "03/09/2024"}
    with pytest.raises(InvalidInput) as err:
        resolve_request(young_end, today=TODAY, num_days_age=AGE)
    message = str(err.value)
    assert "03/09/2024 is younger than num_days_age=7" in message
    assert "or end the range at 03/08/2024" in message and 'add "force": true' in message
    with pytest.raises(InvalidInput, match=r"6 days of the range \(03/09/2024 to 03/14/2024\) are younger"):
        resolve_request({"start_date": "03/01/2024", "end_date": "03/14/2024"}, today=TODAY, num_days_age=AGE)
    forced = resolve_request({**young_end, "force": True}, today=TODAY, num_days_age=AGE)
    assert forced.days == tuple(dt.date(2024, 3, d) for d in range(1, 10)) and forced.force is True
    old_enough = resolve_request({"start_date": "03/01/2024", "end_date": "03/08/2024"}, today=TODAY, num_days_age=AGE)
    assert len(old_enough.days) == 8 and old_enough.force is False


def test_the_scheduled_run_is_not_affected_and_force_alone_is_refused():
    scheduled = resolve_request({"specific_date": ""}, today=TODAY, num_days_age=AGE, catch_up_days=3)
    assert scheduled.source == "schedule" and scheduled.days[-1] == TODAY - dt.timedelta(days=AGE)
    with pytest.raises(InvalidInput, match="applies to a specific_date or a range only"):
        resolve_request({"force": True}, today=TODAY, num_days_age=AGE)


@pytest.mark.parametrize("value", ["true", 1, None, []])
def test_force_must_be_a_json_boolean(value):
    with pytest.raises(InvalidInput, match="force must be true or false"):
        resolve_request({"specific_date": "03/14/2024", "force": value}, today=TODAY, num_days_age=AGE)


def test_a_forced_run_carries_force_into_its_run_and_its_rerun_inputs():
    import lister
    from optimizer.day_failures import rerun_inputs

    settings = make_settings(bucket="recordings", bucket_prefix="p/", num_days_age=AGE)
    result = lister.requested_run(settings, {"specific_date": "03/14/2024", "force": True}, "exec-3", TODAY)
    assert result["run"]["force"] is True and result["days"] == ["2024-03-14"]
    # A failed day of a forced run is re-run with force, or it would be refused while still young.
    assert rerun_inputs(["2024-03-13", "2024-03-14"], dry_run=False, force=True) == [
        {"start_date": "2024-03-13", "end_date": "2024-03-14", "force": True}
    ]
    assert rerun_inputs(["2024-03-14"], dry_run=True) == [{"specific_date": "2024-03-14", "dry_run": True}]
