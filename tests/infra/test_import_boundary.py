"""The product does not import its tools: nothing under stacks/ imports the estimator, and the
synth path loads neither it nor jsonschema. The one price table is read by both: the stack its
two flat prices (stacks/prices.py), the estimator all of it, validated."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from estimator.prices import load_prices
from stacks.prices import PRICE_TABLE, PriceTableError, flat_gb_month

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("estimator", "jsonschema")


def _imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "stacks").glob("*.py")) + [ROOT / "app.py"], ids=lambda p: p.name)
def test_no_module_of_the_stack_imports_a_tool(path):
    tools = sorted(name for name in _imported(path) if name.split(".")[0] in TOOLS)
    assert tools == [], f"{path.relative_to(ROOT)} imports {tools}: read what the stack shares from stacks/"


def test_the_synth_path_loads_neither_the_estimator_nor_jsonschema():
    """What app.py imports, in a fresh interpreter: a tool reached through any module would show."""
    code = (
        "import sys\n"
        "import stacks.optimizer_stack, stacks.context_check, stacks.config, stacks.layers\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {set(TOOLS)!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def test_the_stack_reads_the_estimators_prices():
    prices = load_prices()
    assert Path(prices.path) == PRICE_TABLE
    assert {"STANDARD", "GLACIER_IR"} <= set(prices.s3_classes)  # the two the stack reads, at least
    for name, storage_class in prices.s3_classes.items():
        assert flat_gb_month(name) == storage_class.flat_gb_month, name


def test_a_price_the_stack_needs_missing_or_not_a_price_is_named(tmp_path):
    table = json.loads(PRICE_TABLE.read_text(encoding="utf-8"))
    del table["s3"]["classes"]["GLACIER_IR"]
    table["s3"]["classes"]["STANDARD"]["storage_gb_month"][0]["usd"] = "0.023"
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(table))
    with pytest.raises(PriceTableError, match=r"has no s3\.classes\.GLACIER_IR\.storage_gb_month\[0\]\.usd"):
        flat_gb_month("GLACIER_IR", path)
    with pytest.raises(PriceTableError, match=r"s3\.classes\.STANDARD\.storage_gb_month\[0\]\.usd must be a price"):
        flat_gb_month("STANDARD", path)
    with pytest.raises(PriceTableError, match="cannot read the price table"):
        flat_gb_month("STANDARD", tmp_path / "missing.json")
