"""./cdk-deploy.sh --local: the local run's command line, report and exit status."""

from __future__ import annotations

import json
import shutil

import pytest

from emulator import local_run
from emulator.samples import write_wav
from tests.support import claim_one_more_conversion


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("mine")
    write_wav(root / "call one.wav", 2, seed=1)
    write_wav(root / "agents" / "ünïcode+plus.WAV", 3, seed=2)
    (root / "undecodable.wav").write_bytes(b"RIFF\x24\x00\x00\x00WAVEthis is not audio")
    (root / "notes.txt").write_text("not a recording")
    return root


@pytest.fixture(scope="module")
def good_folder(folder, tmp_path_factory):
    """The same files without the undecodable one: a run that succeeds."""
    good = tmp_path_factory.mktemp("good") / "good"
    shutil.copytree(folder, good)
    (good / "undecodable.wav").unlink()
    return good


def run(capsys, *argv) -> int:
    code = local_run.main([str(a) for a in argv])
    capsys.readouterr()
    return code


def run_out(capsys, *argv) -> tuple[int, str, str]:
    code = local_run.main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_undecodable_recording_exits_3_with_a_dead_letter_and_the_original_unchanged(tmp_path, folder, capsys):
    # A report folder that does not exist yet is made (the handler log is written there first).
    report_path, out = tmp_path / "reports" / "new" / "report.json", tmp_path / "out"
    code, printed, _ = run_out(
        capsys, "--recordings", folder, "--date", "01/31/2022", "--report", report_path, "--out", out
    )
    report = json.loads(report_path.read_text())

    assert code == 3
    assert report["execution"]["status"] == "FAILED" and report["execution"]["error"] == "RecordingsFailed"
    assert report["prefix"] == "connect/local-instance/CallRecordings/2022/01/31/"
    by_name = {o["key"][len(report["prefix"]) :]: o for o in report["objects"]}
    assert set(by_name) == {"call one.wav", "agents/ünïcode+plus.WAV", "undecodable.wav", "notes.txt"}
    assert [(d["key"], bool(d["reason"])) for d in report["dead_letter"]] == [
        (report["prefix"] + "undecodable.wav", True)
    ]
    bad = by_name["undecodable.wav"]
    assert (bad["outcome"], bad["versions"], bad["size_after"]) == ("failed", 1, bad["size_before"])
    assert (out / "undecodable.wav").read_bytes() == (folder / "undecodable.wav").read_bytes()
    assert by_name["notes.txt"]["outcome"] == "untouched"
    for name in ("call one.wav", "agents/ünïcode+plus.WAV"):
        good = by_name[name]
        assert good["outcome"] == "converted" and good["storage_class_after"] == "GLACIER_IR"
        assert good["tags_after"] == {"converted": "True"} and good["content_type_after"] == "audio/wav"
        assert good["original_version_retained"] and good["versions"] == 2
        assert abs(good["size_after"] - good["size_before"] / 4) < 100
        assert (out / name).stat().st_size == good["size_after"]
    assert report["totals"]["converted"] == 2 and report["totals"]["failed"] == 1 and report["totals"]["untouched"] == 1
    # The truth check: this run's counts from S3's versions and the DLQ agree with its summary.
    truth = report["execution"]["truth"]
    assert (truth["listed"], truth["converted"], truth["failed"], truth["differences"]) == (4, 2, 1, [])
    assert (
        truth["bytes_before"]
        == report["execution"]["summary"]["bytes_before"]
        == sum(by_name[n]["size_before"] for n in ("call one.wav", "agents/ünïcode+plus.WAV"))
    )
    assert "truth check: all 1 execution(s) agree" in printed
    # The size ratio printed is the converted recordings' only, not diluted by the failed one.
    converted = [o for o in report["objects"] if o["outcome"] == "converted"]
    before, after = sum(o["size_before"] for o in converted), sum(o["size_after"] for o in converted)
    assert f"the converted recordings: {before:,} -> {after:,} bytes ({before / after:.2f}x smaller)" in printed


@pytest.mark.long
def test_a_second_run_converts_nothing_and_adds_no_version(tmp_path, good_folder, capsys):
    report_path = tmp_path / "report.json"

    code = run(capsys, "--recordings", good_folder, "--runs", 2, "--report", report_path)
    report = json.loads(report_path.read_text())

    assert code == 0
    first, second = report["executions"]
    assert first["status"] == second["status"] == "SUCCEEDED"
    assert first["output"]["enqueued"] == 2 and second["output"]["enqueued"] == 0
    assert second["output"]["skipped"]["already_target_class"] == 2
    assert [o["versions"] for o in report["objects"] if o["outcome"] == "converted"] == [2, 2]


