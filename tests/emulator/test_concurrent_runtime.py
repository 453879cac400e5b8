"""The emulator's runtime runs handlers concurrently, as Lambda does (emulator/runtime.py): each
invocation sees its own function's environment, the converter's event source runs up to its
MaximumConcurrency invocations at once, and a message that failed comes back only after the
queue's (scaled) visibility timeout. Shown on small stand-in functions, not the project's."""

from __future__ import annotations

import io
import json
import os
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from emulator.deploy import Deployment, EventSource, FunctionSpec
from emulator.faults import Faults, parse
from emulator.runtime import InProcessLambdas, QueuePoller
from emulator.timescale import VISIBILITY_SECONDS_PER_HOUR, scaled_visibility_timeout

HANDLERS = """
import os, threading, time

import boto3

from optimizer import aws

both_inside = threading.Barrier(2, timeout=10)
log = []


def who(event, context):
    seen_before = os.environ.get("WHO")
    both_inside.wait()  # the other function's invocation is running now too
    time.sleep(0.05)
    return {
        "before": seen_before,
        "after": os.environ.get("WHO"),
        "function": os.environ["AWS_LAMBDA_FUNCTION_NAME"],
        "region": boto3.session.Session().region_name,
        "client": id(aws.client("s3")),
        "same_client_again": aws.client("s3") is aws.client("s3"),
    }


from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)  # as the converter's
both_processing = threading.Barrier(2, timeout=10)


def partial(event, context):
    handled = []

    def record_handler(record):
        if not handled:
            both_processing.wait()  # the other invocation is processing its batch now too
        handled.append(record.body)
        time.sleep(0.05)
        if "fail" in record.body:
            raise RuntimeError("failed")

    response = process_partial_response(event=event, record_handler=record_handler, processor=processor)
    return {"handled": handled, **response}


running = []
lock = threading.Lock()

from aws_lambda_powertools import Metrics
from aws_lambda_powertools.metrics import MetricUnit

metrics = Metrics(namespace="Test", service="standin")
both_counting = threading.Barrier(2, timeout=10)


@metrics.log_metrics
def count(event, context):
    metrics.add_metric(name="Counted", unit=MetricUnit.Count, value=event["n"])
    both_counting.wait()  # the other invocation has added its metric too
    return {}


def slow(event, context):
    with lock:
        running.append(1)
    time.sleep(float(os.environ["SLEEP_S"]))
    with lock:
        running.pop()
    fail = [r["messageId"] for r in event["Records"] if "fail" in r["body"]]
    crash = [r for r in event["Records"] if "crash" in r["body"]]
    if crash:
        raise RuntimeError("the whole batch fails")
    return {"batchItemFailures": [{"itemIdentifier": m} for m in fail]}
"""


@pytest.fixture
def code_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    folder.mkdir()
    module = f"standins_{tmp_path.name.replace('-', '_')}"
    (folder / f"{module}.py").write_text(textwrap.dedent(HANDLERS))
    return folder / module


def function(code: Path, name: str, handler: str, environment: dict[str, str]) -> FunctionSpec:
    return FunctionSpec(
        logical_id=name,
        name=name,
        arn=f"arn:aws:lambda:us-east-1:123456789012:function:{name}",
        handler=f"{code.name}.{handler}",
        environment=environment,
        timeout_s=60,
        memory_mb=128,
        code_dir=code.parent,
    )


def deployment(functions: list[FunctionSpec], sources: list[EventSource] | None = None) -> Deployment:
    return Deployment(
        synthesized=None,  # type: ignore[arg-type]  # not needed by the runtime
        bucket="b",
        functions={f.name: f for f in functions},
        queues={},
        state_machine_arn="",
        event_sources=sources or [],
        outputs={},
    )


