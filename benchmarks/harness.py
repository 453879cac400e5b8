"""The emulated deployment the benchmark drives, with every AWS request counted where it reaches
the emulator and attributed to the function (or the harness) that made it.

Nothing in emulator/ or lambdas/ is changed for this: requests are counted by wrapping moto's
botocore hook (the one place every mocked request passes), and invocations are timed by a
subclass of the emulator's in-process Lambda runtime.
"""

from __future__ import annotations

import collections
import contextlib
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.local_settings import host_architecture

ROOT = Path(__file__).resolve().parent.parent
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account, as in emulator.deploy
CONTEXT = {
    "bucket_name": "bench-connect-recordings",
    "bucket_prefix": "connect/bench-instance/CallRecordings/",
    "queue_poll_seconds": 1,
}
ROLES = ("lister", "enqueuer", "converter")
HARNESS = "harness"  # the benchmark itself and the emulator's driver loop (not billed on AWS)
EVENT_SOURCE = "event_source"  # the SQS -> converter mapping: ReceiveMessage, DeleteMessageBatch
STATE_MACHINE = "stepfunctions"  # moto's engine thread: Lambda Invoke and GetQueueAttributes tasks


def ffmpeg_path() -> Path:
    binary = ROOT / "layers" / "ffmpeg" / "build" / host_architecture() / "bin" / "ffmpeg"
    if not binary.exists():
        raise SystemExit(f"benchmarks: {binary} is missing; build it with: layers/build.sh {host_architecture()}")
    return binary


