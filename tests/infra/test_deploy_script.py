"""./cdk-deploy.sh, run as the user runs it, in a fresh copy of the repository: its usage, --local
anywhere, the prerequisites, the routing of cdk's options, bootstrap only when needed, destroy.

`npx` is replaced by a recorder on PATH (its `cdk synth` writes a manifest like the real one: the
real one is checked in test_scripts.py), and AWS by moto inside each of the script's Python
processes (fake_aws/sitecustomize.py): nothing here can reach an AWS account.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from fresh import BUILT_LAYERS, INSTALLED, ROOT, fresh_copy  # tests/infra/fresh.py

pytestmark = pytest.mark.long  # ./cdk-deploy.sh driven end to end against fake AWS

FAKE_NPX = r"""#!/usr/bin/env bash
# Records the command line; `cdk synth` writes the bootstrap requirement the real CLI writes.
printf '%s\n' "$*" >>"$FAKE_NPX_LOG"
[[ "$1" == --no-install && "$2" == cdk ]] && shift 2
if [[ "${1:-}" == synth ]]; then
    qualifier=hnb659fds prev=
    for a in "$@"; do
        [[ "$prev" == -c && "$a" == @aws-cdk/core:bootstrapQualifier=* ]] && qualifier="${a#*=}"
        prev="$a"
    done
    mkdir -p cdk.out
    printf '{"version": "55.0.0", "artifacts": {"S": {"type": "aws:cloudformation:stack", "properties": {"requiresBootstrapStackVersion": 6, "bootstrapStackVersionSsmParameter": "/cdk-bootstrap/%s/version"}}}}' "$qualifier" >cdk.out/manifest.json
