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
