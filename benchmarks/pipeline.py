"""The full local pipeline (list -> enqueue -> convert -> write) against its physical floor, one
bare ffmpeg pass, and the requests each converted recording costs.

Marginal time: the same day is run with two batch sizes; (T(large) - T(small)) / (large - small)
is the time one more recording adds, with every fixed cost (execution start, first listing,
handler imports, the end check) cancelled out. T is measured from StartExecution to the moment
the last converter invocation returns (the last write): after that the state machine only waits
for its next CheckRun, in steps of queue_poll_seconds, which is latency, not work, and would
quantize T to whole seconds. The execution's own duration is reported next to it.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import harness
from .harness import Bench, count

FIRST_DAY = dt.date(2022, 1, 1)


def contact_key(prefix: str, day: dt.date, i: int) -> str:
    """A key shaped like Amazon Connect's: <prefix>YYYY/MM/DD/<contact id>_<YYYYMMDD>T<HH:MM>_UTC.wav"""
    contact = f"{i:08x}-5e1f-4b7a-9c0d-{(i * 7919) % 16**12:012x}"
    return f"{prefix}{day:%Y/%m/%d}/{contact}_{day:%Y%m%d}T{8 + i % 12:02d}:{i % 60:02d}_UTC.wav"


class Days:
    """Hands out a fresh day (a fresh prefix) per run, so runs never see each other's objects."""

    def __init__(self, first: dt.date = FIRST_DAY) -> None:
        self.next = first

    def take(self) -> dt.date:
        day, self.next = self.next, self.next + dt.timedelta(days=1)
        return day


def load_recordings(bench: Bench, day: dt.date, n: int, body: bytes, tags: dict[str, str] | None = None) -> list[str]:
    from urllib.parse import urlencode

    s3 = bench.s3()
    keys = [contact_key(bench.prefix, day, i) for i in range(n)]
    extra = {"Tagging": urlencode(tags)} if tags else {}
    for key in keys:
        s3.put_object(Bucket=bench.deployment.bucket, Key=key, Body=body, ContentType="audio/wav", **extra)
    return keys


@dataclass
class DayRun:
    recordings: int
    status: str
    to_last_write_s: float
    execution_s: float
    python_cpu_s: float  # this process: handlers, moto, the state machine engine, the harness
    ffmpeg_cpu_s: float  # children: ffmpeg
    requests: Any
    converted: int
    execution: Any
    invocations: list[Any]
    parts: dict[str, float]  # where the time went (seconds), see run_day


def converted_objects(bench: Bench, day: dt.date, original_size: int) -> int:
    s3 = bench.s3()
    prefix = f"{bench.prefix}{day:%Y/%m/%d}/"
    found = 0
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bench.deployment.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            if obj.get("StorageClass") == bench.synth.config.storage_class and obj["Size"] <= original_size // 3:
                found += 1
    return found


def run_day(bench: Bench, day: dt.date, recordings: int, original_size: int) -> DayRun:
    from emulator.run import run_execution

    pollers = bench.converter_pollers()
    snapshot = bench.requests.snapshot()
    emulator_before = bench.requests.emulator_seconds()
    ffmpeg_before = bench.ffmpeg.seconds
    first_call = len(bench.lambdas.calls)
    times_before = os.times()
    started = time.perf_counter()
    execution = run_execution(
        bench.deployment, bench.lambdas, {"specific_date": day.strftime("%m/%d/%Y")}, pollers=pollers
    )
    times_after = os.times()
    calls = bench.lambdas.calls[first_call:]
    requests = bench.requests.since(snapshot)  # before the harness lists the day below
    emulator = bench.requests.emulator_seconds()
    emulator.subtract(emulator_before)
    converter_calls = [c for c in calls if c.role == "converter"]
    last_write = max((c.end for c in converter_calls), default=time.perf_counter())
    converter_s = sum(c.end - c.start for c in converter_calls)
    ffmpeg_s = bench.ffmpeg.seconds - ffmpeg_before
    converter_emulator_s = sum(
        v for (c, svc, _), v in emulator.items() if c == "converter" and svc in ("s3", "sqs", "dynamodb")
    )
    parts = {
        "ffmpeg": ffmpeg_s,
        "converter_emulated_aws": converter_emulator_s,  # moto serving the converter's requests
        "converter_own": converter_s - ffmpeg_s - converter_emulator_s,  # handler code + boto3 client side
        "event_source_emulated_sqs": sum(v for (c, _, _), v in emulator.items() if c == harness.EVENT_SOURCE),
        "outside_converter": (last_write - started) - converter_s,  # listing, polling, the engine, waits
    }
    return DayRun(
        recordings=recordings,
        status=execution.status,
        to_last_write_s=last_write - started,
        execution_s=execution.seconds,
        python_cpu_s=(times_after.user - times_before.user) + (times_after.system - times_before.system),
        ffmpeg_cpu_s=(times_after.children_user - times_before.children_user)
        + (times_after.children_system - times_before.children_system),
        requests=requests,
        converted=converted_objects(bench, day, original_size),
        execution=execution,
        invocations=calls,
        parts=parts,
    )


def bare_passes(ffmpeg: Path, src: Path, dst: Path, repeats: int) -> tuple[list[float], float]:
    """Wall times of bare ffmpeg passes, and their mean CPU time (children)."""
    from .converter_memory import bare_ffmpeg_seconds

    before = os.times()
    walls = bare_ffmpeg_seconds(ffmpeg, src, dst, repeats)
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return walls, cpu / repeats


