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

from tests.support import PREFIX

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
    """A user's copy: bucket_prefix filled in in cdk.context.json, bucket_name given with -c."""
    copy = fresh_copy(tmp_path_factory.mktemp("clone"), link=INSTALLED + BUILT_LAYERS)
    context = json.loads((copy / "cdk.context.json").read_text())
    (copy / "cdk.context.json").write_text(
        json.dumps({**context, "bucket_prefix": "connect/my-instance/CallRecordings/"}, indent=2)
    )
    return copy


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


def fake_aws(
    tmp_path: Path, ssm: dict[str, str], lambda_account: dict | None = None, stack: dict | None = None
) -> dict[str, str]:
    """lambda_account: what Lambda's GetAccountSettings answers (fake_aws/sitecustomize.py); by
    default a default account's 1,000 unreserved concurrent executions. stack: the deployed stack
    scripts/destroy_check.py reads ({"name", "dlq_messages", "running"}); by default none."""
    return {
        **({"FAKE_AWS_STACK": json.dumps(stack)} if stack else {}),
        "FAKE_AWS_SSM": json.dumps(ssm),
        "FAKE_AWS_LAMBDA_ACCOUNT": json.dumps(lambda_account or {"unreserved": 1000}),
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
        (["-c", "storage_clas=STANDARD_IA", "--local"], "unknown setting 'storage_clas' (did you mean storage_class?)"),
        (["--local", "-c", "schedule=cron(0 25 * * ? *)"], "schedule='cron(0 25 * * ? *)' is not an EventBridge"),
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


def test_local_paths_are_the_callers_not_the_repositorys(repo, tmp_path):
    """Run from another directory, a relative --recordings is looked for there (the script runs
    from the repository): a folder only the repository holds is not found, and named absolute."""
    (repo / "only-in-the-repository").mkdir(exist_ok=True)
    caller = tmp_path / "caller"
    caller.mkdir()
    result = subprocess.run(
        [str(repo / "cdk-deploy.sh"), "--local", "--recordings", "only-in-the-repository"],
        cwd=caller,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert f"--recordings {caller / 'only-in-the-repository'}: no such directory" in result.stderr
    assert "[setup]" not in result.stderr


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
    assert "error: PYTHON=/nonexistent/python3.11 is not a working Python 3.11 to 3.14" in result.stderr
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
    # Said before it runs: with --trust, the CDK needs the execution policies named.
    assert "With --trust the CDK refuses to bootstrap without --cloudformation-execution-policies" in result.stderr
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


def test_a_bootstrap_says_it_grants_administrator_access_unless_given_execution_policies(repo, fake_npx, tmp_path):
    default = script(repo, "-c", "bucket_name=my-b", env=fake_aws(tmp_path, {}), path_prefix=fake_npx)
    assert default.returncode == 0, default.stderr
    said = " ".join(default.stderr.split())
    assert "gets arn:aws:iam::aws:policy/AdministratorAccess (AdministratorAccess, the CDK's default" in said
    assert "pass --cloudformation-execution-policies ARN" in said
    # Said before the bootstrap ran: the message is printed by the check, which runs first.
    assert [c[0] for c in calls(tmp_path / "npx.log")] == ["synth", "bootstrap", "deploy"]

    (tmp_path / "npx.log").unlink()
    policy = "arn:aws:iam::123456789012:policy/optimizer-deploy"
    limited = script(
        repo,
        "-c",
        "bucket_name=my-b",
        "--cloudformation-execution-policies",
        policy,
        env=fake_aws(tmp_path, {}),
        path_prefix=fake_npx,
    )
    assert limited.returncode == 0, limited.stderr
    assert f"That execution role gets only the policies given: {policy}" in " ".join(limited.stderr.split())
    assert "AdministratorAccess" not in limited.stderr
    synth, bootstrap, deploy = calls(tmp_path / "npx.log")
    assert bootstrap[-2:] == ["--cloudformation-execution-policies", policy]
    assert "--cloudformation-execution-policies" not in synth + deploy


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


STACK = "CallRecordingOptimizer-my-b"


def test_destroy_refuses_while_failures_wait_in_the_dlq_or_a_run_is_in_progress(repo, fake_npx, tmp_path):
    busy = {"name": STACK, "dlq_messages": 2, "running": 1}
    refused = script(
        repo, "destroy", "-c", "bucket_name=my-b", env=fake_aws(tmp_path, {}, stack=busy), path_prefix=fake_npx
    )
    said = " ".join(refused.stderr.split())
    assert refused.returncode == 2, refused.stderr
    assert f"`cdk destroy` will delete stack {STACK} and its 5 resources" in said
    assert "1 DynamoDB table(s) (the run ledger" in said and "Kept: the bucket and its recordings" in said
    assert "1 log group(s) (retained by the template)" in said
    assert "the dead-letter queue holds 2 message(s)" in said and "1 run(s) in progress (run-0)" in said
    assert "run again with --even-if-busy" in said
    assert calls(tmp_path / "npx.log") == []  # nothing destroyed

    only_dlq = {"name": STACK, "dlq_messages": 1}
    refused = script(
        repo, "destroy", "-c", "bucket_name=my-b", env=fake_aws(tmp_path, {}, stack=only_dlq), path_prefix=fake_npx
    )
    assert refused.returncode == 2 and "holds 1 message(s)" in refused.stderr
    assert "in progress" not in refused.stderr and calls(tmp_path / "npx.log") == []


def test_destroy_goes_on_when_idle_or_when_asked_to(repo, fake_npx, tmp_path):
    idle = script(
        repo,
        "destroy",
        "-c",
        "bucket_name=my-b",
        "--force",
        env=fake_aws(tmp_path, {}, stack={"name": STACK}),
        path_prefix=fake_npx,
    )
    assert idle.returncode == 0, idle.stderr
    assert "the dead-letter queue is empty and no run is in progress" in idle.stderr
    assert calls(tmp_path / "npx.log") == [["destroy", "-c", "bucket_name=my-b", "--force"]]

    (tmp_path / "npx.log").unlink()
    busy = {"name": STACK, "dlq_messages": 3, "running": 2}
    asked = script(
        repo,
        "destroy",
        "--even-if-busy",
        "-c",
        "bucket_name=my-b",
        "--force",
        env=fake_aws(tmp_path, {}, stack=busy),
        path_prefix=fake_npx,
    )
    assert asked.returncode == 0, asked.stderr
    assert "holds 3 message(s)" in asked.stderr and "--even-if-busy: going on anyway" in asked.stderr
    # Our option is not passed on to cdk, which would refuse it.
    assert calls(tmp_path / "npx.log") == [["destroy", "-c", "bucket_name=my-b", "--force"]]


# The converters' maximum against the account's unreserved concurrency (scripts/concurrency_check.py).


def test_a_max_concurrency_that_leaves_too_little_unreserved_concurrency_is_refused_before_the_synthesis(
    repo, fake_npx, tmp_path
):
    result = script(
        repo,
        "-c",
        "bucket_name=my-b",
        "-c",
        "converter_max_concurrency=600",
        env=fake_aws(tmp_path, {DEFAULT_PARAMETER: "21"}, {"unreserved": 1000}),
        path_prefix=fake_npx,
    )
    assert result.returncode == 2
    assert (
        "converter_max_concurrency=600 against 1000 unreserved concurrent executions in account 123456789012, "
        "region eu-west-1: with that many converters running, 400 are left to the account's other functions, "
        "under the 500 the deployment requires" in result.stderr
    ), result.stderr
    assert "lower converter_max_concurrency to 500 or less (-c converter_max_concurrency=500" in result.stderr
    assert "Service Quotas" in result.stderr and "MaximumConcurrency reserves nothing" in result.stderr
    assert calls(tmp_path / "npx.log") == []  # nothing synthesized, bootstrapped or deployed
    assert "Traceback" not in result.stderr


def test_the_default_on_a_small_account_is_refused_with_the_floor_of_100(repo, fake_npx, tmp_path):
    # 140 unreserved: half would allow 70, the floor of 100 left allows 40; the default is 50.
    result = script(
        repo,
        "-c",
        "bucket_name=my-b",
        env=fake_aws(tmp_path, {DEFAULT_PARAMETER: "21"}, {"unreserved": 140, "total": 400}),
        path_prefix=fake_npx,
    )
    assert result.returncode == 2
    assert "converter_max_concurrency=50 against 140 unreserved" in result.stderr, result.stderr
    assert "90 are left" in result.stderr and "under the 100 the deployment requires" in result.stderr
    assert "lower converter_max_concurrency to 40 or less" in result.stderr
    assert calls(tmp_path / "npx.log") == []


def test_an_account_too_small_for_any_setting_is_told_to_raise_its_quota(repo, fake_npx, tmp_path):
    result = script(
        repo,
        "-c",
        "bucket_name=my-b",
        "-c",
        "converter_max_concurrency=2",
        env=fake_aws(tmp_path, {DEFAULT_PARAMETER: "21"}, {"unreserved": 10}),
        path_prefix=fake_npx,
    )
    assert result.returncode == 2
    assert "8 are left" in result.stderr and "raise the account's concurrency quota" in result.stderr
    assert "lower converter_max_concurrency" not in result.stderr  # the minimum (2) does not fit either
    assert calls(tmp_path / "npx.log") == []


def test_a_max_concurrency_within_the_margin_is_deployed_and_the_check_is_said(repo, fake_npx, tmp_path):
    # 500 of 1,000: exactly half left, the largest setting the margin allows.
    result = script(
        repo,
        "-c",
        "bucket_name=my-b",
        "-c",
        "converter_max_concurrency=500",
        env=fake_aws(tmp_path, {DEFAULT_PARAMETER: "21"}, {"unreserved": 1000}),
        path_prefix=fake_npx,
    )
    assert result.returncode == 0, result.stderr
    assert "[concurrency] converter_max_concurrency=500 against 1000 unreserved" in result.stderr
    assert "500 are left to the account's other functions" in result.stderr
    assert [c[0] for c in calls(tmp_path / "npx.log")] == ["synth", "deploy"]


def test_the_setting_is_read_from_cdk_context_json_too(repo, fake_npx, tmp_path):
    context_file = repo / "cdk.context.json"
    original = context_file.read_text()
    try:
        context_file.write_text(json.dumps({**json.loads(original), "converter_max_concurrency": 300}))
        refused = script(
            repo,
            "-c",
            "bucket_name=my-b",
            env=fake_aws(tmp_path, {DEFAULT_PARAMETER: "21"}, {"unreserved": 500}),
            path_prefix=fake_npx,
        )
        # -c wins over cdk.context.json, as for the app.
        accepted = script(
            repo,
            "-c",
            "bucket_name=my-b",
            "-c",
            "converter_max_concurrency=250",
            env=fake_aws(tmp_path, {DEFAULT_PARAMETER: "21"}, {"unreserved": 500}),
            path_prefix=fake_npx,
        )
    finally:
        context_file.write_text(original)
    assert refused.returncode == 2 and "converter_max_concurrency=300 against 500 unreserved" in refused.stderr
    assert accepted.returncode == 0, accepted.stderr
    assert "converter_max_concurrency=250 against 500 unreserved" in accepted.stderr


def test_without_permission_to_read_the_account_the_deployment_stops_and_says_which_permission(
    repo, fake_npx, tmp_path
):
    denied = {"error": "AccessDeniedException", "status": 403}
    result = script(
        repo, "-c", "bucket_name=my-b", env=fake_aws(tmp_path, {DEFAULT_PARAMETER: "21"}, denied), path_prefix=fake_npx
    )
    assert result.returncode == 2
    assert (
        "the credentials may not read the account's Lambda concurrency in account 123456789012, region eu-west-1 "
        "(AccessDeniedException): they need lambda:GetAccountSettings" in result.stderr
    ), result.stderr
    assert "Not deploying with converter_max_concurrency=50 unchecked" in result.stderr
    assert "OPTIMIZER_UNRESERVED_CONCURRENCY=N" in result.stderr
    assert calls(tmp_path / "npx.log") == []
    # The figure given by hand is checked like the one read: refused below the margin, deployed within it.
    low = script(
        repo,
        "-c",
        "bucket_name=my-b",
        env={**fake_aws(tmp_path, {DEFAULT_PARAMETER: "21"}, denied), "OPTIMIZER_UNRESERVED_CONCURRENCY": "120"},
        path_prefix=fake_npx,
    )
    assert low.returncode == 2 and "70 are left" in low.stderr and "as you gave it" in low.stderr
    assert calls(tmp_path / "npx.log") == []
    given = script(
        repo,
        "-c",
        "bucket_name=my-b",
        env={**fake_aws(tmp_path, {DEFAULT_PARAMETER: "21"}, denied), "OPTIMIZER_UNRESERVED_CONCURRENCY": "1000"},
        path_prefix=fake_npx,
    )
    assert given.returncode == 0, given.stderr
    assert [c[0] for c in calls(tmp_path / "npx.log")] == ["synth", "deploy"]


def test_any_other_failure_to_read_the_account_stops_the_deployment_too(repo, fake_npx, tmp_path):
    failing = {"error": "ServiceException", "status": 500}
    result = script(
        repo, "-c", "bucket_name=my-b", env=fake_aws(tmp_path, {DEFAULT_PARAMETER: "21"}, failing), path_prefix=fake_npx
    )
    assert result.returncode == 2
    assert (
        "cannot read the account's Lambda concurrency in account 123456789012, region eu-west-1 (ServiceException"
        in (result.stderr)
    ), result.stderr
    assert "Not deploying with converter_max_concurrency=50 unchecked" in result.stderr
    assert calls(tmp_path / "npx.log") == []


# Refused before any set-up (issue 19): on a bare fresh clone, nothing installed, within seconds.


@pytest.fixture(scope="module")
def bare(tmp_path_factory) -> Path:
    """A fresh clone with nothing installed: no .venv, no node_modules, no layer."""
    return fresh_copy(tmp_path_factory.mktemp("bare"))


@pytest.mark.parametrize(
    "args, says",
    [
        (
            ["deploi", "-c", "bucket_name=my-b"],
            "'deploi' is neither a command of ./cdk-deploy.sh (deploy, destroy, setup, --local, --help), an option, "
            "nor the stack of this app (CallRecordingOptimizer-my-b) (did you mean `./cdk-deploy.sh deploy`?)",
        ),
        (["destroi"], "'destroi' is neither a command of ./cdk-deploy.sh"),
        (["-c", "bucket_name=my-b", "stak"], "'stak' is neither a command"),
        (["destroy", "-c", "bucket_name=my-b", "Other*"], "nor the stack of this app (CallRecordingOptimizer-my-b)"),
        (["setup", "x86_64"], "'x86_64' is neither a command of ./cdk-deploy.sh (deploy, destroy, setup"),
        (
            ["-c", "bucket_name=my-b", "-c", f"bucket_prefix={PREFIX}", "-c", "schedule=cron(0 25 * * ? *)"],
            "schedule='cron(0 25 * * ? *)' is not an EventBridge Scheduler expression: the hours field has 25",
        ),
        (
            ["destroy", "-c", "bucket_name=my-b", "-c", "schedule_timezone=Mars/Olympus"],
            "schedule_timezone='Mars/Olympus' is not an IANA time zone",
        ),
    ],
)
def test_a_wrong_word_or_setting_is_refused_before_anything_is_installed(bare, fake_npx, tmp_path, args, says):
    log = tmp_path / "npx.log"
    result = script(bare, *args, env={"FAKE_NPX_LOG": str(log), "AWS_REGION": "eu-west-1"}, path_prefix=fake_npx)
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "[setup]" not in result.stderr
    assert not (bare / ".venv").exists() and not (bare / "node_modules").exists() and calls(log) == []


def test_the_apps_stack_is_accepted_by_name_or_pattern(repo, fake_npx, tmp_path):
    for word in ("CallRecordingOptimizer-my-b", "CallRecording*"):
        result = script(
            repo,
            "-c",
            "bucket_name=my-b",
            word,
            env=fake_aws(tmp_path, {DEFAULT_PARAMETER: "21"}),
            path_prefix=fake_npx,
        )
        assert result.returncode == 0, result.stderr
        assert calls(tmp_path / "npx.log")[-1][-1] == word  # given to cdk deploy


def test_with_the_cli_installed_a_word_after_a_flag_is_judged_too(repo, fake_npx, tmp_path):
    """--all takes no value (the CLI's option table says so): the word after it is a stack name,
    refused before any AWS call."""
    result = script(repo, "-c", "bucket_name=my-b", "--all", "stak", env=fake_aws(tmp_path, {}), path_prefix=fake_npx)
    assert result.returncode == 2 and "'stak' is neither a command" in result.stderr, result.stderr
    assert "deploying to" not in result.stderr and calls(tmp_path / "npx.log") == []


def test_the_usage_says_the_python_range_of_the_bootstrap(repo):
    usage = script(repo, "--help").stdout
    readme = (ROOT / "README.md").read_text()
    bootstrap = (ROOT / "scripts" / "bootstrap.sh").read_text()
    import re

    oldest, newest = (re.search(rf"^PYTHON_{w}=(\d+)$", bootstrap, re.M).group(1) for w in ("OLDEST", "NEWEST"))  # type: ignore[union-attr]
    said = f"Python 3.{oldest} to 3.{newest}"
    assert f"Needs {said} " in usage and f"needs {said} and Node.js" in readme
    assert "3.11+" not in usage + readme and "3.11 or newer" not in usage + readme
