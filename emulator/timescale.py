"""Time on the emulator: what AWS measures in hours passes in seconds here.

Standard library only: the local run's settings are scaled with it before any set-up
(emulator/local_settings.py), on this machine's Python.
"""

from __future__ import annotations

import math

# Queues' visibility timeouts are scaled for the emulator: 1 s per real hour (the work queue's
# 3,600 s is 1 s here, never less than 1 s), so that a message in flight, failed or of a crashed
# invocation comes back within a local run, after a wait, as on AWS.
VISIBILITY_SECONDS_PER_HOUR = 1


def scaled_visibility_timeout(seconds: int) -> int:
    """A timeout of `seconds` on AWS as the emulator waits it: 1 s per real hour, at least 1 s."""
    return max(1, math.ceil(seconds * VISIBILITY_SECONDS_PER_HOUR / 3600))
