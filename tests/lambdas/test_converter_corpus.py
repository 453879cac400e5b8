"""The converter over the WAV corpus (tests/wav_corpus.py) on moto's S3 with the real ffmpeg:
each odd but valid recording converts to the same bytes as before the byte accounting; each
broken one is refused with its reason and its original stays exactly as it was."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from emulator.samples import SAMPLE_DAY_SECONDS, write_sample_day
from optimizer.conversion import ContentFailure, convert_recording, ffmpeg_command
from optimizer.wav import read_wav_info
from tests.support import BUCKET, DAY, assert_untouched, put
from tests.wav_corpus import CASES, build, chunk, fmt_chunk, riff


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ffmpeg):
    directory = tmp_path_factory.mktemp("corpus")
    build(ffmpeg, directory)
    return directory


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
    exact.write_bytes(riff(fmt + chunk(b"data", raw[info.data_offset : info.data_offset + info.data_bytes])))
    return exact


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == "converted"], ids=lambda c: c.name)
def test_valid_recording_converts_to_the_same_bytes_as_before(aws, corpus, ffmpeg, tmp_path, case):
    source = corpus / case.name
    rec = put(aws.s3, DAY + case.name, source.read_bytes())

    outcome = convert_recording(rec, s3=aws.s3, settings=aws.settings)

    assert outcome.outcome == "converted", outcome.reason
    written = aws.s3.get_object(Bucket=BUCKET, Key=rec.key)["Body"].read()
    reference = source if case.expect_bytes == "same" else audio_only(source, tmp_path)
    assert written == ffmpeg_output(ffmpeg, reference, tmp_path)
    if case.expect_bytes == "audio_only":  # the trailing chunk is not in the audio any more
        assert written != ffmpeg_output(ffmpeg, source, tmp_path)


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == "skipped"], ids=lambda c: c.name)
def test_recording_already_in_the_target_format_is_skipped(aws, corpus, ffmpeg, case):
    rec = put(aws.s3, DAY + case.name, (corpus / case.name).read_bytes())
    outcome = convert_recording(rec, s3=aws.s3, settings=aws.settings)
    assert (outcome.outcome, outcome.reason) == ("skipped", case.reason)


@pytest.mark.parametrize("case", [c for c in CASES if c.outcome == "failed"], ids=lambda c: c.name)
def test_broken_recording_is_refused_with_its_reason_and_left_untouched(aws, corpus, ffmpeg, case):
    original = (corpus / case.name).read_bytes()
    rec = put(aws.s3, DAY + case.name, original)

    with pytest.raises(ContentFailure, match=case.reason) as err:
        convert_recording(rec, s3=aws.s3, settings=aws.settings)
    assert err.value.kind == case.kind  # the class the run's summary counts it under

    assert_untouched(aws.s3, rec.key, original)


def test_sample_day_converts_to_the_same_bytes_as_before_and_passes_the_audio_check(aws, ffmpeg, tmp_path):
    paths = list(write_sample_day(tmp_path / "day"))
    assert len(paths) == len(SAMPLE_DAY_SECONDS) == 12
    for path in paths:
        rec = put(aws.s3, DAY + path.name, path.read_bytes())
        outcome = convert_recording(rec, s3=aws.s3, settings=aws.settings)
        assert outcome.outcome == "converted", (path.name, outcome)
        # The audio check (tests/lambdas/test_converter_audio_checks.py) passes them with margin.
        assert outcome.audio is not None, path.name
        assert outcome.audio["snr_db"] >= 30 and outcome.audio["worst_window_snr_db"] >= 30, (path.name, outcome.audio)
        written = aws.s3.get_object(Bucket=BUCKET, Key=rec.key)["Body"].read()
        assert written == ffmpeg_output(ffmpeg, path, tmp_path), path.name