fi
"""  # noqa: E501 (a bash script: the manifest's printf stays one command line)
DEFAULT_PARAMETER = "/cdk-bootstrap/hnb659fds/version"


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return fresh_copy(tmp_path_factory.mktemp("clone"), link=INSTALLED + BUILT_LAYERS)


@pytest.fixture
def fake_npx(tmp_path) -> Path:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "npx").write_text(FAKE_NPX)
    (bin_dir / "npx").chmod(0o755)
    return bin_dir


def script(
    repo: Path, *args: str, env: dict[str, str] | None = None, path_prefix: Path | None = None, timeout: int = 300
) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    base.update(
        {
            "AWS_ACCESS_KEY_ID": "",
            "AWS_SECRET_ACCESS_KEY": "",
            "AWS_SESSION_TOKEN": "",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "CDK_DISABLE_VERSION_CHECK": "1",
        }
    )
    if path_prefix is not None:
        base["PATH"] = f"{path_prefix}:{base['PATH']}"
    base.update(env or {})
    return subprocess.run(
        [str(repo / "cdk-deploy.sh"), *args],
        cwd=repo,
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def calls(log: Path) -> list[list[str]]:
    """The recorded `npx --no-install cdk COMMAND ...` calls, as word lists without the prefix."""
    if not log.exists():
        return []
    return [line.split()[2:] for line in log.read_text().splitlines()]


def fake_aws(tmp_path: Path, ssm: dict[str, str]) -> dict[str, str]:
    return {
        "FAKE_AWS_SSM": json.dumps(ssm),
        "PYTHONPATH": str(Path(__file__).parent / "fake_aws"),
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "fake",
        "AWS_SECRET_ACCESS_KEY": "fake",
        "FAKE_NPX_LOG": str(tmp_path / "npx.log"),
    }


@pytest.mark.parametrize(
    "args", [["--help"], ["-h"], ["help"], ["-c", "bucket_name=b", "--help"], ["destroy", "--help"]]
)
def test_help_prints_the_usage_and_does_nothing_else(repo, args):
    result = script(repo, *args)
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.startswith("usage:") and "./cdk-deploy.sh --local" in result.stdout and "destroy" in result.stdout
    )
    assert "[setup]" not in result.stderr and "placeholder" not in result.stderr


@pytest.mark.parametrize(
    "args, says",
    [
        (["-c", "bucket_name=my-b", "--local"], "unrecognized arguments: -c bucket_name=my-b"),
        (["--require-approval", "never", "--local"], "unrecognized arguments"),
        (["--local", "--runs", "0"], "--runs must be at least 1"),
        (["--local", "--input", "{not json"], "not valid JSON"),
    ],
)
def test_local_anywhere_never_deploys_and_bad_local_arguments_stop_before_any_setup(
    repo, fake_npx, tmp_path, args, says
):
    log = tmp_path / "npx.log"
    result = script(repo, *args, env={"FAKE_NPX_LOG": str(log)}, path_prefix=fake_npx)
    assert result.returncode == 2
    assert says in result.stderr
    assert "[setup]" not in result.stderr and calls(log) == []


def test_local_help_lists_the_local_options_without_setting_up(repo):
    result = script(repo, "--local", "--help")
    assert result.returncode == 0 and "--recordings DIR" in result.stdout and "[setup]" not in result.stderr


def _bin_without(tmp_path: Path, *missing: str) -> str:
    """A PATH holding the tools the script needs before its prerequisite check, minus `missing`."""
    bin_dir = tmp_path / "minimal-bin"
    bin_dir.mkdir()
    for tool in (
        "bash",
        "dirname",
        "cat",
        "sed",
        "rm",
        "mktemp",
        "sha256sum",
        "cut",
        "uname",
        "node",
        "npm",
        "python3",
    ):
        if tool not in missing and (found := shutil.which(tool)):
            (bin_dir / tool).symlink_to(found)
    return str(bin_dir)


@pytest.mark.parametrize(
    "args", [["--local"], ["-c", "bucket_name=my-b"], ["destroy", "-c", "bucket_name=my-b"], ["setup"]]
)
def test_without_node_every_path_says_so_before_any_work(repo, tmp_path, args):
    import sys

    result = script(repo, *args, env={"PATH": _bin_without(tmp_path, "node", "npm"), "PYTHON": sys.executable})
    assert result.returncode == 2
    assert result.stderr.startswith("error: Node.js 18 or newer is required"), result.stderr
    assert "Traceback" not in result.stderr and "[setup]" not in result.stderr


@pytest.mark.parametrize("args", [["--local"], ["-c", "bucket_name=my-b"], ["destroy", "-c", "bucket_name=my-b"]])
def test_without_a_usable_python_every_path_says_so_before_any_work(repo, args):
    result = script(repo, *args, env={"PYTHON": "/nonexistent/python3.11"})
    assert result.returncode == 2
    assert "error: PYTHON=/nonexistent/python3.11 is not a working Python 3.11 or newer" in result.stderr
    assert "[setup]" not in result.stderr


def test_the_test_runner_checks_the_prerequisites_too(tmp_path):
    import sys

    env = {**os.environ, "PATH": _bin_without(tmp_path, "node", "npm"), "PYTHON": sys.executable}
    result = subprocess.run([str(ROOT / "run-tests.sh"), "--co"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stderr.startswith("error: Node.js 18 or newer is required")


def test_an_unknown_option_stops_before_any_aws_call(repo, fake_npx, tmp_path):
    result = script(repo, "-c", "bucket_name=my-b", "--bogus", env=fake_aws(tmp_path, {}), path_prefix=fake_npx)
    assert result.returncode == 2 and "unknown option --bogus" in result.stderr
    assert calls(tmp_path / "npx.log") == []


def test_no_credentials_stop_before_the_synthesis(repo, fake_npx, tmp_path):
    result = script(
        repo,
        "-c",
        "bucket_name=my-b",
        env={"FAKE_NPX_LOG": str(tmp_path / "npx.log"), "AWS_REGION": "eu-west-1"},
        path_prefix=fake_npx,
    )
    assert result.returncode == 2 and "no AWS credentials" in result.stderr
    assert calls(tmp_path / "npx.log") == []


def test_a_fresh_account_is_bootstrapped_with_bootstraps_arguments_only(repo, fake_npx, tmp_path):
    result = script(
        repo,
        "-c",
        "bucket_name=my-b",
        "--require-approval",
        "never",
        "--hotswap",
        "--outputs-file",
        "out.json",
        "--trust",
        "111122223333",
        "--region",
        "eu-west-1",
        "--all",
        "-v",
        env=fake_aws(tmp_path, {}),
        path_prefix=fake_npx,
    )
    assert result.returncode == 0, result.stderr
    assert "is not bootstrapped (/cdk-bootstrap/hnb659fds/version does not exist): bootstrapping" in result.stderr
    synth, bootstrap, deploy = calls(tmp_path / "npx.log")
    assert synth == ["synth", "--quiet", "-c", "bucket_name=my-b", "--region", "eu-west-1", "-v"]
    assert bootstrap == [
        "bootstrap",
        "--app",
        "cdk.out",
        "-c",
        "bucket_name=my-b",
        "--trust",
        "111122223333",
        "--region",
        "eu-west-1",
        "-v",
    ]
    assert deploy == [
        "deploy",
        "--app",
        "cdk.out",
        "-c",
        "bucket_name=my-b",
        "--require-approval",
        "never",
        "--hotswap",
        "--outputs-file",
        "out.json",
        "--region",
        "eu-west-1",
        "--all",
        "-v",
    ]


def test_a_recent_enough_bootstrap_is_left_alone_and_unused_bootstrap_options_are_said(repo, fake_npx, tmp_path):
    result = script(
        repo,
        "-c",
        "bucket_name=my-b",
        "--trust",
        "111122223333",
        env=fake_aws(tmp_path, {DEFAULT_PARAMETER: "21"}),
        path_prefix=fake_npx,
    )
    assert result.returncode == 0, result.stderr
    assert "bootstrapped at version 21 (the app requires 6 or newer): no bootstrap needed" in result.stderr
    assert "the bootstrap options given were not used" in result.stderr
    assert [c[0] for c in calls(tmp_path / "npx.log")] == ["synth", "deploy"]


def test_an_older_bootstrap_is_upgraded(repo, fake_npx, tmp_path):
    result = script(
        repo, "-c", "bucket_name=my-b", env=fake_aws(tmp_path, {DEFAULT_PARAMETER: "5"}), path_prefix=fake_npx
    )
    assert result.returncode == 0, result.stderr
    assert "bootstrapped at version 5, older than the 6 this app requires: bootstrapping" in result.stderr
    assert [c[0] for c in calls(tmp_path / "npx.log")] == ["synth", "bootstrap", "deploy"]


def test_a_custom_qualifier_is_checked_where_the_app_looks(repo, fake_npx, tmp_path):
    qualifier = ["-c", "@aws-cdk/core:bootstrapQualifier=custom1"]
    # The default qualifier's stack is recent, the custom one does not exist: bootstrap, with the qualifier as context.
    result = script(
        repo,
        "-c",
        "bucket_name=my-b",
        *qualifier,
        env=fake_aws(tmp_path, {DEFAULT_PARAMETER: "21"}),
        path_prefix=fake_npx,
    )
    assert result.returncode == 0, result.stderr
    assert "/cdk-bootstrap/custom1/version does not exist" in result.stderr
    bootstrap = calls(tmp_path / "npx.log")[1]
    assert bootstrap[0] == "bootstrap" and "@aws-cdk/core:bootstrapQualifier=custom1" in bootstrap


def test_the_qualifier_option_is_refused_for_the_context_key(repo, fake_npx, tmp_path):
    result = script(
        repo, "-c", "bucket_name=my-b", "--qualifier", "q1", env=fake_aws(tmp_path, {}), path_prefix=fake_npx
    )
    assert result.returncode == 2 and "-c @aws-cdk/core:bootstrapQualifier=QUALIFIER" in result.stderr
    assert calls(tmp_path / "npx.log") == []


def test_destroy_passes_only_destroys_options(repo, fake_npx, tmp_path):
    result = script(
        repo, "destroy", "-c", "bucket_name=my-b", "--force", env=fake_aws(tmp_path, {}), path_prefix=fake_npx
    )
    assert result.returncode == 0, result.stderr
    assert calls(tmp_path / "npx.log") == [["destroy", "-c", "bucket_name=my-b", "--force"]]
    refused = script(
        repo, "destroy", "-c", "bucket_name=my-b", "--hotswap", env=fake_aws(tmp_path, {}), path_prefix=fake_npx
    )
    assert refused.returncode == 2 and "not of `cdk destroy`" in refused.stderr
