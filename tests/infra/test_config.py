"""Configuration: parsed and validated once; each bad value names its key and the fix."""

from __future__ import annotations

import pytest

from stacks.config import DESTROY_ONLY_PREFIX, ConfigError, OptimizerConfig, default_stack_name, setting_names
from stacks.context_check import context_from, shadowed_settings

PREFIX = "connect/my-instance/CallRecordings/"


def config(**context) -> OptimizerConfig:
    return OptimizerConfig.from_mapping({"bucket_name": "my-connect-recordings", "bucket_prefix": PREFIX, **context})


def test_defaults():
    cfg = config()
    assert (cfg.bucket_prefix, cfg.num_days_age, cfg.storage_class, cfg.lambda_architecture) == (
        PREFIX,
        7,
        "GLACIER_IR",
        "arm64",
    )
    assert (cfg.schedule, cfg.schedule_timezone, cfg.overwrite_converted, cfg.kms_key_arn) == (
        "cron(0 23 * * ? *)",
        "UTC",
        False,
        None,
    )
    assert cfg.schedule_enabled is True
    assert cfg.visibility_timeout_seconds == 6 * cfg.converter_timeout_seconds
    assert cfg.stack_name == "CallRecordingOptimizer-my-connect-recordings"


@pytest.mark.parametrize(
    "value", [None, "", "  ", "<REQUIRED: the S3 bucket where Amazon Connect writes call recordings>", "your-bucket"]
)
def test_missing_or_placeholder_bucket_names_the_key_and_both_ways_to_set_it(value):
    with pytest.raises(ConfigError) as err:
        OptimizerConfig.from_mapping({"bucket_name": value, "bucket_prefix": PREFIX})
    message = str(err.value)
    assert "bucket_name" in message and "-c bucket_name=" in message and "cdk.context.json" in message


@pytest.mark.parametrize(
    "name",
    [
        "ab",
        "Upper-Case",
        "under_score",
        "-leading",
        "trailing-",
        "a..b",
        "192.168.1.1",
        "xn--bucket",
        "b-s3alias",
        "x" * 64,
    ],
)
def test_invalid_bucket_names_are_refused(name):
    with pytest.raises(ConfigError, match="not a valid S3 bucket name"):
        config(bucket_name=name)


@pytest.mark.parametrize("name", ["abc", "my.connect.recordings", "a-b-c-1", "x" * 63])
def test_valid_bucket_names_pass(name):
    assert config(bucket_name=name).bucket_name == name


@pytest.mark.parametrize(
    "raw, normalised",
    [
        ("connect/acme", "connect/acme/"),
        ("connect/acme/CallRecordings", "connect/acme/CallRecordings/"),
        (" connect/acme/CallRecordings/ ", "connect/acme/CallRecordings/"),
        ("a/", "a/"),
    ],
)
def test_prefix_is_normalised_to_end_with_a_slash(raw, normalised):
    assert config(bucket_prefix=raw).bucket_prefix == normalised


@pytest.mark.parametrize(
    "value, says",
    [
        (None, "bucket_prefix is required"),
        ("", "bucket_prefix is required"),
        ("  ", "bucket_prefix is required"),
        ("<REQUIRED: the path up to the date, e.g. connect/<instance-alias>/CallRecordings/>", "still the placeholder"),
        ("connect/<instance-alias>/CallRecordings/", "still the placeholder"),
        # The former default: it lacks the instance's folder, so every run listed nothing.
        ("connect/", "holds no recording directly"),
        ("connect", "holds no recording directly"),
    ],
)
def test_a_missing_or_placeholder_prefix_names_the_key_and_shows_connects_layout(value, says):
    context = {"bucket_name": "my-connect-recordings"} | ({} if value is None else {"bucket_prefix": value})
    with pytest.raises(ConfigError) as err:
        OptimizerConfig.from_mapping(context)
    message = str(err.value)
    assert says in message
    assert "connect/<instance-alias>/CallRecordings/YYYY/MM/DD/" in message  # Connect's layout
    assert "-c bucket_prefix=connect/my-instance/CallRecordings/" in message and "cdk.context.json" in message
    assert "list-instance-storage-configs" in message  # where to read the instance's own prefix


def test_the_shipped_context_file_holds_placeholders_for_both_required_keys():
    """cdk.context.json as committed: synth refuses it until both are set."""
    import json
    from pathlib import Path

    shipped = json.loads((Path(__file__).resolve().parents[2] / "cdk.context.json").read_text())
    with pytest.raises(ConfigError, match="bucket_name=.* is still the placeholder"):
        OptimizerConfig.from_mapping(shipped)
    with pytest.raises(ConfigError, match="bucket_prefix=.* is still the placeholder"):
        OptimizerConfig.from_mapping({**shipped, "bucket_name": "my-connect-recordings"})
    assert (
        OptimizerConfig.from_mapping({**shipped, "bucket_name": "b-b-b", "bucket_prefix": PREFIX}).bucket_prefix
        == PREFIX
    )


