"""The bucket's own rules on the strict emulator (issue 17, item 1 and item 6's --bucket-config):
the local run sets the demo bucket up like a real one, and every run's output says what the
rewrite does to its lifecycle expiration, Object Lock default retention and replication."""

from __future__ import annotations

import json

import pytest

from emulator import local_run
from emulator.samples import write_wav

LOCK_DAYS = 3650


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    root = tmp_path_factory.mktemp("calls")
    write_wav(root / "call one.wav", 2, seed=1)
    write_wav(root / "call two.wav", 3, seed=2)
    return root


def expiration(prefix: str, days: int = 2190) -> dict:
    return {
        "Rules": [
            {
                "ID": "retention",
                "Status": "Enabled",
                "Filter": {"Prefix": prefix},
                "Expiration": {"Days": days},
                "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
            }
        ]
    }


REAL_BUCKET = {
    "LifecycleConfiguration": expiration("connect/"),
    "ObjectLockConfiguration": {
        "ObjectLockEnabled": "Enabled",
        "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": LOCK_DAYS}},
    },
    "ReplicationConfiguration": {
        "Role": "arn:aws:iam::123456789012:role/replication",
        "Rules": [
            {
                "ID": "to-dr",
                "Priority": 1,
                "Status": "Enabled",
                "Filter": {"Prefix": "connect/"},
                "DeleteMarkerReplication": {"Status": "Disabled"},
                "Destination": {"Bucket": "arn:aws:s3:::dr-recordings"},
            }
        ],
    },
}


def local(capsys, tmp_path, recordings, config: dict, run_input: str) -> tuple[int, dict, str, str]:
    config_path, report_path = tmp_path / "bucket.json", tmp_path / "report.json"
    config_path.write_text(json.dumps(config))
    argv = ["--recordings", recordings, "--input", run_input, "--bucket-config", config_path, "--report", report_path]
    code = local_run.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, json.loads(report_path.read_text()), captured.out, captured.err


def test_a_dry_run_on_a_real_bucket_carries_the_three_warnings_and_projects_them(tmp_path, recordings, capsys):
    code, report, printed, err = local(
        capsys, tmp_path, recordings, REAL_BUCKET, '{"specific_date": "01/01/2022", "dry_run": true}'
    )
    summary = report["execution"]["summary"]
    warnings = summary["warnings"]
    assert code == 0, report["execution"]
    assert any("lifecycle rule 'retention' expires current versions 2190 days" in w for w in warnings), warnings
    assert any(f"Object Lock default retention GOVERNANCE {LOCK_DAYS} days" in w for w in warnings), warnings
    assert any("replication copies new versions" in w and "dr-recordings" in w for w in warnings), warnings
    assert "replication is read by the preflight, not executed" in err
    # The projection: two recordings of 01/01/2022, each kept as many days longer as it is old.
    effect = summary["bucket_rules_effect"]
    restarted, locked = effect["restarted_expiration"], effect["locked_originals"]
    assert restarted["recordings"] == 2 and restarted["rule_days"] == 2190
    assert restarted["most_days_longer"] == restarted["average_days_longer"] > 1000
    # Locked originals: (LOCK_DAYS - age) days of both recordings' bytes, exactly (one day).
    age = restarted["most_days_longer"]
    expected = summary["bytes"] * (LOCK_DAYS - age) / 1024**3 / 30
    assert locked["gb_months_at_least"] == locked["gb_months_at_most"] == round(expected, 4)
    assert "would be kept longer than the bucket's 2190-day expiration" in printed
    assert "Object Lock (GOVERNANCE, 3650 days) keeps the originals billed" in printed
    assert all(o["versions"] == 1 for o in report["objects"])


def test_a_rule_on_another_prefix_gives_no_expiration_warning(tmp_path, recordings, capsys):
    config = {"LifecycleConfiguration": expiration("chat-transcripts/", days=30)}
    code, report, _, _ = local(capsys, tmp_path, recordings, config, '{"specific_date": "01/01/2022", "dry_run": true}')
    summary = report["execution"]["summary"]
    assert code == 0
    assert not any("expires current versions" in w for w in summary["warnings"]), summary["warnings"]
    assert not any("Object Lock" in w or "replication" in w for w in summary["warnings"])
    assert "bucket_rules_effect" not in summary


def test_a_run_on_a_locked_bucket_counts_the_retain_until_dates_it_carried(tmp_path, recordings, capsys):
    code, report, _, _ = local(capsys, tmp_path, recordings, REAL_BUCKET, '{"specific_date": "01/01/2022"}')
    summary = report["execution"]["summary"]
    assert code == 0, report["execution"]
    assert summary["converted"] == 2 and summary["retain_until_carried"] == 2
    assert report["execution"]["truth"]["differences"] == []


def test_object_lock_with_unversioned_is_a_usage_error(tmp_path, capsys):
    config_path = tmp_path / "bucket.json"
    config_path.write_text(json.dumps({"ObjectLockConfiguration": REAL_BUCKET["ObjectLockConfiguration"]}))
    code = local_run.main(["--unversioned", "--bucket-config", str(config_path)])
    assert code == local_run.EXIT_USAGE
    assert "cannot be used with --unversioned" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "says"),
    [("[]", "must hold a JSON object"), ('{"Lifecycle": {}}', "unknown key(s) Lifecycle"), ("{", "not valid JSON")],
)
def test_a_bad_bucket_config_is_a_usage_error(tmp_path, capsys, content, says):
    config_path = tmp_path / "bucket.json"
    config_path.write_text(content)
    assert local_run.main(["--bucket-config", str(config_path)]) == local_run.EXIT_USAGE
    assert says in capsys.readouterr().err


def test_the_bucket_rules_are_read_with_their_own_actions_and_the_lister_holds_them(stack):
    """On the strict emulator the Object Lock and replication configurations need their own IAM
    actions (not s3:ListBucket), and the lister's role from the template has both."""
    from emulator.iam import acting_as
    from tests.e2e.test_strict_iam import client, error_of, role_with

    deployment, _ = stack
    s3, bucket_arn = client("s3"), f"arn:aws:s3:::{deployment.bucket}"
    lister_only = role_with(deployment, ["s3:ListBucket", "s3:GetLifecycleConfiguration"], bucket_arn)
    with acting_as(lister_only):
        assert error_of(s3.get_object_lock_configuration, Bucket=deployment.bucket)[0] == "AccessDenied"
        assert error_of(s3.get_bucket_replication, Bucket=deployment.bucket)[0] == "AccessDenied"
    with acting_as(deployment.identities.role("FunctionsListerRole")):
        lock = error_of(s3.get_object_lock_configuration, Bucket=deployment.bucket)[0]
        replication = error_of(s3.get_bucket_replication, Bucket=deployment.bucket)[0]
    assert (lock, replication) == ("ObjectLockConfigurationNotFoundError", "ReplicationConfigurationNotFoundError")


def test_a_run_that_lists_nothing_says_the_prefix_may_be_wrong(stack):
    from emulator.run import run_execution

    deployment, lambdas = stack
    execution = run_execution(deployment, lambdas, {"specific_date": "01/01/2022"})
    assert execution.status == "SUCCEEDED", execution.cause
    (hint,) = [w for w in execution.output["warnings"] if "no recording was listed" in w]
    assert "nothing at all is under s3://" in hint and "connect/<instance-alias>/CallRecordings/YYYY/MM/DD/" in hint
