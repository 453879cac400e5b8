"""Undo on the strict emulator (issue 17 item 3): the converted recordings of a day become their
originals again, byte for byte, and later runs leave them so until a redo."""

from __future__ import annotations

import json

import pytest

from emulator import local_run
from emulator.samples import write_wav

DAY = "01/01/2022"


@pytest.fixture(scope="module")
def calls(tmp_path_factory):
    root = tmp_path_factory.mktemp("calls")
    write_wav(root / "call one.wav", 2, seed=1)
    write_wav(root / "agents" / "second call.WAV", 3, seed=2)
    (root / "notes.txt").write_text("not a recording")
    return root


def test_convert_then_undo_gives_back_every_recording_byte_for_byte_and_a_plain_run_converts_nothing(
    tmp_path, calls, capsys
):
    report_path, out = tmp_path / "report.json", tmp_path / "out"
    code = local_run.main(
        [
            "--recordings",
            str(calls),
            "--input",
            json.dumps({"specific_date": DAY}),
            "--input",
            json.dumps({"specific_date": DAY, "undo": True}),
            "--input",
            json.dumps({"specific_date": DAY}),
            "--out",
            str(out),
            "--report",
            str(report_path),
        ]  # fmt: skip
    )
    captured = capsys.readouterr()
    report = json.loads(report_path.read_text())

    assert code == 0, captured.out + captured.err
    convert, undo, plain = (e["output"] for e in report["executions"])
    assert convert["converted"] == 2 and convert["enqueued"] == 2
    assert undo["undone"] == 2 and undo["converted"] == 0
    assert undo["undo"] == {
        "undone": 2, "already_undone": 0, "not_ours": 0, "not_restorable": 0, "archived": 0, "differs": 0
    }  # fmt: skip
    assert plain["converted"] == 0 and plain["enqueued"] == 0 and plain["skipped"]["undone"] == 2
    for loaded in calls.rglob("*"):
        if loaded.is_file():
            assert (out / loaded.relative_to(calls)).read_bytes() == loaded.read_bytes(), loaded
    recordings = [o for o in report["objects"] if o["key"].lower().endswith(".wav")]
    assert len(recordings) == 2
    for entry in recordings:
        assert entry["storage_class_after"] == "STANDARD"
        assert "converted" not in entry["tags_after"]
        assert entry["metadata_after"] == {}  # the original's (none), not the conversion's provenance
        assert entry["versions"] == 3  # original, converted, restored: nothing deleted
        assert entry["outcome"] == "undone" and "its original again" in entry["reason"]
    assert all(e["truth"]["differences"] == [] for e in report["executions"])
    assert report["executions"][1]["truth"]["undone"] == 2


# --- on the deployed stack: what is left alone, the dry run, Object Lock, redo --------------------

from emulator.run import run_execution  # noqa: E402
from optimizer.provenance import Provenance  # noqa: E402

PREFIX = "connect/local-instance/CallRecordings/2022/01/01/"


def s3():
    import boto3

    return boto3.client("s3", region_name="us-east-1")


def wav(seconds: float, seed: int, tmp_path) -> bytes:
    path = tmp_path / f"{seed}.wav"
    write_wav(path, seconds, seed=seed)
    return path.read_bytes()


