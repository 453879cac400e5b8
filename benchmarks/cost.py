"""Cost per 1,000 call-minutes, from the counts measured by the benchmark and the estimator's
price table (estimator/prices.json), so both tools bill the same prices.

What is measured and what is assumed:
  measured  requests per recording (S3, SQS), pages and Step Functions transitions per recording,
            the converter's local time for a 5-minute call (its own process, real boto3 over
            HTTP to a local S3, real ffmpeg), the page functions' time on the emulator.
  assumed   Lambda's time for that call, which cannot be measured here:
              t(M) = t_local * max(1, 1769 / M) + 2 * S3_LATENCY_S + bytes moved / S3_THROUGHPUT
            Lambda gives a function M / 1769 of a vCPU (one full vCPU at 1,769 MB); the converter
            is one thread at a time (Python, then ffmpeg), so its CPU-bound time stretches by
            1769 / M below that and does not shrink above it. A local core is taken to be as fast
            as a Graviton core. The transfer term is what the local measure lacks (its S3 is on
            127.0.0.1).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from stacks.config import OptimizerConfig

FULL_VCPU_MB = 1769  # Lambda: one vCPU's worth of CPU at 1,769 MB
S3_LATENCY_S = 0.030  # first byte of a GET / completion of a PUT, each (assumed)
S3_THROUGHPUT_BPS = 50e6  # bytes per second between Lambda and S3 in one stream (assumed)
# DynamoDB on-demand, us-east-1 (not in estimator/prices.json yet): $0.625 per million write
# request units, $0.125 per million read request units; a ledger item is far below 1 KB.
DYNAMODB_WRITE_PER_MILLION = 0.625
DYNAMODB_READ_PER_MILLION = 0.125
DYNAMODB_SOURCE = "https://aws.amazon.com/dynamodb/pricing/on-demand/"
TRANSACTIONAL_WRITE_UNITS = 2  # per item of up to 1 KB written in a transaction
EVENT_SOURCE_POLLERS = 5  # Lambda's SQS event source starts with 5 long-polling connections
LONG_POLL_S = 20


@dataclass(frozen=True)
class Measured:
    call_minutes: float  # length of the typical call the local time was measured on
    converter_local_s: float  # converter handler, one such call, this machine
    bytes_in: int  # PCM read
    bytes_out: int  # A-law written
    s3_get: float  # per converted recording (GetObject + GetObjectTagging)
    s3_put: float
    s3_list_per_recording: float
    sqs_send_per_recording: float  # SendMessageBatch
    pages_per_recording: float
    transitions_per_page: float
    transitions_per_run: float  # outside the page loop, with an immediately drained queue
    page_lambda_s: float  # lister + enqueuer, per page (emulator time, an upper bound)
    page_lambda_memory_mb: int
    # The run ledger's writes are transactions: 2 write units per item (DynamoDB pricing).
    dynamodb_transactions_per_page: float = 0.0  # the enqueuer: the page's marker and the counters
    dynamodb_reads_per_page: float = 0.0  # the enqueuer reads the page's marker (strongly consistent)
    dynamodb_transactions_per_converter_batch: float = 0.0  # the counters, plus one marker per recording
    dynamodb_reads_per_run: float = 0.0
    dynamodb_read_units_per_recording: float = 0.0  # the lister's known-failure check (BatchGetItem)


@dataclass(frozen=True)
class Settings:
    """What is priced; the defaults are the stack's own (stacks/config.py), not a copy of them."""

    architecture: str = OptimizerConfig.lambda_architecture
    storage_class: str = OptimizerConfig.storage_class
    memory_mb: int = OptimizerConfig.converter_memory_mb
    batch_size: int = OptimizerConfig.converter_batch_size
    max_concurrency: int = OptimizerConfig.converter_max_concurrency
    poll_seconds: int = OptimizerConfig.queue_poll_seconds


