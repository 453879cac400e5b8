"""Cost models: the article's (to test against its Table 2) and a corrected one.

Both are pure functions of typed inputs and return an :class:`Estimate` with
one row per year and the monthly series behind them (for payback and the
chart). Nothing here calls AWS.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from stacks.config import FORMATS, TARGET, OptimizerConfig  # the stack's defaults and the converter's formats

from .calls import CallLength
from .cohorts import Cohorts
from .prices import ARCHITECTURES, Prices, StorageClassPrice

DAYS_PER_MONTH = 365 / 12
PCM_BYTES_PER_SECOND = 8000 * 2 * 2  # 8 kHz x 2 channels x 16 bit = 1.92 MB a minute
ALAW_BYTES_PER_SECOND = 8000 * 1 * 1  # 8 kHz x 1 channel x 8 bit = 0.48 MB a minute
# The converter on Lambda as the benchmark models it at the stack's default 512 MB: 0.62 s for a
# 5-minute call (docs/benchmarks.md, "cost"), taken as proportional to the audio's length.
# tests/estimator checks both against docs/benchmarks-results.json and the stack's default.
CONVERTER_MEMORY_MB = 512.0
CONVERTER_SECONDS_PER_AUDIO_MINUTE = 0.124

# Switchable corrections of the corrected model (see docs/estimator.md).
RULES = (
    "exact-sizes",  # 1.92 / 0.48 MB a minute billed in GiB, not 2 / 0.5 MB in GB
    "standard-tiers",  # S3 Standard volume tiers (50 TB / 450 TB / over 500 TB)
    "noncurrent",  # the overwritten PCM stays as a noncurrent version until expired
    "min-object-size",  # 128 KB minimum billable size (and Glacier per-object overhead)
    "min-duration",  # early-deletion charge up to the class's minimum storage duration
    "requests",  # S3 GET/PUT/LIST, SQS, Step Functions transitions, Lambda requests
    "lambda-compute",  # converter GB-seconds at arm64 or x86_64 prices
    "tags",  # the converted=True object tag, billed per tag-month
)


RETENTION_FROM = ("recording", "conversion")

# Ten billion call-minutes a month, thousands of times the largest contact centres: above it a
# projection is an input mistake (a growth without its %), and its costs would overflow a float.
MAX_MINUTES_PER_MONTH = 10_000_000_000


@dataclass(frozen=True)
class Volume:
    minutes_per_month: float = 3_000_000
    years: int = 6
    growth: float = 0.0  # monthly growth of the volume, 0.01 = +1 % a month

    def __post_init__(self) -> None:
        if self.minutes_per_month < 0:
            raise ValueError("minutes per month must not be negative")
        if self.years < 1:
            raise ValueError("years must be at least 1")
        if self.growth <= -1:
            raise ValueError("growth must be above -100 % a month")
        if self.minutes_per_month > MAX_MINUTES_PER_MONTH:
            raise ValueError(
                f"{self.minutes_per_month:,.0f} minutes a month is more than the {MAX_MINUTES_PER_MONTH:,.0f} the "
                "estimator models"
            )
        months = 12 * self.years
        if self.minutes_per_month > 0 and self.growth > 0:
            # In logarithms: the volume itself may not fit in a float.
            peak = math.log10(self.minutes_per_month) + (months - 1) * math.log10(1 + self.growth)
            if peak > math.log10(MAX_MINUTES_PER_MONTH):
                raise ValueError(
                    f"a growth of {self.growth * 100:g} % a month over {self.years} years takes "
                    f"{self.minutes_per_month:,.0f} minutes a month to about 10^{peak:.0f} in month {months}, more "
                    f"than the {MAX_MINUTES_PER_MONTH:,.0f} the estimator models: lower the growth, the years or the "
                    "minutes"
                )

    def monthly_minutes(self) -> list[float]:
        return [self.minutes_per_month * (1 + self.growth) ** m for m in range(12 * self.years)]


@dataclass(frozen=True)
class YearCost:
    year: int
    minutes: float  # cumulative minutes recorded by the end of the year
    minutes_recorded: float  # minutes recorded during the year
    storage_tb: float  # Standard-only scenario: TB held at year end (1 TB = 10^12 B)
    optimized_storage_tb: float  # optimized scenario, all versions, same units
    standard_cost: float
    processing_cost: float
    optimized_cost: float  # includes processing_cost, as the article's last column does
    breakdown: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Estimate:
    assumptions: str
    years: tuple[YearCost, ...]
    monthly_standard: tuple[float, ...]
    monthly_optimized: tuple[float, ...]


def _years(
    volume: Volume,
    monthly: list[dict[str, float]],
    std_key: str,
    opt_keys: tuple[str, ...],
    proc_keys: tuple[str, ...],
    assumptions: str,
) -> Estimate:
    """Fold monthly line items into year rows; ``tb_*`` items are volumes, kept from the last month."""
    minutes = volume.monthly_minutes()
    rows, cum = [], 0.0
    for y in range(volume.years):
        months = monthly[12 * y : 12 * (y + 1)]
        recorded = sum(minutes[12 * y : 12 * (y + 1)])
        cum += recorded
        items = {k: sum(m[k] for m in months) for k in months[0] if not k.startswith("tb_")}
        rows.append(
            YearCost(
                year=y + 1,
                minutes=cum,
                minutes_recorded=recorded,
                storage_tb=months[-1]["tb_std"],
                optimized_storage_tb=months[-1]["tb_opt"],
                standard_cost=items[std_key],
                processing_cost=sum(items[k] for k in proc_keys),
                optimized_cost=sum(items[k] for k in opt_keys),
                breakdown={k: v for k, v in items.items() if k != std_key},
            )
        )
    return Estimate(
        assumptions,
        tuple(rows),
        tuple(m[std_key] for m in monthly),
        tuple(sum(m[k] for k in opt_keys) for m in monthly),
    )


# --------------------------------------------------------------------------- article


@dataclass(frozen=True)
class ArticleAssumptions:
    """The figures the article states or that its Table 2 implies."""

    pcm_mb_per_minute: float = 2.0  # "approximately 2 MB a minute" (decimal MB, 1 GB = 1000 MB)
    alaw_mb_per_minute: float = 0.5  # Table 1
    standard_gb_month: float = 0.023  # flat: no volume tiers
    target_gb_month: float = 0.004  # Glacier Instant Retrieval
    processing_per_1000_minutes: float = 0.11
    days_per_month: float = 30.0  # the residual $385/yr fits 7/30 of a month's PCM
    age_days: float = 7.0


def article_estimate(volume: Volume, a: ArticleAssumptions = ArticleAssumptions()) -> Estimate:
    """Table 2's method: storage billed on the end-of-month cumulative volume.

    Standard-only: every PCM minute ever recorded at 2 MB in S3 Standard.
    Optimized: processing at $0.11 per 1,000 minutes + every minute ever
    recorded at 0.5 MB in Glacier IR + ``age_days`` of PCM waiting in Standard.
    """
    monthly, cum = [], 0.0
    for minutes in volume.monthly_minutes():
        cum += minutes
        waiting_gb = minutes * a.pcm_mb_per_minute / 1000 * a.age_days / a.days_per_month
        monthly.append(
            {
                "standard": cum * a.pcm_mb_per_minute / 1000 * a.standard_gb_month,
                "processing": minutes / 1000 * a.processing_per_1000_minutes,
                "target_storage": cum * a.alaw_mb_per_minute / 1000 * a.target_gb_month,
                "pcm_standard": waiting_gb * a.standard_gb_month,
                "tb_std": cum * a.pcm_mb_per_minute / 1e6,
                "tb_opt": cum * a.alaw_mb_per_minute / 1e6 + waiting_gb / 1000,
            }
        )
    return _years(
        volume, monthly, "standard", ("processing", "target_storage", "pcm_standard"), ("processing",), "article"
    )


# --------------------------------------------------------------------------- corrected


@dataclass(frozen=True)
class Pipeline:
    """Requests the pipeline makes, per recording unless named otherwise (from the design)."""

    s3_get: float = 1.0  # read the PCM
    s3_put: float = 1.0  # write the A-law into the target class
    objects_per_list: float = 1000.0  # one ListObjectsV2 page
    sqs_requests: float = 0.3  # send, receive, delete in batches of 10
    recordings_per_page: float = 400.0  # one Step Functions page
    sfn_transitions_per_page: float = 12.0
    sfn_transitions_per_run: float = 10.0
    runs_per_day: float = 1.0  # the EventBridge schedule
    recordings_per_invocation: float = 10.0  # SQS batch size of the converter
    page_invocations: float = 2.0  # list + enqueue Lambdas per page
    # An upper bound: the benchmark measured 0.88 s for both of a page's invocations together,
    # on the emulator; at these volumes the pages cost cents either way.
    page_lambda_seconds: float = 1.0
    page_lambda_memory_mb: float = 256.0  # the lister's and the enqueuer's configured memory


@dataclass(frozen=True)
class Corrected:
    # The deployment's defaults (stacks/config.py), so that a default estimate is a default deployment.
    storage_class: str = OptimizerConfig.storage_class
    target_format: str = TARGET.key  # a key of FORMATS: alaw_stereo keeps both channels, twice the bytes
    age_days: float = float(OptimizerConfig.num_days_age)
    noncurrent_days: float | None = 1.0  # None: no lifecycle rule, originals kept for ever
    retention_days: float | None = None  # None: recordings outlive the horizon
    # What retention_days counts from. "recording": a deletion by the call's date. "conversion": an S3
    # lifecycle Expiration on current versions, whose clock the rewrite restarts (the converted
    # version is a new one, dated its conversion: it is kept age_days longer). Standard is the same.
    retention_from: str = "recording"
    # Object Lock default retention, in days from recording (0: none): no version can be deleted
    # before it, so the noncurrent original stays billed until then (both scenarios alike).
    lock_days: float = 0.0
    call_length: CallLength = CallLength()
    architecture: str = OptimizerConfig.lambda_architecture
    lambda_memory_mb: float = CONVERTER_MEMORY_MB
    seconds_per_recording: float | None = None  # None: CONVERTER_SECONDS_PER_AUDIO_MINUTE x the mean call
    disabled: frozenset[str] = frozenset()
    pipeline: Pipeline = Pipeline()

    def __post_init__(self) -> None:
        unknown = set(self.disabled) - set(RULES)
        if unknown:
            raise ValueError(f"unknown rule(s) {', '.join(sorted(unknown))}; rules: {', '.join(RULES)}")
        if self.target_format not in FORMATS:
            raise ValueError(f"target-format must be one of {', '.join(FORMATS)}")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"architecture must be one of {', '.join(ARCHITECTURES)}")
        if self.age_days < 0 or (self.noncurrent_days is not None and self.noncurrent_days < 0):
            raise ValueError("age-days and noncurrent-days must not be negative")
        if self.retention_from not in RETENTION_FROM:
            raise ValueError(f"retention-from must be one of {', '.join(RETENTION_FROM)}")
        if self.lock_days < 0:
            raise ValueError("lock-days must not be negative")
        if self.retention_days is not None and self.retention_days <= self.age_days:
            raise ValueError("retention-days must be longer than age-days (recordings are converted first)")
        if self.lambda_memory_mb <= 0 or (self.seconds_per_recording is not None and self.seconds_per_recording < 0):
            raise ValueError("Lambda memory must be positive and seconds per recording not negative")

    def on(self, rule: str) -> bool:
        return rule not in self.disabled

    @property
    def lambda_seconds(self) -> float:
        if self.seconds_per_recording is not None:
            return self.seconds_per_recording
        return CONVERTER_SECONDS_PER_AUDIO_MINUTE * self.call_length.mean_minutes


def _end(start: float, keep: float | None) -> float | None:
    return None if keep is None else start + keep


def _locked(end: float | None, lock_days: float) -> float | None:
    """A version under Object Lock retention is not deleted before its retain-until date."""
    return None if end is None else max(end, lock_days)


def _share(price: StorageClassPrice, parts: Mapping[str, float], tiered: bool) -> dict[str, float]:
    """Bill the class's whole volume (tiers apply to the total), then split it by volume."""
    total = sum(parts.values())
    cost = price.storage_cost(total, tiered)
    return {k: cost * v / total if total else 0.0 for k, v in parts.items()}


