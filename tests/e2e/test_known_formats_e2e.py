"""./cdk-deploy.sh --local --runs 2 with a recording already in A-law among the inputs: the first
run downloads it and skips it (already_alaw), the second skips it at listing
(skipped.known_target_format) and enqueues nothing; the truth check counts it from S3 both times."""

from __future__ import annotations

import json
import subprocess

from emulator import local_run
from emulator.samples import write_wav


def test_the_second_run_enqueues_nothing(tmp_path, ffmpeg, capsys):
    recordings = tmp_path / "calls"
    write_wav(recordings / "a.wav", 2, seed=1)
    write_wav(recordings / "b.wav", 3, seed=2)
    source = write_wav(tmp_path / "source.wav", 2, seed=3)
    # Already in the target format: A-law 8 kHz mono, as the converter writes it.
    alaw = ["-ac", "1", "-ar", "8000", "-c:a", "pcm_alaw", str(recordings / "already-alaw.wav")]
    subprocess.run([ffmpeg, "-loglevel", "error", "-y", "-i", str(source), *alaw], check=True)
    report_path = tmp_path / "report.json"

    code = local_run.main(["--recordings", str(recordings), "--runs", "2", "--report", str(report_path)])

    capsys.readouterr()
    report = json.loads(report_path.read_text())
    assert code == 0
    first, second = (e["output"] for e in report["executions"])
    assert (first["enqueued"], first["converted"], first["skipped"]["already_alaw"]) == (3, 2, 1)
    assert first["skipped"]["known_target_format"] == 0
    # The done-when: the second run enqueues nothing, the A-law one skipped at listing.
    assert second["enqueued"] == 0
    assert (second["skipped"]["known_target_format"], second["skipped"]["already_target_class"]) == (1, 2)
    assert second["skipped"]["known_failure"] == 0 and second["skipped"]["already_alaw"] == 0  # not a failure
    for execution in report["executions"]:
        assert execution["truth"]["in_target_format"] == 1 and execution["truth"]["differences"] == []
    by_name = {o["key"].rsplit("/", 1)[-1]: o for o in report["objects"]}
    alaw_entry = by_name["already-alaw.wav"]
    assert alaw_entry["outcome"] == "skipped" and alaw_entry["reason"].startswith(
        "known_target_format: already in the target format, alaw_mono"
    )
    assert alaw_entry["versions"] == 1 and alaw_entry["known_failure"] is None
