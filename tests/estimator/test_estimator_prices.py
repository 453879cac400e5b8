"""The price table loads, carries its provenance, and rejects malformed files."""

import copy
import json

import pytest

from estimator.prices import DEFAULT_PATH, PriceError, load_prices, parse_prices


@pytest.fixture(scope="module")
def raw():
    return json.loads(DEFAULT_PATH.read_text())


def test_default_table_has_provenance_and_the_documented_prices():
    p = load_prices()
    assert p.region == "us-east-1"
    assert p.retrieved  # ISO date, validated by the loader
    assert all(c.source.startswith("https://") for c in p.s3_classes.values())
    assert p.sqs_source.startswith("https://") and p.sfn_source.startswith("https://")
    std, gir = p.storage_class("STANDARD"), p.storage_class("GLACIER_IR")
    assert [t.usd for t in std.storage_gb_month] == [0.023, 0.022, 0.021]
    assert [t.up_to_gb for t in std.storage_gb_month] == [51200, 512000, None]
    assert (gir.flat_gb_month, gir.put_per_1000, gir.min_object_bytes, gir.min_storage_days) == (
        0.004,
        0.02,
        131072,
        90,
    )
    assert p.lambda_["arm64"].per_gb_second < p.lambda_["x86_64"].per_gb_second


def test_standard_tiers_walk_the_volume():
    std = load_prices().storage_class("STANDARD")
    gb = 600_000  # 50 TB at 0.023, 450 TB at 0.022, the rest at 0.021
    expected = 51200 * 0.023 + (512000 - 51200) * 0.022 + (gb - 512000) * 0.021
    assert std.storage_cost(gb) == pytest.approx(expected)
    assert std.storage_cost(gb, tiered=False) == pytest.approx(gb * 0.023)


def test_unknown_class_is_a_price_error():
    with pytest.raises(PriceError, match="unknown storage class"):
        load_prices().storage_class("REDUCED_REDUNDANCY")


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d.pop("retrieved"), "retrieved"),
        (lambda d: d["s3"]["classes"]["GLACIER_IR"].update(put_per_1000=-1), "non-negative"),
        (lambda d: d["s3"]["classes"]["GLACIER_IR"].update(source="aws pricing"), "https://"),
        (lambda d: d["s3"]["classes"].pop("STANDARD"), "STANDARD"),
        (lambda d: d["s3"]["classes"]["STANDARD"]["storage_gb_month"].reverse(), "up_to_gb"),
        (lambda d: d["lambda"].pop("x86_64"), "x86_64"),
        (lambda d: d.update(schema=2), "schema"),
        # The message names the field, what it must hold and what it got.
        (
            lambda d: d.update(retrieved="27/11/2026"),
            r"^retrieved: expected an ISO date \(YYYY-MM-DD\), got '27/11/2026'$",
        ),
        (
            lambda d: d["sqs"].update(standard_per_million=float("nan")),
            r"^sqs\.standard_per_million: expected a non-negative number, got nan$",
        ),
    ],
)
def test_malformed_tables_are_rejected(raw, mutate, message):
    data = copy.deepcopy(raw)
    mutate(data)
    with pytest.raises(PriceError, match=message):
        parse_prices(data)


def test_unreadable_and_invalid_files(tmp_path):
    with pytest.raises(PriceError, match="cannot read"):
        load_prices(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(PriceError, match="not valid JSON"):
        load_prices(bad)
