"""The converter over the WAV corpus (tests/wav_corpus.py) on moto's S3 with the real ffmpeg:
each odd but valid recording converts to the same bytes as before the byte accounting; each
broken one is refused with its reason and its original stays exactly as it was."""
from __future__ import annotations

import subprocess
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from emulator.samples import write_sample_day
from optimizer.conversion import ContentFailure, convert_recording, ffmpeg_command
from optimizer.messages import Recording
from optimizer.settings import Settings
from optimizer.wav import read_wav_info
from tests.wav_corpus import CASES, build, chunk, fmt_chunk, riff

BUCKET = "connect-recordings-test"
DAY = "connect/acme/CallRecordings/2022/01/01/"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ffmpeg):
    directory = tmp_path_factory.mktemp("corpus")
    build(ffmpeg, directory)
    return directory


@pytest.fixture
def s3(ffmpeg):
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        yield client


def settings(ffmpeg: str) -> Settings:
    return Settings(bucket=BUCKET, bucket_prefix="connect/acme/CallRecordings/", ffmpeg_path=ffmpeg)


def put(s3, name: str, body: bytes) -> Recording:
    response = s3.put_object(Bucket=BUCKET, Key=DAY + name, Body=body)
    return Recording(bucket=BUCKET, key=DAY + name, etag=response["ETag"], size=len(body))


def ffmpeg_output(ffmpeg: str, source: Path, tmp_path: Path) -> bytes:
    """What the converter wrote before the byte accounting: ffmpeg over the file as it is."""
    out = tmp_path / f"{source.stem}.expected.wav"
    subprocess.run(ffmpeg_command(ffmpeg, str(source), str(out)), check=True)
    return out.read_bytes()


def audio_only(path: Path, tmp_path: Path) -> Path:
    """The same audio with exact sizes and nothing after it."""
    info = read_wav_info(path)
    raw = path.read_bytes()
    fmt = fmt_chunk(info.format_tag, info.channels, info.sample_rate, info.bits_per_sample)
    exact = tmp_path / f"{path.stem}.exact.wav"
    exact.write_bytes(riff(fmt + chunk(b"data", raw[info.data_offset:info.data_offset + info.data_bytes])))
    return exact


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == "converted"], ids=lambda c: c.name)
def test_valid_recording_converts_to_the_same_bytes_as_before(s3, corpus, ffmpeg, tmp_path, case):
    source = corpus / case.name
    rec = put(s3, case.name, source.read_bytes())

    outcome = convert_recording(rec, s3=s3, settings=settings(ffmpeg))

    assert outcome.outcome == "converted", outcome.reason
    written = s3.get_object(Bucket=BUCKET, Key=rec.key)["Body"].read()
    reference = source if case.expect_bytes == "same" else audio_only(source, tmp_path)
    assert written == ffmpeg_output(ffmpeg, reference, tmp_path)
    if case.expect_bytes == "audio_only":  # the trailing chunk is not in the audio any more
        assert written != ffmpeg_output(ffmpeg, source, tmp_path)


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == "skipped"], ids=lambda c: c.name)
def test_recording_already_in_the_target_format_is_skipped(s3, corpus, ffmpeg, case):
    rec = put(s3, case.name, (corpus / case.name).read_bytes())
    outcome = convert_recording(rec, s3=s3, settings=settings(ffmpeg))
    assert (outcome.outcome, outcome.reason) == ("skipped", case.reason)


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == "failed"], ids=lambda c: c.name)
def test_broken_recording_is_refused_with_its_reason_and_left_untouched(s3, corpus, ffmpeg, case):
    original = (corpus / case.name).read_bytes()
    rec = put(s3, case.name, original)

    with pytest.raises(ContentFailure, match=case.reason) as err:
        convert_recording(rec, s3=s3, settings=settings(ffmpeg))
    assert err.value.kind == case.kind  # the class the run's summary counts it under

    listed = s3.list_object_versions(Bucket=BUCKET, Prefix=rec.key)["Versions"]
    assert len(listed) == 1
    assert s3.get_object(Bucket=BUCKET, Key=rec.key)["Body"].read() == original
    assert s3.get_object_tagging(Bucket=BUCKET, Key=rec.key)["TagSet"] == []


def test_sample_day_converts_to_the_same_bytes_as_before(s3, ffmpeg, tmp_path):
    for path in write_sample_day(tmp_path / "day"):
        rec = put(s3, path.name, path.read_bytes())
        assert convert_recording(rec, s3=s3, settings=settings(ffmpeg)).outcome == "converted"
        written = s3.get_object(Bucket=BUCKET, Key=rec.key)["Body"].read()
        assert written == ffmpeg_output(ffmpeg, path, tmp_path), path.name
