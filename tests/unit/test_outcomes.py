"""The converter's per-record policy without AWS (optimizer/outcomes.py): when a recording is
tried, what each error means (retry, dead letter with which reason and kind, remembered or not),
and what one invocation counts per run."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from optimizer import outcomes
from optimizer.conversion import ContentFailure, Outcome, PermanentFailure, TransientFailure
from optimizer.messages import BadMessage
from optimizer.outcomes import Batch, Crashed, check_attempt, counts, judge
from optimizer.vocabulary import FailureKind

# --- before a recording is tried --------------------------------------------------------------
# Attempts are the converter's own (counted in the ledger when it starts reading a recording), not
# SQS's receives: a message throttled or returned untried comes back with more receives only.


@pytest.mark.parametrize("attempt", [1, 2, 3])
def test_up_to_max_receive_count_attempts_are_tried_whatever_the_receives(attempt):
    check_attempt(attempt, outcomes.receive_limit(3), 3)


def test_an_attempt_beyond_max_receive_count_is_a_crash_with_its_count():
    with pytest.raises(Crashed, match="tried 3 times: each attempt stopped without an outcome") as caught:
        check_attempt(4, 4, 3)
    assert caught.value.kind == "crashed"
    assert isinstance(caught.value, PermanentFailure)


def test_a_message_received_past_the_queue_s_room_is_dead_lettered_by_the_converter_not_by_sqs():
    with pytest.raises(PermanentFailure, match="gave up after 8 receives and 1 attempts") as caught:
        check_attempt(2, outcomes.receive_limit(3) + 1, 3)
    assert caught.value.kind == "gave_up" and not isinstance(caught.value, Crashed)
    # and that is before SQS's own redrive: DEAD_LETTER_ROOM receives are left for a failed send
    assert outcomes.receive_limit(3) + outcomes.DEAD_LETTER_ROOM == outcomes.redrive_threshold(3)


def test_the_queue_leaves_room_for_throttles_as_aws_advises():
    """AWS advises a redrive threshold of at least 5 for an SQS event source."""
    assert outcomes.redrive_threshold(1) >= 5
    assert outcomes.redrive_threshold(3) - 3 == outcomes.EXTRA_RECEIVES


def test_too_little_time_left_for_the_recording_defers_it():
    size = 100 * outcomes.BYTES_PER_MS  # needs 100 ms beyond the reserve
    outcomes.check_time(remaining_ms=outcomes.RESERVED_MS + 100, size=size)
    with pytest.raises(TransientFailure, match="not enough time left"):
        outcomes.check_time(remaining_ms=outcomes.RESERVED_MS + 99, size=size)


@pytest.mark.parametrize(
    ("killed_in_a_row", "attempt", "content_failure"),
    [(1, 1, False), (2, 2, False), (3, 3, True), (2, 3, False), (4, 4, True)],
)
def test_a_killed_ffmpeg_is_a_content_failure_only_when_it_died_on_every_attempt(
    killed_in_a_row, attempt, content_failure
):
    assert outcomes.killed_every_time(killed_in_a_row, attempt, 3) is content_failure


# --- what an error means ----------------------------------------------------------------------


def test_a_permanent_failure_is_dead_lettered_with_its_reason_and_kind_and_not_remembered():
    verdict = judge(PermanentFailure("10 tags already", FailureKind.TAG_LIMIT), 1, 3)
    assert not verdict.retry
    assert verdict.outcome == Outcome("failed", "10 tags already", kind=FailureKind.TAG_LIMIT)
    assert verdict.reason == "10 tags already"
    assert verdict.remember_etag is None


def test_a_bad_message_is_dead_lettered_as_bad_message():
    verdict = judge(BadMessage("message body is not a recording message"), 1, 3)
    assert verdict.outcome == Outcome("failed", "message body is not a recording message", kind=FailureKind.BAD_MESSAGE)
    assert verdict.remember_etag is None


def test_a_content_failure_is_remembered_for_the_version_read():
    failure = ContentFailure("not a WAV", FailureKind.NOT_WAV)
    failure.etag = '"v2"'
    verdict = judge(failure, 2, 3)
    assert verdict.outcome == Outcome("failed", "not a WAV", kind=FailureKind.NOT_WAV)
    assert verdict.remember_etag == '"v2"'


def test_a_content_failure_before_anything_was_read_is_not_remembered():
    assert judge(ContentFailure("x", FailureKind.NOT_WAV), 1, 3).remember_etag is None


@pytest.mark.parametrize("exc", [TransientFailure("object changed"), RuntimeError("boom")])
@pytest.mark.parametrize("receives", [1, 2])
def test_any_other_error_is_retried_before_the_last_attempt(exc, receives):
    verdict = judge(exc, receives, 3)
    assert verdict.retry and verdict.outcome is None
    assert verdict.reason == f"{type(exc).__name__}: {exc}"


def test_on_the_last_attempt_the_converter_gives_up_with_the_count_and_the_error():
    verdict = judge(TransientFailure("throttled"), 3, 3)
    reason = "gave up after 3 attempts: TransientFailure: throttled"
    assert verdict.outcome == Outcome("failed", reason, kind=FailureKind.GAVE_UP)
    assert verdict.reason == reason and verdict.remember_etag is None


def test_a_crash_is_dead_lettered_as_crashed():
    with pytest.raises(Crashed) as caught:
        check_attempt(4, 4, 3)
    verdict = judge(caught.value, 4, 3)
    assert verdict.outcome is not None and verdict.outcome.kind == "crashed"


# --- the dead letter's body -------------------------------------------------------------------


def test_a_second_failure_after_a_redrive_keeps_the_first_in_the_history():
    first_at, second_at = dt.datetime(2024, 1, 2, tzinfo=dt.UTC), dt.datetime(2024, 1, 3, tzinfo=dt.UTC)
    once = outcomes.dead_letter_body('{"key": "a.wav"}', "first", now=first_at)
    twice = json.loads(outcomes.dead_letter_body(once, "second", now=second_at))
    assert twice["key"] == "a.wav"
    assert twice["failure"] == {"reason": "second", "at": "2024-01-03T00:00:00+00:00", "kind": "other"}
    assert twice["earlier_failures"] == [{"reason": "first", "at": "2024-01-02T00:00:00+00:00", "kind": "other"}]


def test_the_dead_letter_names_its_failure_kind():
    body = json.loads(outcomes.dead_letter_body('{"key": "a.wav", "run": "r"}', "not a WAV", FailureKind.NOT_WAV))
    assert body["failure"]["kind"] == "not_wav" and body["run"] == "r"


@pytest.mark.parametrize("receives", [1, 7])
def test_a_transient_failure_is_retried_by_attempts_not_receives(receives):
    """Many receives (throttles, returned batches) but 1 attempt: retried, until the queue's room ends."""
    assert judge(TransientFailure("x"), 1, 3, receives=receives).retry is (receives < outcomes.receive_limit(3))


