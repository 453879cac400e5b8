"""The work-queue message and putting pages of recordings on the queue (fake SQS, no sleeping)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from optimizer.enqueueing import EnqueueFailed, chunks, enqueue, recordings_of_page, send_batch
from optimizer.messages import BadMessage, Recording
from tests.support import make_settings

PREFIX = "connect/acme/CallRecordings/2022/01/31/"
PRINTABLE_ASCII = set(map(chr, range(0x20, 0x7F)))


def long_key(filler: str) -> str:
    """A 1,024-byte (S3's maximum) key of `filler` characters ending in .wav."""
    room = 1024 - len(PREFIX) - len(".wav")
    per = len(filler.encode())
    key = PREFIX + filler * (room // per) + "x" * (room % per) + ".wav"
    assert len(key.encode()) == 1024
    return key


TRICKY_KEYS = [
    PREFIX + "plain.wav",
    PREFIX + "with space.wav",
    PREFIX + "a+b.wav",
    PREFIX + "a%2Bb.wav",
    PREFIX + "a%20b.wav",
    PREFIX + "日本語/録音.wav",
    PREFIX + "emoji 😀.wav",
    PREFIX + "12:30:00.wav",
    PREFIX + "ctl\x01\x1f.wav",
    PREFIX + "tab\tnl\ncr\r.wav",
    PREFIX + "del\x7f.wav",
    PREFIX + 'quote"back\\slash.wav',
    PREFIX + "line\u2028sep\u2029.wav",
    PREFIX + "bom\ufeff.wav",
    PREFIX + "&<>'?#=.wav",
    long_key("😀"),
    long_key("\x01"),
    long_key("a"),
]


# --- message ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_recording_round_trips_byte_for_byte(key):
    rec = Recording(bucket="my-bucket.example", key=key, etag='"0123456789abcdef0123456789abcdef-3"', size=5 * 1024**4)
    body = rec.to_body()
    back = Recording.from_body(body)
    assert back == rec
    assert back.key.encode("utf-8") == key.encode("utf-8")
    assert set(body) <= PRINTABLE_ASCII, "SQS rejects some characters keys may hold"
    assert json.loads(body)["key"] == key


@pytest.mark.parametrize(
    "body",
    [
        "",
        "not json",
        "{bucket: b}",
        '{"bucket": "b", "key": "a.wav"',
        "[1, 2]",
        '"a string"',
        "null",
        "42",
        "true",
        '{"bucket": "b"}',
        '{"key": "a.wav"}',
        '{"bucket": "b", "key": ""}',
        '{"bucket": "b", "key": null}',
        '{"bucket": "b", "key": 5}',
        '{"bucket": 5, "key": "a.wav"}',
        '{"bucket": "b", "key": ["a.wav"]}',
        '{"bucket": "b", "key": "a.wav", "size": "big"}',
        '{"bucket": "b", "key": "a.wav", "size": null}',
    ],
    ids=[
        "empty",
        "text",
        "bad-json",
        "truncated",
        "array",
        "string",
        "null",
        "number",
        "bool",
        "no-key",
        "no-bucket",
        "empty-key",
        "null-key",
        "int-key",
        "int-bucket",
        "list-key",
        "bad-size",
        "null-size",
    ],
)
def test_from_body_refuses_what_it_cannot_act_on(body):
    with pytest.raises(BadMessage):
        Recording.from_body(body)


# --- page -> recordings -----------------------------------------------------------------------


def test_recordings_of_page_rebuilds_full_keys_without_decoding():
    items: list[list[Any]] = [
        ["a+b.wav", '"e1"', 10],
        ["a%20b.WAV", '"e2"', "20"],
        ["sub/x y.Wav", '"e4"', 40],
        ["ctl\x01.wav", '"e5"', 50],
    ]
    recordings = recordings_of_page("bkt", PREFIX, items)
    assert recordings == [
        Recording("bkt", PREFIX + "a+b.wav", '"e1"', 10),
        Recording("bkt", PREFIX + "a%20b.WAV", '"e2"', 20),
        Recording("bkt", PREFIX + "sub/x y.Wav", '"e4"', 40),
        Recording("bkt", PREFIX + "ctl\x01.wav", '"e5"', 50),
    ]
    assert all(isinstance(r.size, int) for r in recordings)


def test_recordings_of_an_empty_page():
    assert recordings_of_page("bkt", PREFIX, []) == []


@pytest.mark.parametrize(
    "n, sizes", [(0, []), (1, [1]), (9, [9]), (10, [10]), (11, [10, 1]), (25, [10, 10, 5]), (30, [10, 10, 10])]
)
def test_chunks_of_ten(n, sizes):
    seq = list(range(n))
    parts = list(chunks(seq))
    assert [len(p) for p in parts] == sizes
    assert [x for p in parts for x in p] == seq


# --- sending ----------------------------------------------------------------------------------


class FakeSQS:
    """send_message_batch with scripted failures: fail(attempt, entry) -> None or a Failed entry."""

    def __init__(self, fail=lambda attempt, entry: None):
        self.fail = fail
        self.calls: list[dict] = []

    def send_message_batch(self, **kwargs):
        self.calls.append(copy.deepcopy(kwargs))
        attempt = len(self.calls)
        ok, failed = [], []
        for entry in kwargs["Entries"]:
            failure = self.fail(attempt, entry)
            if failure is None:
                ok.append({"Id": entry["Id"], "MessageId": f"m-{attempt}-{entry['Id']}", "MD5OfMessageBody": "x"})
            else:
                failed.append({"Id": entry["Id"], **failure})
        response = {"Successful": ok}
        if failed:
            response["Failed"] = failed
        return response


class Sleeps(list):
    def __call__(self, seconds):
        self.append(seconds)


def bodies(n, start=0):
    return [Recording("bkt", f"{PREFIX}{i:03d}.wav", f'"e{i}"', i).to_body() for i in range(start, start + n)]


def test_all_accepted_in_one_call():
    sqs, sleeps, sent = FakeSQS(), Sleeps(), bodies(7)
    assert send_batch(sqs, "https://queue", dict(enumerate(sent)), sleep=sleeps) == (1, set(range(7)))
    (call,) = sqs.calls
    assert call["QueueUrl"] == "https://queue"
    assert [e["MessageBody"] for e in call["Entries"]] == sent
    assert len({e["Id"] for e in call["Entries"]}) == 7
    assert sleeps == []


def test_partial_failure_retries_only_the_failed_entries():
    sent = bodies(10)
    failing = {sent[2], sent[5]}

    def fail(attempt, entry):
        if attempt == 1 and entry["MessageBody"] in failing:
            return {"SenderFault": False, "Code": "InternalError", "Message": "try again"}
        return None

    sqs, sleeps = FakeSQS(fail), Sleeps()
    assert send_batch(sqs, "q", dict(enumerate(sent)), sleep=sleeps) == (2, set(range(10)))
    first, second = sqs.calls
    assert [e["MessageBody"] for e in first["Entries"]] == sent
    ids = {e["MessageBody"]: e["Id"] for e in first["Entries"]}
    assert second["Entries"] == [
        {"Id": ids[sent[2]], "MessageBody": sent[2]},
        {"Id": ids[sent[5]], "MessageBody": sent[5]},
    ]
    assert len(sleeps) == 1 and sleeps[0] > 0


def test_retries_until_every_entry_is_accepted():
    sent = bodies(4)

    def fail(attempt, entry):  # the entry with Id "k" fails on its first k attempts
        return {"SenderFault": False, "Code": "Throttled", "Message": "slow"} if attempt <= int(entry["Id"]) else None

    sqs, sleeps = FakeSQS(fail), Sleeps()
    assert send_batch(sqs, "q", dict(enumerate(sent)), sleep=sleeps, max_attempts=5) == (4, {0, 1, 2, 3})
    assert [len(c["Entries"]) for c in sqs.calls] == [4, 3, 2, 1]
    assert len(sleeps) == 3


def test_persistent_failure_raises_with_the_code():
    sent = bodies(10)

    def fail(attempt, entry):
        if entry["MessageBody"] == sent[3]:
            return {"SenderFault": False, "Code": "ServiceUnavailable", "Message": "down"}
        return None

    sqs, sleeps = FakeSQS(fail), Sleeps()
    with pytest.raises(EnqueueFailed) as err:
        send_batch(sqs, "q", dict(enumerate(sent)), sleep=sleeps, max_attempts=4)
    assert "ServiceUnavailable" in str(err.value)
    assert err.value.accepted == set(range(10)) - {3}  # what SQS took is known, so it is not sent twice
    assert len(sqs.calls) == 4
    assert all(c["Entries"] == [{"Id": "3", "MessageBody": sent[3]}] for c in sqs.calls[1:])
    assert len(sleeps) == 3 and all(s > 0 for s in sleeps)


def test_sender_fault_stops_immediately():
    sent = bodies(3)

    def fail(attempt, entry):
        if entry["Id"] == "1":
            return {"SenderFault": True, "Code": "InvalidMessageContents", "Message": "bad characters"}
        return None

    sqs, sleeps = FakeSQS(fail), Sleeps()
    with pytest.raises(EnqueueFailed) as err:
        send_batch(sqs, "q", dict(enumerate(sent)), sleep=sleeps)
    assert "InvalidMessageContents" in str(err.value) and err.value.accepted == {0, 2}
    assert len(sqs.calls) == 1
    assert sleeps == []


def test_backoff_is_bounded_and_injected():
    sqs, sleeps = FakeSQS(lambda attempt, entry: {"SenderFault": False, "Code": "X", "Message": "y"}), Sleeps()
    with pytest.raises(EnqueueFailed):
        send_batch(sqs, "q", dict(enumerate(bodies(1))), sleep=sleeps, max_attempts=12)
    assert len(sqs.calls) == 12
    assert len(sleeps) == 11
    assert all(0 < s <= 5.0 for s in sleeps)
    assert sleeps == sorted(sleeps)  # never shorter than the previous wait


def test_enqueue_25_recordings_makes_3_calls_of_10_10_5():
    recordings = [Recording("bkt", f"{PREFIX}{i:03d}.wav", f'"e{i}"', i) for i in range(25)]
    sqs = FakeSQS()
    assert enqueue(sqs, "q", recordings, sleep=Sleeps()) == (3, set(range(25)))
    assert [len(c["Entries"]) for c in sqs.calls] == [10, 10, 5]
    sent = [Recording.from_body(e["MessageBody"]) for c in sqs.calls for e in c["Entries"]]
    assert sent == recordings


def test_enqueue_passes_the_sleep_through_to_retries():
    recordings = [Recording("bkt", f"{PREFIX}{i:03d}.wav", f'"e{i}"', i) for i in range(15)]

    def fail(attempt, entry):  # the second batch's first try loses one entry (Ids are page indexes)
        return (
            {"SenderFault": False, "Code": "InternalError", "Message": ""}
            if attempt == 2 and entry["Id"] == "10"
            else None
        )

    sqs, sleeps = FakeSQS(fail), Sleeps()
    assert enqueue(sqs, "q", recordings, sleep=sleeps) == (3, set(range(15)))
    assert [len(c["Entries"]) for c in sqs.calls] == [10, 5, 1]
    assert Recording.from_body(sqs.calls[2]["Entries"][0]["MessageBody"]) == recordings[10]
    assert len(sleeps) == 1


def test_enqueue_nothing_makes_no_call():
    sqs = FakeSQS()
    assert enqueue(sqs, "q", []) == (0, set())
    assert sqs.calls == []


def test_enqueue_sends_only_what_is_not_on_the_queue_yet_and_reports_what_was_accepted():
    recordings = [Recording("bkt", f"{PREFIX}{i:03d}.wav", f'"e{i}"', i) for i in range(25)]

    def fail(attempt, entry):  # the second call (recordings 13 to 22) loses recording 20 for good
        return {"SenderFault": True, "Code": "X", "Message": "no"} if attempt == 2 and entry["Id"] == "20" else None

    sqs = FakeSQS(fail)
    with pytest.raises(EnqueueFailed) as err:
        enqueue(sqs, "q", recordings, skip={0, 1, 2}, sleep=Sleeps())
    assert err.value.accepted == set(range(3, 23)) - {20}
    assert [int(e["Id"]) for c in sqs.calls for e in c["Entries"]] == list(range(3, 23))  # stopped at the refusal


@pytest.fixture
def ledger_table(ledger_dynamodb):
    return ledger_dynamodb


def _page(items, counts, page_id="2022-01-31#", progress=None):
    return {"progress": progress or {}, "prefix": PREFIX, "page_id": page_id, "objects": items, "counts": counts}


def test_enqueuer_sends_the_page_then_records_its_counts_once(ledger_table):
    import enqueuer
    from optimizer import ledger

    settings = make_settings(bucket="bkt", bucket_prefix="", queue_url="https://queue", ledger_table="ledger")
    run = {"id": "exec-1", "bucket": "bkt", "dry_run": False}
    # The lister's page: audio only (x.txt was counted as not_audio there), counts as it made them.
    items = [[f"{i:02d}.wav", f'"e{i}"', i] for i in range(12)]
    progress = {"cursor": {"start_after": PREFIX + "x.txt", "done": False}}
    counts = {"listed": 14, "skipped_not_audio": 1, "skipped_archived": 1}
    sqs = FakeSQS()
    result = enqueuer.enqueue_page(settings, sqs, ledger_table, run, _page(items, counts, progress=progress))
    assert result == {"progress": progress}
    assert [c["QueueUrl"] for c in sqs.calls] == ["https://queue", "https://queue"]
    bodies = [Recording.from_body(e["MessageBody"]) for c in sqs.calls for e in c["Entries"]]
    assert [b.key for b in bodies] == [PREFIX + f"{i:02d}.wav" for i in range(12)]
    assert {b.run for b in bodies} == {"exec-1"}
    assert ledger.read(ledger_table, "ledger", "exec-1") == {
        "listed": 14,
        "skipped_not_audio": 1,
        "skipped_archived": 1,
        "enqueued": 12,
    }
    # The same page again (a retry after a timeout): nothing sent, nothing counted twice.
    enqueuer.enqueue_page(settings, sqs, ledger_table, run, _page(items, counts, progress=progress))
    assert len(sqs.calls) == 2
    assert ledger.read(ledger_table, "ledger", "exec-1")["enqueued"] == 12


def test_a_retried_page_sends_only_the_missing_recordings_and_counts_each_once(ledger_table):
    import enqueuer
    from optimizer import ledger

    settings = make_settings(bucket="bkt", bucket_prefix="", queue_url="https://queue", ledger_table="ledger")
    run = {"id": "exec-2", "bucket": "bkt", "dry_run": False}
    items = [[f"{i:02d}.wav", f'"e{i}"', i] for i in range(15)]
    page = _page(items, {"listed": 15, "days_done": 1})
    refused = FakeSQS(
        lambda attempt, entry: {"SenderFault": True, "Code": "X", "Message": "no"} if entry["Id"] == "12" else None
    )
    with pytest.raises(EnqueueFailed):
        enqueuer.enqueue_page(settings, refused, ledger_table, run, page)
    assert ledger.read(ledger_table, "ledger", "exec-2") == {"listed": 15, "enqueued": 14}  # the day is not done yet
    retry = FakeSQS()
    enqueuer.enqueue_page(settings, retry, ledger_table, run, page)
    assert [e["MessageBody"] for c in retry.calls for e in c["Entries"]] == [
        Recording("bkt", PREFIX + "12.wav", '"e12"', 12, run="exec-2", page=page["page_id"], index=12).to_body()
    ]
    assert ledger.read(ledger_table, "ledger", "exec-2") == {"listed": 15, "enqueued": 15, "days_done": 1}


def test_enqueuer_dry_run_sends_nothing_and_projects_a_quarter(ledger_table):
    import enqueuer
    from optimizer import ledger

    settings = make_settings(bucket="bkt", bucket_prefix="", queue_url="https://queue", ledger_table="ledger")
    items = [["a.wav", '"e"', 44 + 32_000], ["b.WAV", '"e"', 44 + 64_000]]
    sqs = FakeSQS()
    for _ in range(2):  # counted once however often the page runs
        enqueuer.enqueue_page(
            settings, sqs, ledger_table, {"id": "r", "bucket": "bkt", "dry_run": True}, _page(items, {"listed": 2})
        )
    assert sqs.calls == []
    assert ledger.read(ledger_table, "ledger", "r") == {
        "listed": 2,
        "dry_recordings": 2,
        "dry_bytes": 96_088,
        "dry_projected_bytes": 8_000 + 58 + 16_000 + 58,
    }


def test_enqueuer_dry_run_projects_a_half_under_alaw_stereo(ledger_table):
    """The projection is the deployment's target_format's: both channels kept, half of the PCM."""
    import enqueuer
    from optimizer import ledger

    settings = make_settings(
        bucket="bkt", bucket_prefix="", queue_url="https://queue", ledger_table="ledger", target_format="alaw_stereo"
    )
    items = [["a.wav", '"e"', 44 + 32_000], ["b.WAV", '"e"', 44 + 64_000]]
    run = {"id": "r", "bucket": "bkt", "dry_run": True}
    enqueuer.enqueue_page(settings, FakeSQS(), ledger_table, run, _page(items, {"listed": 2}))
    assert ledger.read(ledger_table, "ledger", "r")["dry_projected_bytes"] == 16_000 + 58 + 32_000 + 58


class _FailingWrites:
    """The ledger's client, whose writes fail from the `fail_from`-th on (as a lost connection)."""

    def __init__(self, real: Any, fail_from: int) -> None:
        self._real, self._fail_from, self.writes = real, fail_from, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _write(self, name: str, **kwargs: Any) -> Any:
        self.writes += 1
        if self.writes >= self._fail_from:
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "lost"}}, name)
        return getattr(self._real, name)(**kwargs)

    def transact_write_items(self, **kwargs: Any) -> Any:
        return self._write("transact_write_items", **kwargs)

    def put_item(self, **kwargs: Any) -> Any:
        return self._write("put_item", **kwargs)