def test_an_undo_leaves_alone_what_it_cannot_restore_and_its_dry_run_writes_nothing(stack, tmp_path):
    deployment, lambdas = stack
    bucket = deployment.bucket
    keys = [PREFIX + name for name in ("a.wav", "b.wav", "c.wav", "d.wav")]
    originals = {key: wav(2, n, tmp_path) for n, key in enumerate(keys, 1)}
    for key, body in originals.items():
        s3().put_object(Bucket=bucket, Key=key, Body=body, ContentType="audio/wav", Metadata={"agent": "7"})
    # c: a conversion whose original has expired (its provenance names a version that is gone).
    gone = Provenance("an-old-run", "expired-version-id", len(originals[keys[2]]), "0" * 64)
    s3().put_object(
        Bucket=bucket,
        Key=keys[2],
        Body=b"converted long ago",
        StorageClass="GLACIER_IR",
        Metadata=gone.to_metadata(),
        Tagging="converted=True",
    )
    assert run_execution(deployment, lambdas, {"specific_date": DAY}).output["converted"] == 3
    # b: changed since its conversion.
    s3().put_object(Bucket=bucket, Key=keys[1], Body=b"changed", ContentType="audio/wav")
    before = s3().list_object_versions(Bucket=bucket, Prefix=PREFIX)["Versions"]

    dry = run_execution(deployment, lambdas, {"specific_date": DAY, "undo": True, "dry_run": True})
    assert dry.status == "SUCCEEDED", dry.cause
    assert {k: n for k, n in dry.output["undo"].items() if k != "left_alone"} == {
        "undone": 2, "already_undone": 0, "not_ours": 1, "not_restorable": 1, "archived": 0, "differs": 0
    }  # fmt: skip
    assert s3().list_object_versions(Bucket=bucket, Prefix=PREFIX)["Versions"] == before

    undo = run_execution(deployment, lambdas, {"specific_date": DAY, "undo": True})
    assert undo.status == "SUCCEEDED", undo.cause
    assert undo.output["undone"] == 2
    # Its summary names what it left alone, with why (so does the dry run's).
    assert (
        undo.output["undo"].pop("left_alone")
        == dry.output["undo"].pop("left_alone")
        == [
            f"not_ours: {keys[1]}",
            f"not_restorable: {keys[2]}",
        ]
    )
    assert undo.output["undo"] == dry.output["undo"]
    for key in (keys[0], keys[3]):
        assert s3().get_object(Bucket=bucket, Key=key)["Body"].read() == originals[key]
        head = s3().head_object(Bucket=bucket, Key=key)
        assert head["Metadata"] == {"agent": "7"} and head.get("StorageClass", "STANDARD") == "STANDARD"
        assert head["ContentType"] == "audio/wav"
        assert s3().get_object_tagging(Bucket=bucket, Key=key)["TagSet"] == []
    assert s3().get_object(Bucket=bucket, Key=keys[1])["Body"].read() == b"changed"  # left alone
    assert s3().head_object(Bucket=bucket, Key=keys[2])["StorageClass"] == "GLACIER_IR"  # left converted
    # The restorer names each one it left alone, with why.
    log = lambdas.log_stream.getvalue()
    assert f'"key":"{keys[1]}"' in log.replace(" ", "") and "was not written by this optimizer" in log
    assert "no longer exists" in log

    # Again, as a range (with a day that holds nothing): what it restored is already undone.
    again = run_execution(deployment, lambdas, {"start_date": "12/31/2021", "end_date": DAY, "undo": True})
    assert again.status == "SUCCEEDED", again.cause
    assert (again.output["undone"], again.output["undo"]["already_undone"]) == (0, 2)


@pytest.mark.long
def test_a_redo_converts_the_undone_recordings_again_and_later_runs_skip_them_no_more(stack, tmp_path):
    deployment, lambdas = stack
    key = PREFIX + "call.wav"
    s3().put_object(Bucket=deployment.bucket, Key=key, Body=wav(2, 9, tmp_path), ContentType="audio/wav")
    for execution_input in ({"specific_date": DAY}, {"specific_date": DAY, "undo": True}):
        assert run_execution(deployment, lambdas, execution_input).status == "SUCCEEDED"
    skipped = run_execution(deployment, lambdas, {"start_date": "12/31/2021", "end_date": DAY})
    assert (skipped.output["enqueued"], skipped.output["skipped"]["undone"]) == (0, 1)

    redo = run_execution(deployment, lambdas, {"specific_date": DAY, "redo": True})
    assert redo.status == "SUCCEEDED", redo.cause
    assert (redo.output["converted"], redo.output["redo"]) == (1, {"forgotten": 1})
    assert s3().head_object(Bucket=deployment.bucket, Key=key)["StorageClass"] == "GLACIER_IR"
    after = run_execution(deployment, lambdas, {"specific_date": DAY})
    assert (after.output["converted"], after.output["skipped"]["undone"]) == (0, 0)
    assert after.output["skipped"]["already_target_class"] == 1


