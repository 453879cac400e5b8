"""The converter under the faults of issue 16, on moto with the real ffmpeg: what each run counts
when an outcome is lost, two runs overlap, a dead letter is delivered twice, ffmpeg dies or /tmp
fills. The original is never damaged, and the counts say what happened."""

from __future__ import annotations

import dataclasses
import errno
import functools
import json
import os
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from botocore.exceptions import ClientError

import converter
from optimizer import aws, conversion, known_failures, ledger
from optimizer.conversion import convert_recording, run_ffmpeg
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

NO_FAILURES: dict[str, list[dict[str, str]]] = {"batchItemFailures": []}
RETRIED = {"batchItemFailures": [{"itemIdentifier": "m0"}]}


class Crash(BaseException):
    """The invocation dies (killed, out of memory): the handler cannot catch it, as emu's crash-after-put."""


class S3After:
    """An S3 client whose PutObject takes effect, then `after()` runs (raises) instead of the response."""

    def __init__(self, real, after, times=1):
        self._real, self._after, self.times = real, after, times

    def __getattr__(self, name):
        return getattr(self._real, name)

    def put_object(self, **kwargs):
        response = self._real.put_object(**kwargs)
        if self.times:
            self.times -= 1
            self._after()
        return response


def with_s3(monkeypatch, make):
    real_client = aws.client

    def client(service):
        return make(real_client(service)) if service == "s3" else real_client(service)

    monkeypatch.setattr(converter.aws, "client", client)


def counts(run: str) -> dict[str, int]:
    return ledger.read(boto3.client("dynamodb"), LEDGER, run)


def converted_size(s3, key: str) -> int:
    return s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]


# --- a conversion whose outcome was lost comes back as this run's own -------------------------


def test_killed_after_the_put_the_recording_comes_back_counted_converted_with_its_bytes(aws, stereo_wav, monkeypatch):
    s3 = aws.s3
    rec = put(s3, DAY + "crash-after-put.wav", stereo_wav, run="run-a")

    def crash():
        raise Crash

    with monkeypatch.context() as patched:
        with_s3(patched, lambda real: S3After(real, crash))
        with pytest.raises(Crash):
            converter.handler(sqs_event(rec.to_body()), LambdaContext())
    assert counts("run-a") == {}  # the outcome is lost with the invocation

    assert converter.handler(sqs_event(rec.to_body(), receive_count=2), LambdaContext()) == NO_FAILURES
    assert counts("run-a") == {
        "accounted": 1,
        "converted": 1,
        "bytes_before": len(stereo_wav),
        "bytes_after": converted_size(s3, rec.key),
    }
    assert len(versions(s3, rec.key)) == 2  # converted once
    assert ledger.read_attempts(boto3.client("dynamodb"), LEDGER, "run-a", rec.key).attempts == 1


def test_a_put_answered_412_that_was_our_own_retried_write_is_converted_at_once(aws, stereo_wav, monkeypatch):
    """A lost response: botocore sends the PutObject again, and its IfMatch no longer matches the
    version our first send replaced. One HEAD shows the version is this conversion's."""
    s3 = aws.s3
    rec = put(s3, DAY + "lost-response.wav", stereo_wav, run="run-b")

    def precondition_failed():
        raise ClientError(
            {
                "Error": {
                    "Code": "PreconditionFailed",
                    "Message": "At least one of the pre-conditions you specified did not hold",
                }
            },
            "PutObject",
        )

    with_s3(monkeypatch, lambda real: S3After(real, precondition_failed))
    assert converter.handler(sqs_event(rec.to_body()), LambdaContext()) == NO_FAILURES
    assert counts("run-b") == {
        "accounted": 1,
        "converted": 1,
        "bytes_before": len(stereo_wav),
        "bytes_after": converted_size(s3, rec.key),
    }
    assert len(versions(s3, rec.key)) == 2 and drain(aws.dlq_url) == []


# --- two runs overlapping: exactly one counts each conversion ----------------------------------


def test_a_recording_converted_by_another_run_is_already_converted_for_this_one(aws, stereo_wav):
    s3 = aws.s3
    first = put(s3, DAY + "two-runs.wav", stereo_wav, run="backfill")
    assert converter.handler(sqs_event(first.to_body()), LambdaContext()) == NO_FAILURES
    second = enqueued(dataclasses.replace(first, run="daily"))  # the same version, listed by another run
    assert converter.handler(sqs_event(second.to_body()), LambdaContext()) == NO_FAILURES
    assert counts("backfill")["converted"] == 1
    assert counts("daily") == {"accounted": 1, "skipped_already_converted": 1}
    assert len(versions(s3, first.key)) == 2


