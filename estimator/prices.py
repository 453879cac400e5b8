"""Load and validate the price table (``prices.json``).

The stack reads it too, at synth time (stacks/functions.py): the two prices
the dry run's projection needs reach the lister through its environment
(PRICE_STANDARD_GB_MONTH, PRICE_TARGET_GB_MONTH); the Lambda never reads this
file. So the loader is dependency-free and fails with one readable sentence
(:class:`PriceError`) instead of a KeyError deep inside a calculation.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

DEFAULT_PATH = Path(__file__).with_name("prices.json")
ARCHITECTURES = ("arm64", "x86_64")


class PriceError(ValueError):
    """The price file is missing, unreadable or not of the documented form."""


@dataclass(frozen=True)
class Tier:
    up_to_gb: float | None  # cumulative upper bound of the tier; None = no bound
    usd: float              # $ per GB-month inside the tier


@dataclass(frozen=True)
class StorageClassPrice:
    name: str
    storage_gb_month: tuple[Tier, ...]
    put_per_1000: float
    get_per_1000: float
    transition_in_per_1000: float | None
    retrieval_per_gb: float
    min_object_bytes: int
    min_storage_days: int
    overhead_bytes_in_class: int
    overhead_bytes_in_standard: int
    source: str

    @property
    def flat_gb_month(self) -> float:
        """Price of the first tier: what a calculation without tiers uses."""
        return self.storage_gb_month[0].usd

    def storage_cost(self, gb_month: float, tiered: bool = True) -> float:
        """Cost of one month's average storage, walking the volume tiers."""
        if not tiered:
            return gb_month * self.flat_gb_month
        cost, floor = 0.0, 0.0
        for tier in self.storage_gb_month:
            top = math.inf if tier.up_to_gb is None else tier.up_to_gb
            cost += max(0.0, min(gb_month, top) - floor) * tier.usd
            floor = top
        return cost


@dataclass(frozen=True)
class LambdaPrice:
    per_gb_second: float
    per_million_requests: float
    source: str


@dataclass(frozen=True)
class Prices:
    region: str
    currency: str
    retrieved: str
    notes: tuple[str, ...]
    s3_classes: Mapping[str, StorageClassPrice]
    s3_list_per_1000: float
    s3_tags_per_10000_month: float
    s3_source: str
    sqs_per_million: float
    sqs_source: str
    sfn_per_1000_transitions: float
    sfn_source: str
    lambda_: Mapping[str, LambdaPrice]
    path: str

    def storage_class(self, name: str) -> StorageClassPrice:
        try:
            return self.s3_classes[name]
        except KeyError:
            known = ", ".join(self.s3_classes)
            raise PriceError(f"unknown storage class {name!r} (known: {known})") from None


def _get(obj: Mapping[str, Any], key: str, where: str) -> Any:
    if not isinstance(obj, Mapping) or key not in obj:
        raise PriceError(f"{where}: missing key {key!r}")
    return obj[key]


def _price(obj: Mapping[str, Any], key: str, where: str, optional: bool = False) -> float | None:
    if not isinstance(obj, Mapping):
        raise PriceError(f"{where}: expected a JSON object")
    value = obj.get(key) if optional else _get(obj, key, where)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise PriceError(f"{where}.{key}: expected a non-negative number, got {value!r}")
    return float(value)


def _source(obj: Mapping[str, Any], where: str) -> str:
    url = _get(obj, "source", where)
    if not isinstance(url, str) or not url.startswith("https://"):
        raise PriceError(f"{where}.source: expected an https:// URL, got {url!r}")
    return url


def _tiers(raw: Any, where: str) -> tuple[Tier, ...]:
    if not isinstance(raw, list) or not raw:
        raise PriceError(f"{where}: expected a non-empty list of tiers")
    tiers, last = [], 0.0
    for i, item in enumerate(raw):
        here = f"{where}[{i}]"
        bound = _price(item, "up_to_gb", here, optional=True)
        if (bound is None) != (i == len(raw) - 1):
            raise PriceError(f"{here}: only the last tier may (and must) have up_to_gb null")
        if bound is not None and bound <= last:
            raise PriceError(f"{here}: tier bounds must increase")
        tiers.append(Tier(bound, _price(item, "usd", here)))
        last = bound or last
    return tuple(tiers)


