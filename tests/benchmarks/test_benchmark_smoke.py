"""A small run of the benchmark (python -m benchmarks) in the test suite.

Only what is deterministic is asserted: requests per converted recording, SendMessageBatch calls
per 1,000 recordings, S3 requests by the enqueuer, the lister's BatchGetItem calls for the known
failures, the largest state payload; and that the converter's memory run samples both processes.
Never a wall time:
the machine is shared, and the benchmark reports times as ratios measured in one run.
"""

from __future__ import annotations

import pytest

from benchmarks import harness, pipeline, scale

pytestmark = pytest.mark.long  # a small benchmark run through the emulated stack

PAYLOAD_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def measured(tmp_path_factory, ffmpeg, shared_synthesis):
    from emulator.local_settings import LOCAL_CONTEXT
    from emulator.samples import write_wav

    recording = write_wav(tmp_path_factory.mktemp("recording") / "call.wav", 2, seed=3)
    # The local run's names: the synthesis the end-to-end tests use serves here too (tests/conftest.py).
    synth = harness.synthesize_stack(tmp_path_factory.mktemp("cdk.out"), **LOCAL_CONTEXT)
    with harness.emulated_stack(synth) as bench:
        days = pipeline.Days()
        return {
            "no_tags": pipeline.requests_per_recording(bench, days, recording, 15, tags=None),
            "with_tags": pipeline.requests_per_recording(
                bench, days, recording, 15, tags={"team": "sales", "site": "lisbon"}
            ),
            # 50 keys of S3's maximum length (1,024 bytes) push the pages to their byte budget.
            "thousand": scale.list_and_enqueue(bench, days.take(), 1000, long_keys=50),
        }


# Per container, not per recording: versioning and Object Lock asked again at most every 5 minutes
# (optimizer/trust.py); the local run has at most 4 converter containers, and a second run within
# 5 minutes on the same containers asks none.
BUCKET_CHECKS = ("s3:GetBucketVersioning", "s3:GetObjectLockConfiguration")


def object_requests(run) -> dict[str, int]:
    requests = {op: n for op, n in run["converter_requests"].items() if op.startswith("s3:")}
    checks = [requests.pop(op, 0) for op in BUCKET_CHECKS]
    assert checks[0] == checks[1] and 0 <= checks[0] <= 4, checks
    return requests


def test_a_recording_without_tags_costs_one_get_and_one_put(measured):
    run = measured["no_tags"]
    assert run["converted"] == 15
    assert run["converter_bucket_checks"] >= 2  # the first run's containers asked, once each
    assert object_requests(run) == {
        "s3:GetObject": 15,
        "s3:PutObject": 15,
    }
    assert run["s3_per_converted"] == 2


def test_a_tagged_recording_adds_one_tagging_read(measured):
    run = measured["with_tags"]
    assert run["converted"] == 15
    assert object_requests(run) == {
        "s3:GetObject": 15,
        "s3:GetObjectTagging": 15,
        "s3:PutObject": 15,
    }
    assert run["s3_per_converted"] == 3


def test_the_enqueuer_makes_no_s3_request(measured):
    assert measured["thousand"]["enqueuer_s3_requests"] == 0
    for run in (measured["no_tags"], measured["with_tags"]):
        assert not any(op.startswith("s3:") for op in run["enqueuer_requests"])


def test_each_page_costs_one_list_objects_v2_call(measured):
    thousand = measured["thousand"]
    # One ListObjectsV2 a page, and one by the preflight's read probe (it finds a recording to read).
    assert thousand["list_objects_v2"] == thousand["pages"] + 1 >= 4


def test_enqueueing_1000_recordings_takes_100_send_message_batch_calls(measured):
    # That each recording is listed and enqueued exactly once is proven in tests/unit/test_keys_listing.py
    # and end to end in tests/e2e/test_state_machine_e2e.py; here it is only the count's premise.
    assert measured["thousand"]["output"]["enqueued"] == 1000
    assert measured["thousand"]["send_message_batch"] == 100


def test_no_state_payload_exceeds_64_kb(measured):
    largest = measured["thousand"]["max_state_bytes"]
    assert 40 * 1024 < largest <= PAYLOAD_LIMIT  # full pages were measured, and they fit


def test_the_known_failure_check_reads_in_batches_of_100_keys(measured):
    thousand = measured["thousand"]
    assert thousand["known_failure_keys_checked"] == 1000
    # Each CheckRun (is every recording of the run accounted?) and the summary read the run's item
    # and its counter shards in one BatchGetItem (optimizer/ledger.py); no per-key read.
    check_runs = thousand["transitions_by_state"]["CheckRun"]
    ledger_reads = check_runs + 1
    assert check_runs >= 1
    # The known failures: at least one request per 100 keys, at most one more per page (its last,
    # partial batch).
    assert 10 <= thousand["batch_get_item"] - ledger_reads <= 10 + thousand["pages"]
    assert thousand["known_failure_read_units"] == 500  # 0.5 per key, eventually consistent


@pytest.fixture(scope="module")
def memory_row(tmp_path_factory, ffmpeg, shared_synthesis):
    from benchmarks import converter_memory
    from emulator.local_settings import LOCAL_CONTEXT

    synth = harness.synthesize_stack(tmp_path_factory.mktemp("cdk.out"), **LOCAL_CONTEXT)
    # A 5-minute call: ffmpeg lives ~0.1 s, dozens of 2 ms samples (the run fails if none saw it).
    result = converter_memory.measure(
        synth, [(300, 1)], data_dir=tmp_path_factory.mktemp("recordings"), memory_lengths={300}
    )
    [row] = result["rows"]
    return row


def test_the_memory_run_samples_python_and_ffmpeg_apart_and_together(memory_row):
    from benchmarks import report

    m = memory_row["memory"]
    assert m["ffmpeg_samples"] >= 1
    # ffmpeg's figure is its own, not the converter's carried over the exec (~70 MB of Python).
    assert 0 < m["ffmpeg_peak_mb"] < m["python_peak_mb"]
    assert m["ffmpeg_anon_mb"] + m["ffmpeg_file_mb"] <= m["ffmpeg_peak_mb"] + 0.01
    # The peak of the sum is one instant's: never above the sum of the two peaks, and made of both.
    assert m["python_at_peak_together_mb"] > 0 and m["ffmpeg_at_peak_together_mb"] > 0
    assert m["peak_together_mb"] == pytest.approx(m["python_at_peak_together_mb"] + m["ffmpeg_at_peak_together_mb"])
    assert m["peak_together_mb"] <= m["sum_of_peaks_mb"]
    assert m["tmp_peak_mb_sampled"] > 0
    table = report.markdown({"goals": [], "converter": {"rows": [memory_row]}})
    assert f"| 5 min | {m['python_peak_mb']:.1f} MB | {m['ffmpeg_peak_mb']:.1f} MB" in table
