"""./cdk-deploy.sh --local: the whole pipeline on an embedded emulator, no AWS account, no Docker.

Synthesizes the real stack with a local context, creates its resources in moto from the template,
loads recordings (yours or a generated sample day), runs the state machine with the real handlers
and writes a report judged from the final state of S3 and the dead-letter queue.

Exit status: 0 every execution succeeded; 3 an execution ran to its end but failed (e.g.
RecordingsFailed, InvalidInput); 4 an execution's summary disagrees with the truth check
(emulator/truth.py: its counts against S3's versions, the dead-letter queue and the loaded
recordings), whatever the executions' statuses; 2 the local run itself could not run (bad
arguments, ...).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import mimetypes
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import Any

from stacks.config import ConfigError

from .local_settings import LocalSettings, read, refuse_joined_context

SAMPLE_DATE = dt.date(2022, 1, 1)
EXIT_OK, EXIT_USAGE, EXIT_FAILED, EXIT_TRUTH = 0, 2, 3, 4
# Nothing stays silent longer than this: a step that takes longer says so (docs/local-run.md#options promises a
# visible step at least every 15 s, from a cold start).
HEARTBEAT_S = 10.0


class UsageError(Exception):
    pass


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="./cdk-deploy.sh --local",
        description="Run the optimizer end to end on an embedded AWS emulator (moto), in-process.",
    )
    parser.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting as a deployment takes it (repeatable), over cdk.json's and cdk.context.json's and checked by "
        "the same rules; the local run uses its own bucket_name, bucket_prefix, lambda_architecture, schedule, "
        "schedule_enabled, queue_poll_seconds (scaled), converter_max_concurrency (at most 4) and redrive_principals, "
        "and says so",
    )
    parser.add_argument(
        "--caller-directory",
        type=Path,
        help=argparse.SUPPRESS,  # ./cdk-deploy.sh's caller's: it runs this from the repository
    )
    parser.add_argument(
        "--recordings",
        type=Path,
        metavar="DIR",
        help="your recordings: every file under DIR is loaded at <prefix>YYYY/MM/DD/<path relative to DIR> (default: "
        "a generated sample day of 12 calls)",
    )
    parser.add_argument(
        "--date", metavar="DATE", help="the day to load and process, MM/DD/YYYY or YYYY-MM-DD (default 01/01/2022)"
    )
    parser.add_argument(
        "--input",
        action="append",
        metavar="JSON",
        help='raw execution input instead of {"specific_date": DATE}, e.g. to see how bad input fails; repeatable: '
        "one execution each, in order (the recordings are loaded where the first one looks)",
    )
    parser.add_argument(
        "--report",
        type=Path,
        default=Path("local-run-report.json"),
        metavar="FILE",
        help="where to write the JSON report (default %(default)s)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write the final version of every object under the date prefix here, to listen to",
    )
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        metavar="N",
        help="start the same input(s) N times, the whole sequence each time, one after the other (default 1)",
    )
    parser.add_argument(
        "--dated",
        action="store_true",
        help="paths under --recordings DIR already start with YYYY/MM/DD/ and keep it (try a range); the default "
        "input is then the range of those days",
    )
    parser.add_argument(
        "--unversioned",
        action="store_true",
        help="make the demo bucket unversioned, to see the preflight refuse it (VersioningRequired)",
    )
    parser.add_argument(
        "--bucket-config",
        type=Path,
        metavar="FILE",
        help="a JSON object with LifecycleConfiguration, ObjectLockConfiguration and/or ReplicationConfiguration as "
        "the S3 API takes them, applied to the demo bucket before loading (replication is read, not executed)",
    )
    parser.add_argument(
        "--inject",
        action="append",
        default=[],
        metavar="TARGET=FAULT@RATE",
        help="inject a fault into the handlers' calls (repeatable): TARGET is service.Operation as boto3 names it "
        "(s3.PutObject), service.*, ffmpeg or converter; FAULT an error code of the service (SlowDown, "
        "ThrottlingException, InternalError, TransactionConflict, AccessDenied, ...) or lost-response, ENOSPC or "
        "killed for ffmpeg, crash-after-put for converter; RATE in [0, 1] (docs/local-run.md#fault-injection)",
    )
    parser.add_argument(
        "--seed", metavar="N", help="seed of the fault draws, for the same faults again (default: a random one)"
    )
    parser.add_argument(
        "--page-keys",
        type=int,
        default=0,
        metavar="N",
        help="a test aid: pages of at most N recordings, so that a few thousand make a day of thousands of pages "
        "(a deployment refuses it)",
    )
    args = parser.parse_args(argv)
    args.settings = settings_of(argv, args.context)
    resolve_paths(args)
    if args.page_keys < 0:
        raise UsageError("--page-keys must be at least 1 (0: pages as large as their byte budget)")
    from .faults import UsageError as FaultUsage
    from .faults import check_rates, parse_seed
    from .faults import parse as parse_injection

    try:
        args.injections = [parse_injection(text) for text in args.inject]
        check_rates(args.injections)
        args.seed = None if args.seed is None else parse_seed(args.seed)
    except FaultUsage as exc:
        raise UsageError(str(exc)) from None
    if args.seed is not None and not args.injections:
        raise UsageError("--seed needs at least one --inject")
    if args.runs < 1:
        raise UsageError("--runs must be at least 1")
    if args.recordings is not None and not args.recordings.is_dir():
        raise UsageError(f"--recordings {args.recordings}: no such directory")
    if args.date and args.input:
        raise UsageError("give --date or --input, not both")
    if args.dated and args.recordings is None:
        raise UsageError("--dated needs --recordings DIR")
    args.bucket_rules = {}
    if args.bucket_config is not None:  # emulator/bucket_config.py
        from .bucket_config import BucketConfigError, load

        try:
            args.bucket_rules = load(args.bucket_config, unversioned=args.unversioned)
        except BucketConfigError as exc:
            raise UsageError(str(exc)) from None
    return args


def settings_of(argv: Sequence[str], pairs: Sequence[str]) -> LocalSettings:
    """The run's settings (emulator/local_settings.py): the context files, then -c, refused with
    the deployment's own message when one is wrong."""
    try:
        refuse_joined_context(argv)
        return read(pairs)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


