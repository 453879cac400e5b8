"""Running the real handlers in-process: Lambda invocations from moto's Step Functions engine,
and the SQS -> converter event source with batches and partial batch responses.

With a strict deployment (the default), `installed()` also holds the emulator to AWS's rules:
each handler's requests are signed with its own role's credentials and judged by IAM
(emulator.iam), and every execution by Step Functions' quotas (emulator.quotas)."""

from __future__ import annotations

import contextvars
import copy
import importlib
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, MutableMapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from typing import IO, Any, TypeVar

import boto3
import moto.awslambda.models as moto_lambda
import moto.sqs.models as moto_sqs
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl as moto_retrier

from . import faults as fault_injection
from . import iam as strict_iam
from . import quotas
from .deploy import REGION, Deployment, EventSource, FunctionSpec
from .dynamodb import item_level_transactions

# Handlers run concurrently: the state machine's in moto's worker threads, the converter's in the
# event source's pool. What Lambda gives each function its own of, an invocation gets here:
# - its environment: os.environ is, while installed, a mapping that resolves to the running
#   invocation's environment (the function's variables over the process's), per thread/context;
# - its credentials: requests are signed per thread with its role's (emulator.iam.acting_as);
# - its AWS clients: optimizer.aws.client caches per function (and per converter slot, see
#   _function_client) instead of per process;
# - its stdout (metrics in embedded metric format): into the handler log, per context.
# Creating boto3 clients from the default session is not thread-safe: one at a time.
_CLIENT_LOCK = threading.RLock()
_invocation_env: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "emulator_invocation_env", default=None
)
_in_invocation: contextvars.ContextVar[bool] = contextvars.ContextVar("emulator_in_invocation", default=False)
_slot = threading.local()  # a converter pool thread's number: its "execution environment"


V = TypeVar("V")


class _PerContext(MutableMapping[str, V]):
    """A mapping that is, at each moment, whichever mapping _current() names: the running
    invocation's own or the process's (os.environ and Powertools' metric sets, below)."""

    def _current(self) -> MutableMapping[str, V]:
        raise NotImplementedError

    def __getitem__(self, key: str) -> V:
        return self._current()[key]

    def __setitem__(self, key: str, value: V) -> None:
        self._current()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._current()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._current()))

    def __len__(self) -> int:
        return len(self._current())


class _InvocationEnviron(_PerContext[str]):
    """os.environ while the handlers run: inside an invocation its own environment (a copy of the
    process's with the function's variables over it, as Lambda's process has), elsewhere the
    process's. Writes inside an invocation stay in it."""

    def __init__(self, process: MutableMapping[str, str]) -> None:
        self.process = process

    def _current(self) -> MutableMapping[str, str]:
        env = _invocation_env.get()
        return self.process if env is None else env

    def copy(self) -> dict[str, str]:
        return dict(self._current())


@contextmanager
def _per_invocation_environ() -> Iterator[None]:
    original = os.environ
    if isinstance(original, _InvocationEnviron):  # already installed (nested)
        yield
        return
    os.environ = _InvocationEnviron(original)  # type: ignore[assignment]  # noqa: B003 - replaced on purpose, restored below
    try:
        yield
    finally:
        os.environ = original  # noqa: B003 - the process's own mapping back


_metric_sets: contextvars.ContextVar[dict[str, dict[str, Any]] | None] = contextvars.ContextVar(
    "emulator_metric_sets", default=None
)


class _InvocationMetricSet(_PerContext[Any]):
    """One of Powertools Metrics' sets (metrics, dimensions, metadata), which Powertools keeps
    per process and flushes at the end of each invocation (log_metrics): on Lambda a process runs
    one invocation at a time. Here each invocation gets its own, so that concurrent converter
    invocations do not publish each other's metrics."""

    def __init__(self, name: str, outside: dict[str, Any]) -> None:
        self.name, self.outside = name, outside

    def _current(self) -> dict[str, Any]:
        sets = _metric_sets.get()
        return self.outside if sets is None else sets.setdefault(self.name, {})


