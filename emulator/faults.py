"""Fault injection: AWS errors, lost responses, a full disk under ffmpeg, a killed ffmpeg and a
converter that dies after its PutObject, in the calls the project's Lambda handlers make.

    ./cdk-deploy.sh --local --inject TARGET=FAULT@RATE [--inject ...] [--seed N]

TARGET   service.Operation as boto3 names them (s3.PutObject, dynamodb.TransactWriteItems,
         sqs.SendMessageBatch; case-sensitive), service.* (every operation of that service),
         ffmpeg, or converter.
FAULT    for a service: an error code it returns (ERROR_CODES), sent as the service sends it (HTTP
         status and body in its protocol), or lost-response (the request takes effect, then the
         response is lost as a connection error); for ffmpeg: ENOSPC or killed; for converter:
         crash-after-put.
RATE     the probability in [0, 1] that one call (one HTTP attempt) gets the fault.

Where: AWS faults are answered by a botocore `before-send` hook on the clients the handlers make
through `optimizer.aws.client` (emulator.runtime installs it), beneath botocore's retries: the
handlers' own retry settings (optimizer.aws.RETRY_CONFIG) see them as they would see AWS's. The
emulator's own plumbing (the SQS poller, loading, the report, --out) and Step Functions' own
service integrations (moto's engine, e.g. the SQS getQueueAttributes task) use other clients and
are never faulted: a target names calls the project's code makes.

Draws: each call draws from a hash of (seed, the injection, the execution, the call's item, the
attempt), where the item is the recording or ledger item the call names (the S3 key; the
DynamoDB keys; the SQS message bodies) and the attempt is the nth time that operation was called
for that (execution, item). So one seed gives the same faults whatever the threads' timing, and
another execution (a later run) draws afresh.

This module's parsing is standard-library only: ./cdk-deploy.sh checks the arguments with the
system Python before it sets anything up."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LOST_RESPONSE = "lost-response"
FFMPEG_FAULTS = ("ENOSPC", "killed")
CONVERTER_FAULTS = ("crash-after-put",)
# Error codes by service, with the HTTP status the service sends them with. `InternalError` and
# `AccessDenied` are accepted for every service and sent as that service's own code (DynamoDB's
# InternalServerError / AccessDeniedException, SQS's InternalFailure / AccessDenied).
ERROR_CODES: dict[str, dict[str, int]] = {
    "s3": {
        "SlowDown": 503,
        "InternalError": 500,
        "ServiceUnavailable": 503,
        "AccessDenied": 403,
        "RequestTimeout": 400,
    },
    "dynamodb": {
        "ThrottlingException": 400,
        "ProvisionedThroughputExceededException": 400,
        "RequestLimitExceeded": 400,
        "InternalServerError": 500,
        "TransactionConflict": 400,
        "AccessDeniedException": 400,
    },
    "sqs": {
        "ThrottlingException": 400,
        "RequestThrottled": 403,
        "InternalFailure": 500,
        "ServiceUnavailable": 503,
        "AccessDenied": 403,
    },
    "": {  # any other service
        "ThrottlingException": 400,
        "InternalFailure": 500,
        "ServiceUnavailable": 503,
        "AccessDeniedException": 400,
    },
}
_ALIASES = {
    "dynamodb": {"InternalError": "InternalServerError", "AccessDenied": "AccessDeniedException"},
    "sqs": {"InternalError": "InternalFailure"},
    "": {"InternalError": "InternalFailure", "AccessDenied": "AccessDeniedException"},
}
# Where DynamoDB reports a conflict: cancelled transactions, refused plain writes.
_CONFLICT_OPERATIONS = ("TransactWriteItems", "TransactGetItems", "PutItem", "UpdateItem", "DeleteItem")
_TARGET = re.compile(r"(?P<service>[a-z][a-z0-9-]*)\.(?P<operation>\*|[A-Z][A-Za-z0-9]*)")


class UsageError(ValueError):
    """A bad --inject or --seed: the message names the bad part."""


@dataclass(frozen=True)
class Injection:
    text: str  # as given: TARGET=FAULT@RATE, the report's key
    target: str
    fault: str
    rate: float
    service: str = ""  # of a service target
    operation: str = ""  # "*" for every operation

    @property
    def code(self) -> str:
        """The error code the service sends for this fault."""
        aliases = _ALIASES.get(self.service, {} if self.service in ERROR_CODES else _ALIASES[""])
        return aliases.get(self.fault, self.fault)

    def status(self) -> int:
        codes = ERROR_CODES.get(self.service, ERROR_CODES[""])
        return codes[self.code]

    def applies_to(self, service: str, operation: str) -> bool:
        if self.service != service or self.operation not in ("*", operation):
            return False
        # A conflict exists only where DynamoDB reports one; `dynamodb.*` draws it there only.
        return self.fault != "TransactionConflict" or operation in _CONFLICT_OPERATIONS


USAGE = (
    "--inject TARGET=FAULT@RATE: TARGET is service.Operation (s3.PutObject), service.* , ffmpeg or converter; "
    "FAULT is an error code of that service or lost-response, ENOSPC or killed for ffmpeg, crash-after-put for "
    "converter; RATE is a number in [0, 1]"
)


def parse(text: str) -> Injection:
    target, eq, rest = text.partition("=")
    if not eq or not target:
        raise UsageError(f"--inject {text!r}: expected TARGET=FAULT@RATE ({USAGE})")
    fault, at, rate_text = rest.rpartition("@")
    if not at or not fault:
        raise UsageError(f"--inject {text!r}: expected FAULT@RATE after '=' ({USAGE})")
    try:
        rate = float(rate_text)
    except ValueError:
        raise UsageError(f"--inject {text!r}: RATE {rate_text!r} is not a number in [0, 1]") from None
    if not 0.0 <= rate <= 1.0:
        raise UsageError(f"--inject {text!r}: RATE {rate_text!r} is outside [0, 1]")
    if target == "ffmpeg":
        if fault not in FFMPEG_FAULTS:
            raise UsageError(f"--inject {text!r}: FAULT {fault!r} is not one for ffmpeg ({', '.join(FFMPEG_FAULTS)})")
        return Injection(text, target, fault, rate)
    if target == "converter":
        if fault not in CONVERTER_FAULTS:
            raise UsageError(
                f"--inject {text!r}: FAULT {fault!r} is not one for converter ({', '.join(CONVERTER_FAULTS)})"
            )
        return Injection(text, target, fault, rate)
    match = _TARGET.fullmatch(target)
    if match is None:
        raise UsageError(
            f"--inject {text!r}: TARGET {target!r} is not service.Operation (e.g. s3.PutObject, case-sensitive), "
            "service.*, ffmpeg or converter"
        )
    service, operation = match["service"], match["operation"]
    injection = Injection(text, target, fault, rate, service, operation)
    if fault == LOST_RESPONSE:
        return injection
    codes = ERROR_CODES.get(service, ERROR_CODES[""])
    if injection.code not in codes:
        raise UsageError(
            f"--inject {text!r}: FAULT {fault!r} is not an error code the emulator sends for {service} "
            f"(one of {', '.join(sorted(codes))}, or {LOST_RESPONSE})"
        )
    if fault == "TransactionConflict" and operation not in ("*", *_CONFLICT_OPERATIONS):
        raise UsageError(
            f"--inject {text!r}: DynamoDB reports TransactionConflict only on {', '.join(_CONFLICT_OPERATIONS)}"
        )
    return injection


def check_rates(injections: Sequence[Injection]) -> None:
    """Injections that can fall on the same call share its draw (Faults._draw): their rates must
    add up to at most 1, or the later ones could not fail the rate of the calls they ask for."""
    groups: dict[str, list[Injection]] = {}
    for injection in injections:
        if injection.service:
            operations = {i.operation for i in injections if i.service == injection.service} - {"*"} or {"*"}
            for operation in operations:
                if injection.operation in ("*", operation):
                    groups.setdefault(f"{injection.service}.{operation}", []).append(injection)
        else:
            groups.setdefault(injection.target, []).append(injection)
    for target, group in groups.items():
        if sum(i.rate for i in group) > 1 + 1e-9:
            raise UsageError(
                f"--inject {', '.join(i.text for i in group)}: these can fall on the same call ({target}) and "
                "their rates add up to more than 1; lower them"
            )


def parse_seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"--seed {text!r}: expected an integer") from None


def check_operations(injections: Sequence[Injection]) -> None:
    """With botocore at hand: each service and operation exists as boto3 names them."""
    import botocore.session

    session = botocore.session.get_session()
    services = set(session.get_available_services())
    for injection in injections:
        if not injection.service:
            continue
        if injection.service not in services:
            raise UsageError(f"--inject {injection.text!r}: {injection.service!r} is not a boto3 service name")
        if injection.operation == "*":
            continue
        model = session.get_service_model(injection.service)
        if injection.operation not in model.operation_names:
            raise UsageError(
                f"--inject {injection.text!r}: {injection.service} has no operation {injection.operation!r} "
                "(boto3's names are case-sensitive, e.g. PutObject)"
            )


class InvocationCrashed(BaseException):  # noqa: N818 - named for what happened, like SystemExit
    """The invocation's runtime died (converter=crash-after-put). A BaseException, so that the
    handler's `except Exception` does not catch it: the runtime reports the invocation crashed."""


