"""The local run takes a deployment's settings (issue 19 item 1), end to end: `-c` reaches the
handlers, and paths are the caller's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulator import local_run
from emulator.samples import write_wav

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.long  # whole local runs


@pytest.fixture(scope="module")
def calls(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("calls")
    write_wav(root / "one.wav", 2, seed=1)
    write_wav(root / "two.wav", 3, seed=2)
    return root


def test_c_storage_class_converts_into_that_class_and_the_run_says_so(tmp_path, calls, capsys):
    """Done when: `./cdk-deploy.sh --local -c storage_class=STANDARD_IA` converts into STANDARD_IA."""
    report_path = tmp_path / "report.json"
    code = local_run.main(["-c", "storage_class=STANDARD_IA", "--recordings", str(calls), "--report", str(report_path)])
    printed = capsys.readouterr().err
    report = json.loads(report_path.read_text())

    assert code == 0, printed
    converted = [o for o in report["objects"] if o["outcome"] == "converted"]
    assert len(converted) == 2 and {o["storage_class_after"] for o in converted} == {"STANDARD_IA"}
    assert report["settings"]["not_default"]["storage_class"] == "STANDARD_IA"
    # The first lines printed list it, before any step.
    first = printed.splitlines()[:2]
    assert first[0].startswith("settings (cdk.context.json, then -c")
    assert first[1] == "  yours, not at their defaults: storage_class=STANDARD_IA"


def test_relative_recordings_and_report_are_the_callers(tmp_path, calls, capsys, monkeypatch):
    """Done when: run from another directory, relative --recordings and --report work from there.
    ./cdk-deploy.sh runs the local run from the repository and passes the caller's directory."""
    caller = tmp_path / "elsewhere"
    caller.mkdir()
    (caller / "mycalls").symlink_to(calls, target_is_directory=True)
    monkeypatch.chdir(ROOT)
    code = local_run.main(["--caller-directory", str(caller), "--recordings", "mycalls", "--report", "rep.json"])
    captured = capsys.readouterr()

    assert code == 0, captured.err
    report = json.loads((caller / "rep.json").read_text())
    assert (caller / "rep.log").exists() and not (ROOT / "rep.json").exists()
    assert sorted(o["key"].rsplit("/", 1)[1] for o in report["objects"]) == ["one.wav", "two.wav"]
    assert f"paths: --recordings {caller / 'mycalls'}, --report {caller / 'rep.json'}" in captured.err
    assert f"report: {caller / 'rep.json'}" in captured.out


def test_c_target_format_alaw_stereo_keeps_each_speaker_on_their_channel(tmp_path, capsys):
    """Done when (issue 19): `--local -c target_format=alaw_stereo --out DIR` over stereo calls: every
    output is A-law, 8 kHz, 2 channels, and each channel against its source channel has SNR ≥ 30 dB
    (decoded with the test's own G.711 table, not the converter's check)."""
    import numpy as np

    from benchmarks import speech
    from optimizer.audio import ALAW_TABLE
    from optimizer.wav import ALAW, read_wav_info

    recordings, out = tmp_path / "stereo", tmp_path / "out"
    recordings.mkdir()
    calls = {f"call-{i}.wav": speech.call(5 + 4 * i, 8000, level_db=-4.0 * i) for i in range(3)}
    for name, frames in calls.items():
        (recordings / name).write_bytes(speech.wav_bytes(frames, 8000))

    code = local_run.main(
        ["-c", "target_format=alaw_stereo", "--recordings", str(recordings), "--out", str(out),
         "--report", str(tmp_path / "report.json")]
    )  # fmt: skip
    assert code == 0, capsys.readouterr().err
    written = {p.name: p for p in out.rglob("*.wav")}
    assert set(written) == set(calls)
    for name, source in calls.items():
        info = read_wav_info(written[name])
        assert (info.format_tag, info.sample_rate, info.channels, info.bits_per_sample) == (ALAW, 8000, 2, 8), name
        codes = np.frombuffer(written[name].read_bytes()[info.data_offset :], np.uint8)
        codes = codes[: info.frames * 2].reshape(-1, 2)
        assert len(codes) == len(source), name
        for channel in (0, 1):
            decoded = ALAW_TABLE[codes[:, channel]] / 32768
            reference = source[:, channel]
            snr = 10 * np.log10(np.sum(reference**2) / np.sum((decoded - reference) ** 2))
            assert snr >= 30, (name, channel, snr)