def lambda_seconds(
    m: Measured, memory_mb: int, *, local_s: float | None = None, bytes_moved: int | None = None
) -> float:
    local = m.converter_local_s if local_s is None else local_s
    moved = m.bytes_in + m.bytes_out if bytes_moved is None else bytes_moved
    return local * max(1.0, FULL_VCPU_MB / memory_mb) + 2 * S3_LATENCY_S + moved / S3_THROUGHPUT_BPS


def per_thousand_minutes(m: Measured, s: Settings, prices: Any, *, converter_s: float | None = None) -> dict[str, Any]:
    """Dollars per 1,000 call-minutes of `m.call_minutes`-minute calls, by item."""
    lam = prices.lambda_[s.architecture]
    recordings = 1000.0 / m.call_minutes
    seconds = lambda_seconds(m, s.memory_mb) if converter_s is None else converter_s
    pages = recordings * m.pages_per_recording
    # While the queue drains, the state machine polls its depth: 3 transitions every poll.
    drain_s = recordings * seconds / s.max_concurrency
    drain_transitions = 3 * drain_s / s.poll_seconds
    items = {
        "lambda_converter_gb_s": recordings * seconds * s.memory_mb / 1024 * lam.per_gb_second,
        "lambda_page_functions_gb_s": pages * m.page_lambda_s * m.page_lambda_memory_mb / 1024 * lam.per_gb_second,
        "lambda_requests": (recordings / s.batch_size + 2 * pages) * lam.per_million_requests / 1e6,
        "s3_get": recordings * m.s3_get * prices.storage_class("STANDARD").get_per_1000 / 1000,
        "s3_put": recordings * m.s3_put * prices.storage_class(s.storage_class).put_per_1000 / 1000,
        "s3_list": recordings * m.s3_list_per_recording * prices.s3_list_per_1000 / 1000,
        # Send (measured), and per converter batch one ReceiveMessage and one DeleteMessageBatch.
        "sqs": (recordings * m.sqs_send_per_recording + 2 * recordings / s.batch_size) * prices.sqs_per_million / 1e6,
        "stepfunctions": (pages * m.transitions_per_page + drain_transitions) * prices.sfn_per_1000_transitions / 1000,
        "dynamodb": (
            pages * m.dynamodb_transactions_per_page * 2 * TRANSACTIONAL_WRITE_UNITS
            + recordings / s.batch_size * m.dynamodb_transactions_per_converter_batch * TRANSACTIONAL_WRITE_UNITS
            + recordings * TRANSACTIONAL_WRITE_UNITS  # each recording's done marker
        )
        * DYNAMODB_WRITE_PER_MILLION
        / 1e6
        + (pages * m.dynamodb_reads_per_page + recordings * m.dynamodb_read_units_per_recording)
        * DYNAMODB_READ_PER_MILLION
        / 1e6,
    }
    total = sum(items.values())
    return {
        "call_minutes": 1000,
        "call_length_minutes": m.call_minutes,
        "recordings": recordings,
        "converter_seconds_per_recording": seconds,
        "settings": asdict(s),
        "items_usd": items,
        "total_usd": total,
        "converter_gb_s_per_recording": seconds * s.memory_mb / 1024,
    }


def fixed_costs(m: Measured, s: Settings, prices: Any) -> dict[str, float]:
    """Costs that do not grow with the minutes: one daily run, and the event source's polling."""
    lam = prices.lambda_[s.architecture]
    polls_per_month = EVENT_SOURCE_POLLERS * (30 * 24 * 3600 / LONG_POLL_S)
    return {
        "per_run_stepfunctions_usd": m.transitions_per_run * prices.sfn_per_1000_transitions / 1000,
        "per_run_lambda_requests_usd": 3 * lam.per_million_requests / 1e6,  # resolve, preflight, summarize
        "per_run_dynamodb_usd": m.dynamodb_reads_per_run * DYNAMODB_READ_PER_MILLION / 1e6,
        "event_source_idle_polling_usd_per_month": polls_per_month * prices.sqs_per_million / 1e6,
    }