def test_enqueued_is_never_behind_what_sqs_accepted_even_when_the_write_after_the_send_fails(ledger_table):
    """Issue 16, item 5: the intent (marked maybe sent and counted) is written before the send,
    so a failed write after it leaves `enqueued` at what SQS accepted; the retry re-sends the
    maybe-sent recordings (a duplicate is harmless: the converter counts each once per run) and
    counts none of them again."""
    import enqueuer
    from optimizer import ledger

    settings = make_settings(bucket="bkt", bucket_prefix="", queue_url="https://queue", ledger_table="ledger")
    run = {"id": "exec-3", "bucket": "bkt", "dry_run": False}
    items = [[f"{i:02d}.wav", f'"e{i}"', i] for i in range(12)]
    page = _page(items, {"listed": 12, "days_done": 1})
    sqs = FakeSQS()
    flaky = _FailingWrites(ledger_table, fail_from=2)  # the intent is written, the outcome is not
    with pytest.raises(Exception, match="lost"):
        enqueuer.enqueue_page(settings, sqs, flaky, run, page)
    assert len([e for c in sqs.calls for e in c["Entries"]]) == 12  # SQS took all 12
    assert ledger.read(ledger_table, "ledger", "exec-3") == {"listed": 12, "enqueued": 12}  # not 0
    assert ledger.page_sent(ledger_table, "ledger", "exec-3", page["page_id"]) == ledger.MAYBE_SENT * 12

    retry = FakeSQS()
    enqueuer.enqueue_page(settings, retry, ledger_table, run, page)
    assert len([e for c in retry.calls for e in c["Entries"]]) == 12  # maybe sent: sent again
    assert ledger.read(ledger_table, "ledger", "exec-3") == {"listed": 12, "enqueued": 12, "days_done": 1}
    assert ledger.page_sent(ledger_table, "ledger", "exec-3", page["page_id"]) == ledger.SENT * 12


