"""Lister and enqueuer handlers against moto: what is listed, skipped and enqueued, exactly."""

from __future__ import annotations

import boto3
import pytest

import enqueuer
import lister
from optimizer import aws as aws_clients
from optimizer import ledger
from tests.support import BUCKET, DAY, LEDGER, PREFIX, run_day


def test_resolve_uses_the_input_date_and_the_configured_prefix(aws):
    result = lister.handler({"action": "ResolveRun", "input": {"specific_date": "2022-01-01"}, "execution": "e"}, None)
    assert result["run"]["prefix"] == DAY and result["run"]["bucket"] == BUCKET and result["run"]["id"] == "e"
    assert result["days"] == ["2022-01-01"]


def test_an_action_is_a_state_of_the_state_machine_and_nothing_else(aws):
    """Each execution invokes the function version it started with (stacks/orchestration.py), so
    no earlier action name needs mapping: an unknown one is refused, naming the states."""
    resolved = lister.handler(
        {"action": "ResolveRun", "input": {"specific_date": "2022-01-01"}, "execution": "e"}, None
    )
    for action in ("nonsense", "list", "summarize"):
        with pytest.raises(ValueError, match=f"unknown action '{action}': one of ResolveRun, Preflight, ResumeDay"):
            lister.handler({"action": action, "run": resolved["run"]}, None)


def test_a_day_paused_at_the_end_of_a_round_resumes_from_its_cursor_in_the_next(aws, monkeypatch):
    """PauseDay saves the progress and names the day for the next round; NextRound returns it (and
    again the same when retried); ResumeDay gives the next round the cursor and the waits without
    progress, with the round's own pages and waits at 0."""
    monkeypatch.setenv("PAGE_KEYS", "2")
    for i in range(5):
        aws.s3.put_object(Bucket=BUCKET, Key=DAY + f"{i}.wav", Body=b"RIFF")
    run = lister.handler({"action": "ResolveRun", "input": {"specific_date": "2022-01-01"}, "execution": "r"}, None)[
        "run"
    ]
    day = "2022-01-01"
    listed = lister.handler({"action": "ListPage", "run": run, "day": day, "progress": None}, None)
    assert [item[0] for item in listed["objects"]] == ["0.wav", "1.wav"]
    progress = enqueuer.handler({"run": run, "page": listed}, None)["progress"]
    assert progress["pages"] == 1 and not progress["cursor"]["done"]
    progress["waits"] = {"n": 7, "stalled": 3, "last": 20_000}  # as CountStall leaves them
    assert lister.handler({"action": "NextRound", "run": run, "round": 1}, None) == {
        "days": [],
        "round": 2,
        "more": False,
    }
    lister.handler({"action": "PauseDay", "run": run, "day": day, "round": 1, "progress": progress}, None)
    lister.handler({"action": "PauseDay", "run": run, "day": day, "round": 1, "progress": progress}, None)  # retried
    for _ in range(2):  # a retried NextRound reads the same days
        assert lister.handler({"action": "NextRound", "run": run, "round": 1}, None) == {
            "days": [day],
            "round": 2,
            "more": True,
        }
    resumed = lister.handler({"action": "ResumeDay", "run": run, "day": day}, None)["progress"]
    assert resumed == {"cursor": progress["cursor"], "pages": 0, "waits": {"n": 0, "stalled": 3, "last": 20_000}}
    keys = []
    while True:
        listed = lister.handler({"action": "ListPage", "run": run, "day": day, "progress": resumed}, None)
        keys += [item[0] for item in listed["objects"]]
        resumed = enqueuer.handler({"run": run, "page": listed}, None)["progress"]
        assert resumed["waits"]["stalled"] == 0  # a page listed: the queue had room
        if resumed["cursor"]["done"]:
            break
    assert keys == ["2.wav", "3.wav", "4.wav"]
    counts = ledger.read(aws.dynamodb, LEDGER, "r")
    assert (counts["listed"], counts["enqueued"], counts["days_done"]) == (5, 5, 1)
    # A day that never saved progress starts from the beginning.
    fresh = lister.handler({"action": "ResumeDay", "run": run, "day": "2022-01-02"}, None)["progress"]
    assert fresh["cursor"] == {"start_after": None, "done": False} and fresh["pages"] == 0


def test_days_still_paused_after_the_last_round_are_recorded_failed(aws, monkeypatch):
    from optimizer import day_failures, rounds

    run = lister.handler({"action": "ResolveRun", "input": {"specific_date": "2022-01-01"}, "execution": "t"}, None)[
        "run"
    ]
    progress = {"cursor": {"start_after": DAY + "x.wav", "done": False}, "pages": 600}
    last = rounds.MAX_ROUNDS
    lister.handler({"action": "PauseDay", "run": run, "day": "2022-01-01", "round": last, "progress": progress}, None)
    assert lister.handler({"action": "NextRound", "run": run, "round": last}, None)["days"] == []
    failures = day_failures.of_item(ledger.read_item(aws.dynamodb, LEDGER, "t"))
    assert failures[rounds.TOO_LONG]["days"] == ["2022-01-01"]
    assert f"after {last} rounds" in failures[rounds.TOO_LONG]["cause"]


