"""The deploy script's helpers: the option routing (by the pinned CLI's own table), the bootstrap
decision (boto3 against moto) and the step runner that keeps a slow set-up talking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import bootstrap_check  # noqa: E402
import cdk_args  # noqa: E402


@pytest.fixture(scope="module")
def options():
    return cdk_args.load_options()


@pytest.mark.parametrize(
    "args, synth, bootstrap, deploy",
    [
        (["-c", "a=1"], ["-c", "a=1"], ["-c", "a=1"], ["-c", "a=1"]),
        (
            ["--context=a=1", "--profile", "p", "--region=eu-west-1"],
            ["--context=a=1", "--profile", "p", "--region=eu-west-1"],
            ["--context=a=1", "--profile", "p", "--region=eu-west-1"],
            ["--context=a=1", "--profile", "p", "--region=eu-west-1"],
        ),
        (
            ["--trust", "1", "--bootstrap-kms-key-id", "k", "--cloudformation-execution-policies", "arn:p"],
            [],
            ["--trust", "1", "--bootstrap-kms-key-id", "k", "--cloudformation-execution-policies", "arn:p"],
            [],
        ),
        (
            ["--require-approval", "never", "--hotswap", "-O", "o.json", "--no-rollback", "--concurrency", "2"],
            [],
            [],
            ["--require-approval", "never", "--hotswap", "-O", "o.json", "--no-rollback", "--concurrency", "2"],
        ),
        (
            ["--toolkit-stack-name", "T", "--tags", "k=v"],
            [],
            ["--toolkit-stack-name", "T", "--tags", "k=v"],
            ["--toolkit-stack-name", "T", "--tags", "k=v"],
        ),
        (
            ["-c", "stack_name=MyStack", "MyStack", "-v"],
            ["-c", "stack_name=MyStack", "-v"],
            ["-c", "stack_name=MyStack", "-v"],
            ["-c", "stack_name=MyStack", "MyStack", "-v"],
        ),
        (["--requireApproval", "never"], [], [], ["--requireApproval", "never"]),
    ],
)
def test_each_command_gets_what_it_understands(options, args, synth, bootstrap, deploy):
    assert cdk_args.route("deploy", "synth", args, options) == synth
    assert cdk_args.route("deploy", "bootstrap", args, options) == bootstrap
    assert cdk_args.route("deploy", "deploy", args, options) == deploy


@pytest.mark.parametrize(
    "command, args, says",
    [
        ("deploy", ["--bogus"], "unknown option --bogus"),
        ("deploy", ["-c", "bucket_name=my-b", "MyStack"], "'MyStack' is neither a command of ./cdk-deploy.sh"),
        ("destroy", ["-c", "bucket_name=my-b", "--force", "deploi"], "did you mean `./cdk-deploy.sh deploy`"),
        ("deploy", ["--app", "x"], "this repository's app"),
        ("deploy", ["-o", "elsewhere"], "synthesizes into cdk.out"),
        ("deploy", ["--qualifier", "q"], "@aws-cdk/core:bootstrapQualifier"),
        ("deploy", ["-cfoo=bar"], "write a short option and its value apart"),
        ("deploy", ["--profile"], "needs a value"),
        ("deploy", ["--", "x"], "'--' is not supported"),
        ("destroy", ["--hotswap"], "not of `cdk destroy`"),
        ("destroy", ["--trust", "1"], "not of `cdk destroy`"),
    ],
)
def test_what_no_command_would_use_is_an_error(options, command, args, says):
    with pytest.raises(cdk_args.ArgumentError, match=says.replace("(", r"\(").replace("*", r"\*")):
        cdk_args.route(command, "synth", args, options)


def test_the_command_line_form_prints_nul_separated_arguments():
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "cdk_args.py"),
            "deploy",
            "bootstrap",
            "-c",
            "a=b c",
            "--trust",
            "1",
            "--hotswap",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split("\0") == ["-c", "a=b c", "--trust", "1", ""]
    bad = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "cdk_args.py"), "deploy", "deploy", "--nope"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("error: unknown option --nope")


def test_option_values_are_read_as_the_cli_reads_them():
    args = ["-c", "x=1", "--profile", "a", "--region=eu-west-3", "--profile", "b"]
    assert (cdk_args.option_value(args, "profile"), cdk_args.option_value(args, "region")) == ("b", "eu-west-3")
    assert cdk_args.option_value(["-c", "x"], "profile") is None


def assembly(tmp_path: Path, version: int = 6, parameter: str = "/cdk-bootstrap/hnb659fds/version") -> Path:
    (tmp_path / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    "S": {
                        "type": "aws:cloudformation:stack",
                        "properties": {
                            "requiresBootstrapStackVersion": version,
                            "bootstrapStackVersionSsmParameter": parameter,
                        },
                    },
                    "S.assets": {
                        "type": "cdk:asset-manifest",
                        "properties": {
                            "requiresBootstrapStackVersion": 6,
                            "bootstrapStackVersionSsmParameter": parameter,
                        },
                    },
                    "Tree": {"type": "cdk:tree", "properties": {}},
                }
            }
        )
    )
    return tmp_path


@pytest.mark.parametrize(
    "stored, required, status, says",
    [
        (None, 6, bootstrap_check.NEEDED, "is not bootstrapped"),
        ("5", 6, bootstrap_check.NEEDED, "version 5, older than the 6"),
        ("6", 6, bootstrap_check.OK, "bootstrapped at version 6"),
        ("33", 8, bootstrap_check.OK, "version 33 (the app requires 8 or newer)"),
        ("v2", 6, bootstrap_check.UNKNOWN, "not a version number"),
    ],
)
def test_the_bootstrap_decision(tmp_path, stored, required, status, says):
    with mock_aws():
        if stored is not None:
            boto3.client("ssm", region_name="eu-west-1").put_parameter(
                Name="/cdk-bootstrap/hnb659fds/version", Value=stored, Type="String"
            )
        got, message = bootstrap_check.check(assembly(tmp_path, required), None, "eu-west-1")
    assert got == status and says in message and "account 123456789012, region eu-west-1" in message


def test_a_custom_qualifier_reads_its_own_parameter(tmp_path):
    with mock_aws():
        ssm = boto3.client("ssm", region_name="eu-west-1")
        ssm.put_parameter(Name="/cdk-bootstrap/hnb659fds/version", Value="30", Type="String")
        got, message = bootstrap_check.check(assembly(tmp_path, 6, "/cdk-bootstrap/q1/version"), None, "eu-west-1")
    assert got == bootstrap_check.NEEDED and "/cdk-bootstrap/q1/version does not exist" in message


def test_no_permission_to_read_the_version_does_not_bootstrap(tmp_path, monkeypatch):
    from botocore.exceptions import ClientError

    with mock_aws():
        real_client = boto3.Session.client

        def client(self, name, *a, **kw):
            made = real_client(self, name, *a, **kw)
            if name == "ssm":

                def denied(**_):
                    raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GetParameter")

                made.get_parameter = denied
            return made

        monkeypatch.setattr(boto3.Session, "client", client)
        got, message = bootstrap_check.check(assembly(tmp_path), None, "eu-west-1")
    assert (
        got == bootstrap_check.UNKNOWN
        and "AccessDeniedException" in message
        and "cdk deploy checks the version itself" in message
    )


def test_no_region_and_no_assembly_are_errors(tmp_path, monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with mock_aws():
        assert bootstrap_check.check(assembly(tmp_path), None, None)[0] == bootstrap_check.CANNOT
    got, message = bootstrap_check.check(tmp_path / "missing", None, "eu-west-1")
    assert got == bootstrap_check.CANNOT and "cannot read the synthesized assembly" in message


def step(*argv: str, heartbeat: str = "0.5") -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "run_step.py"), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "SETUP_HEARTBEAT_SECONDS": heartbeat},
    )


def test_a_silent_step_keeps_talking_and_says_how_long_it_took():
    result = step("--expect", "about 2 s", "waiting", "--", "sleep", "1.8")
    lines = result.stderr.splitlines()
    assert result.returncode == 0
    assert lines[0] == "[setup] waiting (about 2 s) ..."
    assert sum("... still waiting (" in line for line in lines) >= 2
    assert lines[-1].startswith("[setup] waiting: done in ")


def test_pip_mode_relays_only_notable_lines_and_a_failure_shows_the_end_of_the_output():
    command = [
        "bash",
        "-c",
        "echo 'Collecting x==1'; echo 'Requirement already satisfied: y'; echo 'the real reason' >&2; exit 3",
    ]
    result = step("--pip", "installing", "--", *command)
    assert result.returncode == 3
    assert "[setup]   Collecting x==1" in result.stderr
    assert "[setup]   Requirement already" not in result.stderr
    assert "    the real reason" in result.stderr and "installing: FAILED (exit status 3)" in result.stderr


def test_a_command_that_cannot_start_is_reported():
    result = step("x", "--", "/nonexistent/tool")
    assert result.returncode == 127 and "cannot start '/nonexistent/tool'" in result.stderr


def test_the_bootstrap_message_names_the_version_the_pinned_cli_installs(tmp_path):
    assert bootstrap_check.cli_template_version() == "33"  # aws-cdk 2.1148.1's bootstrap-template.yaml
    with mock_aws():
        got, message = bootstrap_check.check(assembly(tmp_path), None, "eu-west-1")
    assert got == bootstrap_check.NEEDED and "bootstrapping (the pinned CLI installs version 33). " in message
    # What it will grant, said with it: AdministratorAccess unless execution policies are given.
    assert "gets arn:aws:iam::aws:policy/AdministratorAccess" in message
    with mock_aws():
        _, limited = bootstrap_check.check(assembly(tmp_path), None, "eu-west-1", ["arn:aws:iam::1:policy/p"])
    assert "gets only the policies given: arn:aws:iam::1:policy/p" in limited and "AdministratorAccess" not in limited
