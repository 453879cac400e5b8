"""The local run's execution inputs (issue 17 item 6): --input repeated, one execution each, in order."""

from __future__ import annotations

import datetime as dt

import pytest

from emulator import local_run


def test_the_local_run_takes_inputs_in_order_and_refuses_one_that_is_not_json():
    args = local_run.parse_args(["--input", '{"specific_date": "01/01/2022"}', "--input", '{"undo": true}'])
    assert local_run.execution_inputs(args, dt.date(2022, 1, 1)) == [
        '{"specific_date": "01/01/2022"}',
        '{"undo": true}',
    ]
    assert local_run.resolve_day(args) == dt.date(2022, 1, 1)  # the recordings go where the first one looks
    with pytest.raises(local_run.UsageError, match="--input #2 is not valid JSON"):
        local_run.execution_inputs(local_run.parse_args(["--input", "{}", "--input", "{"]), dt.date(2022, 1, 1))