def _per_invocation_metrics(module: Any, patched: list[tuple[Any, str, Any]]) -> None:
    """Points a handler module's Powertools Metrics (and its provider) at per-invocation sets."""
    try:
        from aws_lambda_powertools import Metrics
    except ImportError:  # pragma: no cover - the layer provides it
        return
    for value in list(vars(module).values()):
        if not isinstance(value, Metrics):
            continue
        for owner in (value, getattr(value, "provider", None)):
            for name in ("metric_set", "dimension_set", "metadata_set"):
                current = getattr(owner, name, None)
                if isinstance(current, dict):
                    patched.append((owner, name, current))
                    setattr(owner, name, _InvocationMetricSet(f"{id(value)}:{name}", current))


def _per_environment_batch_processors(module: Any, patched: list[tuple[Any, str, Any]]) -> None:
    """Gives each execution environment (thread) its own copy of a handler module's Powertools
    batch processor. The processor keeps the batch it is processing (its records, the record
    handler, the failed messages) on itself between process_partial_response's steps; on Lambda
    an execution environment runs one invocation at a time, so a module-level processor (as
    Powertools documents it) is safe. Here concurrent invocations share the module: without this
    one invocation's records were handled by another's record handler and its batchItemFailures
    answered another's batch, so a message was deleted without its outcome being accounted."""
    try:
        from aws_lambda_powertools.utilities.batch.base import BasePartialProcessor
    except ImportError:  # pragma: no cover - the layer provides it
        return
    for name, value in list(vars(module).items()):
        # type(), not isinstance(): a processor already replaced (another function of the same
        # module loaded it first) says it is a processor.
        if isinstance(value, BasePartialProcessor) and type(value) is not _PerEnvironment:
            patched.append((module, name, value))
            setattr(module, name, _PerEnvironment(value))


class _PerEnvironment:
    """Stands in for a module-level object: each thread uses its own copy of it, as imported."""

    def __init__(self, original: Any) -> None:
        object.__setattr__(self, "_template", copy.deepcopy(original))
        object.__setattr__(self, "_local", threading.local())

    def _own(self) -> Any:
        local = object.__getattribute__(self, "_local")
        if not hasattr(local, "value"):
            local.value = copy.deepcopy(object.__getattribute__(self, "_template"))
        return local.value

    @property  # type: ignore[misc]  # isinstance() sees the processor's own class
    def __class__(self) -> type:
        return type(self._own())

    def __getattr__(self, name: str) -> Any:
        return getattr(self._own(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._own(), name, value)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._own()(*args, **kwargs)

    def __enter__(self) -> Any:
        return self._own().__enter__()

    def __exit__(self, *exc: Any) -> Any:
        return self._own().__exit__(*exc)


_STDOUT_LOCK = threading.Lock()


def _route_stdout(log: IO[str]) -> None:
    """Makes sys.stdout route invocations' prints to `log`. Checked at every invocation: whoever
    replaced sys.stdout since (pytest does between a test's phases) is wrapped in turn."""
    with _STDOUT_LOCK:
        current = sys.stdout
        if not (isinstance(current, _InvocationStdout) and current.log is log):
            sys.stdout = _InvocationStdout(log, current)


class _InvocationStdout:
    """sys.stdout while installed: an invocation's prints go to the handler log (as Lambda's go
    to its log stream), everything else where it went before."""

    def __init__(self, log: IO[str], outside: Any) -> None:
        self.log, self.outside = log, outside

    def _target(self) -> Any:
        return self.log if _in_invocation.get() else self.outside

    def write(self, text: str) -> int:
        return int(self._target().write(text))

    def flush(self) -> None:
        self._target().flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.outside, name)


@contextmanager
def scaled_retry_waits(scale: float) -> Iterator[None]:
    """Retriers wait `scale` times their interval (the attempts are unchanged): for a test or a
    measurement of thousands of failing days, where the real backoff would take hours."""

    class _Clock:
        @staticmethod
        def sleep(seconds: float) -> None:
            time.sleep(seconds * scale)

    original = moto_retrier.time
    moto_retrier.time = _Clock  # type: ignore[assignment]  # the retrier only calls time.sleep
    try:
        yield
    finally:
        moto_retrier.time = original


