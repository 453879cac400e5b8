"""The arithmetic that no message expires unconverted, and how long a run waits for its recordings.

Plain Python (no CDK): the stack (stacks/queues.py, stacks/lambda_settings.py) and the tests use it.

A standard queue's message keeps its original enqueue time when the redrive policy moves it to
the DLQ, so the DLQ must keep messages longer than the work queue does ("it is a best practice to
always set the retention period of a dead-letter queue to be longer than the retention period of
the original queue": Amazon SQS developer guide, "Setting-up dead-letter queue retention"). The
DLQ keeps SQS's maximum, 14 days; the work queue 7, so a moved message stays at least 7 days in
the DLQ to be read and redriven. (The converter's own SendMessage to the DLQ starts a new 14 days.)

7 days must then outlast the longest a message can wait and be retried, whatever the settings:

- Backpressure: a day's pages wait while the work queue holds `max_queued` messages, at most a
  day of work at the converters' slowest pace (every batch using its whole timeout: concurrency x
  batch / timeout recordings a second), never more than 20,000. Each of the `backfill_concurrency`
  days listing at once may add one page after its check, at most PAGE_MAX_ITEMS recordings, and
  the converters hold concurrency x batch in flight.
- A message behind all of those waits (max_queued + backfill_concurrency x PAGE_MAX_ITEMS +
  concurrency x batch) / pace, then may be received up to the redrive threshold (below), each
  time hidden for the visibility timeout.

At the defaults (50 converters, batches of 10, 600 s, 4 days at once, 3 attempts): pace 0.83/s,
20,000 + 4 x 1,000 + 500 messages -> 29,400 s, plus 9 x 3,600 s = 61,800 s, 17.2 hours of 7 days.
The same figure bounds how long a run waits for its recordings' outcomes (DRAIN_LIMIT_SECONDS).

The redrive threshold (maxReceiveCount) is max_receive_count + EXTRA_RECEIVES
(lambdas/optimizer/receives.py, declared once for the converter and the queue): the converter
tries a recording max_receive_count times (its own attempts, counted in the ledger), lets
RECEIVE_ROOM receives more through for the receives that were not attempts (Lambda throttled it,
its batch came back whole, a ledger write failed), then dead-letters it itself, with the reason
and a count in the run's ledger. SQS's own move to the DLQ, which no code sees, is left for a
message whose dead-lettering failed twice (DEAD_LETTER_ROOM).
`worst_case_message_age_s` computes it for any configuration; the stack refuses to synthesize one
that could exceed the retention.
"""

from __future__ import annotations

from optimizer import receives  # lambdas/ is on the path: stacks/__init__.py

from .config import ConfigError, OptimizerConfig

WORK_RETENTION_S = 7 * 86_400  # the work queue's retention (stacks/queues.py)
QUEUED_CAP = 20_000
# A page holds at most 48 KB of items, each at least ~50 bytes ([name, ETag, size] as JSON):
# optimizer.listing.PAGE_BUDGET_BYTES / 50 < 1,000.
PAGE_MAX_ITEMS = 1_000
EXTRA_RECEIVES = receives.EXTRA_RECEIVES


def redrive_threshold(config: OptimizerConfig) -> int:
    """The receives after which the work queue moves a message to the dead-letter queue."""
    return receives.redrive_threshold(config.max_receive_count)


def slowest_pace(config: OptimizerConfig) -> float:
    """Recordings a second when every batch takes the converter's whole timeout."""
    return config.converter_max_concurrency * config.converter_batch_size / config.converter_timeout_seconds


def max_queued(config: OptimizerConfig) -> int:
    """The backpressure threshold: at most a day of work at the slowest pace."""
    return max(PAGE_MAX_ITEMS, min(QUEUED_CAP, int(slowest_pace(config) * 86_400)))


def worst_case_message_age_s(config: OptimizerConfig) -> float:
    """The longest a message can wait and be retried before its outcome, in seconds."""
    in_flight = config.converter_max_concurrency * config.converter_batch_size
    ahead = max_queued(config) + config.backfill_concurrency * PAGE_MAX_ITEMS + in_flight
    return ahead / slowest_pace(config) + redrive_threshold(config) * config.visibility_timeout_seconds


def check_retention(config: OptimizerConfig) -> None:
    """ConfigError when a message could outlive the work queue's 7-day retention."""
    age = worst_case_message_age_s(config)
    if age > WORK_RETENTION_S:
        raise ConfigError(
            f"with converter_max_concurrency={config.converter_max_concurrency}, "
            f"converter_batch_size={config.converter_batch_size}, "
            f"backfill_concurrency={config.backfill_concurrency} and max_receive_count={config.max_receive_count}, "
            f"a message could wait and be retried {age / 86_400:.1f} days, longer than the work queue keeps it "
            "(7 days): raise converter_max_concurrency, or lower backfill_concurrency or max_receive_count"
        )
