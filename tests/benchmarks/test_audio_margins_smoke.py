"""A small run of the audio check's margin measurement (benchmarks/audio_check.py): the thresholds
must separate the correct conversions from the wrong outputs, both ways. Deterministic (the same
speech, the same ffmpeg); never a time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from benchmarks import audio_check, report


@pytest.fixture(scope="module")
def margins(ffmpeg, tmp_path_factory):
    return audio_check.margins(Path(ffmpeg), tmp_path_factory.mktemp("margins"), seconds=4, rates=(8000, 48000))


def test_correct_conversions_clear_the_thresholds_and_wrong_outputs_do_not(margins):
    t = margins["thresholds"]
    assert len(margins["good"]) == 2 * 9 * 2 + 5 + 1  # rates x encodings x mono/stereo, 8 kHz variants, noise at 48 kHz
    assert margins["good_lowest_window_snr_db"] >= t["min_snr_db"] + 10
    assert margins["bad_highest_window_snr_db"] <= t["min_snr_db"] - 10
    assert margins["good_largest_channel_loss_db"] <= t["max_channel_loss_db"] - 10
    assert margins["bad_smallest_channel_loss_db"] > t["max_channel_loss_db"]
    cases = {row["case"] for row in margins["bad"]}
    assert cases == {
        "silence over speech",
        "first half only",
        "one leg's polarity flipped",
        "one sample late",
        "cancelling channels",
        "channels 95 % cancelled",
    }


def test_the_report_states_the_margins(margins):
    results: dict[str, Any] = {
        "audio": {
            "hour_8k": {
                "ratio": 0.1,
                "check_s": 0.1,
                "bare_ffmpeg_s": 1.0,
                "ratio_all": [0.1],
                "bytes": 1,
                "repeats": 1,
            },
            "ten_minutes_48k": {"ratio": 2.0, "check_s": 2.0, "bare_ffmpeg_s": 1.0, "bytes": 1, "repeats": 1},
            "import": {"import_s": 0.3, "rss_added_mb": 17.0},
            "margins": margins,
        }
    }
    (row,) = [r for r in report.goals(results) if r["measure"].startswith("audio check thresholds")]
    assert row["met"] is True
    assert f"correct ≥ {margins['good_lowest_window_snr_db']:.1f} dB" in row["measured"]
    results["goals"] = report.goals(results)
    assert "| cancelling channels | 8000 Hz |" in report.markdown(results)