# The options that name a file or folder, by their argparse names.
PATH_OPTIONS = {"recordings": "--recordings", "out": "--out", "report": "--report", "bucket_config": "--bucket-config"}


def resolve_paths(args: argparse.Namespace) -> None:
    """Relative paths are the caller's: ./cdk-deploy.sh runs this from the repository and passes
    the directory it was run from (--caller-directory)."""
    caller = Path(os.path.abspath(args.caller_directory or Path.cwd()))
    for name in PATH_OPTIONS:
        if getattr(args, name) is not None:
            setattr(args, name, Path(os.path.abspath(caller / getattr(args, name).expanduser())))


def path_lines(args: argparse.Namespace) -> list[str]:
    """The files and folders the run reads and writes, as absolute paths."""
    given = [
        f"{option} {getattr(args, name)}" for name, option in PATH_OPTIONS.items() if getattr(args, name) is not None
    ]
    return [f"paths: {', '.join(given)}"]


def dated_day(relative: PurePosixPath) -> dt.date:
    """The day a --dated path names with its first three folders (YYYY/MM/DD/...)."""
    parts = relative.parts
    try:
        if len(parts) < 4 or not (len(parts[0]) == 4 and len(parts[1]) == len(parts[2]) == 2):
            raise ValueError
        return dt.date(int(parts[0]), int(parts[1]), int(parts[2]))
    except ValueError:
        raise UsageError(f"--dated: {relative} does not start with YYYY/MM/DD/") from None


def resolve_day(args: argparse.Namespace) -> dt.date:
    from optimizer.dates import InvalidInput, parse_date

    if args.date:
        try:
            return parse_date(args.date.strip())
        except InvalidInput as exc:
            raise UsageError(f"--date: {exc}") from None
    if args.input:
        # Load the recordings where the given input will look: for {} (the scheduled run) the day
        # num_days_age days ago, for a range its last day. Bad input fails in the state machine.
        from optimizer.dates import resolve_request

        try:
            request = resolve_request(
                json.loads(args.input[0]),
                today=dt.datetime.now(dt.UTC).date(),
                num_days_age=args.settings.config.num_days_age,
                catch_up_days=args.settings.config.catch_up_days,
            )
        except (ValueError, InvalidInput):
            return SAMPLE_DATE
        return request.days[-1]
    return SAMPLE_DATE


