"""The `target_format` setting (stacks/config.py): alaw_mono by default, alaw_stereo on request,
any other value refused at synth naming the key and the values allowed; the functions get it."""

from __future__ import annotations

import pytest

from optimizer.formats import FORMATS, TARGET
from stacks.config import ConfigError, OptimizerConfig, setting_names
from stacks.lambda_settings import runtime_settings

PREFIX = "connect/my-instance/CallRecordings/"


def config(**context) -> OptimizerConfig:
    return OptimizerConfig.from_mapping({"bucket_name": "my-connect-recordings", "bucket_prefix": PREFIX, **context})


def test_mono_is_the_default_and_stereo_is_a_setting():
    assert "target_format" in setting_names()
    assert config().target_format == TARGET.key == "alaw_mono"
    assert config(target_format="alaw_stereo").target_format == "alaw_stereo"
    assert config(target_format=" ALAW_STEREO ").target_format == "alaw_stereo"


@pytest.mark.parametrize("value", ["stereo", "mulaw_mono", "alaw", 2])
def test_an_unknown_format_is_refused_naming_the_key_and_the_values(value):
    with pytest.raises(ConfigError) as refused:
        config(target_format=value)
    message = str(refused.value)
    assert message.startswith(f"target_format={value!r} is unknown; use one of ")
    assert all(key in message for key in FORMATS)


def test_a_misspelt_key_names_target_format():
    with pytest.raises(ConfigError, match=r"'target_fromat' \(did you mean target_format\?\)"):
        config(target_fromat="alaw_stereo")


def test_the_functions_get_the_format():
    settings = runtime_settings(config(target_format="alaw_stereo"), queue_url="q", dlq_url="d", ledger_table="t")
    assert settings.to_env()["TARGET_FORMAT"] == "alaw_stereo"
    assert settings.target is FORMATS["alaw_stereo"]
