"""The command line: JSON shape, table, chart, and one-line errors with status 2."""

import json
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from estimator.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
YEAR_KEYS = {"year", "minutes", "storage_tb", "standard_cost", "processing_cost", "optimized_cost"}
TOTAL_KEYS = {"minutes", "standard_cost", "processing_cost", "optimized_cost"}


def run_json(capsys, *argv):
    assert main([*argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_article_json_has_the_documented_shape(capsys):
    out = run_json(capsys, "--assumptions", "article")
    assert out["assumptions"] == "article"
    first = out["years"][0]
    assert first.keys() >= YEAR_KEYS and out["totals"].keys() >= TOTAL_KEYS
    assert (first["year"], first["minutes"], first["storage_tb"]) == (1, 36_000_000, 72.0)
    assert (first["standard_cost"], first["processing_cost"]) == (10764.0, 3960.0)
    assert first["optimized_cost"] == pytest.approx(4813, rel=0.01)
    assert out["totals"]["minutes"] == 216_000_000


def test_corrected_json_has_the_same_keys_and_a_saving(capsys):
    out = run_json(capsys)
    assert out["assumptions"] == "corrected" and len(out["years"]) == 6
    assert out["years"][0].keys() >= YEAR_KEYS and out["totals"].keys() >= TOTAL_KEYS
    t = out["totals"]
    assert t["optimized_cost"] < t["standard_cost"] and t["payback_month"] == 1
    assert out["inputs"]["prices"]["region"] == "us-east-1"


def test_no_rule_shows_a_loss_and_no_payback(capsys):
    t = run_json(capsys, "--noncurrent-days", "never")["totals"]
    assert t["saving"] < 0 and t["payback_month"] is None


def test_compare_article_reports_cells_and_discrepancies(capsys):
    out = run_json(capsys, "--assumptions", "article", "--compare-article")["article_comparison"]
    assert out["max_rel_error_cost"] < 0.01
    assert len(out["cells"]) == 30 and len(out["totals_row_discrepancies"]) == 3


def test_readable_table(capsys):
    assert main(["--years", "2"]) == 0
    text = capsys.readouterr().out
    assert "Total" in text and "payback: month 1" in text and "S3 Standard $" in text


def test_article_mode_says_which_inputs_it_ignores(capsys):
    assert main(["--assumptions", "article", "--architecture", "x86_64"]) == 0
    assert "--architecture is ignored" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--minutes-per-month", "-5"],
        ["--storage-class", "FAST_AND_CHEAP"],
        ["--prices", "/nonexistent/prices.json"],
        ["--call-length", "gamma:5"],
        ["--retention-days", "3"],
        ["--years", "0"],
        ["--without", "gravity"],
        ["--assumptions", "article", "--storage-class", "DEEP_ARCHIVE"],
        ["--compare-article", "--years", "3"],
    ],
)
def test_bad_input_one_line_status_2(capsys, argv):
    status: int | str | None
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2
    assert err.startswith("estimator: error:") and err.count("\n") == 1


def test_invalid_price_file_is_bad_input(tmp_path, capsys):
    bad = tmp_path / "prices.json"
    bad.write_text('{"schema": 1}')
    assert main(["--prices", str(bad)]) == 2
    assert "retrieved" in capsys.readouterr().err


@pytest.mark.parametrize("mode", ["corrected", "article"])
def test_chart_is_a_valid_png(tmp_path, capsys, mode):
    png = tmp_path / "chart.png"
    assert main(["--assumptions", mode, "--chart", str(png)]) == 0
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 800 and height >= 400
    from PIL import Image  # installed with matplotlib

    with Image.open(png) as img:
        img.verify()


def test_runs_as_a_module_without_matplotlib():
    # Block matplotlib, then run the CLI: only --chart may need it.
    code = (
        "import sys; sys.modules['matplotlib'] = None; sys.argv = ['estimator', '--json', '--years', '1']; "
        "import runpy; runpy.run_module('estimator', run_name='__main__')"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["years"][0]["year"] == 1


def test_chart_without_matplotlib_is_one_clear_line(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None; from estimator.__main__ import main; "
        f"sys.exit(main(['--years', '1', '--chart', {str(tmp_path / 'c.png')!r}]))"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "needs matplotlib" in done.stderr
