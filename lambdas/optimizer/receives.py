"""How many times a message may be received, declared once for the converter
(optimizer/outcomes.py) and the work queue's redrive policy (stacks/capacity.py). Plain Python.

The converter tries a recording at most `max_receive_count` times: its own attempts, counted in
the ledger, not SQS's receives. A receive is not always an attempt: Lambda throttles an
invocation, a batch comes back whole, a ledger write fails. RECEIVE_ROOM more receives are let
through for those; past them the converter dead-letters the message itself, with a reason.
DEAD_LETTER_ROOM receives more are left before SQS's redrive policy moves it without a reason
(for a message whose dead-lettering failed). The queue's maxReceiveCount is then
max_receive_count + 6, at least 7: AWS advises at least 5 for a queue that feeds Lambda, so
that a throttled message is retried (AWS Lambda developer guide, "Understanding SQS retries",
https://docs.aws.amazon.com/lambda/latest/dg/sqs-retries.html: set maxReceiveCount on the
source queue's redrive policy to at least 5).
"""

from __future__ import annotations

RECEIVE_ROOM = 4
DEAD_LETTER_ROOM = 2
EXTRA_RECEIVES = RECEIVE_ROOM + DEAD_LETTER_ROOM


def receive_limit(max_attempts: int) -> int:
    """The last receive at which the converter still works on a recording."""
    return max_attempts + RECEIVE_ROOM


def redrive_threshold(max_attempts: int) -> int:
    """The work queue's maxReceiveCount."""
    return max_attempts + EXTRA_RECEIVES
