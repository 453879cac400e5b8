"""A run's own recordings, each accounted once (optimizer/ledger.py), and when it stops waiting
for them (optimizer/completion.py)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from optimizer import completion, ledger
from optimizer.vocabulary import FailureKind


@pytest.fixture
def dynamodb(ledger_dynamodb):
    return ledger_dynamodb


def converted(n_bytes: int = 100) -> dict[str, int]:
    return {"converted": 1, "bytes_before": n_bytes, "bytes_after": n_bytes // 4}


def test_a_duplicate_delivery_adds_nothing_and_a_new_recording_in_the_same_batch_still_counts(dynamodb):
    assert ledger.account(dynamodb, "ledger", "run-1", [("a.wav", converted()), ("b.wav", converted())]) == 2
    # a.wav delivered again (SQS at-least-once), now seen as already converted, beside a new c.wav
    added = ledger.account(
        dynamodb,
        "ledger",
        "run-1",
        [("a.wav", {"skipped_already_converted": 1}), ("c.wav", {"failed": 1, "failed_stale_size": 1})],
    )
    assert added == 1
    assert ledger.read(dynamodb, "ledger", "run-1") == {
        "accounted": 3,
        "converted": 2,
        "bytes_before": 200,
        "bytes_after": 50,
        "failed": 1,
        "failed_stale_size": 1,
    }


def test_the_same_recording_twice_in_one_batch_is_one_outcome(dynamodb):
    assert (
        ledger.account(dynamodb, "ledger", "r", [("a.wav", converted()), ("a.wav", {"skipped_already_converted": 1})])
        == 1
    )
    assert ledger.read(dynamodb, "ledger", "r") == {
        "accounted": 1,
        "converted": 1,
        "bytes_before": 100,
        "bytes_after": 25,
    }


def test_the_same_recording_in_two_runs_counts_in_each(dynamodb):
    ledger.account(dynamodb, "ledger", "backfill", [("a.wav", converted())])
    ledger.account(dynamodb, "ledger", "daily", [("a.wav", {"skipped_already_converted": 1})])
    assert ledger.read(dynamodb, "ledger", "backfill")["accounted"] == 1
    assert ledger.read(dynamodb, "ledger", "daily") == {"accounted": 1, "skipped_already_converted": 1}


def test_more_recordings_than_one_transaction_takes_are_split(dynamodb):
    outcomes = [(f"{i:03d}.wav", converted()) for i in range(ledger.MARKERS_PER_TRANSACTION * 2 + 3)]
    assert ledger.account(dynamodb, "ledger", "big", outcomes) == len(outcomes)
    assert ledger.read(dynamodb, "ledger", "big")["accounted"] == len(outcomes)


class Cancelling:
    """A DynamoDB client whose transactions are cancelled with the given reasons, then pass through."""

    def __init__(self, real, reasons_per_call):
        self.real, self.reasons = real, list(reasons_per_call)
        self.calls = 0

    def transact_write_items(self, **kwargs):
        self.calls += 1
        if self.reasons:
            codes = self.reasons.pop(0)
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": [{"Code": c} for c in codes],
                },
                "TransactWriteItems",
            )
        return self.real.transact_write_items(**kwargs)


def test_a_conflict_with_another_transaction_is_retried_with_jitter(dynamodb):
    client = Cancelling(dynamodb, [["None", "TransactionConflict"], ["None", "TransactionConflict"]])
    sleeps: list[float] = []
    assert ledger.account(client, "ledger", "r", [("a.wav", converted())], sleep=sleeps.append) == 1
    assert client.calls == 3 and len(sleeps) == 2 and all(0 <= s <= 2.0 for s in sleeps)
    assert ledger.read(dynamodb, "ledger", "r")["accounted"] == 1


def test_a_conflict_that_never_clears_is_raised_not_swallowed(dynamodb):
    client = Cancelling(dynamodb, [["None", "TransactionConflict"]] * ledger.CONFLICT_ATTEMPTS)
    with pytest.raises(ledger.LedgerConflict):
        ledger.account(client, "ledger", "r", [("a.wav", converted())], sleep=lambda s: None)
    assert ledger.read(dynamodb, "ledger", "r") == {}


def test_any_other_cancellation_is_raised(dynamodb):
    client = Cancelling(dynamodb, [["ValidationError", "None"]])
    with pytest.raises(ClientError):
        ledger.account(client, "ledger", "r", [("a.wav", converted())], sleep=lambda s: None)


def test_a_page_marker_written_by_another_attempt_meanwhile_is_refused(dynamodb):
    ledger.record_page(dynamodb, "ledger", "r", "2022-01-31#", None, "10", {"listed": 2, "enqueued": 1})
    with pytest.raises(ledger.PageChanged):  # this attempt read no marker, but one exists now
        ledger.record_page(dynamodb, "ledger", "r", "2022-01-31#", None, "11", {"listed": 2, "enqueued": 2})
    ledger.record_page(dynamodb, "ledger", "r", "2022-01-31#", "10", "11", {"enqueued": 1})
    assert ledger.page_sent(dynamodb, "ledger", "r", "2022-01-31#") == "11"
    assert ledger.read(dynamodb, "ledger", "r") == {"listed": 2, "enqueued": 2}


# --- when the run stops waiting ---------------------------------------------------------------


def check(counts, polls=0, since=1_000, now=1_000, poll=60, limit=47_400):
    return completion.check(counts, polls=polls, since=since, now=now, poll_seconds=poll, limit_seconds=limit)


def test_the_run_is_finished_when_its_outcomes_reach_what_it_enqueued():
    assert check({"enqueued": 5, "accounted": 5})["state"] == "finished"
    assert check({})["state"] == "finished"  # nothing enqueued (an empty day)
    waiting = check({"enqueued": 5, "accounted": 4})
    assert (waiting["state"], waiting["polls"], waiting["wait_seconds"]) == ("waiting", 1, 60)


def test_the_first_check_starts_the_clock():
    assert check({"enqueued": 1}, since=0, now=5_000)["since"] == 5_000


def test_it_gives_up_once_no_message_of_the_run_can_still_be_on_the_queue():
    assert check({"enqueued": 5, "accounted": 4}, now=1_000 + 47_399)["state"] == "waiting"
    given_up = check({"enqueued": 5, "accounted": 4}, now=1_000 + 47_400)
    assert (given_up["state"], given_up["waited_seconds"]) == ("given_up", 47_400)


def test_the_polls_stay_within_the_history_quota_and_still_cover_the_limit():
    assert completion.MAX_POLLS * 9 + 200 < 25_000  # 9 events a poll, ~200 for the rest of the run
    assert check({"enqueued": 1}, polls=completion.MAX_POLLS - 1)["state"] == "given_up"
    # Short polls, a long limit: after STEADY_POLLS the waits stretch so the limit is still reached.
    now, since, polls = 0, 0, 0
    state: dict[str, Any] = {"state": "waiting"}
    while state["state"] == "waiting":
        state = check({"enqueued": 1}, polls=polls, since=since, now=now, poll=1, limit=50_000)
        polls, since, now = state["polls"], state["since"], now + state["wait_seconds"]
    assert (
        polls <= completion.MAX_POLLS and state["waited_seconds"] >= 50_000
    )  # the limit, not the poll count, ended it


# --- shards: no hot item ------------------------------------------------------------------------


class Recording:
    """A DynamoDB client that records the keys each transaction's counter update touched."""

    def __init__(self, real, conflicts=0):
        self.real, self.conflicts, self.shards = real, conflicts, []

    def transact_write_items(self, **kwargs):
        (update,) = [item["Update"] for item in kwargs["TransactItems"] if "Update" in item]
        self.shards.append(update["Key"]["run"]["S"])
        if self.conflicts:
            self.conflicts -= 1
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                    "CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}],
                },
                "TransactWriteItems",
            )
        return self.real.transact_write_items(**kwargs)