def test_a_day_is_listed_skipped_and_enqueued_exactly(aws):
    s3 = aws.s3
    audio = ["a call.wav", "b+plus.WAV", "c:10:00_UTC.wav", "d-ünï.wav", "e%2Bliteral.wav"]
    for name in audio:
        s3.put_object(Bucket=BUCKET, Key=DAY + name, Body=b"RIFF")
    s3.put_object(Bucket=BUCKET, Key=DAY + "notes.txt", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key=DAY + "meta.json", Body=b"{}")
    s3.put_object(Bucket=BUCKET, Key=DAY + "done.wav", Body=b"RIFF", StorageClass="GLACIER_IR")
    s3.put_object(Bucket=BUCKET, Key=DAY + "cold.wav", Body=b"RIFF", StorageClass="GLACIER")
    s3.put_object(Bucket=BUCKET, Key=PREFIX + "2022/01/02/next-day.wav", Body=b"RIFF")

    totals, bodies = run_day(aws.queue_url)

    assert totals["listed"] == 9
    assert totals["enqueued"] == len(audio)
    assert (totals["skipped_not_audio"], totals["skipped_already_target_class"], totals["skipped_archived"]) == (
        2,
        1,
        1,
    )
    assert sorted(b["key"] for b in bodies) == sorted(DAY + name for name in audio)
    assert all(b["bucket"] == BUCKET and b["size"] == 4 and b["etag"].startswith('"') for b in bodies)


def test_enqueuer_makes_no_s3_request(aws, monkeypatch):
    real = aws_clients.client

    def no_s3(service):
        assert service != "s3", "the enqueuer must not call S3"
        return real(service)

    monkeypatch.setattr(aws_clients, "client", no_s3)
    run = {"id": "e", "bucket": BUCKET, "dry_run": False}
    progress = {"cursor": {"start_after": "x", "done": True}}
    page = {
        "progress": progress,
        "prefix": DAY,
        "page_id": "2022-01-31#",
        "objects": [["a.wav", '"e"', 5]],
        "counts": {"listed": 2, "skipped_not_audio": 1},  # b.txt, left out by the lister
    }
    result = enqueuer.handler({"run": run, "page": page}, None)
    assert result == {"progress": progress}
    assert ledger.read(boto3.client("dynamodb"), LEDGER, "e") == {"listed": 2, "enqueued": 1, "skipped_not_audio": 1}


# SendMessageBatch takes at most 10 entries and 262,144 bytes of message bodies in all (the
# SQS API reference; a queue's default maximum message size, the bound this stack relies on).
SEND_BATCH_ENTRIES, SEND_BATCH_BYTES = 10, 256 * 1024


def test_no_send_message_batch_exceeds_what_sqs_accepts_even_with_the_longest_keys(aws):
    """Ordinary keys fill whole batches of 10; keys of S3's maximum length (1,024 bytes) made of
    two-byte characters, each escaped to 6 bytes in the message's JSON, make bodies three times
    their key. (Control characters would make 6 bytes of one, but moto cannot list past them;
    whatever the key, the lister's page budget bounds a page's items: tests/unit/test_keys_listing.py.)
    Every call the enqueuer makes is recorded before it is sent."""
    ordinary = [f"{i:04d}_20220101T10:00_UTC.wav" for i in range(95)]
    longest = [f"{i:02d}" + "ü" * ((1024 - len(DAY) - 2 - len(".wav")) // 2) + ".wav" for i in range(15)]
    for name in ordinary + longest:
        aws.s3.put_object(Bucket=BUCKET, Key=DAY + name, Body=b"RIFF")
    assert all(len((DAY + name).encode()) >= 1023 for name in longest)
    calls: list[tuple[int, int]] = []
    aws_clients.client("sqs").meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch",
        lambda params, **_: calls.append(
            (len(params["Entries"]), sum(len(e["MessageBody"].encode()) for e in params["Entries"]))
        ),
    )

    totals, bodies = run_day(aws.queue_url)

    assert sorted(b["key"] for b in bodies) == sorted(DAY + name for name in ordinary + longest)
    assert totals["enqueued"] == len(ordinary) + len(longest)
    assert all(entries <= SEND_BATCH_ENTRIES and size <= SEND_BATCH_BYTES for entries, size in calls), calls
    # Both limits were approached: full batches of 10, and calls made of the longest keys.
    assert max(entries for entries, _ in calls) == SEND_BATCH_ENTRIES
    assert max(size for _, size in calls) > 10 * 3 * 1000
