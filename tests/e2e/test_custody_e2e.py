"""Chain of custody on the strict emulator (each handler under its own role): every conversion
names its original and both digests, in the new version's metadata and in the ledger; a verify
run re-reads the day and reports a converted version replaced behind its back."""

from __future__ import annotations

import hashlib
import json

import boto3
import pytest

from emulator.run import run_execution
from emulator.samples import write_wav
from optimizer import ledger, provenance

pytestmark = pytest.mark.long  # state machine executions on moto

DAY = "connect/local-instance/CallRecordings/2022/01/01/"
KEYS = [f"{DAY}call-{i}.wav" for i in range(2)]


def client(service: str):
    return boto3.client(service, region_name="us-east-1")


@pytest.fixture(scope="module")
def wavs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("custody")
    return [write_wav(folder / f"{i}.wav", 1 + i, seed=40 + i).read_bytes() for i in range(len(KEYS))]


def _converted(deployment, lambdas, wavs) -> dict[str, str]:
    """Loads the day and converts it: the original's VersionId of each key."""
    s3 = client("s3")
    originals = {
        key: s3.put_object(Bucket=deployment.bucket, Key=key, Body=body)["VersionId"]
        for key, body in zip(KEYS, wavs, strict=True)
    }
    run = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})
    assert (run.status, run.output["converted"]) == ("SUCCEEDED", len(KEYS))
    return originals


def _verify(deployment, lambdas):
    """A verify run of the day: (execution, its summary's output, also when it failed)."""
    lambdas.results.clear()
    execution = run_execution(deployment, lambdas, {"specific_date": "01/01/2022", "verify": True})
    return execution, json.loads(lambdas.results["Summarize"])["output"]


def _table(deployment) -> str:
    return deployment.function("FunctionsConverter").environment["LEDGER_TABLE"]


def test_each_conversion_names_its_original_and_both_digests_and_a_verify_run_finds_a_replaced_version(stack, wavs):
    deployment, lambdas = stack
    s3, dynamodb = client("s3"), client("dynamodb")
    originals = _converted(deployment, lambdas, wavs)

    for key, body in zip(KEYS, wavs, strict=True):
        current = s3.get_object(Bucket=deployment.bucket, Key=key)
        converted = current["Body"].read()
        metadata = current["Metadata"]
        # The original is the version now noncurrent, and its digest is the bytes' that were put.
        versions = {
            v["VersionId"]: v["IsLatest"]
            for v in s3.list_object_versions(Bucket=deployment.bucket, Prefix=key)["Versions"]
        }
        assert metadata[provenance.ORIGINAL_VERSION_ID] == originals[key] and versions[originals[key]] is False
        assert metadata[provenance.ORIGINAL_SHA256] == hashlib.sha256(body).hexdigest()
        assert metadata[provenance.CONVERTED_SHA256] == hashlib.sha256(converted).hexdigest()
        # The ledger's record (the done# marker of the converting run): both ids, both digests.
        run = metadata[provenance.RUN]
        assert ledger.read_custody(dynamodb, _table(deployment), run, key) == {
            "original_version_id": originals[key],
            "original_sha256": hashlib.sha256(body).hexdigest(),
            "converted_version_id": current["VersionId"],
            "converted_sha256": hashlib.sha256(converted).hexdigest(),
        }

    clean, output = _verify(deployment, lambdas)
    assert clean.status == "SUCCEEDED", clean.cause
    assert output["verify"] == {
        "verified": 2,
        "verified_original_gone": 0,
        "verified_unrecorded": 0,
        "not_converted": 0,
        "mismatches": 0,
        "mismatched": [],
    }
    assert output["converted"] == 0  # a verify run writes nothing
    # The same day loop as a conversion run: within Step Functions' bounds on the strict emulator.
    assert clean.history_events < 25_000 and clean.max_state_bytes < 256 * 1024

    # Replaced behind its back: a new version with other bytes, its metadata dropped.
    s3.put_object(Bucket=deployment.bucket, Key=KEYS[1], Body=wavs[0])
    tampered, output = _verify(deployment, lambdas)

    assert (tampered.status, tampered.error) == ("FAILED", "CustodyMismatch")
    verify = output["verify"]
    assert (verify["verified"], verify["mismatches"], verify["mismatched"]) == (1, 1, [KEYS[1]])
    assert KEYS[1] in tampered.cause


@pytest.mark.truth_differs(
    reason="the test forges a version with the converting run's provenance: the truth counts it as that run's second "
    "conversion of the key"
)
def test_a_replaced_version_that_keeps_the_metadata_is_a_mismatch_too(stack, wavs):
    deployment, lambdas = stack
    s3 = client("s3")
    _converted(deployment, lambdas, wavs)
    head = s3.head_object(Bucket=deployment.bucket, Key=KEYS[0])
    # Another recording's converted bytes under this key's provenance: the record names another version.
    other = s3.get_object(Bucket=deployment.bucket, Key=KEYS[1])["Body"].read()
    s3.put_object(Bucket=deployment.bucket, Key=KEYS[0], Body=other, Metadata=head["Metadata"])

    tampered, output = _verify(deployment, lambdas)

    assert (tampered.status, tampered.error) == ("FAILED", "CustodyMismatch")
    assert output["verify"]["mismatched"] == [KEYS[0]]
    dead = client("sqs").receive_message(
        QueueUrl=deployment.queue_url("QueuesDeadLetter"), MaxNumberOfMessages=10, VisibilityTimeout=0
    )["Messages"]
    reasons = [m["Body"] for m in dead if KEYS[0] in m["Body"]]
    assert len(reasons) == 1 and "the record names" in reasons[0] and "SHA-256" in reasons[0]
