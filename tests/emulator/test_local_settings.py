"""The local run's settings (issue 19 item 1, emulator/local_settings.py): cdk.context.json, then
`-c key=value`, validated by the deployment's own code with its own messages; the local run's own
values win and it says so; relative paths are the caller's."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emulator import local_run, local_settings
from emulator.local_settings import LOCAL_CONTEXT, host_architecture, read
from stacks import context_check
from stacks.capacity import check_retention
from stacks.config import ConfigError, OptimizerConfig

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = json.loads((ROOT / "cdk.context.json").read_text())
DEFAULT_CONTEXT = {**LOCAL_CONTEXT, "lambda_architecture": host_architecture()}


@pytest.fixture
def project(tmp_path) -> Path:
    """A repository whose cdk.context.json is the shipped one (placeholders and defaults)."""
    (tmp_path / "cdk.context.json").write_text(json.dumps(SHIPPED))
    return tmp_path


def settings_in(project: Path, *pairs: str, file: dict | None = None):
    if file is not None:
        (project / "cdk.context.json").write_text(json.dumps({**SHIPPED, **file}))
    return read(list(pairs), root=project, home=project)


def test_the_shipped_file_gives_the_context_the_local_run_always_had(project):
    """Placeholders and defaults change nothing: the same synthesis as the end-to-end tests'."""
    settings = settings_in(project)
    assert settings.context == DEFAULT_CONTEXT
    yours = settings.lines()[1]
    assert yours == "  yours, not at their defaults: none"


def test_the_file_then_c_reach_the_synthesis_and_are_listed(project):
    settings = settings_in(
        project, "storage_class=STANDARD_IA", file={"storage_class": "ONEZONE_IA", "num_days_age": 3}
    )
    assert settings.context == {**DEFAULT_CONTEXT, "storage_class": "STANDARD_IA", "num_days_age": 3}
    assert (settings.config.storage_class, settings.config.num_days_age) == ("STANDARD_IA", 3)
    assert settings.lines()[1] == "  yours, not at their defaults: num_days_age=3, storage_class=STANDARD_IA"
    report = settings.as_report()["not_default"]
    assert report["storage_class"] == "STANDARD_IA" and report["num_days_age"] == 3
    assert "schedule" not in report and "overwrite_converted" not in report


def test_a_value_equal_to_its_default_is_not_listed_nor_passed(project):
    settings = settings_in(project, "storage_class=GLACIER_IR", "num_days_age=7")
    assert settings.context == DEFAULT_CONTEXT


@pytest.mark.parametrize(
    "pairs",
    [
        ["storage_clas=STANDARD_IA"],
        ["storage_class=GLACIER"],
        ["schedule=cron(0 25 * * ? *)"],
        ["schedule_timezone=Mars/Olympus"],
        ["converter_memory_mb=128"],
        ["page_keys=5"],
        ["lambda_architecture=sparc"],
        ["num_days_age"],
    ],
)
def test_a_bad_setting_is_refused_with_the_deployments_own_message(project, pairs, capsys, monkeypatch):
    """The same words as `./cdk-deploy.sh deploy` (stacks.context_check) says, before any set-up."""
    args = [token for pair in pairs for token in ("-c", pair)]
    deploy_args = [*args, "-c", "bucket_name=my-b", "-c", "bucket_prefix=connect/i/CallRecordings/"]
    assert context_check.main(deploy_args) == 2
    deploy_says = capsys.readouterr().err
    with pytest.raises(ConfigError) as refused:
        settings_in(project, *pairs)
    assert f"error: {refused.value}\n" == deploy_says

    monkeypatch.setattr(local_settings, "PROJECT", project)
    monkeypatch.setattr(local_settings, "HOME", project)
    assert local_run.main(["--check-arguments", *args]) == local_run.EXIT_USAGE
    assert capsys.readouterr().err == deploy_says


def test_a_misspelt_key_in_the_file_is_refused_too_with_the_nearest_name(project):
    with pytest.raises(ConfigError, match=r"unknown setting 'num_day_age' \(did you mean num_days_age\?\)"):
        settings_in(project, file={"num_day_age": 3})


def test_a_joined_c_is_refused_as_the_deployment_refuses_it(capsys):
    assert local_run.main(["--check-arguments", "-cstorage_class=STANDARD_IA"]) == local_run.EXIT_USAGE
    assert "write the context as `-c key=value`" in capsys.readouterr().err


