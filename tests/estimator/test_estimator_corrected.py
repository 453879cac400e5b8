"""Corrected model: each rule is checked against a hand calculation, so removing
the rule (or switching it off) makes its test fail."""

import math

import pytest

from estimator.calls import CallLength
from estimator.cohorts import Cohorts
from estimator.model import DAYS_PER_MONTH, RULES, Corrected, Volume, article_estimate, corrected_estimate
from estimator.prices import load_prices

GIB = 2**30
PCM_GIB_PER_MIN = 1.92e6 / GIB
ALAW_GIB_PER_MIN = 0.48e6 / GIB
VOL = Volume(3_000_000, 3, 0.0)  # steady state from year 2 on


@pytest.fixture(scope="module")
def prices():
    return load_prices()


def est(prices, volume=VOL, **kw):
    return corrected_estimate(volume, Corrected(**kw), prices)


def year(e, n=2):
    return e.years[n - 1]


def test_breakdown_adds_up(prices):
    for row in est(prices, noncurrent_days=30, retention_days=60).years:
        b = row.breakdown
        assert sum(b.values()) == pytest.approx(row.optimized_cost)
        proc = sum(b[k] for k in ("s3_requests", "sqs", "stepfunctions", "lambda_requests", "lambda_compute"))
        assert proc == pytest.approx(row.processing_cost)


def test_all_rules_off_is_the_article_model_with_monthly_averages(prices):
    off = est(prices, Volume(), disabled=frozenset(RULES))
    # Only the billing convention remains: S3 bills the month's average, the article
    # the month-end volume, i.e. half a month (3 TB) too much each month for 72 months.
    std = sum(r.standard_cost for r in off.years)
    art = sum(r.standard_cost for r in article_estimate(Volume()).years)
    assert std == pytest.approx(art - 72 * 3_000 * 0.023)  # 3,000 GB x $0.023


def test_exact_sizes_rule(prices):
    on = year(est(prices, disabled=frozenset({"standard-tiers"}))).standard_cost
    off = year(est(prices, disabled=frozenset({"standard-tiers", "exact-sizes"}))).standard_cost
    assert on / off == pytest.approx(PCM_GIB_PER_MIN / (2e6 / 1e9))


def test_standard_tiers_rule(prices):
    big = Volume(30_000_000, 2, 0.0)  # well past 50 TB
    flat = est(prices, big, disabled=frozenset({"standard-tiers"}))
    tiered = est(prices, big)
    std = prices.storage_class("STANDARD")
    for f, t in zip(flat.monthly_standard, tiered.monthly_standard, strict=True):
        assert t == pytest.approx(std.storage_cost(f / 0.023))
    assert sum(tiered.monthly_standard) < 0.97 * sum(flat.monthly_standard)


def test_noncurrent_rule_keeps_the_original_for_its_days(prices):
    kw = dict(disabled=frozenset({"standard-tiers"}))
    row = year(est(prices, noncurrent_days=30, **kw))
    expected = 3_000_000 * PCM_GIB_PER_MIN * 30 / DAYS_PER_MONTH * 0.023 * 12
    assert row.breakdown["pcm_noncurrent"] == pytest.approx(expected)
    assert (
        year(est(prices, noncurrent_days=30, disabled=frozenset({"standard-tiers", "noncurrent"}))).breakdown[
            "pcm_noncurrent"
        ]
        == 0
    )


def test_without_a_lifecycle_rule_storage_cost_rises(prices):
    never = est(prices, Volume(), noncurrent_days=None)
    assert sum(r.optimized_cost for r in never.years) > sum(r.standard_cost for r in never.years)
    assert all(r.optimized_storage_tb > r.storage_tb for r in never.years)


def test_min_object_size_rule(prices):
    short = CallLength("fixed", 0.1)  # 6 s of A-law = 48,000 B, billed as 128 KiB
    row = year(est(prices, call_length=short))
    b = row.breakdown
    assert (b["target_storage"] + b["min_size_uplift"]) / b["target_storage"] == pytest.approx(131072 / 48000)
    assert (
        year(est(prices, call_length=short, disabled=frozenset({"min-object-size"}))).breakdown["min_size_uplift"] == 0
    )


def test_glacier_per_object_overhead_is_part_of_the_object_rules(prices):
    row = year(est(prices, storage_class="DEEP_ARCHIVE", disabled=frozenset({"standard-tiers"})))
    objects = 3_000_000 / 5 * (18 - 7 / DAYS_PER_MONTH)  # average objects held in year 2's months
    expected = objects * 12 * (32768 * 0.00099 + 8192 * 0.023) / GIB
    assert row.breakdown["overhead"] == pytest.approx(expected, rel=0.01)