@pytest.mark.long
def test_an_undo_restores_the_originals_object_lock_settings(stack, tmp_path):
    """On a bucket with Object Lock: the converted version keeps the lock (the converter copies it),
    so it cannot be deleted; the undo copies the original back with its retention and legal hold."""
    import datetime as dt

    deployment, lambdas = stack
    bucket = deployment.bucket
    s3().delete_bucket(Bucket=bucket)
    s3().create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    until = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(days=30)
    key = PREFIX + "locked.wav"
    body = wav(2, 11, tmp_path)
    s3().put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType="audio/wav",
        ObjectLockMode="GOVERNANCE",
        ObjectLockRetainUntilDate=until,
        ObjectLockLegalHoldStatus="ON",
        ChecksumAlgorithm="SHA256",
    )
    assert run_execution(deployment, lambdas, {"specific_date": DAY}).output["converted"] == 1
    undo = run_execution(deployment, lambdas, {"specific_date": DAY, "undo": True})
    assert undo.status == "SUCCEEDED", undo.cause
    assert undo.output["undone"] == 1
    head = s3().head_object(Bucket=bucket, Key=key)
    assert s3().get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert (head["ObjectLockMode"], head["ObjectLockRetainUntilDate"], head["ObjectLockLegalHoldStatus"]) == (
        "GOVERNANCE",
        until,
        "ON",
    )


def test_a_copy_of_a_version_needs_get_object_version_on_its_source(stack):
    """The emulator asks what S3 asks of CopyObject's source (moto asks nothing of it)."""
    from tests.e2e.test_strict_iam import error_of, role_with

    deployment, _ = stack
    bucket, key = deployment.bucket, PREFIX + "v.wav"
    version = s3().put_object(Bucket=bucket, Key=key, Body=b"first")["VersionId"]
    s3().put_object(Bucket=bucket, Key=key, Body=b"second")
    objects = f"arn:aws:s3:::{bucket}/*"
    copy = {"Bucket": bucket, "Key": key, "CopySource": {"Bucket": bucket, "Key": key, "VersionId": version}}
    from emulator.iam import acting_as

    with acting_as(role_with(deployment, ["s3:PutObject", "s3:GetObject"], objects)):
        assert error_of(s3().copy_object, **copy) == ("AccessDenied", 403)
    with acting_as(role_with(deployment, ["s3:PutObject", "s3:GetObjectVersion"], objects)):
        s3().copy_object(**copy)
    assert s3().get_object(Bucket=bucket, Key=key)["Body"].read() == b"first"


@pytest.mark.long
def test_the_undo_runs_under_its_own_role_and_stops_without_get_object_version(stack, tmp_path):
    """The restorer's requests are judged against its role: without s3:GetObjectVersion it can
    neither read an original version nor copy it, so the day fails and the recording stays converted."""
    import boto3

    deployment, lambdas = stack
    key = PREFIX + "call.wav"
    s3().put_object(Bucket=deployment.bucket, Key=key, Body=wav(2, 5, tmp_path), ContentType="audio/wav")
    assert run_execution(deployment, lambdas, {"specific_date": DAY}).output["converted"] == 1
    iam = boto3.client("iam", region_name="us-east-1")
    role = deployment.identities.role("FunctionsRestorerRole").arn.rsplit("/", 1)[-1]
    for name in iam.list_role_policies(RoleName=role)["PolicyNames"]:
        document = iam.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"]
        for statement in document["Statement"]:
            listed = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            statement["Action"] = [a for a in listed if a != "s3:GetObjectVersion"] or ["s3:ListBucket"]
        iam.put_role_policy(RoleName=role, PolicyName=name, PolicyDocument=json.dumps(document))

    undo = run_execution(deployment, lambdas, {"specific_date": DAY, "undo": True})
    assert (undo.status, undo.error) == ("FAILED", "DaysFailed")
    assert "AccessDenied" in (undo.cause or "") or "403" in (undo.cause or "")
    assert s3().head_object(Bucket=deployment.bucket, Key=key)["StorageClass"] == "GLACIER_IR"
