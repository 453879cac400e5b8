"""Chain of custody without AWS: the verify input, the verify message, the counts and summary of
a verify run, and the record the ledger's done# marker carries (optimizer/custody.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from optimizer import custody, ledger
from optimizer.conversion import Outcome, custody_record
from optimizer.dates import InvalidInput, resolve_request
from optimizer.messages import Recording
from optimizer.outcomes import Batch, counts
from optimizer.summary import run_summary
from tests.support import make_settings

TODAY = dt.date(2022, 3, 1)


def resolve(execution_input):
    return resolve_request(execution_input, today=TODAY, num_days_age=30)


def test_verify_takes_a_day_or_a_range_and_needs_no_force_for_a_young_day():
    assert resolve({"specific_date": "2022-01-05", "verify": True}).verify is True
    ranged = resolve({"start_date": "2022-01-01", "end_date": "2022-01-03", "verify": True})
    assert ranged.verify and len(ranged.days) == 3
    # Younger than num_days_age: a conversion needs "force"; a verify only reads.
    assert resolve({"specific_date": "2022-02-27", "verify": True}).days == (dt.date(2022, 2, 27),)
    with pytest.raises(InvalidInput, match="force"):
        resolve({"specific_date": "2022-02-27"})
    assert resolve({"specific_date": "2022-01-05"}).verify is False


@pytest.mark.parametrize(
    ("execution_input", "says"),
    [
        ({"specific_date": "2022-01-05", "verify": "true"}, "JSON booleans"),
        ({"specific_date": "2022-01-05", "verify": True, "dry_run": True}, "cannot be combined with dry_run"),
        ({"specific_date": "2022-01-05", "verify": True, "retry_failed": True}, "cannot be combined with retry_failed"),
        ({"verify": True}, "needs the days to check"),
        ({"specific_date": "2022-03-01", "verify": True}, "is today"),
    ],
)
def test_verify_refusals_say_what_to_do(execution_input, says):
    with pytest.raises(InvalidInput, match=says):
        resolve(execution_input)


def test_the_verify_flag_travels_in_the_message_and_only_when_set():
    rec = Recording("b", "k.wav", '"e"', 10, run="r", verify=True)
    assert '"verify": true' in rec.to_body() and Recording.from_body(rec.to_body()).verify is True
    plain = Recording("b", "k.wav", '"e"', 10, run="r")
    assert "verify" not in plain.to_body() and Recording.from_body(plain.to_body()).verify is False


def test_verified_outcomes_count_with_their_reason():
    assert counts(Outcome("verified", None)) == {"verified": 1}
    assert counts(Outcome("verified", "original_gone")) == {"verified": 1, "verified_original_gone": 1}
    assert counts(Outcome("skipped", "not_converted")) == {"skipped_not_converted": 1}
    mismatch = custody.CustodyMismatch("custody mismatch for s3://b/k.wav: replaced")
    assert mismatch.kind == "custody_mismatch"


RUN = {
    "id": "exec",
    "bucket": "recordings",
    "source": "input",
    "dry_run": False,
    "start_date": "2022-01-31",
    "end_date": "2022-01-31",
    "days": 1,
    "prefix": "p/2022/01/31/",
    "verify": True,
}


def test_a_mismatch_fails_the_verify_run_naming_the_recordings():
    settings = make_settings()
    counts_ = {
        "listed": 4,
        "enqueued": 4,
        "accounted": 4,
        "verified": 2,
        "verified_original_gone": 1,
        "skipped_not_converted": 1,
        "failed": 1,
        "failed_custody_mismatch": 1,
    }
    result = run_summary(RUN, {**counts_, "verified": 2}, {}, [], settings, ["p/2022/01/31/b.wav"])
    assert result["error"] == "CustodyMismatch"
    assert result["cause"].startswith(
        "1 converted recording(s) differ from their chain of custody (p/2022/01/31/b.wav)"
    )
    assert result["output"]["verify"] == {
        "verified": 2,
        "verified_original_gone": 1,
        "verified_unrecorded": 0,
        "not_converted": 1,
        "mismatches": 1,
        "mismatched": ["p/2022/01/31/b.wav"],
    }
    clean = {"listed": 2, "enqueued": 2, "accounted": 2, "verified": 2}
    assert run_summary(RUN, clean, {}, [], settings)["error"] is None
    # More mismatches than names kept: the cause says how many it does not name.
    many = {**counts_, "failed": 60, "failed_custody_mismatch": 60}
    assert "and 59 more" in run_summary(RUN, many, {}, [], settings, ["p/2022/01/31/b.wav"])["cause"]
    assert "verify" not in run_summary({**RUN, "verify": False}, clean, {}, [], settings)["output"]


class _Dynamo:
    def __init__(self):
        self.transactions = []

    def transact_write_items(self, TransactItems):
        self.transactions.append(TransactItems)


def test_the_done_marker_carries_the_record_in_the_same_transaction():
    record = custody_record("v1", "a" * 64, "v2", "b" * 64)
    batch = Batch()
    batch.add("run", "p/k.wav", "m1", Outcome("converted", None, 100, 25, custody=record))
    batch.add("run", "p/j.wav", "m2", Outcome("skipped", "already_converted"))
    entries = batch.to_account()["run"]
    dynamodb = _Dynamo()

    ledger.account(
        dynamodb,
        "t",
        "run",
        [(e.key, e.counts) for e in entries],
        custody={e.key: e.custody for e in entries if e.custody},
    )

    (items,) = dynamodb.transactions
    puts = {item["Put"]["Item"]["run"]["S"]: item["Put"]["Item"] for item in items if "Put" in item}
    assert puts["done#run#p/k.wav"]["custody"] == {"M": {name: {"S": value} for name, value in record.items()}}
    assert "custody" not in puts["done#run#p/j.wav"]
    assert len(items) == 3  # two markers and the counters: no write of its own


def test_the_names_item_is_a_counter_key_the_converter_may_update():
    assert custody.names_key("exec-1") == "count#exec-1#mismatched"