@pytest.mark.parametrize("short_call", [CallLength("exp", 5), CallLength("lognormal", 5, 1.2)])
def test_call_length_shortfall_matches_numeric_integration(short_call):
    k, mu = 0.3, short_call.mean_minutes
    if short_call.kind == "exp":
        pdf = lambda t: math.exp(-t / mu) / mu  # noqa: E731
    else:
        s = short_call.sigma
        m = math.log(mu) - s * s / 2
        pdf = lambda t: math.exp(-((math.log(t) - m) ** 2) / (2 * s * s)) / (t * s * math.sqrt(2 * math.pi))  # noqa: E731
    n = 200_000
    numeric = sum((k - t) * pdf(t) * (k / n) for t in ((i + 0.5) * k / n for i in range(n)))
    assert short_call.shortfall(k) == pytest.approx(numeric, rel=1e-4)


def test_min_duration_rule_bills_early_deletion(prices):
    # Deleted 30 days after recording, expired 1 day later: 24 days in Glacier IR instead of 90.
    row = year(est(prices, retention_days=30, noncurrent_days=1))
    uplift = CallLength().size_uplift(131072, 0.48e6)
    expected = 3_000_000 * ALAW_GIB_PER_MIN * (1 + uplift) * (90 - 24) / DAYS_PER_MONTH * 0.004 * 12
    assert row.breakdown["early_delete"] == pytest.approx(expected)
    assert year(est(prices, retention_days=30, disabled=frozenset({"min-duration"}))).breakdown["early_delete"] == 0
    # Originals expiring after 1 day cost nothing extra: they are in Standard, which has no minimum.
    assert year(est(prices, noncurrent_days=1)).breakdown["early_delete"] == 0


def test_requests_rule(prices):
    b = year(est(prices)).breakdown
    recordings = 36_000_000 / 5
    pages = recordings / 400
    assert b["s3_requests"] == pytest.approx(recordings * (0.0004 + 0.02 + 0.005 / 1000) / 1000)
    assert b["sqs"] == pytest.approx(recordings * 0.3 * 0.40 / 1e6)
    assert b["stepfunctions"] == pytest.approx((pages * 12 + 365 * 10) * 0.025 / 1000)
    assert b["lambda_requests"] == pytest.approx((recordings / 10 + pages * 2) * 0.20 / 1e6)
    off = year(est(prices, disabled=frozenset({"requests"}))).breakdown
    assert off["s3_requests"] == off["sqs"] == off["stepfunctions"] == off["lambda_requests"] == 0


def test_lambda_compute_rule_and_architecture(prices):
    recordings, pages = 36_000_000 / 5, 36_000_000 / 5 / 400
    page_gbs = pages * 2 * 1.0 * 0.25
    arm = year(est(prices)).breakdown["lambda_compute"]
    assert arm == pytest.approx((recordings * 0.62 * 0.5 + page_gbs) * 0.0000133334)  # 0.124 s x 5 min at 512 MB
    x86 = year(est(prices, architecture="x86_64")).breakdown["lambda_compute"]
    assert x86 / arm == pytest.approx(0.0000166667 / 0.0000133334)
    slow = year(est(prices, seconds_per_recording=2.0, lambda_memory_mb=2048)).breakdown["lambda_compute"]
    assert slow == pytest.approx((recordings * 2.0 * 2.0 + page_gbs) * 0.0000133334)
    assert year(est(prices, disabled=frozenset({"lambda-compute"}))).breakdown["lambda_compute"] == 0


def test_tags_rule(prices):
    row = year(est(prices))
    objects = 3_000_000 / 5 * (18 - 7 / DAYS_PER_MONTH)  # average converted objects held, per month
    assert row.breakdown["tags"] == pytest.approx(objects * 12 * 0.01 / 10_000)
    assert year(est(prices, disabled=frozenset({"tags"}))).breakdown["tags"] == 0


def test_cohorts_match_a_fine_numeric_integration():
    months = [100.0 * 1.3**m for m in range(6)]
    flow = Cohorts(months, DAYS_PER_MONTH)
    points = 500

    def rate(t):  # minutes a day
        return months[int(t // DAYS_PER_MONTH)] / DAYS_PER_MONTH if 0 <= t < 6 * DAYS_PER_MONTH else 0.0

    def held(t, a, b):  # brute force: integrate the rate over recording times (t-b, t-a]
        lo, hi = max(0.0, t - b), max(0.0, t - a)
        n = 200
        return sum(rate(lo + (i + 0.5) * (hi - lo) / n) for i in range(n)) * (hi - lo) / n

    for month, a, b in [(0, 0, 7), (3, 7, 8), (5, 7, 100), (4, 0, 1e9)]:
        times = [(month + (i + 0.5) / points) * DAYS_PER_MONTH for i in range(points)]
        numeric = sum(held(t, a, b) for t in times) / points
        assert flow.held(month, a, None if b == 1e9 else b) == pytest.approx(numeric, rel=2e-3)