def test_two_runs_racing_on_one_recording_count_its_conversion_once(aws, stereo_wav, monkeypatch):
    """Both read the original; run A writes first; run B's PutObject is refused (412) and its HEAD
    shows A's version: not B's, so B retries, and its next delivery finds it already converted."""
    s3 = aws.s3
    a = put(s3, DAY + "race.wav", stereo_wav, run="run-A")
    b = enqueued(dataclasses.replace(a, run="run-B"))

    def a_converts_meanwhile(ffmpeg, src, dst):
        run_ffmpeg(ffmpeg, src, dst)
        with monkeypatch.context() as inner:  # run A's converter, unpatched, while B's ffmpeg runs
            inner.setattr(converter, "convert_recording", convert_recording)
            assert converter.handler(sqs_event(a.to_body()), LambdaContext()) == NO_FAILURES

    with monkeypatch.context() as patched:
        patched.setattr(
            converter, "convert_recording", functools.partial(convert_recording, convert=a_converts_meanwhile)
        )
        assert converter.handler(sqs_event(b.to_body()), LambdaContext()) == RETRIED
    assert converter.handler(sqs_event(b.to_body(), receive_count=2), LambdaContext()) == NO_FAILURES
    assert counts("run-A") == {
        "accounted": 1,
        "converted": 1,
        "bytes_before": len(stereo_wav),
        "bytes_after": converted_size(s3, a.key),
    }
    assert counts("run-B") == {"accounted": 1, "skipped_already_converted": 1}
    assert len(versions(s3, a.key)) == 2
    assert s3.head_object(Bucket=BUCKET, Key=a.key)["Metadata"]["converted-by-run"] == "run-A"


# --- a content failure is dead-lettered once per recording and run -----------------------------


def test_a_content_failure_delivered_twice_makes_one_dead_letter(aws):
    s3 = aws.s3
    bad = put(s3, DAY + "bad.wav", b"not audio at all", run="run-c")
    # Twice in one batch, and once more later (the ledger write lost, say).
    assert converter.handler(sqs_event(bad.to_body(), bad.to_body()), LambdaContext()) == NO_FAILURES
    assert converter.handler(sqs_event(bad.to_body(), receive_count=2), LambdaContext()) == NO_FAILURES
    (letter,) = drain(aws.dlq_url)
    assert letter["key"] == bad.key and letter["run"] == "run-c" and letter["failure"]["kind"] == "not_wav"
    assert counts("run-c") == {"accounted": 1, "failed": 1, "failed_not_wav": 1}
    assert_untouched(s3, bad.key, b"not audio at all")


def test_a_crash_between_the_claim_and_the_send_never_loses_the_dead_letter(aws, monkeypatch):
    s3 = aws.s3
    bad = put(s3, DAY + "bad.wav", b"not audio at all", run="run-d")
    real_send = converter.send_to_dead_letter

    def crash(*args, **kwargs):
        raise Crash

    monkeypatch.setattr(converter, "send_to_dead_letter", crash)
    with pytest.raises(Crash):
        converter.handler(sqs_event(bad.to_body()), LambdaContext())
    monkeypatch.setattr(converter, "send_to_dead_letter", real_send)
    # At once: the claim may be another delivery sending it right now, so this one waits.
    assert converter.handler(sqs_event(bad.to_body(), receive_count=2), LambdaContext()) == RETRIED
    assert drain(aws.dlq_url) == []
    # Later (a visibility timeout is an hour): the stale claim is taken over and the letter sent.
    later = time.time() + converter.outcomes.DEAD_LETTER_STALE_S + 1
    monkeypatch.setattr(converter.time, "time", lambda: later)
    assert converter.handler(sqs_event(bad.to_body(), receive_count=3), LambdaContext()) == NO_FAILURES
    (letter,) = drain(aws.dlq_url)
    assert letter["failure"]["kind"] == "not_wav"
    assert counts("run-d") == {"accounted": 1, "failed": 1, "failed_not_wav": 1}


# --- only the recording's own bytes make a content failure ------------------------------------


