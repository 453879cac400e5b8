"""The prebuilt Lambda layers (built by layers/build.sh, never at synth time)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

ROOT = Path(__file__).resolve().parent.parent
FFMPEG_BUILD = ROOT / "layers" / "ffmpeg" / "build"
PYTHON_BUILD = ROOT / "layers" / "python" / "build"


class LayerNotBuilt(RuntimeError):
    pass


def synthesizing_to_destroy() -> bool:
    """`./cdk-deploy.sh destroy` synthesizes only to learn the stack's name: no layer is needed.

    Such an assembly holds empty layers and must never be deployed; the deploy path unsets this.
    """
    return os.environ.get("OPTIMIZER_SYNTH_FOR") == "destroy"


def _empty_dir() -> str:
    return tempfile.mkdtemp(prefix="layer-not-built-")


def ffmpeg_layer_dir(architecture: str) -> str:
    """The built ffmpeg layer's directory for the architecture; LayerNotBuilt with the command that builds it."""
    binary = FFMPEG_BUILD / architecture / "bin" / "ffmpeg"
    if not binary.exists():
        if synthesizing_to_destroy():
            return _empty_dir()
        raise LayerNotBuilt(
            f"the ffmpeg layer for {architecture} is not built ({binary} is missing); "
            f"run `./cdk-deploy.sh setup -c lambda_architecture={architecture}` (or `layers/build.sh "
            f"{architecture}`) first"
        )
    return str(FFMPEG_BUILD / architecture)


def python_layer_dir(architecture: str) -> str:
    """Per architecture: numpy (the converter's audio check) is compiled code."""
    for package in ("aws_lambda_powertools", "numpy"):
        marker = PYTHON_BUILD / architecture / "python" / package
        if not marker.exists():
            if synthesizing_to_destroy():
                return _empty_dir()
            raise LayerNotBuilt(
                f"the python-deps layer for {architecture} is not built ({marker} is missing); "
                f"run `./cdk-deploy.sh setup -c lambda_architecture={architecture}` (or `layers/build.sh "
                f"{architecture}`) first"
            )
    return str(PYTHON_BUILD / architecture)


class OptimizerLayers(Construct):
    def __init__(
        self, scope: Construct, construct_id: str, *, architecture: lambda_.Architecture, runtime: lambda_.Runtime
    ) -> None:
        super().__init__(scope, construct_id)
        self.ffmpeg = lambda_.LayerVersion(
            self,
            "Ffmpeg",
            code=lambda_.Code.from_asset(ffmpeg_layer_dir(architecture.name)),
            compatible_architectures=[architecture],
            description="Static ffmpeg 7.0.2 from the imageio-ffmpeg 0.7.0 wheel, at /opt/bin/ffmpeg",
        )
        self.python_deps = lambda_.LayerVersion(
            self,
            "PythonDeps",
            code=lambda_.Code.from_asset(python_layer_dir(architecture.name), exclude=["**/__pycache__"]),
            compatible_runtimes=[runtime],
            compatible_architectures=[architecture],
            description=f"Pinned Powertools for AWS Lambda, boto3 and numpy for {architecture.name} "
            "(lambdas/requirements.txt)",
        )
