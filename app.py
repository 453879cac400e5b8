#!/usr/bin/env python3
"""CDK entry point: read and validate the context once, then build the stack."""
import sys

import aws_cdk as cdk

from stacks.config import ConfigError, OptimizerConfig
from stacks.layers import LayerNotBuilt
from stacks.optimizer_stack import OptimizerStack

app = cdk.App()
try:
    config = OptimizerConfig.from_context(app.node.try_get_context)
    OptimizerStack(app, config.stack_name, config=config)
except (ConfigError, LayerNotBuilt) as exc:
    sys.exit(f"error: {exc}")
app.synth()
