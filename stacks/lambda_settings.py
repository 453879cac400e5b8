"""What the Lambda functions read at run time, built once from the validated configuration.

The stack gives each function `runtime_settings(...).to_env()`; the handlers read the same
`optimizer.settings.Settings` back with `Settings.from_env()`: one contract, one set of defaults
(stacks/config.py). Plain Python (no CDK), so the tests build their settings the same way.
"""

from __future__ import annotations

import math

# lambdas/ is on the path (stacks/__init__.py): the stack, the tests and the handlers share one
# Settings class.
from optimizer.settings import Settings

from .capacity import worst_case_message_age_s
from .config import OptimizerConfig, declarations
from .prices import flat_gb_month

FFMPEG_PATH = "/opt/bin/ffmpeg"  # where the ffmpeg layer puts the binary (layers/ffmpeg)


def runtime_settings(
    config: OptimizerConfig, *, queue_url: str, dlq_url: str, ledger_table: str, ffmpeg_path: str = FFMPEG_PATH
) -> Settings:
    """The settings every function gets for `config`; `queue_url`, `dlq_url`, `ledger_table`: the
    resources' names (CDK tokens in the stack)."""
    return Settings(
        # The settings the Lambda functions get, as declared (stacks/config.py, Rule.lambdas).
        **{declared.lambdas: getattr(config, name) for name, declared in declarations() if declared.lambdas},
        drain_limit_seconds=math.ceil(worst_case_message_age_s(config)),
        queue_url=queue_url,
        dlq_url=dlq_url,
        ledger_table=ledger_table,
        ffmpeg_path=ffmpeg_path,
        # The dry run's projection, from the one price table (stacks/prices.py).
        price_standard_gb_month=flat_gb_month("STANDARD"),
        price_target_gb_month=flat_gb_month(config.storage_class),
        page_keys=0,  # pages as large as their byte budget: --page-keys is the local run's alone
    )