def execution_inputs(args: argparse.Namespace, day: dt.date, dated_days: list[dt.date] | None = None) -> list[Any]:
    """The executions' inputs, in order (one per --input)."""
    if args.input is None and dated_days and not args.date:
        return [{"start_date": min(dated_days).strftime("%m/%d/%Y"), "end_date": max(dated_days).strftime("%m/%d/%Y")}]
    if args.input is None:
        return [{"specific_date": day.strftime("%m/%d/%Y")}]
    for number, text in enumerate(args.input, 1):
        try:
            json.loads(text)
        except ValueError as exc:
            which = f"--input #{number}" if len(args.input) > 1 else "--input"
            raise UsageError(f"{which} is not valid JSON ({exc}); Step Functions only accepts JSON input") from None
    return list(args.input)  # passed as given: the state machine decides what it accepts


def recording_files(args: argparse.Namespace, scratch: Path, day: dt.date) -> tuple[Path, list[Path]]:
    if args.recordings is not None:
        root = args.recordings
        files = sorted(p for p in root.rglob("*") if p.is_file())
        if not files:
            raise UsageError(f"--recordings {root}: the directory holds no files")
        return root, files
    from .samples import write_sample_day

    root = scratch / "sample-day"
    return root, write_sample_day(root, day.strftime("%Y%m%d"))


def content_type(path: Path) -> str:
    if path.suffix.lower() == ".wav":
        return "audio/wav"
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


