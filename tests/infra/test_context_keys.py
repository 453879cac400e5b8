"""The context the pinned CDK CLI gives the app, observed with the CLI itself: which keys it adds
(they must pass the unknown-key check), its precedence (stacks/context_check.py must read the same),
and what `cdk context --reset` / `--clear` do to cdk.context.json (docs/configuration.md#where-a-value-comes-from)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.config import is_cdk_key
from stacks.context_check import context_from

pytestmark = pytest.mark.long  # the CDK CLI's context precedence, through the CLI

ROOT = Path(__file__).resolve().parents[2]
# Writes the context the CLI passed (CDK_CONTEXT_JSON) and an empty assembly: no jsii, fast.
DUMP_APP = """
import json, os, sys
json.dump(json.loads(os.environ.get("CDK_CONTEXT_JSON", "{}")), open(os.environ["DUMP_TO"], "w"))
os.makedirs(os.environ["CDK_OUTDIR"], exist_ok=True)
json.dump({"version": os.environ["CDK_CLI_ASM_VERSION"], "artifacts": {}}, open(os.path.join(os.environ["CDK_OUTDIR"], "manifest.json"), "w"))
"""  # noqa: E501 (a script the CLI runs: its lines stay whole)
# What aws-cdk 2.1148.1 adds on its own, for `cdk synth` without options / with these options.
CLI_KEYS = {
    "@aws-cdk/core:failSynthOnValidationErrors",
    "aws:cdk:bundling-stacks",
    "aws:cdk:enable-asset-metadata",
    "aws:cdk:enable-path-metadata",
    "aws:cdk:version-reporting",
}
OPTIONS = ["--no-version-reporting", "--no-path-metadata", "--no-asset-metadata", "--no-staging", "--exclusively"]


@pytest.fixture
def project(tmp_path) -> Path:
    (tmp_path / "app.py").write_text(DUMP_APP)
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    (tmp_path / "home").mkdir()
    (tmp_path / "cdk.json").write_text(
        json.dumps(
            {"app": f"{sys.executable} app.py", "context": {"in_json": 1, "both": "cdk.json", "all": "cdk.json"}}
        )
    )
    (tmp_path / "cdk.context.json").write_text(
        json.dumps(
            {"in_context": 2, "both": "cdk.context.json", "all": "cdk.context.json", "home_too": "cdk.context.json"}
        )
    )
    (tmp_path / "home" / ".cdk.json").write_text(
        json.dumps({"context": {"home_only": 3, "home_too": "home", "all": "home"}})
    )
    return tmp_path


def cdk(project: Path, *args: str) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "HOME": str(project / "home"),
        "DUMP_TO": str(project / "context.json"),
        "CDK_DISABLE_VERSION_CHECK": "1",
    }
    return subprocess.run(
        ["npx", "--no-install", "cdk", *args], cwd=project, env=env, capture_output=True, text=True, timeout=120
    )


def sent(project: Path, *args: str) -> dict:
    result = cdk(project, "synth", "--quiet", *args)
    assert "context.json" in os.listdir(project), result.stderr
    return json.loads((project / "context.json").read_text())


def test_the_keys_the_cli_adds_are_known_and_pass(project):
    plain = sent(project)
    ours = {"in_json", "both", "all", "in_context", "home_too", "home_only"}
    assert set(plain) - ours == CLI_KEYS
    with_options = sent(project, *OPTIONS)
    added = set(with_options) - ours
    assert added - CLI_KEYS == {"aws:cdk:disable-asset-staging", "aws:cdk:disable-version-reporting"}
    assert all(is_cdk_key(key) for key in added | CLI_KEYS)


def test_preflight_reads_the_context_with_the_clis_precedence(project):
    from_cli = sent(project, "-c", "all=cli", "-c", "cli_only=4")
    ours = {k: v for k, v in from_cli.items() if not is_cdk_key(k)}
    assert ours == {
        "all": "cli",
        "both": "cdk.json",
        "in_json": 1,
        "in_context": 2,
        "home_too": "cdk.context.json",
        "home_only": 3,
        "cli_only": "4",
    }
    assert context_from(["-c", "all=cli", "-c", "cli_only=4"], project, project / "home") == ours


def test_context_reset_and_clear_act_on_cdk_context_json_only(project):
    """docs/configuration.md: --reset KEY removes a key from cdk.context.json (refused when cdk.json sets it);
    --clear empties the whole file, settings included: keep a copy."""
    assert cdk(project, "context", "--reset", "in_context").returncode == 0
    assert "in_context" not in json.loads((project / "cdk.context.json").read_text())
    refused = cdk(project, "context", "--reset", "both")
    assert refused.returncode != 0 and "Cannot reset readonly context value with key: both" in refused.stderr
    assert cdk(project, "context", "--clear").returncode == 0
    assert json.loads((project / "cdk.context.json").read_text()) == {}
    assert json.loads((project / "cdk.json").read_text())["context"]["in_json"] == 1
