"""Runtime settings: the stack passes its validated configuration as environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Settings:
    bucket: str
    bucket_prefix: str
    target_class: str = "GLACIER_IR"
    overwrite_converted: bool = False
    num_days_age: int = 7
    queue_url: str = ""
    dlq_url: str = ""
    ffmpeg_path: str = "/opt/bin/ffmpeg"
    catch_up_days: int = 0
    ledger_table: str = ""
    require_versioning: bool = True
    max_receive_count: int = 3  # the converter's attempts; the queue's redrive threshold is higher
    queue_poll_seconds: int = 60
    # The longest a run waits for its recordings' outcomes (stacks/queues.py, worst_case_message_age_s)
    drain_limit_seconds: int = 86_400
    # $/GB-month from estimator/prices.json, passed at synth time (the dry run's projection)
    price_standard_gb_month: float = 0.023
    price_target_gb_month: float = 0.004

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            bucket=env["BUCKET_NAME"],
            bucket_prefix=env.get("BUCKET_PREFIX", ""),
            target_class=env.get("STORAGE_CLASS", "GLACIER_IR"),
            overwrite_converted=env.get("OVERWRITE_CONVERTED", "false").lower() == "true",
            num_days_age=int(env.get("NUM_DAYS_AGE", "7")),
            queue_url=env.get("QUEUE_URL", ""),
            dlq_url=env.get("DLQ_URL", ""),
            ffmpeg_path=env.get("FFMPEG_PATH", "/opt/bin/ffmpeg"),
            catch_up_days=int(env.get("CATCH_UP_DAYS", "0")),
            ledger_table=env.get("LEDGER_TABLE", ""),
            require_versioning=env.get("REQUIRE_VERSIONING", "true").lower() == "true",
            max_receive_count=int(env.get("MAX_RECEIVE_COUNT", "3")),
            queue_poll_seconds=int(env.get("QUEUE_POLL_SECONDS", "60")),
            drain_limit_seconds=int(env.get("DRAIN_LIMIT_SECONDS", "86400")),
            price_standard_gb_month=float(env.get("PRICE_STANDARD_GB_MONTH", "0.023")),
            price_target_gb_month=float(env.get("PRICE_TARGET_GB_MONTH", "0.004")),
        )