@contextmanager
def step(label: str, stream: Any = None) -> Iterator[None]:
    """Announces a step, says every HEARTBEAT_S seconds that it is still running, and how long it took."""
    stream = stream or sys.stderr
    started = time.monotonic()
    stream.write(f"{label} ...\n")
    stream.flush()
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(HEARTBEAT_S):
            stream.write(f"  ... still {label} ({time.monotonic() - started:.0f} s)\n")
            stream.flush()

    thread = threading.Thread(target=heartbeat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
    stream.write(f"  done in {time.monotonic() - started:.1f} s\n")
    stream.flush()


class Progress:
    """Days listed and recordings done: a bar on a terminal, plain lines otherwise, at least every
    HEARTBEAT_S seconds even when nothing moved (a backfill lists many empty days).

    Not tqdm (weighed for issue 12): off a terminal (CI, the cold start's 15-s silence check, a log
    file) tqdm still redraws one line with carriage returns, so the plain lines would stay ours, and
    the forced refresh when nothing moved too; tqdm would replace only the four lines of the bar.
    """

    def __init__(self, total: int, *, already_done: int = 0, lambdas: Any = None, stream: Any = None) -> None:
        self.total, self.base, self.lambdas, self.stream = total, already_done, lambdas, stream or sys.stderr
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last: tuple[int, int] | None = None
        self.started = self.last_shown = time.monotonic()

    def __call__(self, pollers: list[Any]) -> None:
        done = sum(p.totals.completed for p in pollers) - self.base
        days_total = getattr(self.lambdas, "days_total", 0)
        days_listed = len(getattr(self.lambdas, "days_listed", ()))
        # What the line shows, not what changed behind it: a one-day run lists its day without
        # showing it, and the same line again within HEARTBEAT_S would only repeat itself.
        state = (done, days_listed if days_total > 1 else 0)
        now = time.monotonic()
        if state == self.last and now - self.last_shown < HEARTBEAT_S:
            return
        self.last, self.last_shown = state, now
        days = (
            f"day {days_listed:,}/{days_total:,} listed" + (f" ({self.lambdas.last_day})" if days_listed else "") + ", "
            if days_total > 1
            else ""
        )
        line = f"{days}{done}/{self.total} recordings done ({now - self.started:.0f} s)"
        if self.tty:
            width = 30
            filled = width * min(done, self.total) // max(self.total, 1)
            self.stream.write(f"\r  [{'#' * filled}{'.' * (width - filled)}] {line}   ")
            self.stream.flush()
        else:
            self.stream.write(f"  {line}\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")


def observed_lambdas(deployment: Any, **kwargs: Any) -> Any:
    """The in-process Lambdas, also counting the days a run resolves and finishes listing, and
    keeping the keys a dry run's pages would enqueue (for the report: what it would convert)."""
    from .runtime import InProcessLambdas

    class Observed(InProcessLambdas):
        days_total = 0
        last_day = ""

        def __init__(self, *a: Any, **kw: Any) -> None:
            super().__init__(*a, **kw)
            self.days_listed: set[str] = set()
            self.dry_run_keys: set[str] = set()

        def invoke(self, function_name: str, event: Any) -> tuple[Any, bool]:
            result, errored = super().invoke(function_name, event)
            action = event.get("action") if isinstance(event, dict) else None
            if not errored and isinstance(result, dict):
                page = event.get("page") if isinstance(event, dict) else None
                if isinstance(page, dict) and (event.get("run") or {}).get("dry_run"):  # EnqueuePage
                    self.dry_run_keys.update(page["prefix"] + item[0] for item in page.get("objects") or ())
                if action == "ResolveRun":
                    self.days_total, self.days_listed = len(result.get("days") or ()), set()
                elif action == "ListPage" and ((result.get("progress") or {}).get("cursor") or {}).get("done"):
                    self.days_listed.add(str(event.get("day")))
                    self.last_day = str(event.get("day"))
            return result, errored

    return Observed(deployment, **kwargs)


def set_page_keys(deployment: Any, page_keys: int) -> None:
    """--page-keys: the emulated lister's environment only (optimizer.settings, page_keys)."""
    if page_keys:
        deployment.function("FunctionsLister").environment["PAGE_KEYS"] = str(page_keys)


def write_out(deployment: Any, prefix: str, out: Path) -> list[str]:
    """Downloads the current version of every object under the prefix; returns warnings."""
    import boto3

    s3 = boto3.client("s3", region_name="us-east-1")
    warnings = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=deployment.bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            relative = PurePosixPath(obj["Key"][len(prefix) :])
            if relative.is_absolute() or ".." in relative.parts:
                warnings.append(f"not written (unsafe path): {obj['Key']}")
                continue
            target = out.joinpath(*relative.parts)
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                s3.download_file(deployment.bucket, obj["Key"], str(target))
            except OSError as exc:
                warnings.append(f"not written ({exc.strerror}): {obj['Key']}")
    return warnings


def print_summary(report: dict[str, Any], stream: Any = None) -> None:
    from optimizer.effects import projection_lines

    stream = stream or sys.stdout
    rows = report["objects"]
    width = min(60, max([len(r["key"]) - len(report["prefix"]) for r in rows] + [10]))
    stream.write(f"\n{'recording':<{width}}  {'outcome':<13} {'before':>10} {'after':>10}  reason\n")
    for r in rows:
        name = r["key"][len(report["prefix"]) :]
        name = name if len(name) <= width else name[: width - 1] + "…"
        # After a dry run, the size a conversion would give it (its outcome says would_convert).
        after = r["size_after"] if r.get("projected_size_after") is None else r["projected_size_after"]
        stream.write(f"{name:<{width}}  {r['outcome']:<13} {r['size_before']:>10,} {after:>10,}  {r['reason'] or ''}\n")
    t = report["totals"]
    converted = [r for r in rows if r["outcome"] == "converted"]
    before, after = sum(r["size_before"] for r in converted), sum(r["size_after"] for r in converted)
    sizes = (
        f"the converted recordings: {before:,} -> {after:,} bytes ({before / after:.2f}x smaller)"
        if converted and after
        else "nothing converted"
    )
    stream.write(
        f"\n{t['converted']} converted, {t['skipped']} skipped, {t['known_failure']} known failure(s) skipped, "
        f"{t['failed']} failed, {t['untouched']} untouched"
        + (f", {t['undone']} undone (their originals again)" if t.get("undone") else "")
        + (
            f", {t['would_convert']} would be converted, {t['would_skip']} would be skipped (dry run)"
            if t.get("would_convert") or t.get("would_skip")
            else ""
        )
        + f"; {sizes}\n"
    )
    for i, ex in enumerate(report["executions"], 1):
        detail = f"{ex['error']}: {ex['cause']}" if ex["error"] else json.dumps(ex["output"])
        for warning in (ex.get("summary") or {}).get("warnings", []):
            detail += f"\n    warning: {warning}"
        stream.write(f"execution {i}: {ex['status']}  {detail}\n")
        if (ex.get("summary") or {}).get("dry_run"):
            stream.write(f"  {dry_run_line(ex['summary'])}\n")
            for line in projection_lines((ex.get("summary") or {}).get("bucket_rules_effect") or {}):
                stream.write(f"  {line}\n")


def _usd(value: float) -> str:
    return f"${value:,.4f}" if value == 0 or value >= 0.0001 else "< $0.0001"


def dry_run_line(summary: dict[str, Any]) -> str:
    """The dry run's projection in one sentence (the same figures are in the JSON output)."""
    count, now, projected = (
        summary.get("recordings", 0),
        summary.get("bytes", 0),
        summary.get("projected_bytes_after", 0),
    )
    ratio = f" ({now / projected:.2f}x smaller)" if projected else ""
    line = (
        f"dry run, nothing changed: {count:,} recordings to convert, "
        f"{now:,} bytes -> {projected:,} bytes projected{ratio}"
    )
    cost = summary.get("projected_monthly_cost")
    if cost:
        line += (
            f"; storage {_usd(cost['before'])} a month in STANDARD -> {_usd(cost['after'])} in {cost['storage_class']}"
            f" ({cost.get('currency', 'USD')}, before the originals expire)"
        )
    return line


def check_truth(deployment: Any, loaded: Any) -> list[Any]:
    """Each execution's summary against the truth (emulator/truth.py), oldest first."""
    from .truth import check

    with step("checking every execution's summary against S3's versions, the dead-letter queue and the inputs"):
        return check(deployment, loaded=list(loaded))


def add_truth(report: dict[str, Any], checks: list[Any]) -> None:
    """Each execution's report gets its `truth`: the truth's counts and the differences."""
    for execution, checked in zip(report["executions"], checks, strict=False):
        execution["truth"] = {**checked.truth.as_report(), "differences": checked.differences}
    report["execution"] = report["executions"][-1]


def print_truth(checks: list[Any], stream: Any = None) -> bool:
    """Says plainly whether every summary agrees with the truth; True if it does."""
    from .truth import plain

    stream = stream or sys.stdout
    differences = plain(checks)
    if differences:
        stream.write(
            "\nTRUTH CHECK FAILED: a summary disagrees with what S3 and the dead-letter queue show "
            f"(exit {EXIT_TRUTH}):\n{differences}\n"
        )
        return False
    stream.write(f"truth check: all {len(checks)} execution(s) agree with S3's versions and the dead-letter queue\n")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # ./cdk-deploy.sh checks the arguments with the system Python before it sets anything up.
    check_only = bool(argv) and argv[0] == "--check-arguments"
    try:
        args = parse_args(argv[1:] if check_only else argv)
        day = resolve_day(args)
        dated_days = None
        if args.dated:
            dated_days = [
                dated_day(PurePosixPath(p.relative_to(args.recordings).as_posix()))
                for p in args.recordings.rglob("*")
                if p.is_file()
            ]
        raw_inputs = execution_inputs(args, day, dated_days)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if check_only:
        return EXIT_OK
    for line in args.settings.lines() + path_lines(args):
        print(line, file=sys.stderr)
    logging.getLogger("moto").setLevel(logging.CRITICAL)  # failed executions are reported below
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ[name] = "local-emulator"  # never real credentials: nothing leaves this process
    os.environ.pop("AWS_PROFILE", None)
    started = time.monotonic()

    with step("loading the CDK and the emulator (moto); slower the first time, while Python compiles them"):
        from moto import mock_aws

        from .bucket_config import BucketConfigError, needs_object_lock
        from .bucket_config import apply as apply_bucket_config
        from .deploy import deploy
        from .faults import Faults, check_operations, random_seed
        from .report import Loaded, dead_letters, object_entries, totals
        from .run import run_execution
        from .runtime import QueuePoller
        from .synth import synthesize

    try:
        check_operations(args.injections)  # with botocore: the service and operation exist
    except ValueError as exc:  # emulator.faults.UsageError: names the bad part
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    faults = None
    if args.injections:
        faults = Faults(args.injections, random_seed() if args.seed is None else args.seed)
        print(f"injecting {', '.join(i.text for i in args.injections)} (--seed {faults.seed})", file=sys.stderr)

    with tempfile.TemporaryDirectory(prefix="local-run-") as scratch_dir:
        scratch = Path(scratch_dir)
        try:
            with step(
                "preparing the recordings" if args.recordings else "generating the sample day (12 calls, 5 s to 5 min)"
            ):
                root, files = recording_files(args, scratch, day)
        except UsageError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        synth_architecture = args.settings.config.lambda_architecture
        try:
            with step(f"synthesizing the stack (local context, {synth_architecture}; the CDK runs in Node, ~15 s)"):
                synth = synthesize(args.settings.context, scratch / "cdk.out")
        except ConfigError as exc:  # a rule only the stack applies, at synth: the settings, as before set-up
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        log_path = args.report.with_suffix(".log")
        args.report.parent.mkdir(parents=True, exist_ok=True)  # the handler log is written there first
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), open(log_path, "w") as handler_log:
            with step("creating the stack's resources in the emulator (moto)"):
                deployment = deploy(
                    synth, versioned_bucket=not args.unversioned, object_lock=needs_object_lock(args.bucket_rules)
                )
                set_page_keys(deployment, args.page_keys)
            import boto3

            s3 = boto3.client("s3", region_name="us-east-1")
            try:
                for note in apply_bucket_config(s3, deployment.bucket, args.bucket_rules):
                    print(note, file=sys.stderr)
            except BucketConfigError as exc:
                print(f"error: {exc}", file=sys.stderr)
                return EXIT_USAGE
            # The report covers the day's prefix, or with --dated every day under the root prefix.
            prefix = synth.config.bucket_prefix if args.dated else f"{synth.config.bucket_prefix}{day:%Y/%m/%d}/"
            loaded: dict[str, Loaded] = {}
            with step(f"loading {len(files)} file(s) at s3://{deployment.bucket}/{prefix}"):
                for path in files:
                    key = prefix + path.relative_to(root).as_posix()
                    response = s3.put_object(
                        Bucket=deployment.bucket, Key=key, Body=path.read_bytes(), ContentType=content_type(path)
                    )
                    loaded[key] = Loaded(key, response["ETag"], path.stat().st_size)
            audio = sum(1 for key in loaded if key.lower().endswith(".wav"))

            lambdas = observed_lambdas(deployment, log_stream=handler_log, faults=faults)
            pollers = [QueuePoller(source, lambdas) for source in deployment.event_sources]
            executions = []
            reached: set[str] = set()
            with lambdas.installed():
                sequence = [raw for _ in range(args.runs) for raw in raw_inputs]  # --runs repeats the whole sequence
                for run, raw_input in enumerate(sequence, 1):
                    print(
                        f"execution {run}/{len(sequence)}: input "
                        f"{raw_input if isinstance(raw_input, str) else json.dumps(raw_input)}",
                        file=sys.stderr,
                    )
                    progress = Progress(audio, already_done=sum(p.totals.completed for p in pollers), lambdas=lambdas)
                    lambdas.results.clear()
                    lambdas.dry_run_keys.clear()  # the last execution's, if it is a dry run
                    for poller in pollers:  # keys_seen holds what this execution sends to the converter
                        reached |= poller.keys_seen
                        poller.keys_seen.clear()
                    # The fault draws are keyed by the execution's name: with faults, the name comes
                    # from the seed and the run's number, so --seed N gives the same faults again.
                    execution_name = None if faults is None else f"local-seed{faults.seed}-run{run}"
                    execution = run_execution(
                        deployment, lambdas, raw_input, pollers=pollers, progress=progress, name=execution_name
                    )
                    # Also when the run failed (no output): the summary the Summarize state computed.
                    execution.summary = (
                        json.loads(lambdas.results["Summarize"])["output"] if "Summarize" in lambdas.results else None
                    )
                    executions.append(execution)
                    progress.finish()
            truth_checks = check_truth(deployment, loaded)  # before the judging below hides the DLQ a while
            with step("judging every object from the final state of S3 and the dead-letter queue"):
                dlq = dead_letters(deployment)
                reached_last = set().union(*(p.keys_seen for p in pollers))
                dry = bool((executions[-1].summary or {}).get("dry_run"))
                entries = object_entries(
                    deployment,
                    prefix,
                    loaded,
                    reached | reached_last,
                    dlq,
                    reached_last,
                    dry_run_keys=lambdas.dry_run_keys if dry else None,
                )
            report = {
                "execution": executions[-1].as_report(),
                "executions": [e.as_report() for e in executions],
                "bucket": deployment.bucket,
                "prefix": prefix,
                "objects": entries,
                "dead_letter": dlq,
                "totals": totals(entries),
                "settings": args.settings.as_report(),
            }
            add_truth(report, truth_checks)
            if faults is not None:  # how often each --inject fired
                report["faults"] = faults.report()
            warnings = write_out(deployment, prefix, args.out) if args.out else []
    args.report.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print_summary(report)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    print(
        f"\nreport: {args.report}   handler logs: {log_path}" + (f"   converted files: {args.out}" if args.out else "")
    )
    print(f"wall time: {time.monotonic() - started:.1f} s", file=sys.stderr)
    if not print_truth(truth_checks):
        return EXIT_TRUTH
    return EXIT_OK if all(e.status == "SUCCEEDED" for e in executions) else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