@dataclass
class Invocation:
    """What a call's draw is keyed by: the function, the execution (the run), the recording."""

    function: str
    execution: str
    is_converter: bool
    recording: str = ""  # the last S3 key this invocation read or wrote


current: ContextVar[Invocation | None] = ContextVar("emulator_invocation", default=None)


def execution_of(event: Any) -> str:
    """The run an invocation works for: its payload's `run` (the execution's name), or that of
    its SQS batch's first message."""
    if not isinstance(event, dict):
        return ""
    run = event.get("run")
    if isinstance(run, dict):
        return str(run.get("id") or run.get("name") or "")
    if run:
        return str(run)
    for record in event.get("Records") or []:
        try:
            return str(json.loads(record["body"]).get("run", ""))
        except (ValueError, KeyError, TypeError, AttributeError):
            return ""
    return ""


def _item_of(service: str, operation: str, params: dict[str, Any]) -> str:
    """The recording or item a call names, stable across its attempts."""
    if service == "s3" and "Key" in params:
        return f"{params.get('Bucket')}/{params['Key']}"
    if service == "dynamodb":
        names: list[Any] = []
        for entry in params.get("TransactItems") or [params]:
            for op in entry.values() if "TransactItems" in params else [entry]:
                if isinstance(op, dict):
                    names.append([op.get("TableName"), op.get("Key") or _key_part(op.get("Item"))])
        # A run's counters are spread over shards picked at random (optimizer/ledger.py): the
        # shard is not part of the draw, or the same seed would draw other faults every run.
        return _COUNTER_SHARD.sub(r"\1*", json.dumps(names, sort_keys=True, default=str))
    if service == "sqs":
        bodies = [e.get("MessageBody") for e in params.get("Entries") or []] or [params.get("MessageBody")]
        return json.dumps([params.get("QueueUrl"), bodies], sort_keys=True, default=str)
    return json.dumps({k: v for k, v in params.items() if k != "Body"}, sort_keys=True, default=str)


