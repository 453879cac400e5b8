"""Which days a retention run may delete (optimizer/dates.py, "expire"): never a day holding a
call younger than retention_days, and only when retention is on."""

from __future__ import annotations

import datetime as dt

import pytest

from optimizer.dates import InvalidInput, newest_expirable, resolve_request
from optimizer.retention import held_by

TODAY = dt.date(2026, 12, 5)
DAYS = 90
NEWEST = dt.date(2026, 9, 5)  # 91 days ago: its 23:59 call is 90 days and a minute old today


def resolve(execution_input, retention_days=DAYS, catch_up_days=3):
    return resolve_request(
        execution_input, today=TODAY, num_days_age=7, catch_up_days=catch_up_days, retention_days=retention_days
    )


def test_the_newest_expirable_day_keeps_every_call_at_least_retention_days():
    assert newest_expirable(TODAY, DAYS) == NEWEST
    assert (TODAY - NEWEST).days == DAYS + 1


def test_the_scheduled_retention_run_takes_the_newest_expirable_day_and_its_catch_up_days():
    request = resolve({"expire": True})
    assert request.expire and request.source == "schedule" and not request.dry_run
    assert request.days == tuple(NEWEST - dt.timedelta(days=i) for i in (3, 2, 1, 0))


def test_a_date_or_range_past_retention_is_taken_and_a_younger_one_refused_force_or_not():
    assert resolve({"expire": True, "specific_date": "2026-09-05"}).days == (NEWEST,)
    assert len(resolve({"expire": True, "start_date": "2016-01-01", "end_date": "2016-12-31"}).days) == 366
    with pytest.raises(
        InvalidInput, match="younger than retention_days=90 .* newest day a retention run deletes is 09/05"
    ):
        resolve({"expire": True, "specific_date": "2026-09-06"})
    with pytest.raises(InvalidInput, match="end_date 09/06/2026 holds recordings younger than retention_days"):
        resolve({"expire": True, "start_date": "2026-01-01", "end_date": "2026-09-06"})
    with pytest.raises(InvalidInput, match='takes no "retry_failed" or "force"'):
        resolve({"expire": True, "specific_date": "2026-09-06", "force": True})


def test_expire_is_refused_when_retention_is_off_and_must_be_a_boolean():
    with pytest.raises(InvalidInput, match=r"off: deploy with -c retention_days=N \(N at least 90"):
        resolve({"expire": True}, retention_days=0)
    with pytest.raises(InvalidInput, match="expire must be true or false"):
        resolve({"expire": "true"})
    assert resolve({"specific_date": "2022-01-31"}).expire is False  # a conversion run is never a deletion


def test_held_by_keeps_a_legal_hold_a_running_retention_and_an_unreadable_lock():
    now = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    later, earlier = now + dt.timedelta(seconds=1), now - dt.timedelta(days=1)
    assert held_by({}, {}, now) is None
    assert held_by({"Retention": {"Mode": "COMPLIANCE", "RetainUntilDate": later}}, {}, now) == "retention"
    assert held_by({"Retention": {"Mode": "GOVERNANCE", "RetainUntilDate": earlier}}, {}, now) is None  # lapsed
    assert held_by({}, {"LegalHold": {"Status": "ON"}}, now) == "legal_hold"
    assert held_by({}, {"LegalHold": {"Status": "OFF"}}, now) is None
    assert held_by(None, {}, now) == "unchecked" and held_by({}, None, now) == "unchecked"
