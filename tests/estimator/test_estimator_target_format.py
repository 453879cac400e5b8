"""`--target-format`: the estimator models what the stack's `target_format` writes. alaw_stereo
keeps twice the A-law bytes of alaw_mono (the converted recordings' storage doubles, nothing else
changes); any other value is refused, as the stack refuses it."""

import json
from collections.abc import Mapping

import pytest

from estimator.__main__ import run
from estimator.model import Corrected, Volume, corrected_estimate
from estimator.prices import load_prices

VOL = Volume(3_000_000, 3, 0.0)
STEADY = frozenset({"standard-tiers", "min-object-size"})  # no tiers or per-object rounding: linear in bytes


def breakdown(target_format: str, n: int = 2) -> Mapping[str, float]:
    cfg = Corrected(target_format=target_format, disabled=STEADY)
    return corrected_estimate(VOL, cfg, load_prices()).years[n - 1].breakdown


def test_stereo_stores_twice_the_alaw_bytes_and_nothing_else_changes():
    mono, stereo = breakdown("alaw_mono"), breakdown("alaw_stereo")
    assert mono["target_storage"] > 0
    assert stereo["target_storage"] == pytest.approx(2 * mono["target_storage"])
    for item in ("pcm_standard", "pcm_noncurrent", "lambda_compute", "s3_requests"):
        assert stereo[item] == pytest.approx(mono[item]), item


def test_mono_is_the_default():
    assert Corrected().target_format == "alaw_mono"
    assert (
        breakdown("alaw_mono") == corrected_estimate(VOL, Corrected(disabled=STEADY), load_prices()).years[1].breakdown
    )


def test_an_unknown_format_is_refused():
    with pytest.raises(ValueError, match="target-format must be one of alaw_mono, alaw_stereo"):
        Corrected(target_format="stereo")


def test_the_command_line_takes_it_and_reports_it(capsys):
    assert run(["--target-format", "alaw_stereo", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["inputs"]["target_format"] == "alaw_stereo"
    with pytest.raises(SystemExit) as refused:
        run(["--target-format", "alaw_surround"])
    assert refused.value.code == 2
    assert "invalid choice: 'alaw_surround'" in capsys.readouterr().err
