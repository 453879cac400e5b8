"""The converter's safety contract against moto's S3 with the real ffmpeg from the layer."""

from __future__ import annotations

import audioop  # the standard library up to 3.12, the audioop-lts package from 3.13 on (requirements-local.txt)
import dataclasses
import functools
import hashlib
import json
from pathlib import Path
from urllib.parse import urlencode

import boto3
import pytest
from pydub import AudioSegment

import converter
from optimizer.conversion import PermanentFailure, TransientFailure, convert_recording, run_ffmpeg
from optimizer.messages import Recording
from optimizer.wav import read_wav_info
from tests.support import (
    BUCKET,
    DAY,
    LEDGER,
    LambdaContext,
    assert_untouched,
    drain,
    enqueued,
    put,
    sqs_event,
    tags,
    versions,
)


def test_connect_recording_is_converted_in_place_keeping_everything(aws, stereo_wav):
    s3, settings = aws.s3, aws.settings
    kms_key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    key = DAY + "c0ffee00-1111-2222-3333-444455556666_20220101T10:00_UTC.wav"
    rec = put(
        s3,
        key,
        stereo_wav,
        ContentType="audio/x-wav",
        Metadata={"contact-id": "c0ffee00", "agent": "=?UTF-8?B?Wm/Dqw==?="},
        Tagging=urlencode({"team": "sales/support = tier 1+", "retention": "7y"}),
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=kms_key,
        CacheControl="no-store",
        run="run-1",
    )
    original_version = s3.head_object(Bucket=BUCKET, Key=key)["VersionId"]

    outcome = convert_recording(rec, s3=s3, settings=settings)

    assert outcome.outcome == "converted" and outcome.reason is None
    head = s3.head_object(Bucket=BUCKET, Key=key)
    converted_bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    source = read_wav_info_bytes(stereo_wav)
    # A-law mono 8 kHz: one byte per frame where the input had four.
    assert head["ContentLength"] == outcome.bytes_after
    assert abs(outcome.bytes_after - len(stereo_wav) / 4) < 100
    assert head["StorageClass"] == "GLACIER_IR"
    assert head["ContentType"] == "audio/x-wav"
    # S3 returns non-ASCII metadata RFC 2047-encoded; it must come back exactly as it was, beside
    # the new version's provenance: the run, and the original's version, size and SHA-256.
    assert head["Metadata"] == {
        "contact-id": "c0ffee00",
        "agent": "=?UTF-8?B?Wm/Dqw==?=",
        "converted-by-run": "run-1",
        "original-version-id": original_version,
        "original-size": str(len(stereo_wav)),
        "original-sha256": hashlib.sha256(stereo_wav).hexdigest(),
        "converted-sha256": hashlib.sha256(converted_bytes).hexdigest(),
    }
    # The chain of custody the converter logs and the ledger's done# marker keeps: both versions, both digests.
    assert outcome.custody == {
        "original_version_id": original_version,
        "original_sha256": hashlib.sha256(stereo_wav).hexdigest(),
        "converted_version_id": head["VersionId"],
        "converted_sha256": hashlib.sha256(converted_bytes).hexdigest(),
    }
    assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == kms_key
    assert head["CacheControl"] == "no-store"
    assert tags(s3, key) == {"team": "sales/support = tier 1+", "retention": "7y", "converted": "True"}

    # The original stays, byte for byte, as the noncurrent version.
    history = versions(s3, key)
    assert len(history) == 2
    old = next(v for v in history if not v["IsLatest"])
    assert s3.get_object(Bucket=BUCKET, Key=key, VersionId=old["VersionId"])["Body"].read() == stereo_wav

    # Independent decode (audioop's G.711 A-law table, not ffmpeg) of the data chunk, into pydub.
    converted_bytes = s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    info = read_wav_info_bytes(converted_bytes)
    pcm = audioop.alaw2lin(converted_bytes[info.data_offset : info.data_offset + info.data_bytes], 2)
    converted = AudioSegment(data=pcm, sample_width=2, frame_rate=8000, channels=1)
    assert abs(len(converted) - source.duration * 1000) <= 10
    assert converted.rms > 0  # not silence: the voice survived


