"""The preflight's verdict on real bucket configurations (moto)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from optimizer.preflight import VersioningRequired, check_versioning
from optimizer.settings import Settings
from tests.support import make_settings

BUCKET = "preflight-bucket"
PREFIX = "connect/acme/CallRecordings/"


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket=BUCKET)
        yield client


def settings(**kw) -> Settings:
    return make_settings(bucket=BUCKET, bucket_prefix=PREFIX, **kw)


def version(s3, status: str) -> None:
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": status})


def rules(s3, *rules) -> None:
    s3.put_bucket_lifecycle_configuration(Bucket=BUCKET, LifecycleConfiguration={"Rules": list(rules)})


def rule(filt: dict, status: str = "Enabled", noncurrent: bool = True) -> dict:
    r = {"ID": "r", "Status": status, "Filter": filt}
    r.update({"NoncurrentVersionExpiration": {"NoncurrentDays": 1}} if noncurrent else {"Expiration": {"Days": 3650}})
    return r


@pytest.mark.parametrize("status", [None, "Suspended"])
def test_unversioned_or_suspended_bucket_is_refused_with_how_to_fix(s3, status):
    if status:
        version(s3, "Enabled")
        version(s3, status)
    with pytest.raises(VersioningRequired, match="put-bucket-versioning") as err:
        check_versioning(s3, settings())[0]
    assert "-c require_versioning=false" in str(err.value)


def test_opting_out_turns_the_refusal_into_a_warning(s3):
    (warning,) = check_versioning(s3, settings(require_versioning=False))[0]
    assert "overwritten for good" in warning


@pytest.mark.parametrize(
    "configured, warned",
    [
        (None, True),
        (rule({"Prefix": "connect/"}), False),
        (rule({"Prefix": ""}), False),
        (rule({"Prefix": PREFIX}), False),
        (rule({"Prefix": "connect/other/"}), True),
        (rule({"Prefix": "connect/"}, status="Disabled"), True),
        (rule({"Prefix": "connect/"}, noncurrent=False), True),
        (rule({"And": {"Prefix": "connect/", "Tags": [{"Key": "converted", "Value": "True"}]}}), True),
        (rule({"Tag": {"Key": "converted", "Value": "True"}}), True),
    ],
    ids=[
        "no-rule",
        "parent-prefix",
        "whole-bucket",
        "same-prefix",
        "other-prefix",
        "disabled",
        "current-only",
        "prefix-and-tag",
        "tag-only",
    ],
)
def test_warning_unless_a_rule_expires_noncurrent_versions_under_the_prefix(s3, configured, warned):
    version(s3, "Enabled")
    if configured:
        rules(s3, configured)
    warnings = check_versioning(s3, settings())[0]
    assert bool(warnings) is warned
    if warned:
        assert "stay billed at S3 Standard" in warnings[0] and PREFIX in warnings[0]


# --- the read probe -------------------------------------------------------------------------

from botocore.exceptions import ClientError  # noqa: E402

from optimizer.preflight import PROBE_DAYS, ReadDenied, probe_read  # noqa: E402

DAYS = [f"{PREFIX}2022/01/0{d}/" for d in range(1, 10)]


class _DeniedRead:
    """Answers the ranged GetObject as S3 does when KMS refuses the role (moto has no key policies)."""

    def __init__(self, real, code: str = "AccessDenied") -> None:
        self._real, self._code = real, code

    def __getattr__(self, name):
        return getattr(self._real, name)

    def get_object(self, **kwargs):
        assert kwargs["Range"] == "bytes=0-0"
        raise ClientError(
            {"Error": {"Code": self._code, "Message": "not authorized to perform: kms:Decrypt"}}, "GetObject"
        )


def test_probe_reads_the_first_recording_of_the_first_day_that_has_one(s3):
    s3.put_object(Bucket=BUCKET, Key=DAYS[2] + "notes.txt", Body=b"x")
    s3.put_object(Bucket=BUCKET, Key=DAYS[2] + "a.wav", Body=b"RIFF")
    assert probe_read(s3, BUCKET, DAYS) == DAYS[2] + "a.wav"


def test_probe_with_no_recording_in_the_first_days_reads_nothing(s3):
    s3.put_object(Bucket=BUCKET, Key=DAYS[PROBE_DAYS] + "late.wav", Body=b"RIFF")
    assert probe_read(s3, BUCKET, DAYS) is None


def test_a_recording_the_role_cannot_decrypt_refuses_the_run_naming_the_key(s3):
    key_id = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    s3.put_object(
        Bucket=BUCKET, Key=DAYS[0] + "a.wav", Body=b"RIFF", ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id
    )
    with pytest.raises(ReadDenied) as err:
        probe_read(_DeniedRead(s3), BUCKET, DAYS)
    message = str(err.value)
    assert f"s3://{BUCKET}/{DAYS[0]}a.wav" in message and key_id in message and "-c kms_key_arn=" in message
    assert "kms:Decrypt" in message and "Nothing was listed or converted" in message


def test_a_throttled_probe_is_not_a_refusal(s3):
    s3.put_object(Bucket=BUCKET, Key=DAYS[0] + "a.wav", Body=b"RIFF")
    with pytest.raises(ClientError):  # the state machine's retry takes it
        probe_read(_DeniedRead(s3, "SlowDown"), BUCKET, DAYS)


class _DeniedSome(_DeniedRead):
    """Denies the ranged GetObject of some keys only (a bucket policy on a few, another KMS key)."""

    def __init__(self, real, denied: set[str]) -> None:
        super().__init__(real)
        self._denied = denied

    def get_object(self, **kwargs):
        if kwargs["Key"] in self._denied:
            return super().get_object(**kwargs)
        return self._real.get_object(**kwargs)


def test_the_probe_samples_several_recordings_of_each_of_the_first_days(s3):
    from optimizer.preflight import SAMPLE_MAX, SAMPLE_PER_DAY, sample_recordings

    for day in DAYS[:3]:
        for name in ("a.wav", "b.wav", "c.wav", "d.wav", "e.wav", "notes.txt"):
            s3.put_object(Bucket=BUCKET, Key=day + name, Body=b"RIFF")
    sample = sample_recordings(s3, BUCKET, DAYS)
    assert sample == [day + name for day in DAYS[:3] for name in ("a.wav", "c.wav", "e.wav")]
    assert SAMPLE_PER_DAY == 3 and len(sample) <= SAMPLE_MAX


def test_some_unreadable_recordings_do_not_stop_the_run_they_are_a_warning(s3):
    """Issue 16: one unreadable object no longer blocks the run; it fails on its own, with its reason."""
    from optimizer.preflight import probe_reads

    for name in ("a.wav", "b.wav", "c.wav"):
        s3.put_object(Bucket=BUCKET, Key=DAYS[0] + name, Body=b"RIFF")
    probe = probe_reads(_DeniedSome(s3, {DAYS[0] + "a.wav"}), BUCKET, DAYS)
    assert probe.read == [DAYS[0] + "b.wav", DAYS[0] + "c.wav"]
    assert probe.denied == [(DAYS[0] + "a.wav", "AccessDenied")]
    assert (
        "1 of 3 recordings sampled could not be read" in probe.warning() and "a.wav (AccessDenied)" in probe.warning()
    )


def test_the_run_is_refused_only_when_no_sampled_recording_can_be_read(s3):
    from optimizer.preflight import probe_reads

    keys = {DAYS[0] + name for name in ("a.wav", "b.wav", "c.wav")}
    for key in keys:
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"RIFF")
    with pytest.raises(ReadDenied, match=r"nor any of the 3 recordings sampled"):
        probe_reads(_DeniedSome(s3, keys), BUCKET, DAYS)


def test_the_preflight_reads_the_lifecycle_configuration_once(s3):
    """The noncurrent-rule warning and the bucket's-rules warnings share one read of the rules."""
    import lister

    version(s3, "Enabled")
    current = {"ID": "keep", "Status": "Enabled", "Filter": {"Prefix": "connect/"}, "Expiration": {"Days": 90}}
    rules(s3, rule({"Prefix": PREFIX}), current)
    reads: list[str] = []
    s3.meta.events.register(
        "before-call.s3.GetBucketLifecycleConfiguration", lambda **kw: reads.append(kw["model"].name)
    )
    result = lister.preflight(settings(), {"run": {"start_date": "2022-01-01", "days": 1}}, s3=s3)
    assert reads == ["GetBucketLifecycleConfiguration"]
    # both verdicts came from that one read: the noncurrent rule (no warning) and rule 'keep'
    assert [w for w in result["warnings"] if "no enabled lifecycle rule" in w] == []
    assert [w[: len("lifecycle rule 'keep' expires")] for w in result["warnings"]] == ["lifecycle rule 'keep' expires"]