def use_fake_credentials() -> None:
    """Nothing here may reach AWS: moto intercepts every call, these only satisfy botocore."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ[name] = "benchmark-emulator"
    os.environ["AWS_SESSION_TOKEN"] = "benchmark-emulator"
    os.environ["AWS_DEFAULT_REGION"] = REGION
    os.environ["AWS_REGION"] = REGION
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        os.environ.pop(name, None)
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")
    import emulator  # noqa: F401  (puts lambdas/ on sys.path, as the Lambda runtime has it)


Key = tuple[str, str, str]  # (caller, service, operation)


class RequestLog:
    """Counts every request that reaches moto, by caller, service and operation.

    The caller is the function whose handler is running on the requesting thread (the state
    machine runs in moto's worker thread, the converter in ours); outside a handler it is the
    event source while it polls, the state machine on moto's engine thread, else the harness.
    Retries are separate requests and are counted, as AWS bills them.
    """

    def __init__(self) -> None:
        self._counts: collections.Counter[Key] = collections.Counter()
        self._seconds: collections.Counter[Key] = collections.Counter()  # time spent inside moto
        self._local = threading.local()
        self._lock = threading.Lock()

    @property
    def caller(self) -> str:
        default = HARNESS if threading.current_thread() is threading.main_thread() else STATE_MACHINE
        return getattr(self._local, "caller", default)

    @contextlib.contextmanager
    def caller_is(self, name: str) -> Iterator[None]:
        before = self.caller
        self._local.caller = name
        try:
            yield
        finally:
            self._local.caller = before

    def record(self, event_name: str, seconds: float) -> None:
        # "before-send.s3.GetObject" -> ("s3", "GetObject")
        _, service, operation = event_name.split(".", 2)
        key = (self.caller, service, operation)
        with self._lock:
            self._counts[key] += 1
            self._seconds[key] += seconds  # type: ignore[assignment]  # a Counter of floats (typeshed: int)

    def emulator_seconds(self) -> collections.Counter[Key]:
        """Wall time spent inside moto serving requests (the emulator's share, not the pipeline's)."""
        with self._lock:
            return collections.Counter(self._seconds)

    def snapshot(self) -> collections.Counter[Key]:
        with self._lock:
            return collections.Counter(self._counts)

    def since(self, snapshot: Mapping[Key, int]) -> collections.Counter[Key]:
        now = self.snapshot()
        now.subtract(snapshot)
        return collections.Counter({k: v for k, v in now.items() if v})

    @contextlib.contextmanager
    def installed(self) -> Iterator[RequestLog]:
        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.__call__
        log = self

        def counting(stubber: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
            if not stubber.enabled:
                return original(stubber, event_name, request, **kwargs)
            started = time.perf_counter()
            try:
                return original(stubber, event_name, request, **kwargs)
            finally:
                log.record(event_name, time.perf_counter() - started)

        BotocoreStubber.__call__ = counting  # type: ignore[method-assign,assignment]  # counting moto's requests
        try:
            yield self
        finally:
            BotocoreStubber.__call__ = original  # type: ignore[method-assign]


class FfmpegTimer:
    """Wall time of every ffmpeg the converter starts (subprocess.run wrapped while installed),
    to split the converter's time into ffmpeg and everything else."""

    def __init__(self, requests: RequestLog) -> None:
        self.requests = requests
        self.seconds = 0.0
        self.runs = 0

    @contextlib.contextmanager
    def installed(self) -> Iterator[FfmpegTimer]:
        import subprocess

        original = subprocess.run
        timer = self

        def timed(*args: Any, **kwargs: Any) -> Any:
            argv = args[0] if args else kwargs.get("args")
            if timer.requests.caller != "converter" or not argv or not str(argv[0]).endswith("ffmpeg"):
                return original(*args, **kwargs)
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                timer.seconds += time.perf_counter() - started
                timer.runs += 1

        subprocess.run = timed  # timing every ffmpeg run
        try:
            yield self
        finally:
            subprocess.run = original


def count(
    requests: Mapping[Key, int], caller: str | None = None, service: str | None = None, operation: str | None = None
) -> int:
    return sum(
        n
        for (c, s, o), n in requests.items()
        if (caller is None or c == caller)
        and (service is None or s == service)
        and (operation is None or o == operation)
    )


def by_operation(requests: Mapping[Key, int], caller: str) -> dict[str, int]:
    return dict(sorted((f"{s}:{o}", n) for (c, s, o), n in requests.items() if c == caller))


@dataclass(frozen=True)
class Invocation:
    role: str
    start: float  # time.perf_counter()
    end: float
    errored: bool


def role_of(logical_id: str) -> str:
    for role in ROLES:
        if logical_id.lower().startswith(f"functions{role}"):
            return role
    return logical_id


def make_counting_lambdas(deployment: Any, requests: RequestLog, log_stream: Any) -> Any:
    from emulator.runtime import InProcessLambdas

    class CountingLambdas(InProcessLambdas):
        """The emulator's runtime, plus: who is calling (for the request log) and when."""

        def __init__(self) -> None:
            super().__init__(deployment, log_stream=log_stream)
            self.calls: list[Invocation] = []

        def invoke(self, function_name: str, event: Any) -> tuple[Any, bool]:
            role = role_of(self.deployment.functions[function_name].logical_id)
            with requests.caller_is(role):
                start = time.perf_counter()
                result, errored = super().invoke(function_name, event)
                end = time.perf_counter()
            self.calls.append(Invocation(role, start, end, errored))
            return result, errored

    return CountingLambdas()


@dataclass
class Bench:
    """One emulated deployment of the synthesized stack."""

    deployment: Any
    lambdas: Any
    requests: RequestLog
    synth: Any
    ffmpeg: FfmpegTimer
    _ledger_client: Any = None  # made on first use (purge_work_queue)

    @property
    def prefix(self) -> str:
        return self.synth.config.bucket_prefix

    def event_source(self) -> Any:
        (source,) = self.deployment.event_sources
        return source

    def s3(self) -> Any:
        import boto3

        return boto3.client("s3", region_name=REGION)

    def sqs(self) -> Any:
        import boto3

        return boto3.client("sqs", region_name=REGION)

    def put_tiny_objects(self, keys: Iterable[str], body: bytes = b"RIFF") -> int:
        """Creates objects through moto's backend directly: 100,000 keys in seconds, not minutes.

        Only for objects the converter never reads (listing and enqueueing measures)."""
        from moto.s3.models import s3_backends

        backend = s3_backends[ACCOUNT]["aws"]
        n = 0
        for key in keys:
            backend.put_object(self.deployment.bucket, key, body)
            n += 1
        return n

    def converter_pollers(self) -> list[Any]:
        from emulator.runtime import QueuePoller

        requests = self.requests

        class CountedPoller(QueuePoller):
            def poll_once(self) -> Any:
                with requests.caller_is(EVENT_SOURCE):
                    return super().poll_once()

        # One converter invocation at a time, as before the emulator ran them concurrently
        # (emulator.runtime.QueuePoller): the measures are per invocation, on a shared machine.
        return [CountedPoller(source, self.lambdas, max_concurrency=1) for source in self.deployment.event_sources]

    def purge_work_queue(self) -> None:
        """Empties the work queue through moto's backend (not a request of the pipeline, and not
        subject to PurgeQueue's once-a-minute rule), and accounts each message in its run's
        ledger with no outcome counts, as the converter would: the run then ends as soon as its
        last page is enqueued (optimizer/completion.py)."""
        import json

        import boto3
        from moto.sqs.models import sqs_backends

        from optimizer import ledger

        backend = sqs_backends[ACCOUNT][REGION]
        name = self.event_source().queue_url.rsplit("/", 1)[-1]
        queue = backend.get_queue(name)
        by_run: dict[str, list[tuple[str, dict[str, int]]]] = {}
        with queue._messages_lock:  # moto's own lock: an enqueuer may be sending meanwhile
            taken, queue._messages = queue._messages, []
        for message in taken:
            body = json.loads(message.body)
            by_run.setdefault(body.get("run", ""), []).append((body["key"], {}))
        table = self.deployment.function("FunctionsConverter").environment["LEDGER_TABLE"]
        # Made once, under the runtime's client lock (the default session is not thread-safe).
        if self._ledger_client is None:
            from emulator.runtime import _CLIENT_LOCK

            with _CLIENT_LOCK:
                self._ledger_client = boto3.client("dynamodb", region_name=REGION)
        dynamodb = self._ledger_client
        for run, outcomes in by_run.items():
            ledger.account(dynamodb, table, run, outcomes)


class DiscardingPoller:
    """Stands in for the converter when only listing and enqueueing are measured: empties the
    work queue and accounts its messages (see Bench.purge_work_queue), so the run can end."""

    def __init__(self, bench: Bench, every_s: float = 0.5) -> None:
        from emulator.runtime import PollResult

        self.bench = bench
        self.every_s = every_s
        self.totals = PollResult()
        self._last = 0.0
        self._result = PollResult

    def poll_once(self) -> Any:
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self.bench.purge_work_queue()
        return self._result()


@contextlib.contextmanager
def emulated_stack(synth: Any, *, log_stream: Any = None) -> Iterator[Bench]:
    """Deploys the synthesized stack into a fresh moto, with the counting runtime installed."""
    import logging

    from moto import mock_aws

    from emulator.deploy import deploy
    from optimizer import aws

    logging.getLogger("moto").setLevel(logging.CRITICAL)
    aws.client.cache_clear()  # each stack is a new set of Lambda containers
    with contextlib.ExitStack() as cleanup:
        cleanup.callback(aws.client.cache_clear)
        stream = log_stream if log_stream is not None else cleanup.enter_context(open(os.devnull, "w"))
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            deployment = deploy(synth)
            requests = RequestLog()
            lambdas = make_counting_lambdas(deployment, requests, stream)
            ffmpeg = FfmpegTimer(requests)
            with requests.installed(), lambdas.installed(), ffmpeg.installed():
                yield Bench(deployment, lambdas, requests, synth, ffmpeg)


def function_property(synth: Any, role: str, prop: str) -> Any:
    """A property of a function as synthesized (MemorySize, Timeout, EphemeralStorage, ...)."""
    for res in synth.template["Resources"].values():
        if res["Type"] == "AWS::Lambda::Function" and res["Properties"].get("Handler", "").startswith(role + "."):
            return res["Properties"].get(prop)
    return None


def synthesize_stack(outdir: str | os.PathLike[str], **overrides: Any) -> Any:
    from emulator.synth import synthesize

    return synthesize({**CONTEXT, "lambda_architecture": host_architecture(), **overrides}, outdir)