def _storage_class(name: str, raw: Mapping[str, Any]) -> StorageClassPrice:
    where = f"s3.classes.{name}"
    days, size = _price(raw, "min_storage_days", where), _price(raw, "min_object_bytes", where)
    return StorageClassPrice(
        name=name,
        storage_gb_month=_tiers(_get(raw, "storage_gb_month", where), f"{where}.storage_gb_month"),
        put_per_1000=_price(raw, "put_per_1000", where),
        get_per_1000=_price(raw, "get_per_1000", where),
        transition_in_per_1000=_price(raw, "transition_in_per_1000", where, optional=True),
        retrieval_per_gb=_price(raw, "retrieval_per_gb", where),
        min_object_bytes=int(size),
        min_storage_days=int(days),
        overhead_bytes_in_class=int(_price(raw, "overhead_bytes_in_class", where, optional=True) or 0),
        overhead_bytes_in_standard=int(_price(raw, "overhead_bytes_in_standard", where, optional=True) or 0),
        source=_source(raw, where),
    )


def parse_prices(data: Any, path: str = "<data>") -> Prices:
    """Validate an already-decoded price document."""
    if not isinstance(data, Mapping):
        raise PriceError("top level: expected a JSON object")
    if _get(data, "schema", "top level") != 1:
        raise PriceError(f"schema: unsupported version {data['schema']!r} (expected 1)")
    retrieved = _get(data, "retrieved", "top level")
    try:
        _dt.date.fromisoformat(str(retrieved))
    except ValueError:
        raise PriceError(f"retrieved: expected an ISO date, got {retrieved!r}") from None
    s3 = _get(data, "s3", "top level")
    classes = {name: _storage_class(name, raw) for name, raw in _get(s3, "classes", "s3").items()}
    if "STANDARD" not in classes:
        raise PriceError("s3.classes: STANDARD is required (recordings arrive there)")
    sqs, sfn, lam = (_get(data, k, "top level") for k in ("sqs", "stepfunctions", "lambda"))
    lambdas = {}
    for arch in ARCHITECTURES:
        raw = _get(lam, arch, "lambda")
        lambdas[arch] = LambdaPrice(
            _price(raw, "per_gb_second", f"lambda.{arch}"),
            _price(raw, "per_million_requests", f"lambda.{arch}"),
            _source(raw, f"lambda.{arch}"),
        )
    return Prices(
        region=str(_get(data, "region", "top level")),
        currency=str(data.get("currency", "USD")),
        retrieved=str(retrieved),
        notes=tuple(str(n) for n in data.get("notes", ())),
        s3_classes=classes,
        s3_list_per_1000=_price(s3, "list_per_1000", "s3"),
        s3_tags_per_10000_month=_price(s3, "tags_per_10000_month", "s3"),
        s3_source=_source(s3, "s3"),
        sqs_per_million=_price(sqs, "standard_per_million", "sqs"),
        sqs_source=_source(sqs, "sqs"),
        sfn_per_1000_transitions=_price(sfn, "standard_per_1000_transitions", "stepfunctions"),
        sfn_source=_source(sfn, "stepfunctions"),
        lambda_=lambdas,
        path=path,
    )


def load_prices(path: str | Path | None = None) -> Prices:
    """Read ``path`` (default: the packaged ``prices.json``) and validate it."""
    path = Path(path) if path is not None else DEFAULT_PATH
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise PriceError(f"cannot read price file {str(path)!r}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PriceError(f"price file {str(path)!r} is not valid JSON: {exc}") from None
    try:
        return parse_prices(data, str(path))
    except PriceError as exc:
        raise PriceError(f"price file {str(path)!r}: {exc}") from None
