"""AWS clients with the retry behaviour the handlers rely on, created once per container."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

# Standard mode retries throttling and 5xx with jittered backoff; a few more attempts than the
# default because a failed call costs a whole batch retry.
# What S3 answers when the caller may not read an object or use its KMS key: a configuration
# problem, never a passing one (the converter and the preflight's read probe both rely on it).
DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "403",
        "KMS.AccessDeniedException",
        "KMS.DisabledException",
        "KMS.KMSInvalidStateException",
        "KMS.NotFoundException",
    }
)
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 6}, connect_timeout=5, read_timeout=60)


@cache
def client(service: str) -> Any:
    """The service's client with RETRY_CONFIG, one per container."""
    return boto3.client(service, config=RETRY_CONFIG)
