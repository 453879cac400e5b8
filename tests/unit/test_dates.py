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
        # Today itself is not in the future.
        ("03/15/2024", TODAY),
        ("2024-03-15", TODAY),
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
    result = lister.resolve(settings, {"specific_date": "01/05/2022"}, "exec-1", TODAY)
    assert result["run"] == {
        "id": "exec-1",
        "bucket": "recordings",
        "source": "input",
        "dry_run": False,
        "retry_failed": False,
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
    result = lister.resolve(settings, {"specific_date": "01/05/2022", "retry_failed": True}, "exec-2", TODAY)
    assert result["run"]["retry_failed"] is True
