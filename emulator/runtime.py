"""Running the real handlers in-process: Lambda invocations from moto's Step Functions engine,
and the SQS -> converter event source with batches and partial batch responses.

With a strict deployment (the default), `installed()` also holds the emulator to AWS's rules:
each handler's requests are signed with its own role's credentials and judged by IAM
(emulator.iam), and every execution by Step Functions' quotas (emulator.quotas)."""

from __future__ import annotations

import importlib
import json
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout, suppress
from dataclasses import dataclass
from typing import IO, Any

import boto3
import moto.awslambda.models as moto_lambda
import moto.sqs.models as moto_sqs
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl as moto_retrier

from . import iam as strict_iam
from . import quotas
from .deploy import REGION, Deployment, EventSource, FunctionSpec
from .dynamodb import item_level_transactions

# Handlers read os.environ per invocation and the state machine runs in moto's worker thread
# while the converter runs in ours: one invocation at a time keeps each one's environment its own.
_INVOKE_LOCK = threading.RLock()


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


@contextmanager
def _function_environment(spec: FunctionSpec) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update({key: _layer_path(spec, str(value)) for key, value in spec.environment.items()})
    os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
    os.environ["AWS_LAMBDA_FUNCTION_NAME"] = spec.name
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class InProcessLambdas:
    """Imports each function's handler from its synthesized asset and calls it."""

    def __init__(self, deployment: Deployment, *, log_stream: IO[str] | None = None) -> None:
        self.deployment = deployment
        self.log_stream = log_stream
        self.invocations: dict[str, int] = {}
        self._handlers: dict[str, Callable[[Any, Any], Any]] = {}
        self._redirected: list[tuple[Any, Any]] = []  # (log handler, its stream before)
        self.results: dict[str, str] = {}  # last JSON result per lister action / function

    def last_result(self, state: str) -> str:
        """The last result of the Lambda behind a state, e.g. "Summarize" (the lister's summarize)."""
        return self.results[state]

    def _handler(self, spec: FunctionSpec) -> Callable[[Any, Any], Any]:
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
        return self._handlers[spec.name]

    def invoke(self, function_name: str, event: Any) -> tuple[Any, bool]:
        """Returns (result or Lambda-style error document, errored)."""
        spec = self.deployment.functions[function_name]
        with _INVOKE_LOCK:
            handler = self._handler(spec)
            self.invocations[spec.logical_id] = self.invocations.get(spec.logical_id, 0) + 1
            # Metrics in embedded metric format are printed to stdout, as on Lambda: into the log.
            # Its requests are signed with its role's credentials, as Lambda provides them.
            with (
                _function_environment(spec),
                redirect_stdout(self.log_stream or sys.stdout),
                strict_iam.acting_as(self.deployment.identity_of(function_name)),
            ):
                try:
                    result = handler(event, LambdaContext(spec))
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
        # A handler's environment is set in os.environ for the length of its call (as Lambda's
        # process has it); moto's Step Functions threads meanwhile create boto3 clients, which read
        # os.environ too: seen mid-change, a key vanishes (KeyError, a States.Runtime error).
        # Client creation therefore waits for the running handler.
        engine_clients = _serialize_engine_clients()
        slow_clock = moto_sqs.unix_time_millis
        # moto checks every queued message's visibility on each receive through a datetime-based
        # clock; with thousands of messages that dominated a run. Same value, from time.time().
        moto_sqs.unix_time_millis = lambda dt=None: time.time() * 1000.0 if dt is None else slow_clock(dt)
        try:
            with ExitStack() as strict:
                strict.enter_context(item_level_transactions())
                if self.deployment.identities is not None:
                    strict.enter_context(strict_iam.enforced(self.deployment.identities))
                    strict.enter_context(quotas.enforced())
                yield self
        finally:
            moto_lambda.LambdaFunction._invoke_lambda = original  # type: ignore[method-assign]  # restored
            for module, original_client_for in engine_clients:
                module.boto_client_for = original_client_for
            moto_sqs.unix_time_millis = slow_clock
            for handler, stream in reversed(self._redirected):
                handler.stream = stream
            self._redirected.clear()


def _serialize_engine_clients() -> list[tuple[Any, Any]]:
    """moto's engine makes a new boto3 client for every task (an SSL context each, most of a
    day's time in a long backfill): one client per region and service is kept instead, as a
    service would. Creation waits for the running handler (see installed())."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    original = boto_client.boto_client_for
    clients: dict[tuple[str, str], Any] = {}

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        # moto's own version ignores state_credentials (it signs with fixed keys, which
        # emulator.iam maps to the state machine's role), so one client per region and service.
        client = clients.get((region, service))
        if client is not None:
            return client
        with _INVOKE_LOCK:
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
    """The SQS event source mapping: batches of the template's size, partial batch responses.

    One difference from AWS, said plainly: a message reported failed is made visible again at
    once instead of after the queue's visibility timeout (an hour), so retries happen within a
    local run. The redrive policy (moto's) still moves it to the DLQ after max_receive_count.
    """

    def __init__(self, source: EventSource, lambdas: InProcessLambdas) -> None:
        self.source = source
        self.lambdas = lambdas
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.totals = PollResult()
        self.keys_seen: set[str] = set()  # what reached the converter, observed on the queue

    def poll_once(self) -> PollResult:
        # AWS's event source mapping reads and deletes with the function's execution role.
        with strict_iam.acting_as(self.lambdas.deployment.identity_of(self.source.function)):
            return self._poll_once()

    def _poll_once(self) -> PollResult:
        response = self.sqs.receive_message(
            QueueUrl=self.source.queue_url,
            MaxNumberOfMessages=self.source.batch_size,
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = response.get("Messages", [])
        if not messages:
            return PollResult()
        event = {
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
        for m in messages:
            with suppress(ValueError, KeyError, TypeError):
                self.keys_seen.add(json.loads(m["Body"])["key"])
        result, errored = self.lambdas.invoke(self.source.function, event)
        if errored or not self.source.report_batch_item_failures:
            failed_ids = {m["MessageId"] for m in messages} if errored else set()
        else:
            failed_ids = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}
        done = [m for m in messages if m["MessageId"] not in failed_ids]
        retry = [m for m in messages if m["MessageId"] in failed_ids]
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        if retry:
            self.sqs.change_message_visibility_batch(
                QueueUrl=self.source.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                    for i, m in enumerate(retry)
                ],
            )
        step = PollResult(received=len(messages), failed=len(retry), completed=len(done))
        self.totals.received += step.received
        self.totals.failed += step.failed
        self.totals.completed += step.completed
        return step