def read_wav_info_bytes(data: bytes, tmp=Path("/tmp")):
    path = tmp / f"probe-{id(data)}.wav"
    path.write_bytes(data)
    try:
        return read_wav_info(path)
    finally:
        path.unlink()


TRICKY_KEYS = [
    "call with spaces.wav",
    "plus+sign+call.wav",
    "literal%2Bpercent.wav",
    "unicodé-通話-📞.wav",
    "colon:10:00_UTC.wav",
    "UPPER.WAV",
    "x" * 700 + ".wav",
    "ü" * 300 + ".wav",  # 600 bytes of UTF-8 in one segment
]


@pytest.mark.parametrize("name", TRICKY_KEYS, ids=lambda n: n[:24])
def test_any_key_s3_can_hold_is_converted_under_its_exact_key(aws, stereo_wav, name):
    s3, settings = aws.s3, aws.settings
    key = DAY + name
    rec = put(s3, key, stereo_wav)
    # Through the real message format, as the enqueuer sends it.
    rec = Recording.from_body(rec.to_body())

    assert convert_recording(rec, s3=s3, settings=settings).outcome == "converted"
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=DAY)["Contents"]]
    assert listed == [key]
    assert tags(s3, key)["converted"] == "True"
    assert len(versions(s3, key)) == 2


@pytest.mark.parametrize(
    "body, reason",
    [(b"", "empty"), (b"RIFF\x00\x00\x00\x00WAVEjunk", "stray byte"), (b"\x00garbage" * 100, "not a RIFF/WAVE")],
    ids=["empty", "truncated-header", "random-bytes"],
)
def test_bad_recording_fails_permanently_and_original_is_untouched(aws, body, reason):
    s3, settings = aws.s3, aws.settings
    key = DAY + "bad.wav"
    rec = put(s3, key, body)
    with pytest.raises(PermanentFailure, match=reason):
        convert_recording(rec, s3=s3, settings=settings)
    assert_untouched(s3, key, body)


def test_audio_ffmpeg_cannot_decode_fails_permanently_untouched(aws, stereo_wav):
    """A valid header over a codec ffmpeg refuses: the conversion step itself fails."""
    s3, settings = aws.s3, aws.settings
    bad = bytearray(stereo_wav)
    bad[22:24] = (0).to_bytes(2, "little")  # zero channels: the header parser refuses it
    rec = put(s3, DAY + "zero-channels.wav", bytes(bad))
    with pytest.raises(PermanentFailure):
        convert_recording(rec, s3=s3, settings=settings)
    assert_untouched(s3, rec.key, bytes(bad))


@pytest.mark.parametrize(
    "second_run, outcome, storage_class, versions_after",
    [
        ({}, ("skipped", "already_converted"), "GLACIER_IR", 2),
        ({"overwrite_converted": True, "target_class": "STANDARD_IA"}, ("converted", None), "STANDARD_IA", 3),
    ],
    ids=["skipped", "overwrite_converted"],
)
def test_a_converted_recording_is_converted_again_only_with_overwrite_converted(
    aws, stereo_wav, second_run, outcome, storage_class, versions_after
):
    s3, settings = aws.s3, aws.settings
    rec = put(s3, DAY + "twice.wav", stereo_wav)
    assert convert_recording(rec, s3=s3, settings=settings).outcome == "converted"
    # A later run lists the converted version (its ETag and size) and enqueues it.
    head = s3.head_object(Bucket=BUCKET, Key=rec.key)
    listed = enqueued(dataclasses.replace(rec, run="later", etag=head["ETag"], size=head["ContentLength"]))
    again = convert_recording(listed, s3=s3, settings=dataclasses.replace(settings, **second_run))
    assert (again.outcome, again.reason) == outcome
    assert s3.head_object(Bucket=BUCKET, Key=rec.key)["StorageClass"] == storage_class
    assert len(versions(s3, rec.key)) == versions_after


