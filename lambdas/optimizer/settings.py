"""Runtime settings: the one contract between the stack and the Lambda functions.

The stack builds a Settings from its validated configuration and the resources it creates
(stacks/lambda_settings.py) and gives each function `settings.to_env()`; a handler reads it back with
`Settings.from_env()`. Each field's variable is its name in capitals, unless the field names
another (`env` in its metadata); ENV is read from the fields. There are no defaults here:
every value comes from the stack's configuration (stacks/config.py holds the defaults), and a
variable the stack did not set is an error that names it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from .formats import TargetFormat, target_format


class MissingSetting(KeyError):
    """The function's environment lacks a variable the stack sets."""


@dataclass(frozen=True, kw_only=True)
class Settings:
    # The two fields whose variables predate this naming keep them: a deployed function's
    # environment says BUCKET_NAME and STORAGE_CLASS, as the configuration's keys do.
    bucket: str = field(metadata={"env": "BUCKET_NAME"})
    bucket_prefix: str
    target_class: str = field(metadata={"env": "STORAGE_CLASS"})
    target_format: str  # a key of optimizer.formats.FORMATS (stacks/config.py validates it): `target`
    overwrite_converted: bool
    num_days_age: int
    catch_up_days: int
    require_versioning: bool
    max_receive_count: int  # the converter's attempts; the queue's redrive threshold is higher
    queue_poll_seconds: int
    # The longest a run waits for its recordings' outcomes (stacks/capacity.py, worst_case_message_age_s)
    drain_limit_seconds: int
    queue_url: str
    dlq_url: str
    ledger_table: str
    ffmpeg_path: str
    # $/GB-month from estimator/prices.json, passed at synth time (the dry run's projection)
    price_standard_gb_month: float
    price_target_gb_month: float
    # At most this many recordings a page, 0 for no limit: the local run's test aid (--page-keys),
    # never a deployment setting (stacks/config.py refuses it; the stack always sets 0).
    page_keys: int
    # Retention by the recording's date: 0 off (the default), else the days a recording is kept
    # after its call (stacks/config.py: at least 90); at most retention_max_deletes deletions a run.
    retention_days: int
    retention_max_deletes: int

    @property
    def target(self) -> TargetFormat:
        """The format the converter writes (a mono source stays mono: TargetFormat.for_source)."""
        return target_format(self.target_format)

    def to_env(self) -> dict[str, str]:
        """The settings as the functions' environment variables (ENV); from_env reads them back."""
        return {ENV[f.name]: _encode(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """The settings from the environment; MissingSetting naming every variable that is absent."""
        env = os.environ if env is None else env
        missing = [ENV[f.name] for f in fields(cls) if ENV[f.name] not in env]
        if missing:
            raise MissingSetting(
                f"the function's environment lacks {', '.join(missing)}: the stack sets every variable of "
                "optimizer.settings.ENV (stacks/lambda_settings.py); redeploy, or set them when running a handler "
                "by hand"
            )
        return cls(**{f.name: _decode(str(f.type), env[ENV[f.name]]) for f in fields(cls)})


# Each field's environment variable, read from the fields (the one declaration).
ENV = {f.name: f.metadata.get("env", f.name.upper()) for f in fields(Settings)}


def _encode(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _decode(kind: str, text: str) -> Any:  # the field's declared type, named by `kind`
    if kind == "bool":
        return text.lower() == "true"
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    return text