# --- counting ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "expected"),
    [
        (Outcome("converted", None, 400, 100), {"converted": 1, "bytes_before": 400, "bytes_after": 100}),
        (Outcome("skipped", "already_alaw", 400), {"skipped_already_alaw": 1}),
        (Outcome("failed", "x", kind=FailureKind.GAVE_UP), {"failed": 1, "failed_gave_up": 1}),
    ],
)
def test_counts_of_one_outcome(outcome, expected):
    assert counts(outcome) == expected


def test_a_batch_accounts_per_named_run_and_totals_every_outcome():
    batch = Batch()
    batch.add("r1", "a.wav", "m1", Outcome("converted", None, 400, 100))
    batch.add("r2", "b.wav", "m2", Outcome("skipped", "gone"))
    batch.add("r1", "c.wav", "m3", Outcome("converted", None, 40, 10))
    batch.add("", "message:m4", "m4", Outcome("converted", None, 4, 1))  # from before runs were named

    per_run = batch.to_account()
    assert set(per_run) == {"r1", "r2"}
    assert [(e.message_id, e.key) for e in per_run["r1"]] == [("m1", "a.wav"), ("m3", "c.wav")]
    assert per_run["r2"][0].counts == {"skipped_gone": 1}
    total = batch.total()
    assert (total["converted"], total["bytes_before"], total["bytes_after"]) == (3, 444, 111)


def test_a_redriven_dead_letter_is_a_new_generation_of_its_message():
    original = '{"key": "a.wav", "run": "r"}'
    once = outcomes.dead_letter_body(original, "first", FailureKind.CRASHED)
    twice = outcomes.dead_letter_body(once, "second", FailureKind.CRASHED)
    assert [outcomes.generation(b) for b in (original, once, twice, "{not json", "[1]")] == [0, 1, 2, 0, 0]