def test_the_local_runs_own_values_win_and_it_says_why_and_what_yours_were(project):
    settings = settings_in(
        project,
        "bucket_name=my-recordings",
        "queue_poll_seconds=3600",
        "converter_max_concurrency=100",
        "schedule=rate(12 hours)",
        "schedule_enabled=false",
        "redrive_principals=arn:aws:iam::111122223333:role/Operator",
    )
    config = settings.config
    assert (config.bucket_name, config.bucket_prefix) == (LOCAL_CONTEXT["bucket_name"], LOCAL_CONTEXT["bucket_prefix"])
    assert config.queue_poll_seconds == 1  # 3,600 s scaled like a visibility timeout: 1 s per hour
    assert config.converter_max_concurrency == 4
    assert config.redrive_principals == (LOCAL_CONTEXT["redrive_principals"],)
    # No scheduler here: yours is not synthesized, the defaults are.
    assert (config.schedule, config.schedule_enabled) == (OptimizerConfig.schedule, OptimizerConfig.schedule_enabled)
    assert "schedule" not in settings.context and "schedule_enabled" not in settings.context
    printed = "\n".join(settings.lines())
    assert "bucket_name=local-connect-recordings: the demo bucket the emulator creates, not yours (my-recordings)" in (
        printed
    )
    assert "queue_poll_seconds=1: yours, 3600 s, scaled like the queues' visibility timeouts" in printed
    assert "converter_max_concurrency=4: at most 4 here" in printed and "not yours (100)" in printed
    assert "not yours (arn:aws:iam::111122223333:role/Operator)" in printed
    assert "schedule: yours (rate(12 hours)) is not used: the emulator has no scheduler" in printed
    assert "schedule_enabled: yours (false) is not used" in printed
    assert settings.as_report()["local_run_own"]["queue_poll_seconds"].startswith("yours, 3600 s")


def test_a_concurrency_under_the_local_cap_is_yours(project):
    settings = settings_in(project, "converter_max_concurrency=2")
    assert settings.context["converter_max_concurrency"] == 2 and "converter_max_concurrency" not in settings.own


def test_settings_a_deployment_accepts_but_the_local_cap_cannot_keep_are_refused_before_set_up(project):
    """backfill_concurrency=40 passes the stack's queue-retention check at 50 converters, not at the
    local run's 4: refused here, before set-up, saying why and what to change, instead of failing
    the synthesis after it."""
    check_retention(
        OptimizerConfig.from_mapping({**LOCAL_CONTEXT, "converter_max_concurrency": 50, "backfill_concurrency": 40})
    )
    with pytest.raises(ConfigError) as refused:
        settings_in(project, "backfill_concurrency=40")
    message = str(refused.value)
    assert "longer than the work queue keeps it" in message
    assert message.startswith("with the local run's converter_max_concurrency=4 (at most 4 here")
    assert "A deployment accepts your settings" in message
    assert "lower backfill_concurrency or max_receive_count" in message


def test_settings_a_deployment_refuses_are_refused_with_its_message(project):
    with pytest.raises(ConfigError) as refused:
        settings_in(project, "converter_max_concurrency=2", "backfill_concurrency=40", "max_receive_count=100")
    assert str(refused.value).startswith("with converter_max_concurrency=2,")
    assert "A deployment accepts" not in str(refused.value)


def test_the_shipped_architecture_is_not_called_yours_but_a_typed_one_is(project, monkeypatch):
    """The shipped cdk.context.json says arm64, the default: on an x86_64 machine that is no choice
    of yours; `-c lambda_architecture=arm64` is."""
    monkeypatch.setattr(local_settings, "host_architecture", lambda: "x86_64")
    assert SHIPPED.get("lambda_architecture") == OptimizerConfig.lambda_architecture == "arm64"
    assert settings_in(project).own["lambda_architecture"] == "this machine's, for the ffmpeg it runs"
    typed = settings_in(project, "lambda_architecture=arm64").own["lambda_architecture"]
    assert typed == "this machine's, for the ffmpeg it runs, not yours (arm64)"


def test_a_key_in_both_files_warns_as_the_deployment_warns(project):
    (project / "cdk.json").write_text(json.dumps({"context": {"num_days_age": 3}}))
    settings = settings_in(project, file={"num_days_age": 4})
    assert settings.config.num_days_age == 3
    assert settings.warnings == context_check.shadowed_settings(project) != []
    assert f"warning: {settings.warnings[0]}" in settings.lines()


def test_relative_paths_are_the_callers_and_absolute(tmp_path, capsys):
    caller = tmp_path / "caller"
    (caller / "mycalls").mkdir(parents=True)
    args = local_run.parse_args(
        ["--caller-directory", str(caller), "--recordings", "mycalls", "--report", "sub/../rep.json", "--out", "conv"]
    )
    assert (args.recordings, args.report, args.out) == (caller / "mycalls", caller / "rep.json", caller / "conv")
    assert local_run.path_lines(args) == [
        f"paths: --recordings {caller / 'mycalls'}, --out {caller / 'conv'}, --report {caller / 'rep.json'}"
    ]
    # A folder that exists only where the local run itself runs is not the caller's.
    assert local_run.main(["--check-arguments", "--caller-directory", str(tmp_path), "--recordings", "caller"]) == 0
    code = local_run.main(["--check-arguments", "--caller-directory", str(caller), "--recordings", "caller"])
    assert code == local_run.EXIT_USAGE
    assert f"--recordings {caller / 'caller'}: no such directory" in capsys.readouterr().err


def test_without_a_caller_directory_paths_are_the_working_directorys(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert local_run.parse_args([]).report == tmp_path / "local-run-report.json"


def test_the_check_before_set_up_needs_only_the_standard_library():
    """./cdk-deploy.sh runs it on the system Python: no site-packages at all (-S)."""
    result = subprocess.run(
        [sys.executable, "-S", "-m", "emulator.local_run", "--check-arguments", "-c", "storage_clas=STANDARD_IA"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin"},
    )
    assert result.returncode == 2, result.stderr
    assert "unknown setting 'storage_clas' (did you mean storage_class?)" in result.stderr
    assert "Traceback" not in result.stderr
