"""Load and validate the price table (``prices.json``).

The stack reads it too, at synth time, without this module (stacks/prices.py,
standard library only): the two prices the dry run's projection needs reach the
lister through its environment (PRICE_STANDARD_GB_MONTH, PRICE_TARGET_GB_MONTH);
the Lambda never reads this file. Its form is the JSON Schema
``prices.schema.json`` (jsonschema); a bad file fails with one readable
sentence (:class:`PriceError`) naming the field and what it must hold, instead
of a KeyError deep inside a calculation.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema

from stacks.config import ARCHITECTURES  # the Lambda architectures: the stack's, one declaration
from stacks.prices import PRICE_TABLE

DEFAULT_PATH = PRICE_TABLE  # the one price table, where the stack reads its two prices too
SCHEMA_PATH = Path(__file__).with_name("prices.schema.json")


def _is_price_number(checker: Any, value: Any) -> bool:
    # JSON has no NaN or infinity, but Python's json module reads them: not a price either.
    return jsonschema.Draft202012Validator.TYPE_CHECKER.is_type(value, "number") and math.isfinite(value)


_VALIDATOR = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("number", _is_price_number),
)(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


class PriceError(ValueError):
    """The price file is missing, unreadable or not of the documented form."""


@dataclass(frozen=True)
class Tier:
    up_to_gb: float | None  # cumulative upper bound of the tier; None = no bound
    usd: float  # $ per GB-month inside the tier


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


def _where(path: Any) -> str:
    """'s3.classes.STANDARD.storage_gb_month[0]' for the path of a place in the document."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f"{'.' if out else ''}{part}"
    return out or "top level"


def _message(error: jsonschema.ValidationError) -> str:
    """One sentence naming the field and what it must hold, from the schema's titles."""
    where = _where(error.absolute_path)
    if error.validator == "required":
        missing = [k for k in error.validator_value if k not in error.instance]
        whys = [error.schema.get("properties", {}).get(k, {}).get("description") for k in missing]
        named = ", ".join(f"{k!r}" + (f" ({why})" if why else "") for k, why in zip(missing, whys, strict=True))
        return f"{where}: missing key{'s' if len(missing) > 1 else ''} {named}"
    return f"{where}: expected {error.schema.get('title', 'what the schema says')}, got {error.instance!r}"


def _check_tiers(raw: list[dict[str, Any]], where: str) -> None:
    """What JSON Schema cannot say: the tiers' bounds increase and only the last one is open."""
    last = 0.0
    for i, item in enumerate(raw):
        here = f"{where}[{i}]"
        bound = item.get("up_to_gb")
        if (bound is None) != (i == len(raw) - 1):
            raise PriceError(f"{here}: only the last tier may (and must) have up_to_gb null")
        if bound is not None and bound <= last:
            raise PriceError(f"{here}: tier bounds must increase")
        last = bound or last


def _optional(raw: Mapping[str, Any], key: str) -> float | None:
    value = raw.get(key)
    return None if value is None else float(value)


def _storage_class(name: str, raw: Mapping[str, Any]) -> StorageClassPrice:
    where = f"s3.classes.{name}.storage_gb_month"
    _check_tiers(raw["storage_gb_month"], where)
    return StorageClassPrice(
        name=name,
        storage_gb_month=tuple(Tier(_optional(t, "up_to_gb"), float(t["usd"])) for t in raw["storage_gb_month"]),
        put_per_1000=float(raw["put_per_1000"]),
        get_per_1000=float(raw["get_per_1000"]),
        transition_in_per_1000=_optional(raw, "transition_in_per_1000"),
        retrieval_per_gb=float(raw["retrieval_per_gb"]),
        min_object_bytes=int(raw["min_object_bytes"]),
        min_storage_days=int(raw["min_storage_days"]),
        overhead_bytes_in_class=int(raw.get("overhead_bytes_in_class") or 0),
        overhead_bytes_in_standard=int(raw.get("overhead_bytes_in_standard") or 0),
        source=raw["source"],
    )


def parse_prices(data: Any, path: str = "<data>") -> Prices:
    """Validate an already-decoded price document against prices.schema.json."""
    error = jsonschema.exceptions.best_match(_VALIDATOR.iter_errors(data))
    if error is not None:
        raise PriceError(_message(error))
    s3, lam = data["s3"], data["lambda"]
    return Prices(
        region=data["region"],
        currency=data.get("currency", "USD"),
        retrieved=data["retrieved"],
        notes=tuple(data.get("notes", ())),
        s3_classes={name: _storage_class(name, raw) for name, raw in s3["classes"].items()},
        s3_list_per_1000=float(s3["list_per_1000"]),
        s3_tags_per_10000_month=float(s3["tags_per_10000_month"]),
        s3_source=s3["source"],
        sqs_per_million=float(data["sqs"]["standard_per_million"]),
        sqs_source=data["sqs"]["source"],
        sfn_per_1000_transitions=float(data["stepfunctions"]["standard_per_1000_transitions"]),
        sfn_source=data["stepfunctions"]["source"],
        lambda_={
            arch: LambdaPrice(
                float(lam[arch]["per_gb_second"]), float(lam[arch]["per_million_requests"]), lam[arch]["source"]
            )
            for arch in ARCHITECTURES
        },
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