class LambdaContext:
    def __init__(self, spec: FunctionSpec) -> None:
        self.function_name = spec.name
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec.arn
        self.memory_limit_in_mb = spec.memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.name}"
        self.log_stream_name = "emulator"
        self._deadline = time.monotonic() + spec.timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def _layer_path(spec: FunctionSpec, value: str) -> str:
    """Layers are mounted at /opt on Lambda; here /opt/<path> is looked up in the layer builds."""
    if not value.startswith("/opt/"):
        return value
    for layer in spec.layer_dirs:
        candidate = layer / value[len("/opt/") :]
        if candidate.exists():
            return str(candidate)
    return value


def _process_environ() -> MutableMapping[str, str]:
    env = os.environ
    return env.process if isinstance(env, _InvocationEnviron) else env


@contextmanager
def _function_environment(spec: FunctionSpec) -> Iterator[None]:
    """The function's environment for this context (thread) only, over the process's."""
    env = dict(_process_environ())
    env.update({key: _layer_path(spec, str(value)) for key, value in spec.environment.items()})
    env.setdefault("AWS_DEFAULT_REGION", REGION)
    env["AWS_LAMBDA_FUNCTION_NAME"] = spec.name
    token = _invocation_env.set(env)
    try:
        yield
    finally:
        _invocation_env.reset(token)