@pytest.mark.long
def test_invalid_input_exits_3_and_touches_nothing(tmp_path, folder, capsys):
    report_path = tmp_path / "report.json"
    code = run(capsys, "--recordings", folder, "--input", '{"specific_date": "13/45/2022"}', "--report", report_path)
    report = json.loads(report_path.read_text())
    assert code == 3
    assert report["execution"]["error"] == "InvalidInput" and "MM/DD/YYYY" in report["execution"]["cause"]
    assert {o["outcome"] for o in report["objects"]} == {"untouched"}
    assert all(o["versions"] == 1 for o in report["objects"])


@pytest.mark.long
@pytest.mark.parametrize("force", [False, True])
def test_a_manual_run_of_today_exits_3_invalid_input_force_or_not(tmp_path, good_folder, capsys, force):
    """Today's calls are still being written: refused in the first state, nothing touched."""
    import datetime as dt

    today = dt.datetime.now(dt.UTC).date()
    report_path = tmp_path / "report.json"
    execution_input = json.dumps({"specific_date": today.isoformat(), "force": force})
    code = run(capsys, "--recordings", good_folder, "--input", execution_input, "--report", report_path)
    report = json.loads(report_path.read_text())
    assert code == 3
    assert report["execution"]["error"] == "InvalidInput"
    assert f"is today ({today.isoformat()} UTC)" in report["execution"]["cause"]
    assert {o["outcome"] for o in report["objects"]} == {"untouched"}
    assert all(o["versions"] == 1 for o in report["objects"])