def fake_ffmpeg(tmp_path: Path, script: str) -> str:
    path = tmp_path / "ffmpeg"
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def use_ffmpeg(monkeypatch, path: str) -> None:
    monkeypatch.setenv("FFMPEG_PATH", path)


def test_a_killed_ffmpeg_is_retried_and_the_retry_converts(aws, stereo_wav, ffmpeg, tmp_path, monkeypatch):
    s3 = aws.s3
    rec = put(s3, DAY + "killed-once.wav", stereo_wav, run="run-e")
    flag = tmp_path / "killed"
    use_ffmpeg(
        monkeypatch, fake_ffmpeg(tmp_path, f'[ -e {flag} ] || {{ touch {flag}; kill -9 $$; }}\nexec {ffmpeg} "$@"\n')
    )
    assert converter.handler(sqs_event(rec.to_body()), LambdaContext()) == RETRIED
    assert len(versions(s3, rec.key)) == 1 and drain(aws.dlq_url) == []
    assert converter.handler(sqs_event(rec.to_body(), receive_count=2), LambdaContext()) == NO_FAILURES
    assert tags(s3, rec.key)["converted"] == "True"
    assert counts("run-e")["converted"] == 1


def test_a_version_that_kills_ffmpeg_on_every_attempt_becomes_a_content_failure(aws, stereo_wav, tmp_path, monkeypatch):
    s3 = aws.s3
    rec = put(s3, DAY + "killer.wav", stereo_wav, run="run-f")
    use_ffmpeg(monkeypatch, fake_ffmpeg(tmp_path, "kill -9 $$\n"))
    for receive in (1, 2):
        assert converter.handler(sqs_event(rec.to_body(), receive_count=receive), LambdaContext()) == RETRIED
    assert drain(aws.dlq_url) == []
    assert converter.handler(sqs_event(rec.to_body(), receive_count=3), LambdaContext()) == NO_FAILURES
    (letter,) = drain(aws.dlq_url)
    assert letter["failure"]["kind"] == "ffmpeg_killed" and "signal 9" in letter["failure"]["reason"]
    assert counts("run-f") == {"accounted": 1, "failed": 1, "failed_ffmpeg_killed": 1}
    # Remembered with its kind, read back by the lister's lookup: skipped while that kind is refused.
    found = known_failures.lookup(boto3.client("dynamodb"), LEDGER, [rec.key]).found[rec.key]
    assert found.kind == "ffmpeg_killed" and found.etag == rec.etag and known_failures.still_refused(found)
    assert_untouched(s3, rec.key, stereo_wav)


def test_ffmpeg_out_of_space_is_transient_and_never_remembered(aws, stereo_wav, tmp_path, monkeypatch):
    s3 = aws.s3
    rec = put(s3, DAY + "enospc.wav", stereo_wav, run="run-g")
    use_ffmpeg(monkeypatch, fake_ffmpeg(tmp_path, 'echo "out.wav: No space left on device" >&2\nexit 1\n'))
    assert converter.handler(sqs_event(rec.to_body()), LambdaContext()) == RETRIED
    assert drain(aws.dlq_url) == [] and counts("run-g") == {}
    assert known_failures.lookup(boto3.client("dynamodb"), LEDGER, [rec.key]).found == {}
    assert_untouched(s3, rec.key, stereo_wav)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO])
def test_an_os_error_while_downloading_is_transient(aws, stereo_wav, monkeypatch, code):
    s3 = aws.s3
    rec = put(s3, DAY + "disk.wav", stereo_wav, run="run-h")

    def failing(body, path):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(conversion, "_download", failing)
    assert converter.handler(sqs_event(rec.to_body()), LambdaContext()) == RETRIED
    assert drain(aws.dlq_url) == [] and counts("run-h") == {}
    assert_untouched(s3, rec.key, stereo_wav)


def test_too_little_free_space_defers_the_recording_without_using_an_attempt(aws, stereo_wav, monkeypatch):
    s3 = aws.s3
    rec = put(s3, DAY + "full.wav", stereo_wav, run="run-i")
    # Free: the margin alone, no room for the recording.
    monkeypatch.setattr(conversion.shutil, "disk_usage", lambda path: SimpleNamespace(free=conversion.TMP_MARGIN_BYTES))
    assert converter.handler(sqs_event(rec.to_body()), LambdaContext()) == RETRIED
    assert ledger.read_attempts(boto3.client("dynamodb"), LEDGER, "run-i", rec.key).attempts == 0
    assert_untouched(s3, rec.key, stereo_wav)


