"""Synthesizing the real stack in-process, with asset paths recorded in the template."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")

import aws_cdk as cdk  # noqa: E402

from stacks.config import OptimizerConfig, is_cdk_key  # noqa: E402
from stacks.context_check import read_context_file  # noqa: E402
from stacks.optimizer_stack import add_optimizer_stack  # noqa: E402


@dataclass(frozen=True)
class Synthesized:
    template: dict[str, Any]
    outdir: Path
    config: OptimizerConfig
    stack_name: str


CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"


def feature_flags() -> dict[str, Any]:
    """cdk.json's feature flags (its "@aws-cdk/..." context keys), which the CLI gives every
    deployment's synthesis: without them the emulator would run another template (policies
    merged otherwise, layers in another order) than the one a deployment creates."""
    return {key: value for key, value in read_context_file(CDK_JSON, "context").items() if is_cdk_key(key)}


def synthesize(context: Mapping[str, Any], outdir: str | os.PathLike[str]) -> Synthesized:
    """The stack synthesized as a deployment's is (cdk.json's feature flags, then `context`), with
    each asset's staged path recorded in the template."""
    # The CLI sets this flag; without it the template does not say where each asset was staged.
    app = cdk.App(outdir=str(outdir), context={**feature_flags(), **context, "aws:cdk:enable-asset-metadata": True})
    stack = add_optimizer_stack(app)
    assembly = app.synth()
    artifact = assembly.get_stack_by_name(stack.stack_name)
    return Synthesized(
        template=artifact.template, outdir=Path(assembly.directory), config=stack.config, stack_name=stack.stack_name
    )