@pytest.mark.parametrize("value, enabled", [(True, True), ("true", True), ("FALSE", False), (False, False)])
def test_schedule_enabled_is_a_boolean(value, enabled):
    assert config(schedule_enabled=value).schedule_enabled is enabled


@pytest.mark.parametrize("raw, says", [("/connect", "leading|start with '/'"), ("connect/*", r"'\*' or '\?'")])
def test_bad_prefixes_are_refused(raw, says):
    with pytest.raises(ConfigError, match=says):
        config(bucket_prefix=raw)


@pytest.mark.parametrize("cls", ["GLACIER", "DEEP_ARCHIVE", "glacier"])
def test_archive_classes_are_refused_with_the_reason(cls):
    with pytest.raises(ConfigError, match="instantly playable"):
        config(storage_class=cls)


def test_storage_class_is_case_insensitive_and_checked():
    assert config(storage_class="standard_ia").storage_class == "STANDARD_IA"
    with pytest.raises(ConfigError, match="storage_class='REDUCED' is unknown"):
        config(storage_class="REDUCED")


@pytest.mark.parametrize(
    "key, value, says",
    [
        ("num_days_age", 0, "num_days_age=0 is out of range"),
        ("num_days_age", "seven", "not a whole number"),
        ("converter_memory_mb", 128, "converter_memory_mb=128 is out of range"),
        ("converter_batch_size", 11, "converter_batch_size=11 is out of range"),
        ("converter_max_concurrency", 1, "converter_max_concurrency=1 is out of range"),
        ("max_receive_count", 0, "max_receive_count=0 is out of range"),
        ("queue_poll_seconds", 0, "queue_poll_seconds=0 is out of range"),
        ("log_retention_days", 10, "log_retention_days=10 must be one of"),
        ("overwrite_converted", "yes", "must be true or false"),
        ("lambda_architecture", "arm", "must be one of arm64, x86_64"),
        ("kms_key_arn", "alias/recordings", "not a KMS key ARN"),
        ("schedule", "every day", "schedule=.every day. is not an EventBridge Scheduler expression"),
        ("stack_name", "1stack", "must start with a letter"),
        ("backfill_concurrency", 0, "backfill_concurrency=0 is out of range"),
        ("catch_up_days", 31, "catch_up_days=31 is out of range"),
        ("require_versioning", "maybe", "must be true or false"),
        ("alarm_email", "not-an-address", "not an e-mail address"),
        ("schedule_enabled", "paused", "schedule_enabled='paused' must be true or false"),
    ],
)
def test_each_bad_value_names_its_key(key, value, says):
    with pytest.raises(ConfigError, match=says):
        config(**{key: value})


def test_string_values_from_the_command_line_are_parsed():
    cfg = config(num_days_age="3", converter_batch_size="5", overwrite_converted="TRUE", kms_key_arn="")
    assert (cfg.num_days_age, cfg.converter_batch_size, cfg.overwrite_converted, cfg.kms_key_arn) == (3, 5, True, None)


def test_two_buckets_get_two_stacks():
    assert default_stack_name("a.b.c") != default_stack_name("a-b-d")
    assert config(bucket_name="a.b.c").stack_name == "CallRecordingOptimizer-a-b-c"


def test_preflight_reads_the_context_with_the_cli_precedence(tmp_path):
    """-c over cdk.json over cdk.context.json over ~/.cdk.json, as the pinned CLI does
    (tests/infra/test_context_keys.py checks the same files against the CLI itself)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / ".cdk.json").write_text('{"context": {"catch_up_days": 1, "num_days_age": 9}}')
    (tmp_path / "cdk.json").write_text('{"app": "x", "context": {"num_days_age": 3, "bucket_prefix": "json/"}}')
    (tmp_path / "cdk.context.json").write_text(
        '{"bucket_name": "<REQUIRED>", "num_days_age": 4, "bucket_prefix": "ctx/", "catch_up_days": 2}'
    )
    context = context_from(
        ["deploy", "-c", "bucket_name=from-cli", "--context=storage_class=STANDARD", "--profile", "p"], tmp_path, home
    )
    assert context == {
        "bucket_name": "from-cli",
        "num_days_age": 3,
        "bucket_prefix": "json/",
        "storage_class": "STANDARD",
        "catch_up_days": 2,
    }


@pytest.mark.parametrize(
    "args, says",
    [(["-cnum_days_age=5"], "-c key=value"), (["-c", "novalue"], "key=value"), (["-c", "=x"], "key=value")],
)
def test_preflight_refuses_context_the_cli_would_not_read(tmp_path, args, says):
    with pytest.raises(ConfigError, match=says):
        context_from(args, tmp_path, tmp_path)


def test_a_setting_in_both_files_is_reported_with_the_one_that_wins(tmp_path):
    (tmp_path / "cdk.json").write_text(
        '{"app": "x", "context": {"num_days_age": 3, "@aws-cdk/core:checkSecretUsage": true}}'
    )
    (tmp_path / "cdk.context.json").write_text('{"num_days_age": 4, "bucket_name": "b"}')
    assert shadowed_settings(tmp_path) == [
        "num_days_age is set in both cdk.json (3, used) and cdk.context.json (4, ignored): keep it in one file"
    ]
    (tmp_path / "cdk.json").write_text('{"app": "x", "context": {}}')
    assert shadowed_settings(tmp_path) == []


@pytest.mark.parametrize(
    "typo, nearest",
    [
        ("num_day_age", "num_days_age"),
        ("bucket-prefix", "bucket_prefix"),
        ("storageclass", "storage_class"),
        ("converter_memory", "converter_memory_mb"),
    ],
)
def test_an_unknown_key_is_an_error_naming_the_nearest_setting(typo, nearest):
    with pytest.raises(ConfigError, match=rf"unknown setting '{typo}' \(did you mean {nearest}\?\)"):
        config(**{typo: "3"})


def test_an_unknown_key_with_no_near_setting_is_still_an_error():
    with pytest.raises(ConfigError, match=r"unknown setting 'zzz':"):
        config(zzz=1)


def test_derived_values_are_not_settings():
    """The converter's timeout and /tmp are sized for a 4-hour call, not configurable: setting them would be ignored."""
    with pytest.raises(ConfigError, match="unknown setting 'converter_timeout_seconds'"):
        config(converter_timeout_seconds=900)