def test_two_functions_running_at_once_each_see_their_own_environment(code_dir):
    a = function(code_dir, "FunctionA", "who", {"WHO": "a", "AWS_DEFAULT_REGION": "eu-west-1"})
    b = function(code_dir, "FunctionB", "who", {"WHO": "b"})
    lambdas = InProcessLambdas(deployment([a, b]))
    results: dict[str, tuple[Any, bool]] = {}
    with mock_aws(), lambdas.installed():
        threads = [
            threading.Thread(target=lambda s=spec: results.__setitem__(s.name, lambdas.invoke(s.name, {})))
            for spec in (a, b)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert "WHO" not in os.environ  # the process's own environment is untouched meanwhile
    (ra, errored_a), (rb, errored_b) = results["FunctionA"], results["FunctionB"]
    assert not errored_a and not errored_b, (ra, rb)
    assert (ra["before"], ra["after"], ra["function"], ra["region"]) == ("a", "a", "FunctionA", "eu-west-1")
    assert (rb["before"], rb["after"], rb["function"], rb["region"]) == ("b", "b", "FunctionB", "us-east-1")
    # optimizer.aws.client: one client per function (as each has its own process on Lambda), kept.
    assert ra["client"] != rb["client"] and ra["same_client_again"] and rb["same_client_again"]
    assert "WHO" not in os.environ


def test_concurrent_invocations_publish_their_own_metrics(code_dir):
    """Powertools keeps metrics per process until the invocation's end: here per invocation."""
    spec = function(code_dir, "Counter", "count", {})
    log = io.StringIO()
    lambdas = InProcessLambdas(deployment([spec]), log_stream=log)
    with mock_aws(), lambdas.installed():
        threads = [threading.Thread(target=lambdas.invoke, args=("Counter", {"n": n})) for n in (3, 5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    published = [json.loads(line) for line in log.getvalue().splitlines() if line.startswith('{"_aws"')]
    assert sorted(p["Counted"] for p in published) == [[3.0], [5.0]]  # one line each, its own value


def test_concurrent_invocations_each_process_their_own_batch_with_a_module_level_processor(code_dir):
    """Powertools' BatchProcessor, kept at module level as its docs show, holds the batch being
    processed: on Lambda an execution environment runs one invocation at a time; here each
    concurrent invocation (thread) has its own, so its records and its failures stay its own."""
    spec = function(code_dir, "Converter", "partial", {})
    lambdas = InProcessLambdas(deployment([spec]))
    events = {
        name: {"Records": [{"messageId": f"{name}-{body}", "body": body, "eventSource": "aws:sqs"} for body in bodies]}
        for name, bodies in {"x": ["x1", "x2-fail", "x3"], "y": ["y1-fail"]}.items()
    }
    results: dict[str, tuple[Any, bool]] = {}
    with mock_aws(), lambdas.installed():
        threads = [
            threading.Thread(target=lambda n=name: results.__setitem__(n, lambdas.invoke("Converter", events[n])))
            for name in events
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    (x, errored_x), (y, errored_y) = results["x"], results["y"]
    assert not errored_x and not errored_y, (x, y)
    assert (x["handled"], y["handled"]) == (["x1", "x2-fail", "x3"], ["y1-fail"])
    assert x["batchItemFailures"] == [{"itemIdentifier": "x-x2-fail"}]
    assert y["batchItemFailures"] == [{"itemIdentifier": "y-y1-fail"}]


def queue_source(sqs, name: str, function_name: str, *, batch_size: int, max_concurrency: int) -> EventSource:
    url = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": str(scaled_visibility_timeout(3600))})[
        "QueueUrl"
    ]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return EventSource(function_name, url, arn, batch_size, max_concurrency, report_batch_item_failures=True)


def drain(poller: QueuePoller, until: float) -> None:
    while poller.totals.completed < until:
        if not poller.poll_once().received:
            time.sleep(0.02)


def test_converter_invocations_run_concurrently_up_to_the_maximum_concurrency(code_dir):
    slow = function(code_dir, "Converter", "slow", {"SLEEP_S": "0.2"})
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        source = queue_source(sqs, "work", "Converter", batch_size=1, max_concurrency=3)
        lambdas = InProcessLambdas(deployment([slow], [source]))
        with lambdas.installed():
            for i in range(12):
                sqs.send_message(QueueUrl=source.queue_url, MessageBody=json.dumps({"n": i}))
            poller = QueuePoller(source, lambdas)
            started = time.monotonic()
            drain(poller, 12)
            elapsed = time.monotonic() - started
    assert poller.most_running == 3  # concurrent, and never more than the cap
    assert elapsed < 12 * 0.2  # one at a time would take at least 2.4 s
    assert poller.totals.completed == 12 and poller.totals.failed == 0


def test_a_failed_message_comes_back_after_the_scaled_visibility_timeout_not_at_once(code_dir):
    assert VISIBILITY_SECONDS_PER_HOUR == 1 and scaled_visibility_timeout(3600) == 1
    assert scaled_visibility_timeout(30) == 1 and scaled_visibility_timeout(7200) == 2
    slow = function(code_dir, "Converter", "slow", {"SLEEP_S": "0"})
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        source = queue_source(sqs, "work", "Converter", batch_size=10, max_concurrency=2)
        lambdas = InProcessLambdas(deployment([slow], [source]))
        with lambdas.installed():
            sqs.send_message(QueueUrl=source.queue_url, MessageBody="fail")
            sqs.send_message(QueueUrl=source.queue_url, MessageBody="ok")
            poller = QueuePoller(source, lambdas)
            poller.poll_once()
            poller.drain()
            failed_at = time.monotonic()
            assert (poller.totals.completed, poller.totals.failed) == (1, 1)
            assert poller.poll_once().received == 0  # in flight: invisible
            while not (step := poller.poll_once()).received:
                time.sleep(0.05)
            back_after = time.monotonic() - failed_at
            poller.drain()
    assert step.received == 1 and 0.9 <= back_after < 3


def test_every_message_of_an_errored_invocation_comes_back_after_the_timeout(code_dir):
    slow = function(code_dir, "Converter", "slow", {"SLEEP_S": "0"})
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        source = queue_source(sqs, "work", "Converter", batch_size=10, max_concurrency=2)
        lambdas = InProcessLambdas(deployment([slow], [source]))
        with lambdas.installed():
            for body in ("crash", "ok", "ok too"):
                sqs.send_message(QueueUrl=source.queue_url, MessageBody=body)
            poller = QueuePoller(source, lambdas)
            poller.poll_once()
            poller.drain()
            assert (poller.totals.completed, poller.totals.failed) == (0, 3)
            assert "Messages" not in sqs.receive_message(QueueUrl=source.queue_url, VisibilityTimeout=0)
            time.sleep(1.1)
            back = sqs.receive_message(
                QueueUrl=source.queue_url, MaxNumberOfMessages=10, AttributeNames=["ApproximateReceiveCount"]
            )["Messages"]
    assert sorted(m["Body"] for m in back) == ["crash", "ok", "ok too"]
    assert {m["Attributes"]["ApproximateReceiveCount"] for m in back} == {"2"}


def test_a_crashed_converter_invocation_returns_its_whole_batch(code_dir):
    """converter=crash-after-put: the runtime dies right after a successful PutObject (a
    BaseException the handler does not catch); Lambda reports no response: every message back."""
    handler = code_dir.parent / f"{code_dir.name}_put.py"
    handler.write_text(
        textwrap.dedent(
            """
            from optimizer import aws

            def put(event, context):
                s3 = aws.client("s3")
                for r in event["Records"]:
                    s3.put_object(Bucket="crash-test", Key=r["body"], Body=b"x")
                return {"batchItemFailures": []}
            """
        )
    )
    spec = function(handler.with_suffix(""), "Converter", "put", {})
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="crash-test")
        sqs = boto3.client("sqs", region_name="us-east-1")
        source = queue_source(sqs, "work", "Converter", batch_size=10, max_concurrency=2)
        faults = Faults([parse("converter=crash-after-put@1")], seed=3)
        lambdas = InProcessLambdas(deployment([spec], [source]), faults=faults)
        with lambdas.installed():
            for key in ("one", "two", "three"):
                sqs.send_message(QueueUrl=source.queue_url, MessageBody=key)
            poller = QueuePoller(source, lambdas)
            poller.poll_once()
            poller.drain()
            written = [
                o["Key"]
                for o in boto3.client("s3", region_name="us-east-1").list_objects_v2(Bucket="crash-test")["Contents"]
            ]
    assert (poller.totals.completed, poller.totals.failed) == (0, 3)  # the whole batch comes back
    assert len(written) == 1  # it died right after its first PutObject, which took effect
    assert faults.report() == {"converter=crash-after-put@1": {"fired": 1}}