class InProcessLambdas:
    """Imports each function's handler from its synthesized asset and calls it, concurrently.

    `faults` (emulator.faults) are injected into the calls the handlers make while installed."""

    def __init__(
        self,
        deployment: Deployment,
        *,
        log_stream: IO[str] | None = None,
        faults: fault_injection.Faults | None = None,
    ) -> None:
        self.deployment = deployment
        self.log_stream = log_stream
        self.faults = faults
        self.invocations: dict[str, int] = {}
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._load_lock = threading.RLock()
        self._count_lock = threading.Lock()
        self._redirected: list[tuple[Any, Any]] = []  # (log handler, its stream before)
        self._shimmed: list[Any] = []  # modules whose subprocess is the ffmpeg fault shim
        self._metrics_patched: list[tuple[Any, str, Any]] = []  # (Metrics or provider, attribute, its set)
        self._aws_client: tuple[Any, Any] | None = None  # (optimizer.aws, its own client())
        self._clients: dict[tuple[str, str, int | None], Any] = {}
        self._pollers: list[QueuePoller] = []
        self.results: dict[str, str] = {}  # last JSON result per lister action / function
        converter = next((s.function for s in deployment.event_sources), None)
        self._converter = converter

    def last_result(self, state: str) -> str:
        """The last result of the Lambda behind a state, e.g. "Summarize" (the lister's summarize)."""
        return self.results[state]

    def _handler(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
        with self._load_lock:
            if spec.name not in self._handlers:
                module_name, function_name = spec.handler.rsplit(".", 1)
                code_dir = str(spec.code_dir)
                if code_dir not in sys.path:
                    sys.path.insert(0, code_dir)
                with _function_environment(spec):
                    module = importlib.import_module(module_name)
                logger = getattr(module, "logger", None)
                if self.log_stream is not None and logger is not None and hasattr(logger, "registered_handler"):
                    # Modules stay imported across runs; their log handler is pointed back in installed().
                    handler = logger.registered_handler
                    self._redirected.append((handler, handler.stream))
                    handler.stream = self.log_stream
                self._handlers[spec.name] = getattr(module, function_name)
                _per_invocation_metrics(module, self._metrics_patched)
                _per_environment_batch_processors(module, self._metrics_patched)
                self._own_clients()
                fault_injection.shim_subprocess(self.faults, self._shimmed)
            return self._handlers[spec.name]

    def _own_clients(self) -> None:
        """optimizer.aws.client caches one client per process, which on Lambda is one function's
        execution environment. Here the functions share a process: clients are kept per function
        instead, and per converter pool thread (each an execution environment of its own, with
        its own botocore retry quota); the lister's and enqueuer's invocations, in moto's engine
        threads, share their function's. Clients made here carry the run's fault hooks."""
        module = sys.modules.get("optimizer.aws")
        if module is None or self._aws_client is not None:
            return
        original = module.client
        make = getattr(original, "__wrapped__", original)  # the project's own construction, uncached
        lambdas = self

        def client(service: str) -> Any:
            function = _process_environ_get_function()
            if function is None:  # outside an invocation (a test, a module import): as before
                return original(service)
            key = (function, service, getattr(_slot, "number", None))
            found = lambdas._clients.get(key)
            if found is not None:
                return found
            with _CLIENT_LOCK:
                if key not in lambdas._clients:
                    made = make(service)
                    if lambdas.faults is not None:
                        lambdas.faults.instrument(made, service)
                    lambdas._clients[key] = made
                return lambdas._clients[key]

        self._aws_client = (module, original)
        module.client = client  # type: ignore[attr-defined]  # restored in installed()

    def invoke(self, function_name: str, event: Any) -> tuple[Any, bool]:
        """Returns (result or Lambda-style error document, errored). Safe to call concurrently."""
        spec = self.deployment.functions[function_name]
        handler = self._handler(spec)
        with self._count_lock:
            self.invocations[spec.logical_id] = self.invocations.get(spec.logical_id, 0) + 1
        context = LambdaContext(spec)
        invocation = fault_injection.Invocation(
            function=spec.name,
            execution=fault_injection.execution_of(event),
            is_converter=function_name == self._converter,
        )
        invocation_token = fault_injection.current.set(invocation)
        if self.log_stream is not None:
            _route_stdout(self.log_stream)
        output_token = _in_invocation.set(self.log_stream is not None)
        metrics_token = _metric_sets.set({})
        # Its requests are signed with its role's credentials, as Lambda provides them.
        try:
            with _function_environment(spec), strict_iam.acting_as(self.deployment.identity_of(function_name)):
                try:
                    result = handler(event, context)
                    action = event.get("action") if isinstance(event, dict) else None
                    # Keyed by the state that invoked it (its payload names it: lister.STATES).
                    self.results[str(action) if action else spec.logical_id] = json.dumps(result)
                    return result, False
                except Exception as exc:  # what the Lambda runtime reports for an unhandled error
                    return {
                        "errorMessage": str(exc),
                        "errorType": type(exc).__name__,
                        "stackTrace": traceback.format_tb(exc.__traceback__),
                    }, True
                except fault_injection.InvocationCrashed as crash:  # the runtime died: no response
                    return {
                        "errorMessage": f"RequestId: {context.aws_request_id} Error: Runtime exited with error: "
                        f"signal: killed ({crash})",
                        "errorType": "Runtime.ExitError",
                    }, True
        finally:
            _metric_sets.reset(metrics_token)
            _in_invocation.reset(output_token)
            fault_injection.current.reset(invocation_token)

    @contextmanager
    def installed(self) -> Iterator[InProcessLambdas]:
        """Routes moto's Lambda invocations (which would need Docker) to the in-process handlers."""
        original = moto_lambda.LambdaFunction._invoke_lambda
        lambdas = self

        def invoke(function: Any, event: Any = None) -> tuple[str, bool, str]:
            payload = json.loads(event) if isinstance(event, (str, bytes)) else (event or {})
            result, errored = lambdas.invoke(function.function_name, payload)
            return json.dumps(result), errored, ""

        moto_lambda.LambdaFunction._invoke_lambda = invoke  # type: ignore[method-assign,assignment]  # the handlers run here
        engine_clients = _serialize_engine_clients()
        slow_clock = moto_sqs.unix_time_millis
        # moto checks every queued message's visibility on each receive through a datetime-based
        # clock; with thousands of messages that dominated a run. Same value, from time.time().
        moto_sqs.unix_time_millis = lambda dt=None: time.time() * 1000.0 if dt is None else slow_clock(dt)
        try:
            with ExitStack() as strict:
                strict.enter_context(_per_invocation_environ())
                strict.enter_context(item_level_transactions())
                if self.deployment.identities is not None:
                    strict.enter_context(strict_iam.enforced(self.deployment.identities))
                    strict.enter_context(quotas.enforced())
                try:
                    yield self
                finally:
                    for poller in list(self._pollers):
                        poller.close()
        finally:
            with _STDOUT_LOCK:
                if isinstance(sys.stdout, _InvocationStdout):
                    sys.stdout = sys.stdout.outside
            moto_lambda.LambdaFunction._invoke_lambda = original  # type: ignore[method-assign]  # restored
            for module, original_client_for in engine_clients:
                module.boto_client_for = original_client_for
            moto_sqs.unix_time_millis = slow_clock
            for handler, stream in reversed(self._redirected):
                handler.stream = stream
            self._redirected.clear()
            fault_injection.restore_subprocess(self._shimmed)
            for owner, name, original_set in reversed(self._metrics_patched):
                setattr(owner, name, original_set)
            self._metrics_patched.clear()
            if self._aws_client is not None:
                module, original_client = self._aws_client
                module.client = original_client
                self._aws_client = None
            self._handlers.clear()  # the next installation patches the modules again
            self._clients.clear()


def _process_environ_get_function() -> str | None:
    """The function of the invocation running in this context, None outside one."""
    env = _invocation_env.get()
    return None if env is None else env.get("AWS_LAMBDA_FUNCTION_NAME")


def _serialize_engine_clients() -> list[tuple[Any, Any]]:
    """moto's engine makes a new boto3 client for every task (an SSL context each, most of a
    day's time in a long backfill): one client per region and service is kept instead, as a
    service would. These are Step Functions' own integrations: never faulted."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    clients: dict[tuple[str, str], Any] = {}

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto's own version ignores state_credentials (it signs with fixed keys, which
        # emulator.iam maps to the state machine's role), so one client per region and service.
        client = clients.get((region, service))
        if client is not None:
            return client
        with _CLIENT_LOCK:
            if (region, service) not in clients:
                clients[(region, service)] = original(region, service, state_credentials)
            return clients[(region, service)]

    patched = []
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and getattr(module, "boto_client_for", None) is original:
            patched.append((module, original))
            setattr(module, "boto_client_for", boto_client_for)  # noqa: B010 - a module attribute mypy cannot see
    return patched


def _lambda_message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {
            "stringValue": value.get("StringValue"),
            "binaryValue": value.get("BinaryValue"),
            "stringListValues": [],
            "binaryListValues": [],
            "dataType": value["DataType"],
        }
        for name, value in attributes.items()
    }


@dataclass
class PollResult:
    received: int = 0
    failed: int = 0
    completed: int = 0


class QueuePoller:
    """The SQS event source mapping: batches of the template's size, partial batch responses, and
    up to the mapping's ScalingConfig.MaximumConcurrency invocations at once (`max_concurrency`
    overrides it). Beyond that Lambda does not invoke: the poller takes no more batches until one
    ends.

    Messages of a batch the function reported failed (its batchItemFailures), and every message of
    an invocation that errored or crashed, are not made visible at once: SQS makes them visible
    again after the queue's visibility timeout, as on AWS. The emulator's queues have that timeout
    scaled (emulator.timescale.VISIBILITY_SECONDS_PER_HOUR: 1 s per real hour, the work queue's
    3,600 s is 1 s), so a retry comes within a local run. Invocations are not scaled, though: a
    batch is received for the function's timeout (on AWS the visibility timeout is longer than
    the function's timeout, so a running batch never reappears), and when it ends its failed
    messages get the queue's scaled timeout from then. The redrive policy (moto's) still moves a
    message to the DLQ after max_receive_count receives.

    poll_once() starts as many batches as there are free slots and messages; when it received
    nothing, or every slot is busy, it waits for a running batch to end. The SQS calls (receive,
    delete) are made in the caller's thread, with the function's role."""

    def __init__(self, source: EventSource, lambdas: InProcessLambdas, *, max_concurrency: int | None = None) -> None:
        self.source = source
        self.lambdas = lambdas
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.totals = PollResult()
        self.keys_seen: set[str] = set()  # what reached the converter, observed on the queue
        self.max_concurrency = max(1, max_concurrency or source.max_concurrency or 1)
        attributes = self.sqs.get_queue_attributes(QueueUrl=source.queue_url, AttributeNames=["VisibilityTimeout"])
        self.visibility_timeout_s = int(attributes["Attributes"]["VisibilityTimeout"])  # scaled (deploy)
        self.in_flight_timeout_s = max(
            self.visibility_timeout_s, lambdas.deployment.functions[source.function].timeout_s
        )
        self.running = 0
        self.most_running = 0  # the largest number of invocations seen at once
        self._running_lock = threading.Lock()
        self._in_flight: dict[Future[tuple[Any, bool]], list[dict[str, Any]]] = {}
        self._pool: ThreadPoolExecutor | None = None
        self._numbers = iter(range(1, 1 << 30))
        lambdas._pollers.append(self)

    def _start_slot(self) -> None:
        _slot.number = next(self._numbers)

    def poll_once(self) -> PollResult:
        # AWS's event source mapping reads and deletes with the function's execution role.
        with strict_iam.acting_as(self.lambdas.deployment.identity_of(self.source.function)):
            return self._poll_once()

    def drain(self) -> None:
        """Waits for every running batch and settles it (deletes what succeeded)."""
        with strict_iam.acting_as(self.lambdas.deployment.identity_of(self.source.function)):
            while self._in_flight:
                wait(list(self._in_flight), return_when=FIRST_COMPLETED)
                self._settle()

    def close(self) -> None:
        self.drain()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with suppress(ValueError):
            self.lambdas._pollers.remove(self)

    def _poll_once(self) -> PollResult:
        step = self._settle()
        received = 0
        while len(self._in_flight) < self.max_concurrency:
            messages = self._receive()
            if not messages:
                break
            received += len(messages)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    self.max_concurrency, thread_name_prefix="converter", initializer=self._start_slot
                )
            self._in_flight[self._pool.submit(self._invoke, self._event(messages))] = messages
        if self._in_flight and (not received or len(self._in_flight) >= self.max_concurrency):
            wait(list(self._in_flight), return_when=FIRST_COMPLETED)
            later = self._settle()
            step.failed += later.failed
            step.completed += later.completed
        step.received = received
        self.totals.received += received
        return step

    def _receive(self) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.source.queue_url,
            MaxNumberOfMessages=self.source.batch_size,
            VisibilityTimeout=self.in_flight_timeout_s,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        for m in messages:
            with suppress(ValueError, KeyError, TypeError):
                self.keys_seen.add(json.loads(m["Body"])["key"])
        return messages

    def _event(self, messages: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "Records": [
                {
                    "messageId": m["MessageId"],
                    "receiptHandle": m["ReceiptHandle"],
                    "body": m["Body"],
                    "attributes": m.get("Attributes", {}),
                    "messageAttributes": _lambda_message_attributes(m.get("MessageAttributes", {})),
                    "md5OfBody": m["MD5OfBody"],
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.source.queue_arn,
                    "awsRegion": REGION,
                }
                for m in messages
            ]
        }

    def _invoke(self, event: dict[str, Any]) -> tuple[Any, bool]:
        with self._running_lock:
            self.running += 1
            self.most_running = max(self.most_running, self.running)
        try:
            return self.lambdas.invoke(self.source.function, event)
        finally:
            with self._running_lock:
                self.running -= 1

    def _settle(self) -> PollResult:
        """Deletes the messages of every ended batch that succeeded; the others stay in flight."""
        step = PollResult()
        for future in [f for f in self._in_flight if f.done()]:
            messages = self._in_flight.pop(future)
            result, errored = future.result()
            if errored or not self.source.report_batch_item_failures:
                failed_ids = {m["MessageId"] for m in messages} if errored else set()
            else:
                failed_ids = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
            done = [m for m in messages if m["MessageId"] not in failed_ids]
            if done:
                self.sqs.delete_message_batch(
                    QueueUrl=self.source.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
                )
            retry = [m for m in messages if m["MessageId"] in failed_ids]
            if retry:  # visible again after the (scaled) visibility timeout, from now
                self.sqs.change_message_visibility_batch(
                    QueueUrl=self.source.queue_url,
                    Entries=[
                        {
                            "Id": str(i),
                            "ReceiptHandle": m["ReceiptHandle"],
                            "VisibilityTimeout": self.visibility_timeout_s,
                        }
                        for i, m in enumerate(retry)
                    ],
                )
            step.failed += len(messages) - len(done)
            step.completed += len(done)
        self.totals.failed += step.failed
        self.totals.completed += step.completed
        return step