def test_every_setting_is_read_from_the_context():
    read: list[str] = []
    valid = {"bucket_name": "my-connect-recordings", "bucket_prefix": PREFIX}

    def get(key):
        read.append(key)
        return valid.get(key)

    OptimizerConfig._from_getter(get)
    assert set(read) == setting_names()


@pytest.mark.parametrize(
    "key",
    [
        "aws:cdk:enable-path-metadata",
        "aws:cdk:disable-asset-staging",
        "@aws-cdk/core:bootstrapQualifier",
        "@aws-cdk/aws-lambda:recognizeLayerVersion",
        "@aws-cdk-containers/ecs-service-extensions:enableDefaultLogDriver",
        "availability-zones:account=111122223333:region=eu-west-1",
        "ssm:account=1:parameterName=/x:region=r",
        "vpc-provider:account=1:filter.isDefault=true:region=r",
        "acknowledged-issue-numbers",
    ],
)
def test_the_cdks_own_keys_pass(key):
    assert config(**{key: "x"}).bucket_name == "my-connect-recordings"


@pytest.mark.parametrize("key", ["aws:other", "ssm", "availability-zones", "@aws-cdk", "cdk:x"])
def test_lookalikes_of_cdk_keys_are_refused(key):
    with pytest.raises(ConfigError, match="unknown setting"):
        config(**{key: "x"})


@pytest.mark.parametrize("prefix", [None, "", "<REQUIRED: the path up to the date>", "connect/"])
def test_a_synthesis_to_destroy_needs_no_prefix_but_the_bucket_still(prefix):
    """./cdk-deploy.sh destroy only names the stack: bucket_prefix may be missing or the placeholder."""
    context = {"bucket_name": "my-connect-recordings"} | ({} if prefix is None else {"bucket_prefix": prefix})
    cfg = OptimizerConfig.from_mapping(context, to_destroy=True)
    assert cfg.stack_name == config().stack_name  # the stack the deployment made
    assert cfg.bucket_prefix == DESTROY_ONLY_PREFIX
    assert OptimizerConfig.from_mapping({**context, "bucket_prefix": PREFIX}, to_destroy=True).bucket_prefix == PREFIX
    with pytest.raises(ConfigError, match="bucket_name is required"):
        OptimizerConfig.from_mapping({"bucket_prefix": PREFIX}, to_destroy=True)
    with pytest.raises(ConfigError, match="unknown setting"):
        OptimizerConfig.from_mapping({**context, "num_day_age": 3}, to_destroy=True)


def test_page_keys_is_refused_as_a_deployment_setting_naming_the_local_run_option():
    """--page-keys is the local run's test aid (issue 16): a deployment never takes it."""
    from stacks.config import ConfigError, OptimizerConfig

    for value in ("1", 1, ""):
        with pytest.raises(ConfigError, match=r"not a deployment setting.*--local --page-keys N"):
            OptimizerConfig.from_mapping({"bucket_name": "my-bucket", "bucket_prefix": PREFIX, "page_keys": value})


def test_the_stack_gives_every_function_pages_of_their_byte_budget():
    from stacks.config import OptimizerConfig
    from stacks.lambda_settings import runtime_settings

    config = OptimizerConfig.from_mapping({"bucket_name": "my-bucket", "bucket_prefix": PREFIX})
    settings = runtime_settings(config, queue_url="q", dlq_url="d", ledger_table="t")
    assert settings.page_keys == 0 and settings.to_env()["PAGE_KEYS"] == "0"
