#!/usr/bin/env python3
"""CDK entry point: the context is read and validated once, then the stack is built."""

import os
import sys

# The jsii runtime warns about Node 20's support window on every synth; the CLI pins what works.
os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")

import aws_cdk as cdk  # noqa: E402

from stacks.config import ConfigError  # noqa: E402
from stacks.context_check import shadowed_settings  # noqa: E402
from stacks.layers import LayerNotBuilt  # noqa: E402
from stacks.optimizer_stack import add_optimizer_stack  # noqa: E402

for warning in shadowed_settings():
    print(f"warning: {warning}", file=sys.stderr)
app = cdk.App()
try:
    add_optimizer_stack(app)
except (ConfigError, LayerNotBuilt) as exc:
    sys.exit(f"error: {exc}")
app.synth()