def test_untagged_alaw_recording_is_skipped(aws, stereo_wav, ffmpeg, tmp_path):
    s3, settings = aws.s3, aws.settings
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    src.write_bytes(stereo_wav)
    run_ffmpeg(ffmpeg, str(src), str(dst))
    rec = put(s3, DAY + "alaw.wav", dst.read_bytes())
    outcome = convert_recording(rec, s3=s3, settings=settings)
    assert (outcome.outcome, outcome.reason) == ("skipped", "already_alaw")
    assert len(versions(s3, rec.key)) == 1


def test_object_changed_between_read_and_write_is_not_overwritten(aws, stereo_wav):
    s3, settings = aws.s3, aws.settings
    rec = put(s3, DAY + "race.wav", stereo_wav)
    newer = stereo_wav[:-800]  # someone writes a new version while we convert

    def convert_then_race(ffmpeg, src, dst):
        run_ffmpeg(ffmpeg, src, dst)
        s3.put_object(Bucket=BUCKET, Key=rec.key, Body=newer)

    with pytest.raises(TransientFailure, match="changed"):
        convert_recording(rec, s3=s3, settings=settings, convert=convert_then_race)
    assert s3.get_object(Bucket=BUCKET, Key=rec.key)["Body"].read() == newer
    assert len(versions(s3, rec.key)) == 2  # the original and the other writer's, none of ours


def test_glacier_object_is_skipped_with_reason(aws, stereo_wav):
    s3, settings = aws.s3, aws.settings
    rec = put(s3, DAY + "archived.wav", stereo_wav, StorageClass="GLACIER")
    outcome = convert_recording(rec, s3=s3, settings=settings)
    assert (outcome.outcome, outcome.reason) == ("skipped", "archived")
    assert len(versions(s3, rec.key)) == 1


def test_gone_object_is_skipped(aws):
    s3, settings = aws.s3, aws.settings
    outcome = convert_recording(Recording(BUCKET, DAY + "deleted.wav", '"x"', 10), s3=s3, settings=settings)
    assert (outcome.outcome, outcome.reason) == ("skipped", "gone")


def test_object_outside_the_configured_prefix_is_refused(aws, stereo_wav):
    s3, settings = aws.s3, aws.settings
    rec = put(s3, "elsewhere/2022/01/01/call.wav", stereo_wav)
    with pytest.raises(PermanentFailure, match="outside"):
        convert_recording(rec, s3=s3, settings=settings)
    assert len(versions(s3, rec.key)) == 1


def test_ten_existing_tags_cannot_take_the_converted_tag(aws, stereo_wav):
    s3, settings = aws.s3, aws.settings
    rec = put(s3, DAY + "tagged.wav", stereo_wav, Tagging=urlencode({f"k{i}": "v" for i in range(10)}))
    with pytest.raises(PermanentFailure, match="10 tags"):
        convert_recording(rec, s3=s3, settings=settings)
    assert len(versions(s3, rec.key)) == 1


# --- the handler: batches, partial failures, the dead-letter queue --------------------------


def test_one_bad_record_in_a_batch_only_it_fails(aws, stereo_wav):
    s3 = aws.s3
    good = put(s3, DAY + "good.wav", stereo_wav)
    corrupt = put(s3, DAY + "corrupt.wav", b"not audio at all")

    response = converter.handler(sqs_event(good.to_body(), corrupt.to_body(), "{not json"), LambdaContext())

    # Transient failures are the only ones SQS must retry; permanent ones go to the DLQ at once.
    assert response == {"batchItemFailures": []}
    assert tags(s3, good.key)["converted"] == "True"
    assert s3.get_object(Bucket=BUCKET, Key=corrupt.key)["Body"].read() == b"not audio at all"
    letters = drain(aws.dlq_url)
    by_key = {letter.get("key", "<raw>"): letter for letter in letters}
    assert set(by_key) == {corrupt.key, "<raw>"}
    assert "not a RIFF/WAVE" in by_key[corrupt.key]["failure"]["reason"]
    assert by_key["<raw>"]["raw_body"] == "{not json"


