"""python -m benchmarks [--quick] [--json FILE] [--markdown FILE] [--only SECTION ...]

Measures the pipeline against its physical floor (one bare ffmpeg pass), counts the requests and
state transitions it makes at scale, measures the converter's memory and speed, and derives the
cost per 1,000 call-minutes. Prints the goals table and writes every figure as JSON.

Sections (all by default): pipeline, requests, enqueue, day, backfill, converter, audio. The cost
needs requests, enqueue, day and converter. `--only memory` (never part of the default) measures
only the converter's memory: one sampled conversion per length, no speed rows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import harness

SECTIONS = ("pipeline", "requests", "enqueue", "day", "backfill", "converter", "audio")
MEMORY_ONLY = "memory"  # the converter section's memory runs alone: not a default section
DEFAULT_JSON = Path(__file__).resolve().parent / "results.json"
MEMORY_SIZES = [512, 768, 1024, 1536, 1769, 2048]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[1])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few minutes instead of ~15: 1 pair of pipeline runs, a 10,000-recording day, a 60-day backfill, "
        "recordings up to 1 hour",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=DEFAULT_JSON,
        metavar="FILE",
        help="where to write the results (default %(default)s)",
    )
    parser.add_argument(
        "--markdown", type=Path, metavar="FILE", help="also write the tables as Markdown (for docs/benchmarks.md)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=SECTIONS + (MEMORY_ONLY,),
        metavar="SECTION",
        help=f"run only these sections ({', '.join(SECTIONS)}; or {MEMORY_ONLY}: the converter's memory only)",
    )
    parser.add_argument("--pairs", type=int, help="pairs of pipeline runs (default 5, --quick 1)")
    parser.add_argument(
        "--day-recordings", type=int, help="recordings of the scale day (default 100,000, --quick 10,000)"
    )
    parser.add_argument(
        "--day-page-keys",
        type=int,
        default=0,
        metavar="N",
        help="pages of at most N recordings in the scale day (a test aid: more pages, rounds, at a smaller size)",
    )
    parser.add_argument("--backfill-days", type=int, help="days of the backfill (default 2,190, --quick 60)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(tempfile.gettempdir()) / "call-recording-benchmark",
        help="where generated recordings are kept between runs (up to 0.6 GB; default %(default)s)",
    )
    args = parser.parse_args(argv)
    args.sections = tuple(args.only or SECTIONS)
    args.pairs = args.pairs or (1 if args.quick else 5)
    args.day_recordings = args.day_recordings or (10_000 if args.quick else 100_000)
    args.backfill_days = args.backfill_days or (60 if args.quick else 2190)
    return args


def machine() -> dict[str, Any]:
    def first(path: str, prefix: str, sep: str = ":") -> str | None:
        try:
            for line in Path(path).read_text().splitlines():
                if line.startswith(prefix):
                    return line[len(prefix) :].lstrip(sep).strip().strip('"')
        except OSError:
            pass
        return None

    def run(*cmd: str) -> str | None:
        try:
            return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip() or None
        except (OSError, subprocess.CalledProcessError):
            return None

    import boto3
    import moto

    ffmpeg = harness.ffmpeg_path()
    mem_kb = first("/proc/meminfo", "MemTotal")
    return {
        "cpu": (first("/proc/cpuinfo", "model name") or "").lstrip(":").strip() or platform.processor(),
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem_kb.split()[0]) / 2**20, 1) if mem_kb else None,
        "architecture": platform.machine(),
        "kernel": platform.release(),
        "os": first("/etc/os-release", "PRETTY_NAME=", "=") or platform.platform(),
        "python": platform.python_version(),
        "ffmpeg": (run(str(ffmpeg), "-hide_banner", "-version") or "").splitlines()[0] if ffmpeg.exists() else None,
        "moto": moto.__version__,
        "boto3": boto3.__version__,
        # A tree exported with `git archive` has no .git: its commit can be written to COMMIT.
        "commit": run("git", "-C", str(harness.ROOT), "rev-parse", "--short", "HEAD")
        or first(str(harness.ROOT / "COMMIT"), ""),
        "uncommitted_changes": bool(
            run("git", "-C", str(harness.ROOT), "status", "--porcelain", "--", "lambdas", "stacks", "emulator")
        ),
    }


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def section(results: dict[str, Any], name: str, fn: Callable[[], Any]) -> None:
    print(f"[{name}] load average {load()} ...", file=sys.stderr)
    started = time.perf_counter()
    results[name] = fn()
    results.setdefault("timings", {})[name] = {"seconds": round(time.perf_counter() - started, 1), "load_after": load()}


def memory_peak_mb(memory: dict[str, Any]) -> float:
    """What Lambda's limit sees: Python + ffmpeg at one instant (runs before it: the sum of the peaks)."""
    return float(memory.get("peak_together_mb", memory["sum_of_peaks_mb"]))


