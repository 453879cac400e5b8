"""Runtime settings: the stack passes its validated configuration as environment variables."""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping


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

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> "Settings":
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
        )