def marginal_ratio(
    bench: Bench,
    days: Days,
    recording: Path,
    *,
    sizes: tuple[int, int] = (20, 60),
    pairs: int = 3,
    bare_repeats: int = 10,
) -> dict[str, Any]:
    ffmpeg = harness.ffmpeg_path()
    body = recording.read_bytes()
    scratch = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-bare-{os.getpid()}.wav"
    small, large = sizes
    # Warm-up (not measured): imports the handlers, creates their clients, fills the page cache.
    warm = days.take()
    load_recordings(bench, warm, 5, body)
    run_day(bench, warm, 5, len(body))
    bare_passes(ffmpeg, recording, scratch, 3)

    runs: list[dict[str, Any]] = []
    bare_walls: list[float] = []
    bare_cpus: list[float] = []
    marginals, marginal_cpus, marginal_parts = [], [], []
    for pair in range(pairs):
        measured = {}
        for n in (small, large) if pair % 2 == 0 else (large, small):  # alternate the order
            day = days.take()
            load_recordings(bench, day, n, body)
            walls, cpu = bare_passes(ffmpeg, recording, scratch, bare_repeats)
            bare_walls += walls
            bare_cpus.append(cpu)
            result = run_day(bench, day, n, len(body))
            if result.status != "SUCCEEDED" or result.converted != n:
                raise RuntimeError(f"pipeline run of {n} recordings: {result.status}, {result.converted} converted")
            measured[n] = result
            runs.append(
                {
                    "pair": pair,
                    "recordings": n,
                    "to_last_write_s": result.to_last_write_s,
                    "execution_s": result.execution_s,
                    "python_cpu_s": result.python_cpu_s,
                    "ffmpeg_cpu_s": result.ffmpeg_cpu_s,
                    "parts": result.parts,
                }
            )
            print(
                f"  pipeline pair {pair + 1}/{pairs}: {n} recordings, last write after {result.to_last_write_s:.2f} s "
                f"(execution {result.execution_s:.2f} s)",
                file=sys.stderr,
            )
        marginals.append((measured[large].to_last_write_s - measured[small].to_last_write_s) / (large - small))
        marginal_parts.append(
            {k: (measured[large].parts[k] - measured[small].parts[k]) / (large - small) for k in measured[large].parts}
        )
        marginal_cpus.append(
            (
                (measured[large].python_cpu_s + measured[large].ffmpeg_cpu_s)
                - (measured[small].python_cpu_s + measured[small].ffmpeg_cpu_s)
            )
            / (large - small)
        )
    walls, cpu = bare_passes(ffmpeg, recording, scratch, bare_repeats)
    bare_walls += walls
    bare_cpus.append(cpu)
    scratch.unlink(missing_ok=True)
    bare = statistics.median(bare_walls)
    marginal = statistics.median(marginals)
    bare_cpu = statistics.median(bare_cpus)
    return {
        "sizes": list(sizes),
        "pairs": pairs,
        "recording_seconds": (len(body) - 44) / 32000,
        "recording_bytes": len(body),
        "bare_ffmpeg_s": bare,
        "bare_ffmpeg_s_all": bare_walls,
        "marginal_s_per_recording": marginal,
        "marginal_s_all": marginals,
        "ratio": marginal / bare,
        "ratio_all": [m / bare for m in marginals],
        "bare_ffmpeg_cpu_s": bare_cpu,
        "marginal_cpu_s_per_recording": statistics.median(marginal_cpus),
        "cpu_ratio": statistics.median(marginal_cpus) / bare_cpu if bare_cpu else None,
        # Where one more recording's time goes (medians over the pairs, seconds).
        "marginal_parts_s": {k: statistics.median(p[k] for p in marginal_parts) for k in marginal_parts[0]},
        "runs": runs,
    }


def requests_per_recording(
    bench: Bench, days: Days, recording: Path, n: int, *, tags: dict[str, str] | None
) -> dict[str, Any]:
    """S3 requests the converter makes per converted recording, counted at the emulator."""
    body = recording.read_bytes()
    day = days.take()
    load_recordings(bench, day, n, body, tags)
    result = run_day(bench, day, n, len(body))
    if result.status != "SUCCEEDED" or result.converted != n:
        raise RuntimeError(f"request count run: {result.status}, {result.converted} of {n} converted")
    req = result.requests
    by_operation = harness.by_operation(req, "converter")
    # Versioning and Object Lock are asked per container every few minutes, not per recording
    # (optimizer/trust.py): counted apart.
    bucket_checks = sum(by_operation.get(op, 0) for op in ("s3:GetBucketVersioning", "s3:GetObjectLockConfiguration"))
    converter_s3 = count(req, "converter", "s3") - bucket_checks
    return {
        "recordings": n,
        "tags": dict(tags or {}),
        "converted": result.converted,
        "converter_s3_requests": converter_s3,
        "converter_bucket_checks": bucket_checks,
        "s3_per_converted": converter_s3 / result.converted,
        "converter_requests": harness.by_operation(req, "converter"),
        "lister_requests": harness.by_operation(req, "lister"),
        "enqueuer_requests": harness.by_operation(req, "enqueuer"),
        "converter_invocations": sum(1 for c in result.invocations if c.role == "converter"),
        "event_source_requests": harness.by_operation(req, harness.EVENT_SOURCE),
        "state_machine_requests": harness.by_operation(req, harness.STATE_MACHINE),
        "max_state_bytes": result.execution.max_state_bytes,
        "state_transitions": len(result.execution.states_entered),
    }