_COUNTER_SHARD = re.compile(r'("count#[^"]*#)\d+(?=")')


def _key_part(item: Any) -> Any:
    """A put item's identity: its string attributes (the ledger's keys are strings; counts are not)."""
    if not isinstance(item, dict):
        return item
    return {k: v for k, v in item.items() if isinstance(v, dict) and "S" in v}


_WRAPPER = """#!{python}
# ffmpeg as it fails (emulator/faults.py, --inject ffmpeg={fault}): the real ffmpeg, then
import os, signal, subprocess, sys, time
real, args = sys.argv[1], sys.argv[2:]
if {fault!r} == "ENOSPC":
    # writing its output to a full disk (/dev/full): ffmpeg's own message and exit status
    os.execv(real, [real, *args[:-1], "/dev/full"])
child = subprocess.Popen([real, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
time.sleep(0.05)
child.kill()  # killed by SIGKILL mid-conversion (the OOM killer, a timeout), output left partial
child.wait()
os.kill(os.getpid(), signal.SIGKILL)
"""


@dataclass
class Faults:
    """The injections of a run, their draws and how often each fired."""

    injections: list[Injection]
    seed: int
    fired: dict[str, int] = field(default_factory=dict)
    _attempts: dict[tuple[str, str, str], int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wrappers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.fired = {i.text: 0 for i in self.injections}

    def report(self) -> dict[str, dict[str, int]]:
        with self._lock:
            return {text: {"fired": n} for text, n in self.fired.items()}

    def _draw(self, what: str, execution: str, item: str, candidates: Sequence[Injection]) -> Injection | None:
        """One call (attempt) of `what` for (execution, item): the candidate its draw falls on.

        One number in [0, 1) per call, and each candidate owns its own stretch of [0, 1), as long
        as its rate: each fault then fails its RATE of the calls, whatever else is injected on the
        same call (drawing each in turn would let the first hide part of the next)."""
        if not candidates:
            return None
        with self._lock:
            key = (what, execution, item)
            attempt = self._attempts[key] = self._attempts.get(key, 0) + 1
        digest = hashlib.sha256(f"{self.seed}\0{what}\0{execution}\0{item}\0{attempt}".encode()).digest()
        draw, edge = int.from_bytes(digest[:8], "big") / 2**64, 0.0
        for injection in candidates:
            edge += injection.rate
            if draw < edge:
                with self._lock:
                    self.fired[injection.text] += 1
                return injection
        return None

    # --- AWS calls -------------------------------------------------------------------------

    def instrument(self, client: Any, service: str) -> None:
        """Hooks a handler's client: its calls may get this run's faults, beneath its retries."""
        if not any(i.service == service for i in self.injections) and service != "s3":
            return
        _moto_skips_answered_requests()
        events, event_id = client.meta.events, client.meta.service_model.service_id.hyphenize()
        events.register_first(f"before-parameter-build.{event_id}", functools.partial(self._remember_item, service))
        if any(i.service == service for i in self.injections):
            events.register_first(f"before-send.{event_id}", functools.partial(self._before_send, service))
        if service == "sqs":
            for operation in _SQS_BATCHES:
                events.register_first(f"before-sign.{event_id}.{operation}", self._fail_entries)
        if service == "s3" and any(i.target == "converter" for i in self.injections):
            events.register_first(f"after-call.{event_id}.PutObject", self._after_put)

    def _remember_item(
        self, service: str, params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        context["emulator_item"] = _item_of(service, model.name, params)
        invocation = current.get()
        if invocation is not None and service == "s3" and "Key" in params:
            invocation.recording = str(params["Key"])

    def _before_send(self, service: str, request: Any, event_name: str, **_: Any) -> Any:
        # The context lives across the call's attempts: only this attempt's answer counts.
        (request.context or {}).pop(_ANSWERED, None)
        invocation = current.get()
        if invocation is None:
            return None
        operation = event_name.rsplit(".", 1)[-1]
        candidates = [i for i in self.injections if i.service and i.applies_to(service, operation)]
        item = str((request.context or {}).get("emulator_item", ""))
        if service == "sqs" and operation in _SQS_BATCHES:
            # Error codes were drawn entry by entry before signing (_fail_entries); a lost response
            # stays a whole-call fault.
            candidates = [i for i in candidates if i.fault == LOST_RESPONSE]
            failed = (request.context or {}).pop(_FAILED_ENTRIES, None)
            if failed:
                return self._answer_batch(request, event_name, failed)
        injection = self._draw(f"{service}.{operation}", invocation.execution, item, candidates)
        if injection is None:
            return None
        if injection.fault == LOST_RESPONSE:
            from botocore.exceptions import ConnectionClosedError
            from moto.core.models import botocore_stubber

            botocore_stubber(event_name=event_name, request=request)  # the request takes effect
            raise ConnectionClosedError(endpoint_url=request.url)
        request.context[_ANSWERED] = True  # moto's own before-send handler, called next, skips it
        return _error_response(request, service, operation, injection, item, self.seed)

    def _fail_entries(self, request: Any, operation_name: str, **_: Any) -> None:
        """SQS answers a batch entry by entry: an error code fails entries, each drawn on its
        own, in the response's `Failed` list (HTTP 200) while the others take effect. Before the
        request is signed, the drawn entries are taken out of it (the emulator checks signatures);
        _before_send answers them."""
        invocation = current.get()
        coded = [
            i for i in self.injections if i.service and i.fault != LOST_RESPONSE and i.applies_to("sqs", operation_name)
        ]
        if invocation is None or not coded or not request.data:
            return
        params = json.loads(request.data)
        failed: list[dict[str, Any]] = []
        kept: list[dict[str, Any]] = []
        for entry in params.get("Entries") or []:
            entry_item = json.dumps([params.get("QueueUrl"), _entry_identity(entry)], sort_keys=True)
            injection = self._draw(f"sqs.{operation_name}", invocation.execution, entry_item, coded)
            if injection is None:
                kept.append(entry)
                continue
            failed.append(
                {
                    "Id": entry.get("Id"),
                    "Code": injection.code,
                    "Message": f"{injection.code} (injected: {injection.text})",
                    "SenderFault": injection.status() < 500,
                }
            )
        if failed:
            request.data = json.dumps({**params, "Entries": kept}).encode()
            request.context[_FAILED_ENTRIES] = failed

    def _answer_batch(self, request: Any, event_name: str, failed: list[dict[str, Any]]) -> Any:
        """The batch's response: moto serves the entries left in the request, `failed` are added."""
        from botocore.awsrequest import AWSResponse, HeadersDict
        from moto.core.botocore_stubber import MockRawResponse
        from moto.core.models import botocore_stubber

        params = json.loads(request.body or b"{}")
        served: dict[str, Any] = {}
        if params.get("Entries"):
            response = botocore_stubber(event_name=event_name, request=request)
            if response is None:  # the drawn entries were taken out: never send the rest as if whole
                raise RuntimeError(f"moto did not serve {event_name}: the emulator cannot answer its failed entries")
            if response.status_code != 200:  # refused whole (IAM, a missing queue): as it is
                request.context[_ANSWERED] = True
                return response
            served = json.loads(response.content or b"{}")
        request.context[_ANSWERED] = True
        answer = {"Successful": served.get("Successful", []), "Failed": [*served.get("Failed", []), *failed]}
        request_id = uuid.uuid4().hex.upper()[:16]
        headers = HeadersDict({"x-amzn-RequestId": request_id, "Content-Type": "application/x-amz-json-1.0"})
        return AWSResponse(request.url, 200, headers, MockRawResponse(json.dumps(answer).encode()))

    def _after_put(self, http_response: Any, **_: Any) -> None:
        invocation = current.get()
        if invocation is None or not invocation.is_converter or http_response.status_code >= 300:
            return
        candidates = [i for i in self.injections if i.target == "converter"]
        if self._draw("converter", invocation.execution, invocation.recording, candidates):
            raise InvocationCrashed(f"crash-after-put: the invocation died after writing {invocation.recording}")

    # --- ffmpeg ----------------------------------------------------------------------------

    def ffmpeg_args(self, args: Any) -> Any:
        """The converter's ffmpeg command, pointed at a failing ffmpeg when a draw says so."""
        invocation = current.get()
        if invocation is None or not isinstance(args, (list, tuple)) or not args:
            return args
        if not Path(str(args[0])).name.startswith("ffmpeg"):
            return args
        candidates = [i for i in self.injections if i.target == "ffmpeg"]
        injection = self._draw("ffmpeg", invocation.execution, invocation.recording, candidates)
        if injection is None:
            return args
        return [self._wrapper(injection.fault), *args]

    def _wrapper(self, fault: str) -> str:
        with self._lock:
            if fault not in self._wrappers:
                folder = Path(os.environ.get("TMPDIR", "/tmp")) / f"emulator-ffmpeg-{os.getpid()}"
                folder.mkdir(exist_ok=True)
                path = folder / f"ffmpeg-{fault}"
                path.write_text(_WRAPPER.format(python=sys.executable, fault=fault))
                path.chmod(0o755)
                self._wrappers[fault] = str(path)
            return self._wrappers[fault]


_ANSWERED = "emulator_fault_answered"
_FAILED_ENTRIES = "emulator_failed_entries"
_SQS_BATCHES = ("SendMessageBatch", "DeleteMessageBatch", "ChangeMessageVisibilityBatch")


def _entry_identity(entry: dict[str, Any]) -> Any:
    """A batch entry's identity across attempts: its body (a send), else its receipt handle."""
    return entry.get("MessageBody", entry.get("ReceiptHandle", entry.get("Id")))


_skipping: list[Any] = []


def _moto_skips_answered_requests() -> None:
    """botocore calls every before-send handler, also after one answered: moto's own (it serves
    the request) must not serve a request a fault answered, or the faulted request takes effect."""
    from moto.core.botocore_stubber import BotocoreStubber

    if _skipping:
        return
    original = BotocoreStubber.__call__

    def call(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        if (getattr(request, "context", None) or {}).get(_ANSWERED):
            return None
        return original(self, event_name, request, **kwargs)

    BotocoreStubber.__call__ = call  # type: ignore[method-assign]  # for the life of the process
    _skipping.append(original)


def _error_response(request: Any, service: str, operation: str, injection: Injection, item: str, seed: int) -> Any:
    """The error as the service sends it: its HTTP status, headers and body in its protocol."""
    from botocore.awsrequest import AWSResponse, HeadersDict
    from moto.core.botocore_stubber import MockRawResponse

    code, status = injection.code, injection.status()
    message = f"{code} (injected: {injection.text})"
    request_id = uuid.uuid4().hex.upper()[:16]
    headers = HeadersDict({"x-amzn-RequestId": request_id, "x-amz-request-id": request_id})
    protocol = _protocol(service)
    if service == "dynamodb" and code == "TransactionConflict":
        body: dict[str, Any] = {"__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException"}
        if operation in ("TransactWriteItems", "TransactGetItems"):
            count = max(1, len(json.loads(item or "[]")))
            digest = hashlib.sha256(f"{seed}\0{injection.text}\0{item}\0position".encode()).digest()
            position = int.from_bytes(digest[:4], "big") % count
            codes = ["TransactionConflict" if i == position else "None" for i in range(count)]
            body = {
                "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons "
                f"[{', '.join(codes)}]",
                "CancellationReasons": [
                    {"Code": c, "Message": "Transaction is ongoing for the item"} if c != "None" else {"Code": "None"}
                    for c in codes
                ],
            }
        else:
            body["message"] = "Transaction is ongoing for the item"
        headers["Content-Type"] = "application/x-amz-json-1.0"
        return AWSResponse(request.url, 400, headers, MockRawResponse(json.dumps(body).encode()))
    if protocol == "rest-xml":
        headers["Content-Type"] = "application/xml"
        raw = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId>"
            f"<HostId>{request_id}</HostId></Error>"
        )
        return AWSResponse(request.url, status, headers, MockRawResponse(b"" if request.method == "HEAD" else raw))
    if protocol == "query" or protocol == "ec2":
        headers["Content-Type"] = "text/xml"
        kind = "Receiver" if status >= 500 else "Sender"
        raw = (
            f"<ErrorResponse><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        )
        return AWSResponse(request.url, status, headers, MockRawResponse(raw))
    if protocol == "rest-json":
        headers["Content-Type"] = "application/json"
        headers["x-amzn-ErrorType"] = code
        return AWSResponse(request.url, status, headers, MockRawResponse(json.dumps({"message": message})))
    # JSON 1.0/1.1: DynamoDB's `__type` is namespaced; SQS (awsQueryCompatible) adds its query code.
    headers["Content-Type"] = "application/x-amz-json-1.0"
    namespace = {"dynamodb": "com.amazonaws.dynamodb.v20120810", "sqs": "com.amazonaws.sqs"}.get(service)
    body = {"__type": f"{namespace}#{code}" if namespace else code, "message": message}
    if service == "sqs":
        headers["x-amzn-query-error"] = f"{code};{'Receiver' if status >= 500 else 'Sender'}"
    return AWSResponse(request.url, status, headers, MockRawResponse(json.dumps(body)))


def _protocol(service: str) -> str:
    import botocore.session

    return str(botocore.session.get_session().get_service_model(service).metadata.get("protocol", "json"))


class _SubprocessShim:
    """`subprocess` as the converter's modules see it while faults are active: ffmpeg commands
    may be pointed at a failing ffmpeg; everything else is the real module."""

    def __init__(self, faults: Faults) -> None:
        self._faults = faults

    def __getattr__(self, name: str) -> Any:
        return getattr(subprocess, name)

    def run(self, args: Any, *rest: Any, **kwargs: Any) -> Any:
        return subprocess.run(self._faults.ffmpeg_args(args), *rest, **kwargs)

    def Popen(self, args: Any, *rest: Any, **kwargs: Any) -> Any:  # noqa: N802 - subprocess's name
        return subprocess.Popen(self._faults.ffmpeg_args(args), *rest, **kwargs)


def shim_subprocess(faults: Faults | None, patched: list[Any]) -> None:
    """Points the handlers' modules' `subprocess` at the shim (when ffmpeg faults are asked for);
    `patched` collects the modules, for restore_subprocess. Called after each handler import."""
    if faults is None or not any(i.target == "ffmpeg" for i in faults.injections):
        return
    shim = _SubprocessShim(faults)
    for name, module in list(sys.modules.items()):
        if (name == "optimizer" or name.startswith("optimizer.")) and getattr(module, "subprocess", None) is subprocess:
            patched.append(module)
            module.subprocess = shim  # type: ignore[attr-defined]


def restore_subprocess(patched: list[Any]) -> None:
    for module in patched:
        module.subprocess = subprocess
    patched.clear()


def random_seed() -> int:
    return int.from_bytes(os.urandom(4), "big")