@pytest.mark.parametrize(
    "argv, says",
    [
        (["--recordings", "/nonexistent/dir"], "no such directory"),
        (["--date", "31/01/2022"], "--date"),
        (["--date", "01/01/2022", "--input", "{}"], "not both"),
        (["--input", "{not json"], "not valid JSON"),
        (["--runs", "0"], "at least 1"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(capsys, argv, says):
    assert local_run.main(argv) == 2
    assert says in capsys.readouterr().err


@pytest.mark.long
def test_dated_recordings_keep_their_days_and_run_as_a_range(tmp_path, capsys):
    root = tmp_path / "dated"
    write_wav(root / "2022" / "01" / "01" / "a.wav", 1, seed=1)
    write_wav(root / "2022" / "01" / "03" / "b.wav", 1, seed=2)
    report_path = tmp_path / "report.json"

    code, _, err = run_out(capsys, "--recordings", root, "--dated", "--report", report_path)
    assert code == 0
    report = json.loads(report_path.read_text())
    # The days show as they are listed, with the recordings done.
    days = [line.strip() for line in err.splitlines() if line.strip().startswith("day ") and " listed" in line]
    assert days and days[-1].startswith("day 3/3 listed (2022-01-0") and "2/2 recordings done" in days[-1]
    execution = report["execution"]
    assert execution["input"] == {"start_date": "01/01/2022", "end_date": "01/03/2022"}
    assert (execution["output"]["days"], execution["output"]["converted"], execution["child_executions"]) == (3, 2, 3)
    assert [o["key"] for o in report["objects"]] == [
        "connect/local-instance/CallRecordings/2022/01/01/a.wav",
        "connect/local-instance/CallRecordings/2022/01/03/b.wav",
    ]
    assert execution["summary"] == execution["output"]


@pytest.mark.long
def test_a_summary_that_disagrees_with_the_truth_exits_4_and_says_how(tmp_path, good_folder, capsys, monkeypatch):
    """The summary claims a conversion S3 does not hold (its ledger counts one more)."""
    claim_one_more_conversion(monkeypatch)
    report_path = tmp_path / "report.json"

    code, printed, _ = run_out(capsys, "--recordings", good_folder, "--report", report_path)

    assert code == local_run.EXIT_TRUTH == 4
    report = json.loads(report_path.read_text())
    assert report["execution"]["status"] == "SUCCEEDED"  # the execution itself saw nothing wrong
    truth = report["execution"]["truth"]
    assert (truth["converted"], report["execution"]["summary"]["converted"]) == (2, 3)
    assert truth["differences"][0].startswith("converted: the summary says 3, the truth is 2 (S3 holds its conversions")
    assert "TRUTH CHECK FAILED" in printed and truth["differences"][0] in printed


def test_dated_paths_must_start_with_a_day(tmp_path, capsys):
    write_wav(tmp_path / "2022" / "13" / "01" / "a.wav", 1)
    assert local_run.main(["--recordings", str(tmp_path), "--dated"]) == 2
    assert "does not start with YYYY/MM/DD/" in capsys.readouterr().err


@pytest.mark.long
def test_unversioned_bucket_exits_3_with_versioning_required(tmp_path, folder, capsys):
    report_path = tmp_path / "report.json"
    assert run(capsys, "--recordings", folder, "--unversioned", "--report", report_path) == 3
    report = json.loads(report_path.read_text())
    assert report["execution"]["error"] == "VersioningRequired"
    assert {o["outcome"] for o in report["objects"]} == {"untouched"}


@pytest.mark.long
def test_dry_run_report_carries_the_projection_and_changes_nothing(tmp_path, folder, capsys):
    report_path = tmp_path / "report.json"
    code, printed, _ = run_out(
        capsys,
        "--recordings",
        folder,
        "--input",
        '{"specific_date": "01/01/2022", "dry_run": true}',
        "--report",
        report_path,
    )
    report = json.loads(report_path.read_text())
    assert code == 0
    summary = report["execution"]["summary"]
    # Printed as a sentence, and no "1.00x smaller" of files that were not converted.
    assert "1.00x" not in printed and "3 would be converted, 1 would be skipped (dry run); nothing converted" in printed
    line = next(line for line in printed.splitlines() if "dry run, nothing changed:" in line)
    assert (
        f"{summary['recordings']} recordings to convert, "
        f"{summary['bytes']:,} bytes -> {summary['projected_bytes_after']:,} bytes projected" in line
    )
    assert "a month in STANDARD ->" in line and "in GLACIER_IR" in line
    assert summary["dry_run"] is True and summary["recordings"] == 3 and summary["enqueued"] == 0
    assert summary["bytes"] == sum(o["size_before"] for o in report["objects"] if o["key"].lower().endswith(".wav"))
    assert all(o["versions"] == 1 and o["size_after"] == o["size_before"] for o in report["objects"])
    # Per object, what the dry run would do: its recordings converted, to their projected sizes
    # (which add up to the summary's projection), the rest skipped with the lister's reason.
    outcomes = {o["key"].rsplit("/", 1)[-1]: (o["outcome"], o["reason"]) for o in report["objects"]}
    assert outcomes == {
        "call one.wav": ("would_convert", None),
        "ünïcode+plus.WAV": ("would_convert", None),
        "undecodable.wav": ("would_convert", None),
        "notes.txt": ("would_skip", "not_audio"),
    }
    projected = [o["projected_size_after"] for o in report["objects"] if o["outcome"] == "would_convert"]
    assert sum(projected) == summary["projected_bytes_after"] and all(p > 0 for p in projected)
    assert "bytes_before" not in summary and "already_converted" not in summary


@pytest.mark.long
def test_the_scheduled_input_finds_the_recordings_where_it_looks(tmp_path, good_folder, capsys):
    """--input '{}' is the scheduled run: the files are loaded on the day num_days_age days ago."""
    import datetime as dt

    report_path = tmp_path / "report.json"
    code, out, _ = run_out(capsys, "--recordings", good_folder, "--input", "{}", "--report", report_path)
    report = json.loads(report_path.read_text())
    scheduled = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=7)
    assert code == 0
    assert report["prefix"] == f"connect/local-instance/CallRecordings/{scheduled:%Y/%m/%d}/"
    assert report["execution"]["output"]["days"] == 4  # the scheduled day and the 3 catch-up days before it
    assert report["totals"]["converted"] == 2 and report["totals"]["untouched"] == 1  # notes.txt


def test_a_slow_step_says_it_is_still_running(monkeypatch):
    import io
    import time

    monkeypatch.setattr(local_run, "HEARTBEAT_S", 0.1)
    stream = io.StringIO()
    with local_run.step("synthesizing", stream=stream):
        time.sleep(0.35)
    lines = stream.getvalue().splitlines()
    assert lines[0] == "synthesizing ..." and lines[-1].startswith("  done in ")
    assert sum(line.startswith("  ... still synthesizing (") for line in lines) >= 2


@pytest.mark.long
def test_the_same_seed_gives_the_same_faults_again_and_each_run_draws_afresh(tmp_path, good_folder, capsys):
    """Draws are keyed by the execution's name, which the local run takes from the seed and the
    run's number (with random names, the same command drew other faults every time). Per-recording
    calls only: how often the run polls its ledger depends on timing, and so do those draws."""
    inject = ["--inject", "s3.GetObject=SlowDown@0.5", "--inject", "ffmpeg=killed@0.3"]
    reports = []
    for attempt in (1, 2):
        report_path = tmp_path / f"report-{attempt}.json"
        args = ["--recordings", good_folder, "--runs", "2", "--seed", "11", *inject, "--report", report_path]
        assert run(capsys, *args) == 0
        reports.append(json.loads(report_path.read_text()))
    assert reports[0]["faults"] == reports[1]["faults"]
    assert sum(fault["fired"] for fault in reports[0]["faults"].values()) > 0  # equal, and not for having none


CAMPAIGNS = {
    7: [
        "s3.GetObject=SlowDown@0.3",
        "s3.PutObject=SlowDown@0.3",
        "ffmpeg=ENOSPC@0.3",
        "ffmpeg=killed@0.1",
        "converter=crash-after-put@0.2",
        "s3.PutObject=lost-response@0.2",
    ],
    8: [
        "dynamodb.TransactWriteItems=TransactionConflict@0.6",
        "dynamodb.*=ThrottlingException@0.2",
        "sqs.SendMessageBatch=InternalError@0.2",
    ],
}


@pytest.mark.long
@pytest.mark.parametrize("seed", sorted(CAMPAIGNS))
def test_the_sample_day_under_each_fault_campaign_converts_every_recording_once(tmp_path, capsys, seed):
    """Issue 16's campaigns: three runs of the sample day under transient faults. Every fault
    fires, every recording ends converted once (original + one rewrite), nothing is remembered as
    a bad recording, the runs' counts add up to the sample and agree with the truth check (exit 4
    otherwise), and the last run succeeds."""
    report_path = tmp_path / "report.json"
    inject = [arg for text in CAMPAIGNS[seed] for arg in ("--inject", text)]
    code = run(capsys, "--runs", "3", "--seed", seed, *inject, "--report", report_path)
    report = json.loads(report_path.read_text())
    assert code in (0, 3)  # 3: an earlier run gave a recording up (transient) for the next one
    assert {text: fault["fired"] > 0 for text, fault in report["faults"].items()} == dict.fromkeys(
        CAMPAIGNS[seed], True
    )
    objects = report["objects"]
    assert len(objects) == 12
    assert [(o["outcome"], o["versions"], o["known_failure"]) for o in objects] == [("converted", 2, None)] * 12
    executions = report["executions"]
    assert sum((e["summary"] or {}).get("converted", 0) for e in executions) == 12
    assert not [e["error"] for e in executions if e["error"] in ("RecordingsUnaccounted", "DaysFailed")]
    assert executions[-1]["status"] == "SUCCEEDED"


@pytest.mark.long
def test_convert_undo_verify_redo_verify_compose_on_the_sample_day(tmp_path, capsys):
    """The modes of issues 17 and 18 one after another on one day: an undo restores every
    recording, a verify run then skips them as undone (no false custody mismatch), a redo
    converts them again, and the last verify run checks all of them; the truth check agrees
    with each execution (exit 4 otherwise)."""
    day = '"specific_date": "01/01/2022"'
    inputs = [f"{{{day}}}", f'{{{day}, "undo": true}}', f'{{{day}, "verify": true}}']
    inputs += [f'{{{day}, "redo": true}}', f'{{{day}, "verify": true}}']
    report_path = tmp_path / "report.json"
    args = [arg for text in inputs for arg in ("--input", text)]
    assert run(capsys, *args, "--report", report_path) == 0
    outputs = [e["output"] for e in json.loads(report_path.read_text())["executions"]]
    assert [o["converted"] for o in outputs] == [12, 0, 0, 12, 0]
    assert outputs[1]["undone"] == 12
    assert outputs[2]["skipped"]["undone"] == 12 and outputs[2]["verify"]["mismatches"] == 0
    assert outputs[3]["redo"] == {"forgotten": 12}
    assert (outputs[4]["verify"]["verified"], outputs[4]["verify"]["mismatches"]) == (12, 0)