def cost_section(results: dict[str, Any], synth: Any) -> dict[str, Any] | None:
    from estimator.prices import load_prices

    from . import cost

    need = ("requests_per_recording", "enqueue_1000", "day", "converter")
    if not all(results.get(k) for k in need):
        return None
    prices = load_prices()
    rows = {row["seconds_of_audio"]: row for row in results["converter"]["rows"]}
    five = rows.get(300)
    if five is None:
        return None
    no_tags = results["requests_per_recording"]["no_tags"]
    thousand, day = results["enqueue_1000"], results["day"]
    per_page = (day["state_transitions"] - thousand["state_transitions"]) / (day["pages"] - thousand["pages"])
    measured = cost.Measured(
        call_minutes=5.0,
        converter_local_s=five["converter_s"],
        bytes_in=five["bytes"],
        bytes_out=five["bytes_after"],
        s3_get=(
            no_tags["converter_requests"].get("s3:GetObject", 0)
            + no_tags["converter_requests"].get("s3:GetObjectTagging", 0)
        )
        / no_tags["converted"],
        s3_put=no_tags["converter_requests"].get("s3:PutObject", 0) / no_tags["converted"],
        s3_list_per_recording=day["list_objects_v2"] / day["recordings"],
        sqs_send_per_recording=day["send_message_batch"] / day["recordings"],
        pages_per_recording=day["pages"] / day["recordings"],
        transitions_per_page=per_page,
        transitions_per_run=thousand["state_transitions"] - per_page * thousand["pages"],
        page_lambda_s=(day["handler_s"]["lister"] + day["handler_s"]["enqueuer"]) / day["pages"],
        page_lambda_memory_mb=int(harness.function_property(synth, "lister", "MemorySize") or 256),
        dynamodb_transactions_per_page=day["requests"]["enqueuer"].get("dynamodb:TransactWriteItems", 0) / day["pages"],
        dynamodb_reads_per_page=day["requests"]["enqueuer"].get("dynamodb:GetItem", 0) / day["pages"],
        dynamodb_transactions_per_converter_batch=no_tags["converter_requests"].get("dynamodb:TransactWriteItems", 0)
        / no_tags["converter_invocations"],
        dynamodb_reads_per_run=thousand["requests"]["lister"].get("dynamodb:GetItem", 0),
        dynamodb_read_units_per_recording=thousand.get("known_failure_read_units", 0) / thousand["recordings"],
    )
    from stacks.config import OptimizerConfig
    from stacks.orchestration import MAX_RUN

    config = synth.config  # the defaults, but for the local run's 1-second queue poll
    settings = cost.Settings(
        architecture="arm64",
        storage_class=config.storage_class,
        memory_mb=config.converter_memory_mb,
        batch_size=config.converter_batch_size,
        max_concurrency=config.converter_max_concurrency,
        poll_seconds=OptimizerConfig.queue_poll_seconds,  # the class default, not the local run's 1 s
    )
    longest = rows.get(14400) or rows.get(3600)
    longest_info = (
        {
            "local_s": longest["converter_s"],
            "bytes": longest["bytes"] + longest["bytes_after"],
            "seconds_of_audio": longest["seconds_of_audio"],
        }
        if longest
        else None
    )
    table = cost.memory_table(measured, settings, prices, MEMORY_SIZES, longest_info)
    peak = max((memory_peak_mb(row["memory"]) for row in rows.values() if "memory" in row), default=0.0)
    max_run_s = MAX_RUN.to_seconds()
    timeout_s = int(harness.function_property(synth, "converter", "Timeout") or 600)
    return {
        "measured": measured.__dict__,
        "assumptions": {
            "full_vcpu_mb": cost.FULL_VCPU_MB,
            "s3_latency_s": cost.S3_LATENCY_S,
            "s3_throughput_bytes_per_s": cost.S3_THROUGHPUT_BPS,
            "prices": str(prices.path),
            "prices_retrieved": prices.retrieved,
        },
        "per_1000_minutes": cost.per_thousand_minutes(measured, settings, prices),
        "fixed": cost.fixed_costs(measured, settings, prices),
        "break_even_converter_s": cost.break_even_converter_seconds(measured, settings, prices),
        "memory_table": table,
        "longest_call": longest_info,
        "recommended": cost.recommend(measured, settings, table, peak_mb=peak, timeout_s=timeout_s, max_run_s=max_run_s)
        if longest_info
        else None,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    harness.use_fake_credentials()
    harness.ffmpeg_path()  # fails early, with the build command, when the layer is not built

    from . import converter_memory, pipeline, report, scale

    started = time.perf_counter()
    results: dict[str, Any] = {
        "command": "python -m benchmarks " + " ".join(sys.argv[1:] if argv is None else argv),
        "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine(),
        "load_start": load(),
    }
    print("synthesizing the stack ...", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="bench-cdk-") as outdir:
        synth = harness.synthesize_stack(outdir)
        results["configuration"] = {
            "converter_memory_mb": synth.config.converter_memory_mb,
            "converter_batch_size": synth.config.converter_batch_size,
            "converter_max_concurrency": synth.config.converter_max_concurrency,
            "storage_class": synth.config.storage_class,
        }
        time.sleep(3)  # let the synthesis's node process go quiet before anything is timed
        one_minute = converter_memory.write_recording(args.data_dir / "connect-60s.wav", 60, harness.ffmpeg_path())
        days = pipeline.Days()

        if {"pipeline", "requests", "enqueue"} & set(args.sections):
            with harness.emulated_stack(synth) as bench:
                if "pipeline" in args.sections:
                    section(
                        results, "pipeline", lambda: pipeline.marginal_ratio(bench, days, one_minute, pairs=args.pairs)
                    )
                if "requests" in args.sections:
                    section(
                        results,
                        "requests_per_recording",
                        lambda: {
                            "no_tags": pipeline.requests_per_recording(bench, days, one_minute, 30, tags=None),
                            "with_tags": pipeline.requests_per_recording(
                                bench, days, one_minute, 30, tags={"team": "sales", "site": "lisbon"}
                            ),
                        },
                    )
                if "enqueue" in args.sections:
                    section(results, "enqueue_1000", lambda: scale.enqueue_thousand(bench, days))
        if "day" in args.sections:
            with harness.emulated_stack(synth) as bench:  # a fresh emulator: moto lists in O(objects in the bucket)
                section(
                    results,
                    "day",
                    lambda: scale.hundred_thousand_day(bench, days, args.day_recordings, args.day_page_keys),
                )
        if "backfill" in args.sections:
            with harness.emulated_stack(synth) as bench:
                section(results, "backfill", lambda: scale.backfill_history(bench, days=args.backfill_days))
        if "converter" in args.sections:
            lengths = [(10, 20), (60, 10), (300, 5), (3600, 1)] + ([] if args.quick else [(14400, 1)])
            section(
                results,
                "converter",
                lambda: converter_memory.measure(
                    synth, lengths, data_dir=args.data_dir, memory_lengths={60, 300, 3600, 14400}
                ),
            )
        if MEMORY_ONLY in args.sections and "converter" not in args.sections:
            lengths = [(60, 1), (300, 1), (3600, 1)] + ([] if args.quick else [(14400, 1)])
            section(
                results,
                "converter",
                lambda: {
                    **converter_memory.measure(
                        synth, lengths, data_dir=args.data_dir, memory_lengths={s for s, _ in lengths}
                    ),
                    "memory_only": True,
                },
            )
        if "audio" in args.sections:
            from . import audio_check

            section(
                results, "audio", lambda: audio_check.measure(harness.ffmpeg_path(), args.data_dir, quick=args.quick)
            )
        results["cost"] = cost_section(results, synth)

    results["load_end"] = load()
    results["seconds"] = round(time.perf_counter() - started, 1)
    results["goals"] = report.goals(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print()
    print(report.text(results))
    if args.markdown:
        args.markdown.write_text(report.markdown(results))
    print(
        f"results: {args.json}"
        + (f"   markdown: {args.markdown}" if args.markdown else "")
        + f"   ({results['seconds']:.0f} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
