"""AWS clients with the retry behaviour the handlers rely on, created once per container."""
from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Standard mode retries throttling and 5xx with jittered backoff; a few more attempts than the
# default because a failed call costs a whole batch retry.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 6}, connect_timeout=5, read_timeout=60)


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=RETRY_CONFIG)
