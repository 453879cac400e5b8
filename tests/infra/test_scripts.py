"""The user's entry points: the pinned CDK CLI synthesizes offline; the deploy script refuses a
missing bucket before touching AWS."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support import PREFIX

pytestmark = pytest.mark.long  # the scripts on fresh clones, the CDK CLI offline: minutes


ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SESSION_TOKEN": "",
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_npx_cdk_synth_works_offline(tmp_path):
    out = tmp_path / "cdk.out"
    result = run(
        [
            "npx",
            "--no-install",
            "cdk",
            "synth",
            "-c",
            "bucket_name=my-connect-recordings",
            "-c",
            "bucket_prefix=connect/my-instance/CallRecordings/",
            "-c",
            "@aws-cdk/core:bootstrapQualifier=custom1",
            "--quiet",
            "-o",
            str(out),
        ],
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert (out / "CallRecordingOptimizer-my-connect-recordings.template.json").exists()
    # What scripts/bootstrap_check.py reads from the real assembly: the version it requires, and
    # where that version is published, with the custom qualifier.
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from bootstrap_check import requirement

    assert requirement(out) == (6, "/cdk-bootstrap/custom1/version")
    assert "end-of-life" not in result.stderr  # the jsii banner is silenced by app.py


def test_synth_without_bucket_stops_with_the_key_named(tmp_path):
    result = run(["npx", "--no-install", "cdk", "synth", "--quiet", "-o", str(tmp_path / "cdk.out")], tmp_path)
    assert result.returncode != 0
    assert "bucket_name" in result.stderr and "cdk.context.json" in result.stderr


@pytest.mark.parametrize(
    "setting, says",
    [
        ("schedule=cron(0 25 * * ? *)", "schedule='cron(0 25 * * ? *)' is not an EventBridge Scheduler expression: "),
        ("schedule_timezone=Mars/Olympus", "schedule_timezone='Mars/Olympus' is not an IANA time zone"),
    ],
)
def test_synth_refuses_a_schedule_or_time_zone_eventbridge_scheduler_would_refuse(tmp_path, setting, says):
    """Before issue 19 both synthesized and failed only inside CloudFormation, after the layer upload."""
    result = run(
        ["npx", "--no-install", "cdk", "synth", "--quiet", "-o", str(tmp_path / "cdk.out"), "-c", "bucket_name=b-x"]
        + ["-c", f"bucket_prefix={PREFIX}", "-c", setting],
        tmp_path,
    )
    assert result.returncode != 0 and says in result.stderr, result.stderr
    assert not (tmp_path / "cdk.out" / "CallRecordingOptimizer-b-x.template.json").exists()


def test_deploy_script_stops_before_aws_without_a_usable_bucket(tmp_path):
    result = run([str(ROOT / "cdk-deploy.sh")], tmp_path)
    assert result.returncode == 2
    assert "bucket_name" in result.stderr and "placeholder" in result.stderr
    assert "bootstrapping" not in result.stderr


def test_deploy_script_and_synth_stop_without_a_usable_prefix(tmp_path):
    """The shipped placeholder of bucket_prefix stops the deploy script's early validation and a
    plain synth alike, naming the key and Connect's layout."""
    result = run([str(ROOT / "cdk-deploy.sh"), "-c", "bucket_name=my-b"], tmp_path)
    assert result.returncode == 2, result.stderr
    assert "bucket_prefix=" in result.stderr and "is still the placeholder" in result.stderr
    assert "connect/<instance-alias>/CallRecordings/YYYY/MM/DD/" in result.stderr
    synth = run(
        ["npx", "--no-install", "cdk", "synth", "-c", "bucket_name=my-b", "--quiet", "-o", str(tmp_path / "out")],
        tmp_path,
    )
    assert synth.returncode != 0 and "bucket_prefix" in synth.stderr and "CallRecordings/YYYY/MM/DD/" in synth.stderr


def test_plain_npx_cdk_on_a_fresh_clone_says_what_to_set_up(tmp_path):
    from fresh import fresh_copy

    repo = fresh_copy(tmp_path / "clone", link=["node_modules"])
    env = {**os.environ, "CDK_DISABLE_VERSION_CHECK": "1"}
    result = subprocess.run(
        ["npx", "--no-install", "cdk", "synth", "-c", "bucket_name=my-b", "--quiet"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "error: .venv/bin/python is missing: run ./cdk-deploy.sh setup first" in result.stderr


def test_destroy_on_a_fresh_clone_needs_no_layer_build(tmp_path):
    """`./cdk-deploy.sh destroy` synthesizes with the real CLI without any built layer and builds
    none. The script's own credentials check talks to moto (fake_aws/); the CLI has no credentials,
    so it stops when it needs the account, after the synthesis named the stack."""
    from fresh import INSTALLED, fresh_copy

    repo = fresh_copy(tmp_path / "clone", link=INSTALLED)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_REGION": "eu-west-1",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "CDK_DISABLE_VERSION_CHECK": "1",
            "AWS_EC2_METADATA_DISABLED": "true",
            "FAKE_AWS_SSM": "{}",
            "PYTHONPATH": str(Path(__file__).parent / "fake_aws"),
        }
    )
    result = subprocess.run(
        # No bucket_prefix: cdk.context.json's placeholder stands; removing needs only the name.
        [str(repo / "cdk-deploy.sh"), "destroy", "-c", "bucket_name=my-b", "--force"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "not built" not in output and "layers/build.sh" not in output, output
    assert "CallRecordingOptimizer-my-b: destroying" in output and "Unable to resolve AWS account" in output, output
    assert not (repo / "layers" / "ffmpeg" / "build").exists() and not (repo / "layers" / "python" / "build").exists()


def test_an_assembly_synthesized_for_destroy_is_never_deployed(tmp_path):
    """The deploy path unsets OPTIMIZER_SYNTH_FOR, so its layers are always the built ones."""
    text = (ROOT / "cdk-deploy.sh").read_text()
    deploy_part = text[text.index("unset OPTIMIZER_SYNTH_FOR") :]
    assert deploy_part.count("OPTIMIZER_SYNTH_FOR=destroy") == 1
    assert "OPTIMIZER_SYNTH_FOR=destroy npx --no-install cdk destroy" in deploy_part


def test_the_preflight_warns_of_a_setting_in_both_files_and_refuses_a_typo(tmp_path):
    """What ./cdk-deploy.sh prints before anything else (app.py prints the same warning at synth)."""
    import sys

    (tmp_path / "cdk.json").write_text('{"app": "x", "context": {"num_days_age": 3}}')
    (tmp_path / "cdk.context.json").write_text(
        '{"bucket_name": "my-b", "bucket_prefix": "connect/i/CallRecordings/", "num_days_age": 4}'
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    ok = subprocess.run(
        [sys.executable, "-m", "stacks.context_check"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert ok.returncode == 0 and ok.stdout == "arm64\n"
    assert "warning: num_days_age is set in both cdk.json (3, used) and cdk.context.json (4, ignored)" in ok.stderr
    typo = subprocess.run(
        [sys.executable, "-m", "stacks.context_check", "-c", "num_day_age=3"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert typo.returncode == 2 and "unknown setting 'num_day_age' (did you mean num_days_age?)" in typo.stderr
    assert typo.stdout == ""
