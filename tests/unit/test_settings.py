"""One settings contract between the stack and the handlers (optimizer/settings.py, stacks/lambda_settings.py)."""

from __future__ import annotations

import dataclasses

import pytest

from optimizer.settings import ENV, MissingSetting, Settings
from stacks.config import OptimizerConfig
from stacks.lambda_settings import runtime_settings


def built(**context):
    config = OptimizerConfig.from_mapping(
        {"bucket_name": "connect-recordings", "bucket_prefix": "connect/acme/CallRecordings/", **context}
    )
    return runtime_settings(config, queue_url="https://q", dlq_url="https://dlq", ledger_table="ledger")


def test_what_the_stack_writes_is_what_a_handler_reads_back():
    settings = built(catch_up_days=5, overwrite_converted=True, storage_class="STANDARD_IA")
    env = settings.to_env()
    assert set(env) == set(ENV.values())  # every field has its variable, and only those
    assert Settings.from_env(env) == settings
    assert (env["CATCH_UP_DAYS"], env["OVERWRITE_CONVERTED"], env["STORAGE_CLASS"]) == ("5", "true", "STANDARD_IA")


def test_the_defaults_are_the_configurations_own():
    """No second set of defaults: a setting left out of the context is the config's default."""
    settings = built()
    for field in (
        "num_days_age",
        "catch_up_days",
        "max_receive_count",
        "queue_poll_seconds",
        "require_versioning",
        "overwrite_converted",
    ):
        assert getattr(settings, field) == getattr(OptimizerConfig, field), field
    assert settings.target_class == OptimizerConfig.storage_class


def test_a_variable_the_stack_did_not_set_is_named_not_defaulted():
    env = built().to_env()
    del env["CATCH_UP_DAYS"], env["DLQ_URL"]
    with pytest.raises(MissingSetting, match="lacks CATCH_UP_DAYS, DLQ_URL"):
        Settings.from_env(env)


def test_settings_have_no_defaults_to_drift_from_the_configuration():
    assert all(f.default is dataclasses.MISSING for f in dataclasses.fields(Settings))