def break_even_converter_seconds(m: Measured, s: Settings, prices: Any, budget_usd: float = 0.01) -> float:
    """Converter seconds per recording at which the total reaches `budget_usd` per 1,000 minutes."""
    base = per_thousand_minutes(m, s, prices, converter_s=0.0)["total_usd"]
    one = per_thousand_minutes(m, s, prices, converter_s=1.0)["total_usd"]
    return (budget_usd - base) / (one - base)


def memory_table(
    m: Measured, s: Settings, prices: Any, sizes: list[int], longest: dict[str, float] | None = None
) -> list[dict[str, Any]]:
    """Modelled cost and duration per memory size; `longest` = {"local_s", "bytes"} of the
    longest call measured, for the batch-in-timeout check."""
    rows = []
    for mb in sizes:
        settings = Settings(**{**asdict(s), "memory_mb": mb})
        cost = per_thousand_minutes(m, settings, prices)
        row = {
            "memory_mb": mb,
            "vcpu": min(1.0, mb / FULL_VCPU_MB),
            "seconds_per_recording": cost["converter_seconds_per_recording"],
            "usd_per_1000_minutes": cost["total_usd"],
            "converter_usd": cost["items_usd"]["lambda_converter_gb_s"],
        }
        if longest:
            row["longest_call_s"] = lambda_seconds(m, mb, local_s=longest["local_s"], bytes_moved=int(longest["bytes"]))
            row["batch_of_longest_s"] = row["longest_call_s"] * s.batch_size
        rows.append(row)
    return rows


# The docs' and the estimator's reference volume: 3,000,000 call-minutes a month, 5-minute calls.
REFERENCE_MINUTES_PER_MONTH = 3_000_000
DAYS_PER_MONTH = 365 / 12
BACKFILL_DAYS = 2190  # six years, the retention of the reference example
MARGIN = 2.0  # every limit below is met twice over


def recommend(
    m: Measured,
    s: Settings,
    table: list[dict[str, Any]],
    *,
    peak_mb: float,
    timeout_s: int,
    max_run_s: float,
    memory_floor_mb: int = 512,
) -> dict[str, Any]:
    """Defaults chosen from the measures, each rule met with a factor MARGIN:

    memory       the cheapest size (>= the configuration's floor) that holds the measured peak
                 and converts a batch of the longest measured call within the timeout;
    batch size   the largest (<= 10, the SQS maximum) whose batch of longest calls fits the timeout;
    concurrency  enough converters to drain a 6-year backfill of the reference volume within the
                 state machine's maximum run (each day's recordings wait in the queue meanwhile).
    """
    fits = [
        r
        for r in table
        if r["memory_mb"] >= max(memory_floor_mb, MARGIN * peak_mb) and r["batch_of_longest_s"] <= timeout_s / MARGIN
    ]
    best = min(fits or table, key=lambda r: r["usd_per_1000_minutes"])
    batch = max([b for b in range(1, 11) if b * best["longest_call_s"] <= timeout_s / MARGIN] or [1])
    per_day = REFERENCE_MINUTES_PER_MONTH / DAYS_PER_MONTH / m.call_minutes
    backfill = per_day * BACKFILL_DAYS
    seconds = best["seconds_per_recording"]
    concurrency = max(2, math.ceil(backfill * seconds / (max_run_s / MARGIN) / 10) * 10)
    return {
        "converter_memory_mb": best["memory_mb"],
        "converter_batch_size": batch,
        "converter_max_concurrency": concurrency,
        "reference_recordings_per_day": per_day,
        "backfill_recordings": backfill,
        "seconds_per_recording": seconds,
        "backfill_days_at_concurrency": backfill * seconds / concurrency / 86400,
        "backfill_days_at_current": backfill * seconds / s.max_concurrency / 86400,
        "daily_drain_minutes": per_day * seconds / concurrency / 60,
        "max_run_days": max_run_s / 86400,
        "s3_requests_per_second": concurrency * (m.s3_get + m.s3_put) / seconds,
        "usd_per_1000_minutes": best["usd_per_1000_minutes"],
        "batch_of_longest_s": batch * best["longest_call_s"],
        "timeout_s": timeout_s,
        "peak_mb": peak_mb,
        "margin": MARGIN,
    }
