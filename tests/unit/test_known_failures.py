"""Remembered content failures: which failures are remembered, the item written, the batched
lookup (100 keys a request, UnprocessedKeys retried) and a page's known failures dropped."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from optimizer.conversion import ContentFailure, PermanentFailure, TransientFailure, merged_tags
from optimizer.known_failures import (
    MAX_REASON_BYTES,
    TTL_DAYS,
    KnownFailure,
    KnownFailuresUnavailable,
    drop_known_failures,
    failure_item,
    is_known,
    lookup,
    parse_item,
    remember,
    remembers,
)
from optimizer.listing import SKIP_REASONS, Page, take_page
from optimizer.messages import BadMessage
from optimizer.vocabulary import SkipReason
from tests.support import make_settings

PREFIX = "connect/acme/CallRecordings/2022/01/31/"
NOW = dt.datetime(2024, 3, 15, 12, 0, 0, tzinfo=dt.UTC)
TABLE = "ledger"


# --- which failures are remembered ------------------------------------------------------------


def test_content_failures_are_remembered():
    assert remembers(ContentFailure("not a RIFF/WAVE file (header missing or corrupt)"))
    assert remembers(ContentFailure("verification failed: output lasts 1.000 s, input 2.000 s"))


def tag_limit_failure() -> PermanentFailure:
    with pytest.raises(PermanentFailure) as err:
        merged_tags({f"k{i}": "v" for i in range(10)})
    return err.value


@pytest.mark.parametrize(
    "exc",
    [
        tag_limit_failure(),  # the real one the converter raises: fixed by removing a tag
        PermanentFailure("s3://other/x.wav is outside this optimizer's scope"),
        PermanentFailure("the object is encrypted with a customer-provided key (SSE-C); it cannot be read"),
        BadMessage("message body is not a recording message"),
        TransientFailure("the object changed after it was read; not overwritten, retried later"),
        RuntimeError("AccessDenied"),
    ],
    ids=["tag-limit", "outside-scope", "sse-c", "bad-message", "transient", "other"],
)
def test_failures_that_can_be_fixed_without_changing_the_object_are_not_remembered(exc):
    assert not remembers(exc)


def test_the_tag_limit_failure_is_not_a_content_failure():
    # The converter's own refusal, not a stand-in: it must stay a plain PermanentFailure.
    assert type(tag_limit_failure()) is PermanentFailure


# --- the item ---------------------------------------------------------------------------------


def test_the_item_holds_key_etag_reason_when_and_a_lifetime():
    item = failure_item(PREFIX + "bad.wav", '"abc"', "not a RIFF/WAVE file", run="exec-1", now=NOW)
    assert item == {
        "run": {"S": "failure#" + PREFIX + "bad.wav"},
        "etag": {"S": '"abc"'},
        "reason": {"S": "not a RIFF/WAVE file"},
        "failed_at": {"S": "2024-03-15T12:00:00+00:00"},
        "expires_at": {"N": str(int(NOW.timestamp()) + TTL_DAYS * 86400)},
        "failed_run": {"S": "exec-1"},
    }
    assert parse_item(item) == KnownFailure(
        PREFIX + "bad.wav",
        '"abc"',
        "not a RIFF/WAVE file",
        "2024-03-15T12:00:00+00:00",
        int(NOW.timestamp()) + TTL_DAYS * 86400,
    )


def test_a_long_reason_is_cut_on_a_character_boundary_so_the_item_stays_small():
    reason = "ffmpeg could not convert the audio: " + "é" * 2000
    item = failure_item("k" * 1024, '"abc"', reason, run="r", now=NOW)
    kept = item["reason"]["S"]
    assert len(kept.encode("utf-8")) <= MAX_REASON_BYTES and reason.startswith(kept) and len(kept) > 400
    # With the longest key S3 allows, the item stays far under the 4 KB of half a read unit.
    assert len(json.dumps(item, ensure_ascii=False).encode("utf-8")) < 3 * 1024


def test_run_items_are_not_taken_for_failures():
    assert parse_item({"run": {"S": "exec-1"}, "converted": {"N": "3"}}) is None


class Recorder:
    def __init__(self):
        self.puts = []

    def put_item(self, **kwargs):
        self.puts.append(kwargs)


def test_remember_writes_one_item_and_nothing_without_a_table():
    dynamodb = Recorder()
    assert remember(dynamodb, TABLE, "k.wav", '"e"', "why", run="r", now=NOW) is True
    assert [p["TableName"] for p in dynamodb.puts] == [TABLE] and dynamodb.puts[0]["Item"]["run"] == {
        "S": "failure#k.wav"
    }
    assert remember(dynamodb, "", "k.wav", '"e"', "why", now=NOW) is False and len(dynamodb.puts) == 1


# --- the batched lookup -----------------------------------------------------------------------


class FakeDynamoDB:
    """BatchGetItem over a dict, with the 100-key limit, and UnprocessedKeys on demand."""

    def __init__(self, items=(), unprocessed=()):
        self.items = {item["run"]["S"]: item for item in items}
        self.unprocessed = list(unprocessed)  # per call: how many of the asked keys to leave unprocessed
        self.calls = []

    def batch_get_item(self, RequestItems, ReturnConsumedCapacity=None):
        ((table, request),) = RequestItems.items()
        keys = request["Keys"]
        assert len(keys) <= 100, "BatchGetItem takes at most 100 keys"
        assert len({k["run"]["S"] for k in keys}) == len(keys), "BatchGetItem refuses duplicate keys"
        self.calls.append([k["run"]["S"] for k in keys])
        left = self.unprocessed.pop(0) if self.unprocessed else 0
        served, kept = keys[: len(keys) - left], keys[len(keys) - left :]
        response = {
            "Responses": {table: [self.items[k["run"]["S"]] for k in served if k["run"]["S"] in self.items]},
            "UnprocessedKeys": {table: {**request, "Keys": kept}} if kept else {},
            "ConsumedCapacity": [{"TableName": table, "CapacityUnits": 0.5 * len(served)}],
        }
        return response


def items_for(keys, etag='"e"'):
    return [failure_item(k, etag, f"bad {k}", run="r", now=NOW) for k in keys]


def test_lookup_asks_100_keys_a_request_and_finds_the_remembered_ones():
    keys = [f"{PREFIX}{i:04d}.wav" for i in range(250)]
    known = keys[::7]
    dynamodb = FakeDynamoDB(items_for(known))
    result = lookup(dynamodb, TABLE, keys + keys[:5], sleep=lambda s: None)  # duplicates asked once
    assert [len(call) for call in dynamodb.calls] == [100, 100, 50]
    assert set(result.found) == set(known)
    assert result.found[known[3]].reason == f"bad {known[3]}"
    assert (result.requests, result.read_units) == (3, 125.0)


def test_unprocessed_keys_are_asked_again_with_backoff():
    keys = [f"{PREFIX}{i:04d}.wav" for i in range(120)]
    dynamodb = FakeDynamoDB(items_for(keys), unprocessed=[60, 30, 0])  # first batch: served in three calls
    sleeps: list[float] = []
    result = lookup(dynamodb, TABLE, keys, sleep=sleeps.append)
    assert [len(call) for call in dynamodb.calls] == [100, 60, 30, 20]
    assert set(result.found) == set(keys) and result.requests == 4
    assert len(sleeps) == 2 and 0 < sleeps[0] <= sleeps[1]  # backoff grows (jitter stays within [½, 1] of it)


def test_keys_left_unprocessed_after_every_attempt_fail_the_page_loudly():
    dynamodb = FakeDynamoDB(items_for(["a.wav"]), unprocessed=[1] * 10)
    with pytest.raises(KnownFailuresUnavailable, match="1 of 1 keys still unprocessed after 4 BatchGetItem calls"):
        lookup(dynamodb, TABLE, ["a.wav"], max_attempts=4, sleep=lambda s: None)
    assert len(dynamodb.calls) == 4


def test_no_table_or_no_keys_makes_no_request():
    dynamodb = FakeDynamoDB()
    assert lookup(dynamodb, "", ["a.wav"]).found == {} and lookup(dynamodb, TABLE, []).found == {}
    assert dynamodb.calls == []


# --- a page's known failures ------------------------------------------------------------------


TOMORROW = NOW.timestamp() + 86400


def known(key, etag='"e1"', expires=TOMORROW):
    return KnownFailure(key, etag, "not a RIFF/WAVE file", "2024-03-01T00:00:00+00:00", int(expires))


def test_only_the_version_that_failed_is_known_and_only_while_remembered():
    item = ["bad.wav", '"e1"', 100]
    assert is_known(item, known(PREFIX + "bad.wav"), NOW.timestamp())
    assert not is_known(["bad.wav", '"e2"', 120], known(PREFIX + "bad.wav"), NOW.timestamp())  # a new version
    assert not is_known(item, known(PREFIX + "bad.wav", expires=NOW.timestamp() - 1), NOW.timestamp())  # TTL passed
    assert not is_known(item, None, NOW.timestamp())


def test_a_page_loses_its_known_failures_and_counts_them():
    objects = [
        {"Key": PREFIX + f"{i:02d}.wav", "ETag": f'"e{i}"', "Size": 10, "StorageClass": "STANDARD"} for i in range(25)
    ]
    objects.append({"Key": PREFIX + "notes.txt", "ETag": '"t"', "Size": 1})
    page = take_page(objects, prefix=PREFIX, target_class="GLACIER_IR", overwrite=False)
    remembered = {
        PREFIX + "03.wav": known(PREFIX + "03.wav", '"e3"'),
        PREFIX + "07.wav": known(PREFIX + "07.wav", '"e7"'),
        PREFIX + "11.wav": known(PREFIX + "11.wav", '"changed"'),  # failed, then replaced: enqueued
    }
    dropped = drop_known_failures(page, PREFIX, remembered, NOW.timestamp())
    assert [d.key for d in dropped] == [PREFIX + "03.wav", PREFIX + "07.wav"]
    assert [item[0] for item in page.items] == [f"{i:02d}.wav" for i in range(25) if i not in (3, 7)]
    assert page.skipped == {
        "not_audio": 1,
        "already_target_class": 0,
        "archived": 0,
        "known_failure": 2,
        "known_target_format": 0,
    }
    assert page.listed == 26  # still listed: a known failure is a skip, not a vanished object


def test_known_failure_is_a_skip_reason_of_the_listing():
    assert SkipReason.KNOWN_FAILURE in SKIP_REASONS and Page().skipped[SkipReason.KNOWN_FAILURE] == 0


# --- the run's summary ------------------------------------------------------------------------


RUN = {
    "id": "exec",
    "bucket": "recordings",
    "source": "input",
    "dry_run": False,
    "retry_failed": False,
    "start_date": "2022-01-31",
    "end_date": "2022-01-31",
    "days": 1,
    "prefix": PREFIX,
}


def test_a_known_failure_is_a_skip_in_the_summary_and_does_not_fail_the_run():
    from optimizer.summary import run_summary

    settings = make_settings(bucket="recordings", bucket_prefix="", dlq_url="https://dlq")
    result = run_summary(
        RUN, {"listed": 3, "enqueued": 2, "accounted": 2, "converted": 2, "skipped_known_failure": 1}, {}, [], settings
    )
    assert result["failed"] == 0 and result["cause"] is None
    assert result["output"]["skipped"]["known_failure"] == 1 and result["output"]["retry_failed"] is False
    retried = run_summary(
        {**RUN, "retry_failed": True}, {"listed": 3, "enqueued": 3, "accounted": 3, "failed": 1}, {}, [], settings
    )
    assert retried["failed"] == 1 and retried["output"]["retry_failed"] is True
    assert "skipped.known_failure" in retried["cause"] and '"retry_failed": true' in retried["cause"]
    # A run resolved before retry_failed existed (no key in its run) still summarizes.
    legacy = {k: v for k, v in RUN.items() if k != "retry_failed"}
    assert run_summary(legacy, {}, {}, [], settings)["output"]["retry_failed"] is False


# --- only a kind the code still refuses is skipped ---------------------------------------------


def _kinds_raised() -> set[str]:
    """Every kind a content failure is raised with: the `kind` (a FailureKind member, or a module
    constant naming one) of each NotWav, AudioMismatch and ContentFailure the code raises, and
    their defaults."""
    import ast
    import inspect

    from optimizer import audio, conversion, wav
    from optimizer.vocabulary import FailureKind

    def member(node: ast.expr | None) -> str | None:
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "FailureKind":
            return str(FailureKind[node.attr])
        return None

    kinds: set[str] = set()
    for module in (wav, audio, conversion):
        tree = ast.parse(inspect.getsource(module))
        constants = {
            t.id: member(n.value)
            for n in ast.walk(tree)
            if isinstance(n, ast.Assign) and member(n.value)
            for t in n.targets
            if isinstance(t, ast.Name)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") in (
                "NotWav",
                "AudioMismatch",
                "ContentFailure",
            ):
                arg = next(
                    (k.value for k in node.keywords if k.arg == "kind"), node.args[1] if len(node.args) > 1 else None
                )
                named = member(arg) or (constants.get(arg.id) if isinstance(arg, ast.Name) else None)
                if named:
                    kinds.add(named)
            if isinstance(node, ast.FunctionDef) and node.name == "__init__":
                for default in node.args.defaults:
                    if member(default):
                        kinds.add(str(member(default)))
    return kinds


def test_every_kind_of_content_failure_the_code_raises_is_declared_once():
    from optimizer import known_failures

    raised = _kinds_raised() | {"ffmpeg_killed"}  # converter.py turns repeated kills into this one
    assert {"partial_frame", "stale_size", "ffmpeg_failed", "channels_cancel"} <= raised  # the scan sees them
    assert raised - {"other"} <= known_failures.REMEMBERED_KINDS


@pytest.mark.parametrize(
    ("kind", "reason", "skipped"),
    [
        ("not_wav", "not a RIFF/WAVE file", True),
        ("no_longer_a_refusal", "whatever", False),  # a kind the code does not refuse (any more)
        ("", "the audio ends inside a frame: 9 data bytes are 2 frames of 4 bytes and 1 byte(s) more (a ...)", False),
        ("", "the audio ends inside a frame: 10 data bytes are 2 frames of 4 bytes and 2 byte(s) more (a ...)", True),
        ("", "ffmpeg could not convert the audio (exit 1): out.wav: No space left on device", False),
        ("", "ffmpeg could not convert the audio (exit -9): no message", False),
        ("", "ffmpeg could not convert the audio (exit 1): Invalid data found", True),
    ],
    ids=["kind-refused", "kind-not-refused", "odd-size", "partial-frame", "enospc", "killed", "ffmpeg-failed"],
)
def test_a_remembered_failure_is_skipped_only_while_the_code_still_refuses_it(kind, reason, skipped):
    remembered = KnownFailure(PREFIX + "x.wav", '"e1"', reason, "2024-03-01T00:00:00+00:00", int(TOMORROW), kind)
    assert is_known(["x.wav", '"e1"', 100], remembered, NOW.timestamp()) is skipped