def test_leftovers_of_earlier_invocations_are_cleared_from_tmp(aws, stereo_wav, tmp_path, monkeypatch):
    monkeypatch.setattr(conversion.tempfile, "tempdir", str(tmp_path))
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    ours = tmp_path / f"convert-{os.getpid()}-timedout"
    gone = tmp_path / f"convert-{dead.pid}-crashed"
    live = tmp_path / "convert-1-running"  # pid 1 lives: another process's conversion, kept
    legacy = tmp_path / "convert-abc123"  # no pid: not ours to judge, kept
    for folder in (ours, gone, live, legacy):
        folder.mkdir()
        (folder / "in.wav").write_bytes(b"x" * 1000)

    rec = put(aws.s3, DAY + "after-leftovers.wav", stereo_wav, run="run-j")
    assert converter.handler(sqs_event(rec.to_body()), LambdaContext()) == NO_FAILURES
    assert not ours.exists() and not gone.exists()
    assert live.exists() and legacy.exists()
    assert [p.name for p in tmp_path.glob(f"convert-{os.getpid()}-*")] == []  # its own work folder went too


def test_metadata_with_no_room_for_the_provenance_is_refused_before_anything_is_read(aws, stereo_wav):
    s3 = aws.s3
    rec = put(s3, DAY + "meta.wav", stereo_wav, run="run-k", Metadata={"notes": "n" * 1900})
    assert converter.handler(sqs_event(rec.to_body()), LambdaContext()) == NO_FAILURES
    (letter,) = drain(aws.dlq_url)
    assert letter["failure"]["kind"] == "metadata_limit" and "over S3's 2048" in letter["failure"]["reason"]
    assert ledger.read_attempts(boto3.client("dynamodb"), LEDGER, "run-k", rec.key).attempts == 0
    assert known_failures.lookup(boto3.client("dynamodb"), LEDGER, [rec.key]).found == {}  # not the audio's fault
    assert_untouched(s3, rec.key, stereo_wav)


def test_a_redriven_dead_letter_is_tried_afresh_not_answered_from_the_attempt_item(aws, stereo_wav, monkeypatch):
    """After its cause is fixed, a dead letter moved back to the work queue must be converted: its
    body carries `failure`, a new generation, so the attempts and the dead letter's claim of the
    earlier one do not apply (SQS too counts a redriven message's receives afresh)."""
    s3 = aws.s3
    rec = put(s3, DAY + "redriven.wav", stereo_wav, run="run-l")

    def crashing(ffmpeg, src, dst):
        raise Crash

    with monkeypatch.context() as patched:
        patched.setattr(converter, "convert_recording", functools.partial(convert_recording, convert=crashing))
        for receive in (1, 2, 3):
            with pytest.raises(Crash):
                converter.handler(sqs_event(rec.to_body(), receive_count=receive), LambdaContext())
        assert converter.handler(sqs_event(rec.to_body(), receive_count=4), LambdaContext()) == NO_FAILURES
    (letter,) = drain(aws.dlq_url)
    assert letter["failure"]["kind"] == "crashed"
    # The cause fixed (more memory, say), the dead letter is redriven as it is.
    assert converter.handler(sqs_event(json.dumps(letter)), LambdaContext()) == NO_FAILURES
    assert tags(s3, rec.key)["converted"] == "True" and len(versions(s3, rec.key)) == 2
    assert drain(aws.dlq_url) == []


def test_a_folder_being_created_is_never_cleared_as_a_leftover(tmp_path, monkeypatch):
    """The emulator runs several conversions in one process: one invocation's clearing must not
    remove the folder another has just created and not yet registered (seen as FileNotFoundError)."""
    real_mkdtemp = tempfile.mkdtemp
    clearing: list[threading.Thread] = []

    def mkdtemp_then_another_invocation_clears(**kwargs):
        path = real_mkdtemp(**kwargs)
        thread = threading.Thread(target=conversion.clear_leftovers, args=(str(tmp_path),))
        thread.start()
        thread.join(0.5)  # waits for the folder to be registered (it holds the lock), or clears it now
        clearing.append(thread)
        return path

    monkeypatch.setattr(conversion.tempfile, "mkdtemp", mkdtemp_then_another_invocation_clears)
    folder = conversion._work_folder(str(tmp_path))
    clearing[0].join()
    assert os.path.isdir(folder)
    conversion._active_work.discard(folder)