def test_recordings_sqs_refused_are_counted_at_the_intent_then_taken_back(ledger_table):
    import enqueuer
    from optimizer import ledger

    settings = make_settings(bucket="bkt", bucket_prefix="", queue_url="https://queue", ledger_table="ledger")
    run = {"id": "exec-4", "bucket": "bkt", "dry_run": False}
    items = [[f"{i:02d}.wav", f'"e{i}"', i] for i in range(3)]
    page = _page(items, {"listed": 3, "days_done": 1})
    refused = FakeSQS(
        lambda attempt, entry: {"SenderFault": True, "Code": "X", "Message": "no"} if entry["Id"] == "1" else None
    )
    with pytest.raises(EnqueueFailed):
        enqueuer.enqueue_page(settings, refused, ledger_table, run, page)
    marker = ledger.page_sent(ledger_table, "ledger", "exec-4", page["page_id"])
    assert marker == ledger.SENT + ledger.UNSENT + ledger.SENT
    assert ledger.read(ledger_table, "ledger", "exec-4") == {"listed": 3, "enqueued": 2}
    # If the outcome's write had failed instead, the intent alone would stand: 3 counted, which
    # exceeds what SQS accepted by the refused one, never falls behind it.


def test_older_message_versions_still_parse():
    """The converter reads every message the enqueuer may still send (one event source): a message
    of an execution started before `run` existed (no "v", no "run": counted in no run) and one with
    a field it does not know (a later enqueuer's addition) both parse."""
    old = {"bucket": "bkt", "key": "a.wav", "etag": '"e"', "size": 4}
    assert Recording.from_body(json.dumps(old)) == Recording("bkt", "a.wav", '"e"', 4, run="")
    current = Recording("bkt", "a.wav", '"e"', 4, run="exec-1")
    assert json.loads(current.to_body())["v"] == 1
    assert Recording.from_body(current.to_body()) == current
    later = {**json.loads(current.to_body()), "v": 2, "attempt": 3}
    assert Recording.from_body(json.dumps(later)) == current
