"""The estimator and the bucket's own rules (issue 17, item 1): a retention counted from the
conversion (an S3 lifecycle Expiration, whose clock the rewrite restarts) and originals held by
Object Lock. Each is checked against the cohort arithmetic, so dropping the rule fails its test."""

import pytest

from estimator.__main__ import main
from estimator.cohorts import Cohorts
from estimator.model import DAYS_PER_MONTH, Corrected, Volume, corrected_estimate
from estimator.prices import load_prices

GIB = 2**30
ALAW_GIB_PER_MIN = 0.48e6 / GIB
PCM_GIB_PER_MIN = 1.92e6 / GIB
VOL = Volume(3_000_000, 3, 0.0)
# Switched off so that storage is the plain cohorts times a flat price: tiers, minimum sizes,
# early deletion and tags would each add to both sides.
PLAIN = frozenset({"standard-tiers", "min-object-size", "min-duration", "tags"})


@pytest.fixture(scope="module")
def prices():
    return load_prices()


def est(prices, **kw):
    return corrected_estimate(VOL, Corrected(disabled=PLAIN, **kw), prices)


def test_a_retention_from_the_conversion_keeps_each_converted_recording_age_days_longer(prices):
    by_recording = est(prices, retention_days=60, retention_from="recording", age_days=30)
    by_conversion = est(prices, retention_days=60, retention_from="conversion", age_days=30)
    flow = Cohorts(VOL.monthly_minutes(), DAYS_PER_MONTH)
    glacier = prices.storage_class("GLACIER_IR").flat_gb_month
    for month in (14, 26):  # steady state
        extra = (flow.held(month, 30, 60 + 1 + 30) - flow.held(month, 30, 60 + 1)) * ALAW_GIB_PER_MIN * glacier
        assert extra == pytest.approx(30 * 3_000_000 / DAYS_PER_MONTH * ALAW_GIB_PER_MIN * glacier, rel=1e-6)
    year2 = by_conversion.years[1].breakdown["target_storage"] - by_recording.years[1].breakdown["target_storage"]
    expected = sum((flow.held(m, 30, 91) - flow.held(m, 30, 61)) * ALAW_GIB_PER_MIN * glacier for m in range(12, 24))
    assert year2 == pytest.approx(expected, rel=1e-9) and year2 > 0
    # Without the optimizer nothing restarts: the Standard scenario is the same either way.
    assert by_conversion.years[1].standard_cost == pytest.approx(by_recording.years[1].standard_cost)


def test_locked_originals_stay_billed_until_their_retain_until_date(prices):
    free = est(prices, noncurrent_days=1, age_days=7)
    locked = est(prices, noncurrent_days=1, age_days=7, lock_days=365)
    flow = Cohorts(VOL.monthly_minutes(), DAYS_PER_MONTH)
    standard = prices.storage_class("STANDARD").flat_gb_month
    expected = sum((flow.held(m, 7, 365) - flow.held(m, 7, 8)) * PCM_GIB_PER_MIN * standard for m in range(12, 24))
    extra = locked.years[1].breakdown["pcm_noncurrent"] - free.years[1].breakdown["pcm_noncurrent"]
    assert extra == pytest.approx(expected, rel=1e-9) and extra > 0
    # A lock shorter than the noncurrent window changes nothing.
    assert est(prices, noncurrent_days=1, age_days=7, lock_days=5).years[1].optimized_cost == pytest.approx(
        free.years[1].optimized_cost
    )


def test_the_cli_takes_both_and_says_so(capsys):
    assert main(["--retention-days", "2190", "--retention-from", "conversion", "--lock-days", "2555"]) == 0
    printed = capsys.readouterr().out
    assert "retention 2190 days from the conversion; Object Lock 2555 days" in printed


@pytest.mark.parametrize("argv", [["--retention-from", "upload"], ["--lock-days", "-1"]])
def test_bad_rule_inputs_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