def test_transient_failure_is_reported_for_that_record_only(aws, stereo_wav, monkeypatch):
    s3 = aws.s3
    first = put(s3, DAY + "first.wav", stereo_wav)
    second = put(s3, DAY + "second.wav", stereo_wav)

    calls = 0

    def flaky(ffmpeg, src, dst):
        nonlocal calls
        run_ffmpeg(ffmpeg, src, dst)
        if calls == 0:  # the first record's object changes under us
            s3.put_object(Bucket=BUCKET, Key=first.key, Body=stereo_wav[:-4])
        calls += 1

    monkeypatch.setattr(converter, "convert_recording", functools.partial(convert_recording, convert=flaky))

    response = converter.handler(sqs_event(first.to_body(), second.to_body()), LambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert "converted" not in tags(s3, first.key)
    assert tags(s3, second.key)["converted"] == "True"
    assert drain(aws.dlq_url) == []


def test_duplicate_delivery_converts_once(aws, stereo_wav):
    s3 = aws.s3
    rec = put(s3, DAY + "dup.wav", stereo_wav)
    response = converter.handler(sqs_event(rec.to_body(), rec.to_body()), LambdaContext())
    assert response == {"batchItemFailures": []}
    assert len(versions(s3, rec.key)) == 2
    response = converter.handler(sqs_event(rec.to_body()), LambdaContext())
    assert len(versions(s3, rec.key)) == 2


def test_record_is_deferred_when_the_invocation_is_about_to_time_out(aws, stereo_wav, capsys):
    s3 = aws.s3
    rec = put(s3, DAY + "late.wav", stereo_wav)

    response = converter.handler(sqs_event(rec.to_body()), LambdaContext(remaining_ms=1_000))
    assert response == {"batchItemFailures": [{"itemIdentifier": "m0"}]}
    assert len(versions(s3, rec.key)) == 1
    (metrics_line,) = [line for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert json.loads(metrics_line)["RecordingsRetried"] == [1.0]


# --- counting: the run ledger and the last receive -------------------------------------------


def test_outcomes_are_counted_once_per_recording_and_run_in_one_write_per_batch(aws, stereo_wav, monkeypatch):
    from optimizer import ledger

    s3 = aws.s3
    a = put(s3, DAY + "a.wav", stereo_wav, run="run-1")
    b = put(s3, DAY + "b.wav", stereo_wav, run="run-1")
    bad = put(s3, DAY + "bad.wav", b"nope", run="run-2")
    writes = []
    real_account = ledger.account

    def recorded_account(*args, **kw):
        writes.append(args[2])
        return real_account(*args, **kw)

    monkeypatch.setattr(ledger, "account", recorded_account)

    # a.wav twice in the batch (SQS delivers at least once): converted, then skipped, one outcome.
    converter.handler(sqs_event(a.to_body(), b.to_body(), bad.to_body(), a.to_body()), LambdaContext())

    dynamodb = boto3.client("dynamodb")
    one = ledger.read(dynamodb, LEDGER, "run-1")
    sizes = sum(s3.head_object(Bucket=BUCKET, Key=k)["ContentLength"] for k in (a.key, b.key))
    assert one == {"accounted": 2, "converted": 2, "bytes_before": 2 * len(stereo_wav), "bytes_after": sizes}
    assert ledger.read(dynamodb, LEDGER, "run-2") == {
        "accounted": 1,
        "failed": 1,
        "failed_not_wav": 1,
    }  # by kind, for the summary
    assert sorted(writes) == ["run-1", "run-2"]
    # Delivered once more later (a visibility timeout ran out mid-batch): nothing counted twice.
    converter.handler(sqs_event(a.to_body()), LambdaContext())
    assert ledger.read(dynamodb, LEDGER, "run-1") == one


def test_the_last_attempt_dead_letters_a_transient_failure_with_its_reason(aws, stereo_wav, monkeypatch):
    from optimizer import ledger

    s3 = aws.s3
    rec = put(s3, DAY + "flaky.wav", stereo_wav, run="run-3")

    def always_failing(ffmpeg, src, dst):
        # A transient failure on every attempt (an object changed under the converter is no longer
        # one: the next delivery's GetObject refuses the changed version, test_trust_converter.py).
        raise TransientFailure("S3 slowed down; retried later")

    monkeypatch.setattr(converter, "convert_recording", functools.partial(convert_recording, convert=always_failing))
    for receive in (1, 2):  # the converter's attempts 1 and 2: retried
        assert converter.handler(sqs_event(rec.to_body(), receive_count=receive), LambdaContext()) == {
            "batchItemFailures": [{"itemIdentifier": "m0"}]
        }
    assert drain(aws.dlq_url) == []

    assert converter.handler(sqs_event(rec.to_body(), receive_count=3), LambdaContext()) == {"batchItemFailures": []}
    (letter,) = drain(aws.dlq_url)
    assert letter["key"] == rec.key and letter["failure"]["reason"].startswith(
        "gave up after 3 attempts: TransientFailure"
    )
    assert letter["failure"]["kind"] == "gave_up"
    assert ledger.read(boto3.client("dynamodb"), LEDGER, "run-3") == {"accounted": 1, "failed": 1, "failed_gave_up": 1}
    assert "converted" not in tags(s3, rec.key)


class Crash(BaseException):
    """The invocation dies (killed, out of memory, timed out): nothing the handler can catch."""


def test_a_recording_whose_attempts_all_crashed_is_dead_lettered_untried(aws, stereo_wav, monkeypatch):
    """Each of the converter's max_receive_count attempts started (counted in the ledger) and ended
    without an outcome: the next delivery dead-letters it as crashed, before any further attempt."""
    from optimizer import ledger

    s3 = aws.s3
    rec = put(s3, DAY + "crashes.wav", stereo_wav, run="run-4")
    tried = []

    def crashing(ffmpeg, src, dst):
        tried.append(src)
        raise Crash

    monkeypatch.setattr(converter, "convert_recording", functools.partial(convert_recording, convert=crashing))
    assert aws.settings.max_receive_count == 3
    for receive in (1, 2, 3):
        with pytest.raises(Crash):
            converter.handler(sqs_event(rec.to_body(), receive_count=receive), LambdaContext())
    assert len(tried) == 3
    assert converter.handler(sqs_event(rec.to_body(), receive_count=4), LambdaContext()) == {"batchItemFailures": []}
    (letter,) = drain(aws.dlq_url)
    assert letter["key"] == rec.key and letter["failure"]["kind"] == "crashed"
    assert letter["failure"]["reason"].startswith("tried 3 times: each attempt stopped without an outcome")
    assert ledger.read(boto3.client("dynamodb"), LEDGER, "run-4") == {"accounted": 1, "failed": 1, "failed_crashed": 1}
    assert len(tried) == 3 and "converted" not in tags(s3, rec.key)


def test_receives_that_were_not_attempts_use_none_up(aws, stereo_wav):
    """A message received 6 times (throttled by Lambda, returned with its batch) but never tried:
    the converter tries it, and converts it."""
    s3 = aws.s3
    rec = put(s3, DAY + "throttled.wav", stereo_wav, run="run-6")
    assert converter.handler(sqs_event(rec.to_body(), receive_count=6), LambdaContext()) == {"batchItemFailures": []}
    assert tags(s3, rec.key)["converted"] == "True"
    assert drain(aws.dlq_url) == []


def test_an_outcome_the_ledger_could_not_take_goes_back_to_the_queue_and_comes_back_converted(
    aws, stereo_wav, monkeypatch
):
    """Otherwise the run would wait for it in vain. Delivered again, it is accounted as what it is:
    converted by this run, with its bytes (this test asserted `skipped_already_converted` before
    issue 16: a conversion of this run counted as none), and a ledger that fails on every delivery
    never turns it into a crashed dead letter: those deliveries were not attempts."""
    from optimizer import ledger

    s3 = aws.s3
    rec = put(s3, DAY + "ok.wav", stereo_wav, run="run-5")
    real_account = ledger.account

    def busy(*args, **kwargs):
        raise ledger.LedgerConflict("the run's counters stayed busy after 8 attempts")

    monkeypatch.setattr(ledger, "account", busy)
    for receive in range(1, 8):  # up to the last receive at which the converter still works on it
        assert converter.handler(sqs_event(rec.to_body(), receive_count=receive), LambdaContext()) == {
            "batchItemFailures": [{"itemIdentifier": "m0"}]
        }
    assert tags(s3, rec.key)["converted"] == "True"  # the recording itself is done, once
    assert len(versions(s3, rec.key)) == 2
    assert drain(aws.dlq_url) == []
    dynamodb = boto3.client("dynamodb")
    assert ledger.read_attempts(dynamodb, LEDGER, "run-5", rec.key).attempts == 1
    monkeypatch.setattr(ledger, "account", real_account)
    assert converter.handler(sqs_event(rec.to_body(), receive_count=8), LambdaContext()) == {"batchItemFailures": []}
    after = s3.head_object(Bucket=BUCKET, Key=rec.key)["ContentLength"]
    assert ledger.read(dynamodb, LEDGER, "run-5") == {
        "accounted": 1,
        "converted": 1,
        "bytes_before": len(stereo_wav),
        "bytes_after": after,
    }
    assert drain(aws.dlq_url) == []


class _Refusing:
    """An S3 client that answers one call with an error, as AWS does and moto does not."""

    def __init__(self, real, method: str, code: str, message: str) -> None:
        self._real, self._method, self._code, self._message = real, method, code, message

    def __getattr__(self, name):
        if name != self._method:
            return getattr(self._real, name)

        def refuse(**kwargs):
            from botocore.exceptions import ClientError

            raise ClientError({"Error": {"Code": self._code, "Message": self._message}}, name)

        return refuse


@pytest.mark.parametrize(
    "method, code, message",
    [
        (
            "get_object",
            "AccessDenied",
            "User: arn:aws:sts::1:assumed-role/x is not authorized to perform: kms:Decrypt "
            "on resource: arn:aws:kms:us-east-1:1:key/k",
        ),
        ("get_object", "AccessDenied", "Access Denied"),
        ("put_object", "AccessDenied", "Access Denied"),
    ],
    ids=["kms-decrypt-denied", "read-denied", "write-denied"],
)
def test_a_denial_fails_at_once_naming_the_permission_and_is_not_a_content_failure(
    aws, stereo_wav, method, code, message
):
    from optimizer.conversion import ContentFailure

    s3, settings = aws.s3, aws.settings
    rec = put(s3, DAY + "denied.wav", stereo_wav)
    with pytest.raises(PermanentFailure) as err:
        convert_recording(rec, s3=_Refusing(s3, method, code, message), settings=settings)
    assert not isinstance(err.value, ContentFailure)  # the object is fine: nothing to remember about it
    assert message in str(err.value) and "kms:Decrypt" in str(err.value) and "s3:GetObject" in str(err.value)
    assert_untouched(s3, rec.key, stereo_wav)


def test_s3_refusing_the_new_version_is_permanent(aws, stereo_wav):
    s3, settings = aws.s3, aws.settings
    rec = put(s3, DAY + "invalid.wav", stereo_wav)
    refusing = _Refusing(s3, "put_object", "InvalidArgument", "The retain until date must be in the future!")
    with pytest.raises(PermanentFailure, match="S3 refused the new version .* retain until date"):
        convert_recording(rec, s3=refusing, settings=settings)
    assert len(versions(s3, rec.key)) == 1
