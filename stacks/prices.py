"""The storage prices the stack hands the dry run's projection, read from the one price table.

The table is `estimator/prices.json` (region, date and source of every price); the estimator
validates all of it against `estimator/prices.schema.json` (estimator/prices.py). The stack needs
two numbers of it, each storage class's first-tier $/GB-month, and reads them with the standard
library only: neither the estimator nor jsonschema is in the synth path
(tests/infra/test_import_boundary.py). Where the table is is declared here, once; the estimator
reads it from here too.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

PRICE_TABLE = Path(__file__).resolve().parent.parent / "estimator" / "prices.json"


class PriceTableError(ValueError):
    """The price table lacks a price the stack needs, or holds one that is not a price."""


def flat_gb_month(storage_class: str, path: Path = PRICE_TABLE) -> float:
    """The storage class's first-tier price per GB-month: what a calculation without tiers uses."""
    where = f"s3.classes.{storage_class}.storage_gb_month[0].usd"
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
        usd = table["s3"]["classes"][storage_class]["storage_gb_month"][0]["usd"]
    except OSError as exc:
        raise PriceTableError(f"cannot read the price table {str(path)!r}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PriceTableError(f"the price table {str(path)!r} is not valid JSON: {exc}") from None
    except (KeyError, IndexError, TypeError):
        raise PriceTableError(
            f"the price table {str(path)!r} has no {where}; `python -m estimator` names what its form lacks"
        ) from None
    if isinstance(usd, bool) or not isinstance(usd, int | float) or not math.isfinite(usd) or usd < 0:
        raise PriceTableError(f"the price table {str(path)!r}: {where} must be a price in USD (>= 0), got {usd!r}")
    return float(usd)
