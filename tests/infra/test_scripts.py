"""The user's entry points: the pinned CDK CLI synthesizes offline; the deploy script refuses a
missing bucket before touching AWS."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": "", "AWS_SESSION_TOKEN": "", "CDK_DISABLE_VERSION_CHECK": "1"}
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_npx_cdk_synth_works_offline(tmp_path):
    out = tmp_path / "cdk.out"
    result = run(["npx", "--no-install", "cdk", "synth", "-c", "bucket_name=my-connect-recordings", "--quiet", "-o", str(out)], tmp_path)
    assert result.returncode == 0, result.stderr
    assert (out / "CallRecordingOptimizer-my-connect-recordings.template.json").exists()
    assert "end-of-life" not in result.stderr  # the jsii banner is silenced by app.py


def test_synth_without_bucket_stops_with_the_key_named(tmp_path):
    result = run(["npx", "--no-install", "cdk", "synth", "--quiet", "-o", str(tmp_path / "cdk.out")], tmp_path)
    assert result.returncode != 0
    assert "bucket_name" in result.stderr and "cdk.context.json" in result.stderr


def test_deploy_script_stops_before_aws_without_a_usable_bucket(tmp_path):
    result = run([str(ROOT / "cdk-deploy.sh")], tmp_path)
    assert result.returncode == 2
    assert "bucket_name" in result.stderr and "placeholder" in result.stderr
    assert "bootstrapping" not in result.stderr