def corrected_estimate(volume: Volume, cfg: Corrected, prices: Prices) -> Estimate:
    std, target = prices.storage_class("STANDARD"), prices.storage_class(cfg.storage_class)
    lam, p = prices.lambda_[cfg.architecture], cfg.pipeline
    exact = cfg.on("exact-sizes")
    gb = 2**30 if exact else 1e9
    pcm_bpm = PCM_BYTES_PER_SECOND * 60 if exact else 2e6
    # The target format's bytes a minute (exact: 0.48 MB mono, 0.96 MB stereo; the article's 0.5 MB a channel).
    channels = FORMATS[cfg.target_format].bytes_per_second / ALAW_BYTES_PER_SECOND
    alaw_bpm = channels * (ALAW_BYTES_PER_SECOND * 60 if exact else 5e5)
    mean = cfg.call_length.mean_minutes
    per_object = cfg.on("min-object-size")
    uplift = cfg.call_length.size_uplift(target.min_object_bytes, alaw_bpm) if per_object else 0.0
    oh_class = target.overhead_bytes_in_class / mean if per_object else 0.0  # bytes per minute
    oh_std = target.overhead_bytes_in_standard / mean if per_object else 0.0

    # Version lifetimes in days of age. Without the noncurrent rule the original
    # vanishes at conversion (the article's assumption): keep = 0. With a
    # retention, the expired current version stays noncurrent for `keep` days too.
    age = cfg.age_days
    keep = cfg.noncurrent_days if cfg.on("noncurrent") else 0.0
    # current, then noncurrent PCM: all in Standard, which has no minimum duration; locked until lock_days
    pcm_end = _locked(_end(age, keep), cfg.lock_days)
    # The end of a recording without the optimizer (gone_std), and of its converted version (gone):
    # later by age_days when the retention counts from the conversion (a restarted lifecycle clock).
    restart = age if cfg.retention_from == "conversion" else 0.0
    gone_std = None if cfg.retention_days is None else _locked(_end(cfg.retention_days, keep), cfg.lock_days)
    gone = None if cfg.retention_days is None else _locked(_end(cfg.retention_days + restart, keep), cfg.lock_days)
    early_days = 0.0  # the converted object's shortfall against its class's minimum duration
    if cfg.on("min-duration") and gone is not None and gone - age < target.min_storage_days:
        early_days = target.min_storage_days - (gone - age)

    flow = Cohorts(volume.monthly_minutes(), DAYS_PER_MONTH)
    tiered = cfg.on("standard-tiers")
    monthly = []
    for k in range(12 * volume.years):
        alaw_min = flow.held(k, age, gone)
        std_parts = {
            "pcm_standard": flow.held(k, 0, age) * pcm_bpm / gb,
            "pcm_noncurrent": flow.held(k, age, pcm_end) * pcm_bpm / gb,
            "overhead_std": alaw_min * oh_std / gb,
        }
        target_parts = {
            "target_storage": alaw_min * alaw_bpm / gb,
            "min_size_uplift": alaw_min * alaw_bpm * uplift / gb,
            "overhead": alaw_min * oh_class / gb,
        }
        if target.name == "STANDARD":  # converted in place: one Standard bill, one set of tiers
            items = _share(std, {**std_parts, **target_parts}, tiered)
        else:
            items = {**_share(std, std_parts, tiered), **_share(target, target_parts, tiered)}
        items["overhead"] += items.pop("overhead_std")
        deleted = flow.reaching(k, gone) if gone is not None else 0.0
        items["early_delete"] = (
            deleted * alaw_bpm * (1 + uplift) / gb * early_days / DAYS_PER_MONTH * target.flat_gb_month
        )
        items["tags"] = alaw_min / mean * prices.s3_tags_per_10000_month / 1e4 if cfg.on("tags") else 0.0

        n = flow.reaching(k, age) / mean  # recordings converted this month
        pages = n / p.recordings_per_page
        req = 1.0 if cfg.on("requests") else 0.0
        items["s3_requests"] = (
            req
            * n
            * (
                p.s3_get * std.get_per_1000
                + p.s3_put * target.put_per_1000
                + prices.s3_list_per_1000 / p.objects_per_list
            )
            / 1000
        )
        items["sqs"] = req * n * p.sqs_requests * prices.sqs_per_million / 1e6
        runs = p.runs_per_day * DAYS_PER_MONTH
        items["stepfunctions"] = (
            req
            * (pages * p.sfn_transitions_per_page + runs * p.sfn_transitions_per_run)
            * prices.sfn_per_1000_transitions
            / 1000
        )
        items["lambda_requests"] = (
            req * (n / p.recordings_per_invocation + pages * p.page_invocations) * lam.per_million_requests / 1e6
        )
        gb_seconds = (
            n * cfg.lambda_seconds * cfg.lambda_memory_mb / 1024
            + pages * p.page_invocations * p.page_lambda_seconds * p.page_lambda_memory_mb / 1024
        )
        items["lambda_compute"] = gb_seconds * lam.per_gb_second if cfg.on("lambda-compute") else 0.0
        items["standard"] = std.storage_cost(flow.held(k, 0, gone_std) * pcm_bpm / gb, tiered)
        # Bytes held at the end of the month, in decimal TB; the year row keeps December's.
        t = (k + 1) * DAYS_PER_MONTH
        items["tb_std"] = flow.held_at(t, 0, gone_std) * pcm_bpm / 1e12
        items["tb_opt"] = (flow.held_at(t, 0, pcm_end) * pcm_bpm + flow.held_at(t, age, gone) * alaw_bpm) / 1e12
        monthly.append(items)
    processing = ("s3_requests", "sqs", "stepfunctions", "lambda_requests", "lambda_compute")
    storage = (
        "pcm_standard",
        "pcm_noncurrent",
        "overhead",
        "target_storage",
        "min_size_uplift",
        "early_delete",
        "tags",
    )
    return _years(volume, monthly, "standard", storage + processing, processing, "corrected")