def test_the_counters_live_on_shards_and_a_conflict_retries_on_another_shard(dynamodb):
    client = Recording(dynamodb, conflicts=3)
    assert ledger.account(client, "ledger", "r", [("a.wav", converted())], sleep=lambda s: None) == 1
    assert len(client.shards) == 4
    assert all(s.startswith("count#r#") and 0 <= int(s.rsplit("#", 1)[1]) < ledger.SHARDS for s in client.shards)
    assert all(a != b for a, b in zip(client.shards, client.shards[1:], strict=False))  # never the same one twice
    # Nothing on the run's own item: the summed shards are the counts.
    assert "Item" not in dynamodb.get_item(TableName="ledger", Key={"run": {"S": "r"}})
    assert ledger.read(dynamodb, "ledger", "r") == {
        "accounted": 1,
        "converted": 1,
        "bytes_before": 100,
        "bytes_after": 25,
    }


def test_read_sums_every_shard_and_the_run_item_and_keeps_the_item_s_other_attributes(dynamodb):
    for n in range(ledger.SHARDS):
        dynamodb.update_item(**ledger._counter_update("ledger", "r", {"accounted": 1, "converted": n % 2}, shard=n))
    dynamodb.put_item(
        TableName="ledger", Item={"run": {"S": "r"}, "days": {"SS": ["2022-01-01"]}, "listed": {"N": "7"}}
    )
    item = ledger.read_item(dynamodb, "ledger", "r")
    assert item["days"] == {"SS": ["2022-01-01"]}
    assert ledger.counts_of(item) == {"accounted": ledger.SHARDS, "converted": ledger.SHARDS // 2, "listed": 7}


class Unprocessing:
    """BatchGetItem that leaves the first `times` requests' keys after the first unprocessed."""

    def __init__(self, real, times):
        self.real, self.times, self.calls = real, times, []

    def batch_get_item(self, RequestItems):
        self.calls.append(RequestItems)
        (table,) = RequestItems
        request = RequestItems[table]
        assert request["ConsistentRead"] is True and len(request["Keys"]) <= 100
        if self.times:
            self.times -= 1
            done = self.real.batch_get_item(RequestItems={table: {**request, "Keys": request["Keys"][:1]}})
            done["UnprocessedKeys"] = {table: {**request, "Keys": request["Keys"][1:]}}
            return done
        return self.real.batch_get_item(RequestItems=RequestItems)


def test_read_asks_again_for_unprocessed_keys_and_refuses_to_guess_when_they_stay(dynamodb):
    ledger.add(dynamodb, "ledger", "r", {"accounted": 3})
    client = Unprocessing(dynamodb, times=2)
    assert ledger.read_item(client, "ledger", "r", sleep=lambda s: None) == {"accounted": {"N": "3"}}
    assert len(client.calls) == 3
    with pytest.raises(ledger.LedgerUnavailable):
        ledger.read_item(Unprocessing(dynamodb, times=99), "ledger", "r", sleep=lambda s: None)


# --- attempts and the dead letter's claim -------------------------------------------------------


def test_attempts_count_up_and_a_kill_is_recorded_with_its_version(dynamodb):
    assert ledger.start_attempt(dynamodb, "ledger", "r", "a.wav").attempts == 1
    ledger.record_kill(dynamodb, "ledger", "r", "a.wav", '"e1"', 1)
    state = ledger.start_attempt(dynamodb, "ledger", "r", "a.wav")
    assert (state.attempts, state.killed, state.killed_etag) == (2, 1, '"e1"')
    assert ledger.start_attempt(dynamodb, "ledger", "other-run", "a.wav").attempts == 1  # per run


def test_a_dead_letter_is_claimed_once_and_a_stale_claim_is_taken_over(dynamodb):
    claim = ledger.claim_dead_letter
    assert claim(dynamodb, "ledger", "r", "a.wav", FailureKind.NOT_WAV, "bad", now=1_000, stale_after_s=60) is None
    held = claim(dynamodb, "ledger", "r", "a.wav", FailureKind.NOT_WAV, "bad", now=1_030, stale_after_s=60)
    assert held is not None and (held.dead, held.dead_kind, held.dead_reason) == (ledger.DEAD_PENDING, "not_wav", "bad")
    # The first claimant crashed before sending: a minute later another delivery takes it over.
    assert claim(dynamodb, "ledger", "r", "a.wav", FailureKind.NOT_WAV, "bad", now=1_061, stale_after_s=60) is None
    ledger.dead_letter_sent(dynamodb, "ledger", "r", "a.wav")
    sent = claim(dynamodb, "ledger", "r", "a.wav", FailureKind.NOT_WAV, "bad", now=99_999, stale_after_s=60)
    assert sent is not None and sent.dead == ledger.DEAD_SENT


def test_a_new_generation_of_the_message_starts_its_attempts_and_dead_letter_afresh(dynamodb):
    for _ in range(3):
        ledger.start_attempt(dynamodb, "ledger", "r", "a.wav")
    ledger.record_kill(dynamodb, "ledger", "r", "a.wav", '"e1"', 3)
    assert (
        ledger.claim_dead_letter(dynamodb, "ledger", "r", "a.wav", FailureKind.CRASHED, "x", now=1, stale_after_s=60)
        is None
    )
    ledger.dead_letter_sent(dynamodb, "ledger", "r", "a.wav")
    fresh = ledger.start_attempt(dynamodb, "ledger", "r", "a.wav", generation=1)
    assert (fresh.attempts, fresh.killed, fresh.dead, fresh.generation) == (1, 0, "", 1)
    # a late duplicate of the older generation does not undo it
    assert ledger.start_attempt(dynamodb, "ledger", "r", "a.wav", generation=0).attempts == 2
    claim = ledger.claim_dead_letter
    assert (
        claim(dynamodb, "ledger", "r", "a.wav", FailureKind.CRASHED, "y", now=2, stale_after_s=60, generation=1) is None
    )


class Contended:
    """DynamoDB's transaction conflicts, on moto: a transaction that touches an item another one
    holds (between its start and its commit) is cancelled with TransactionConflict."""

    def __init__(self, real, hold_s=0.002):
        import threading

        self.real, self.hold_s, self.lock = real, hold_s, threading.Lock()
        self.held: set[str] = set()
        self.conflicts = 0

    def transact_write_items(self, **kwargs):
        keys = [
            next(iter(item.values()))["Key" if "Update" in item else "Item"]["run"]["S"]
            for item in kwargs["TransactItems"]
        ]
        with self.lock:
            if self.held & set(keys):
                self.conflicts += 1
                raise ClientError(
                    {
                        "Error": {"Code": "TransactionCanceledException", "Message": "cancelled"},
                        "CancellationReasons": [
                            {"Code": "TransactionConflict" if k in self.held else "None"} for k in keys
                        ],
                    },
                    "TransactWriteItems",
                )
            self.held |= set(keys)
        try:
            import time as _time

            _time.sleep(self.hold_s)  # the transaction holds its items while it commits
            with self.lock:
                return self.real.transact_write_items(**kwargs)
        finally:
            with self.lock:
                self.held -= set(keys)


def test_converters_racing_on_one_run_s_counts_all_get_counted_exactly(dynamodb):
    """8 converters, 5 batches of 5 each, all on one run at once: a transaction that meets one in
    flight retries on another shard, and the counts come out exact."""
    from concurrent.futures import ThreadPoolExecutor

    client = Contended(dynamodb)

    def converter(worker: int) -> int:
        added = 0
        for batch in range(5):
            outcomes = [(f"{worker}-{batch}-{i}.wav", converted()) for i in range(5)]
            added += ledger.account(client, "ledger", "race", outcomes, sleep=lambda s: None)
        return added

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(converter, range(8))) == 8 * 5 * 5
    assert ledger.read(dynamodb, "ledger", "race") == {
        "accounted": 200,
        "converted": 200,
        "bytes_before": 20_000,
        "bytes_after": 5_000,
    }
