"""Call-length distribution, used by the per-object S3 rules.

Per-object rules (minimum billable size, per-object overhead, request
counts) depend on how many recordings a month's minutes split into and on
how many of them are short, so a single mean is not enough for the size rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

KINDS = ("exp", "fixed", "lognormal")


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@dataclass(frozen=True)
class CallLength:
    """Length of one recording, in minutes.

    ``exp`` (default) is the classic telephony holding-time assumption;
    ``lognormal`` (shape ``sigma``) fits measured call centres better when
    you have data; ``fixed`` makes every call exactly ``mean_minutes`` long.
    """

    kind: str = "exp"
    mean_minutes: float = 5.0
    sigma: float = 1.0

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"call-length kind must be one of {', '.join(KINDS)}, not {self.kind!r}")
        if not (self.mean_minutes > 0 and math.isfinite(self.mean_minutes)):
            raise ValueError("call-length mean must be a positive number of minutes")
        if not self.sigma > 0:
            raise ValueError("call-length sigma must be positive")

    @classmethod
    def parse(cls, text: str) -> CallLength:
        """``5`` / ``exp:5`` / ``fixed:5`` / ``lognormal:5:0.8`` (mean minutes[, sigma])."""
        parts = text.strip().split(":")
        kind = "exp" if len(parts) == 1 else parts[0].lower()
        nums = parts if len(parts) == 1 else parts[1:]
        try:
            values = [float(p) for p in nums]
        except ValueError:
            raise ValueError(f"bad --call-length {text!r}; use e.g. 5, exp:5, fixed:5 or lognormal:5:0.8") from None
        if not 1 <= len(values) <= (2 if kind == "lognormal" else 1):
            raise ValueError(f"bad --call-length {text!r}; use e.g. 5, exp:5, fixed:5 or lognormal:5:0.8")
        return cls(kind, *values)

    def shortfall(self, threshold: float) -> float:
        """E[max(0, threshold - T)] in minutes: what a minimum billable size adds per call."""
        k, mu = threshold, self.mean_minutes
        if k <= 0:
            return 0.0
        if self.kind == "fixed":
            return max(0.0, k - mu)
        if self.kind == "exp":
            return k - mu * (1.0 - math.exp(-k / mu))
        s = self.sigma  # lognormal with ln T ~ N(m, s^2) and E[T] = mu
        d = (math.log(k) - (math.log(mu) - s * s / 2)) / s
        return k * _phi(d) - mu * _phi(d - s)

    def size_uplift(self, min_bytes: float, bytes_per_minute: float) -> float:
        """Billed bytes / actual bytes - 1 when objects below ``min_bytes`` are billed as ``min_bytes``."""
        if min_bytes <= 0 or bytes_per_minute <= 0:
            return 0.0
        return self.shortfall(min_bytes / bytes_per_minute) / self.mean_minutes
