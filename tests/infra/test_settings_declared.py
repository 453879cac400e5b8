"""Each setting declared once (issue 20 item 2): OptimizerConfig's fields and their Rules
(stacks/config.py). The validation, the settable keys, the Lambdas' Settings and the configuration
table are read from them."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from optimizer.settings import ENV, Settings
from stacks.config import (
    DERIVED,
    Between,
    ConfigError,
    OptimizerConfig,
    configuration_table,
    declarations,
    setting_names,
)
from stacks.lambda_settings import runtime_settings

ROOT = Path(__file__).resolve().parents[2]
PREFIX = "connect/acme/CallRecordings/"
# The Settings fields that are no setting: the stack's resources, what it derives, the prices.
NOT_SETTINGS = {
    "drain_limit_seconds",
    "queue_url",
    "dlq_url",
    "ledger_table",
    "ffmpeg_path",
    "price_standard_gb_month",
    "price_target_gb_month",
    "page_keys",
}


def _tables() -> list[list[str]]:
    """Every configuration table in README and docs/, as Markdown lines."""
    found = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        lines = page.read_text().splitlines()
        for i, line in enumerate(lines):
            if line.strip() == "| key | default | rule and reason |":
                table = [line]
                table += _rows_after(lines, i)
                found.append(table)
    return found


def _rows_after(lines: list[str], i: int) -> list[str]:
    rows = []
    for line in lines[i + 1 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def test_the_docs_configuration_table_is_the_declarations():
    """Made by `python -m stacks.config`: a setting's row changes with its declaration, and the page with it."""
    tables = _tables()
    assert len(tables) == 1, "one configuration table in README.md or docs/"
    assert tables[0] == configuration_table()


def test_the_table_lists_every_setting_and_no_derived_value():
    rows = configuration_table()[2:]
    assert [row.split("`")[1] for row in rows] == [name for name, rule in declarations() if rule.check is not None]
    assert set(setting_names()) | DERIVED == {f.name for f in dataclasses.fields(OptimizerConfig)}
    assert {"converter_timeout_seconds", "converter_ephemeral_mb"} == DERIVED


def test_a_between_rule_gives_the_table_its_range_and_the_refusal_its_bounds():
    (declared,) = [rule for name, rule in declarations() if name == "num_days_age"]
    assert isinstance(declared.check, Between) and (declared.check.lo, declared.check.hi) == (1, 3650)
    (row,) = [row for row in configuration_table() if row.startswith("| `num_days_age` |")]
    assert "| 1..3650: the scheduled run" in row
    with pytest.raises(ConfigError, match=r"num_days_age=3651 is out of range 1\.\.3650"):
        OptimizerConfig.from_mapping({"bucket_name": "b-b-b", "bucket_prefix": PREFIX, "num_days_age": 3651})


def test_the_lambdas_get_exactly_the_settings_declared_for_them():
    """Every Settings field is a declared setting's or one of the stack's own values, never both."""
    to_lambdas = {rule.lambdas: name for name, rule in declarations() if rule.lambdas}
    settings_fields = {f.name for f in dataclasses.fields(Settings)}
    assert set(to_lambdas) <= settings_fields and set(to_lambdas).isdisjoint(NOT_SETTINGS)
    assert set(to_lambdas) | NOT_SETTINGS == settings_fields

    config = OptimizerConfig.from_mapping(
        {
            "bucket_name": "my-recordings",
            "bucket_prefix": PREFIX,
            "storage_class": "STANDARD_IA",
            "num_days_age": 9,
            "catch_up_days": 5,
            "retention_days": 400,
            "retention_max_deletes": 7,
            "overwrite_converted": "true",
            "require_versioning": "false",
            "max_receive_count": 4,
            "queue_poll_seconds": 30,
        }
    )
    settings = runtime_settings(config, queue_url="q", dlq_url="d", ledger_table="t")
    env = settings.to_env()
    for field, name in to_lambdas.items():
        assert getattr(settings, field) == getattr(config, name), name
        assert ENV[field] in env
    assert (settings.target_class, env["STORAGE_CLASS"], env["RETENTION_DAYS"]) == ("STANDARD_IA", "STANDARD_IA", "400")


def test_every_setting_has_a_reason():
    assert all(rule.reason.strip() for _, rule in declarations())
