#!/usr/bin/env python3
"""CDK entry point: the context is read and validated once, then the stack is built."""
import sys

import aws_cdk as cdk

from stacks.config import ConfigError
from stacks.layers import LayerNotBuilt
from stacks.optimizer_stack import add_optimizer_stack

app = cdk.App()
try:
    add_optimizer_stack(app)
except (ConfigError, LayerNotBuilt) as exc:
    sys.exit(f"error: {exc}")
app.synth()
