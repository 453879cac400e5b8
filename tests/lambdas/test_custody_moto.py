"""A verify message against moto's S3 and ledger (optimizer/custody.py): what it checks when the
record is there, when the original has expired, when the record is missing, and when the
bytes are right but the audio is not the original's."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from optimizer import custody, ledger
from optimizer.conversion import convert_recording
from tests.support import BUCKET, DAY, LEDGER, put


def _converted(aws, stereo_wav, key: str):
    """Converts one recording in run "run-1" and records its custody as the converter does."""
    rec = put(aws.s3, key, stereo_wav, run="run-1")
    outcome = convert_recording(rec, s3=aws.s3, settings=aws.settings)
    assert outcome.outcome == "converted" and outcome.custody
    ledger.account(aws.dynamodb, LEDGER, "run-1", [(key, {"converted": 1})], custody={key: outcome.custody})
    return dataclasses.replace(rec, run="verify-1", verify=True), outcome.custody


def verify(aws, rec, **kwargs):
    return custody.verify_recording(rec, s3=aws.s3, dynamodb=aws.dynamodb, settings=aws.settings, **kwargs)


def test_a_conversion_verifies_against_its_record_and_its_original(aws, stereo_wav):
    rec, _ = _converted(aws, stereo_wav, DAY + "a.wav")
    outcome = verify(aws, rec)
    assert (outcome.outcome, outcome.reason) == ("verified", None)


def test_once_the_original_has_expired_the_digests_are_what_is_checked(aws, stereo_wav):
    rec, record = _converted(aws, stereo_wav, DAY + "b.wav")
    aws.s3.delete_object(Bucket=BUCKET, Key=rec.key, VersionId=record["original_version_id"])  # a lifecycle rule
    assert (verify(aws, rec).outcome, verify(aws, rec).reason) == ("verified", "original_gone")


def test_a_missing_record_is_a_mismatch_unless_the_version_is_older_than_the_ledger_keeps_records(aws, stereo_wav):
    rec, _ = _converted(aws, stereo_wav, DAY + "c.wav")
    aws.dynamodb.delete_item(TableName=LEDGER, Key={"run": {"S": ledger.done_key("run-1", rec.key)}})
    with pytest.raises(custody.CustodyMismatch, match="no record of its conversion by run run-1"):
        verify(aws, rec)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=ledger.TTL_DAYS + 1)
    outcome = verify(aws, rec, now=later)
    assert (outcome.outcome, outcome.reason) == ("verified", "unrecorded")


def test_bytes_that_match_the_record_but_not_the_originals_audio_are_a_mismatch(aws, stereo_wav, tmp_path):
    """The record itself rewritten to fit a forged version (digest and version id): the audio check
    against the original still catches it."""
    rec, record = _converted(aws, stereo_wav, DAY + "d.wav")
    head = aws.s3.head_object(Bucket=BUCKET, Key=rec.key)
    other = put(aws.s3, DAY + "other.wav", stereo_wav[:44] + bytes(len(stereo_wav) - 44), run="run-1")
    forged = convert_recording(other, s3=aws.s3, settings=aws.settings)  # the same length of silence
    assert forged.custody is not None
    body = aws.s3.get_object(Bucket=BUCKET, Key=other.key)["Body"].read()
    version = aws.s3.put_object(Bucket=BUCKET, Key=rec.key, Body=body, Metadata=head["Metadata"])["VersionId"]
    aws.dynamodb.delete_item(TableName=LEDGER, Key={"run": {"S": ledger.done_key("run-1", rec.key)}})
    faked = {**record, "converted_version_id": version, "converted_sha256": forged.custody["converted_sha256"]}
    ledger.account(aws.dynamodb, LEDGER, "run-1", [(rec.key, {"converted": 1})], custody={rec.key: faked})

    with pytest.raises(custody.CustodyMismatch, match="its audio is not the original's"):
        verify(aws, rec)


def test_a_recording_never_converted_is_not_read(aws, stereo_wav):
    rec = dataclasses.replace(put(aws.s3, DAY + "e.wav", stereo_wav, run="verify-1"), verify=True)
    assert (verify(aws, rec).outcome, verify(aws, rec).reason) == ("skipped", "not_converted")
