"""Fault injection (emulator/faults.py): the --inject syntax, the seeded draws, and each fault as
the service sends it, beneath botocore's retries, on a client instrumented as the runtime
instruments the handlers' clients."""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ConnectionClosedError
from moto import mock_aws

from emulator import faults as fault_injection
from emulator.faults import Faults, Invocation, UsageError, check_operations, parse
from emulator.local_run import EXIT_USAGE, main
from optimizer.aws import RETRY_CONFIG
from tests.support import create_ledger_table

# --- syntax ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("s3.PutObject", "expected TARGET=FAULT@RATE"),
        ("s3.PutObject=SlowDown", "expected FAULT@RATE"),
        ("s3.PutObject=SlowDown@often", "RATE 'often'"),
        ("s3.PutObject=SlowDown@1.5", "RATE '1.5' is outside [0, 1]"),
        ("s3.putObject=SlowDown@0.3", "TARGET 's3.putObject'"),
        ("S3.PutObject=SlowDown@0.3", "TARGET 'S3.PutObject'"),
        ("s3.PutObject=Slowdown@0.3", "FAULT 'Slowdown' is not an error code"),
        ("dynamodb.Query=TransactionConflict@0.3", "TransactionConflict only on"),
        ("ffmpeg=SlowDown@0.3", "FAULT 'SlowDown' is not one for ffmpeg"),
        ("converter=killed@0.3", "FAULT 'killed' is not one for converter"),
    ],
)
def test_a_bad_injection_is_a_usage_error_naming_the_bad_part(text, names, capsys):
    with pytest.raises(UsageError, match="^--inject") as refused:
        parse(text)
    assert names in str(refused.value)
    assert main(["--check-arguments", "--inject", text]) == EXIT_USAGE
    assert names in capsys.readouterr().err


def test_unknown_services_and_operations_are_refused_with_boto3s_names():
    with pytest.raises(UsageError, match="has no operation 'PutObjects'"):
        check_operations([parse("s3.PutObjects=SlowDown@0.1")])
    with pytest.raises(UsageError, match="'simpledb2' is not a boto3 service name"):
        check_operations([parse("simpledb2.*=ThrottlingException@0.1")])
    check_operations([parse(t) for t in ("s3.*=SlowDown@0", "sqs.SendMessageBatch=InternalError@1", "ffmpeg=killed@1")])


def test_good_injections_and_seed_pass_the_argument_check():
    args = ["--seed", "7", "--inject", "s3.GetObject=SlowDown@0.3", "--inject", "dynamodb.*=ThrottlingException@0.2"]
    assert main(["--check-arguments", *args]) == 0
    assert main(["--check-arguments", "--seed", "x", "--inject", "ffmpeg=ENOSPC@1"]) == EXIT_USAGE


# --- draws ----------------------------------------------------------------------------------


def outcomes(seed: int, items: list[str], execution: str = "run-1") -> dict[tuple[str, int], bool]:
    """Whether the nth call of each item fires, with the calls made in the given order."""
    faults = Faults([parse("s3.GetObject=SlowDown@0.3")], seed)
    calls: dict[str, int] = {}
    result = {}
    for item in items:
        n = calls[item] = calls.get(item, 0) + 1
        result[(item, n)] = faults._draw("s3.GetObject", execution, item, faults.injections) is not None
    return result


def test_a_seed_gives_the_same_faults_whatever_the_order_and_another_execution_draws_afresh():
    items = [f"key-{n % 20}" for n in range(200)]  # each item called 10 times (its attempts)
    shuffled = random.Random(3).sample(items, len(items))  # as other threads' timing would order them
    drawn = outcomes(7, items)
    assert outcomes(7, shuffled) == drawn
    assert 0.2 < sum(drawn.values()) / len(drawn) < 0.4
    assert outcomes(7, items, execution="run-2") != drawn  # a later run draws afresh
    assert outcomes(8, items) != drawn


def test_rate_zero_never_fires_and_rate_one_always_does():
    for rate, expected in (("0", False), ("1", True)):
        faults = Faults([parse(f"s3.GetObject=SlowDown@{rate}")], 1)
        draws = [faults._draw("s3.GetObject", "run", f"k{n}", faults.injections) is not None for n in range(50)]
        assert draws == [expected] * 50


# --- each fault as the service sends it -------------------------------------------------------


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    """botocore's retries without their jittered sleeps: the attempts are what is tested."""
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, context: 0)


@pytest.fixture
def aws():
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="faults")
        yield


def handler_client(faults: Faults, service: str, attempts: int = 6):
    """A client as a handler gets it (optimizer.aws's retry settings), instrumented. `attempts` is
    botocore's max_attempts, the number of retries (RETRY_CONFIG's 6: 7 attempts in all)."""
    client = boto3.client(
        service,
        region_name="us-east-1",
        config=RETRY_CONFIG.merge(Config(retries={"mode": "standard", "max_attempts": attempts})),
    )
    faults.instrument(client, service)
    return client


@pytest.fixture
def in_invocation():
    token = fault_injection.current.set(Invocation("Converter", "run-1", is_converter=True))
    yield
    fault_injection.current.reset(token)


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, int]:
    response = exc.value.response
    meta = response["ResponseMetadata"]
    return response["Error"]["Code"], meta["HTTPStatusCode"], meta.get("RetryAttempts", 0)


def test_s3_slowdown_is_a_503_in_s3s_xml_retried_by_botocore(aws, in_invocation):
    faults = Faults([parse("s3.GetObject=SlowDown@1")], 1)
    s3 = handler_client(faults, "s3", attempts=3)
    s3.put_object(Bucket="faults", Key="k", Body=b"x")  # another operation: not faulted
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket="faults", Key="k")
    assert error(refused) == ("SlowDown", 503, 3)  # every attempt drawn, retried 3 times
    assert faults.report() == {"s3.GetObject=SlowDown@1": {"fired": 4}}


def test_a_slowdown_at_a_third_of_the_calls_is_mostly_retried_away(aws, in_invocation):
    faults = Faults([parse("s3.PutObject=SlowDown@0.3")], 5)
    s3 = handler_client(faults, "s3")  # optimizer.aws.RETRY_CONFIG: 6 attempts
    retried = 0
    for n in range(30):
        retried += s3.put_object(Bucket="faults", Key=f"k{n}", Body=b"x")["ResponseMetadata"]["RetryAttempts"]
    assert faults.fired["s3.PutObject=SlowDown@0.3"] == retried > 0  # each fault became a retry


def test_access_denied_is_a_403_not_retried(aws, in_invocation):
    faults = Faults([parse("s3.GetObject=AccessDenied@1")], 1)
    s3 = handler_client(faults, "s3")
    s3.put_object(Bucket="faults", Key="k", Body=b"x")
    with pytest.raises(ClientError) as refused:
        s3.get_object(Bucket="faults", Key="k")
    assert error(refused) == ("AccessDenied", 403, 0)


def test_dynamodb_throttling_in_json_with_its_type_retried_by_botocore(aws, in_invocation):
    faults = Faults([parse("dynamodb.*=ThrottlingException@1")], 1)
    dynamodb = handler_client(faults, "dynamodb", attempts=2)
    with pytest.raises(ClientError) as refused:
        dynamodb.get_item(TableName="t", Key={"run": {"S": "r"}})
    assert error(refused) == ("ThrottlingException", 400, 2)
    assert isinstance(refused.value, dynamodb.exceptions.ThrottlingException)  # botocore read the __type


def test_dynamodb_transaction_conflict_as_dynamodb_reports_it(aws, in_invocation):
    faults = Faults([parse("dynamodb.*=TransactionConflict@1")], 1)
    dynamodb = handler_client(faults, "dynamodb")
    plain = boto3.client("dynamodb", region_name="us-east-1")
    create_ledger_table(plain, "t")  # the emulator's own client: never faulted
    items = [{"Put": {"TableName": "t", "Item": {"run": {"S": f"done#{n}"}}}} for n in range(3)]
    with pytest.raises(ClientError) as cancelled:
        dynamodb.transact_write_items(TransactItems=items)
    code, status, retries = error(cancelled)
    reasons = [r["Code"] for r in cancelled.value.response["CancellationReasons"]]
    assert (code, status, retries) == ("TransactionCanceledException", 400, 0)  # botocore does not retry it
    assert sorted(reasons) == ["None", "None", "TransactionConflict"]
    with pytest.raises(ClientError) as refused:
        dynamodb.update_item(
            TableName="t",
            Key={"run": {"S": "r"}},
            UpdateExpression="SET a = :a",
            ExpressionAttributeValues={":a": {"S": "x"}},
        )
    assert error(refused) == ("TransactionConflictException", 400, 0)
    dynamodb.get_item(TableName="t", Key={"run": {"S": "r"}})  # a read: DynamoDB reports no conflict there
    assert plain.scan(TableName="t")["Count"] == 0  # nothing written


def test_sqs_internal_error_as_sqs_json_sends_it(aws, in_invocation):
    faults = Faults([parse("sqs.SendMessage=InternalError@1")], 1)
    sqs = handler_client(faults, "sqs", attempts=2)
    url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="q")["QueueUrl"]
    with pytest.raises(ClientError) as refused:
        sqs.send_message(QueueUrl=url, MessageBody="m")
    assert error(refused) == ("InternalFailure", 500, 2)
    assert refused.value.response["Error"]["Type"] == "Receiver"  # from the x-amzn-query-error header
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "0", "MessageBody": "m"}])  # another operation


def test_a_batch_fails_entry_by_entry_as_sqs_reports_it(aws, in_invocation):
    """SQS answers SendMessageBatch with HTTP 200 and a `Failed` list: the drawn entries fail there,
    the others are sent, and botocore does not retry (the handler's own code must)."""
    faults = Faults([parse("sqs.SendMessageBatch=InternalError@0.5")], 3)
    sqs = handler_client(faults, "sqs")
    plain = boto3.client("sqs", region_name="us-east-1")
    url = plain.create_queue(QueueName="q")["QueueUrl"]
    entries = [{"Id": str(n), "MessageBody": f"m{n}"} for n in range(10)]
    response = sqs.send_message_batch(QueueUrl=url, Entries=entries)
    failed = {f["Id"] for f in response["Failed"]}
    sent = {s["Id"] for s in response["Successful"]}
    assert failed and sent and failed | sent == {str(n) for n in range(10)} and not failed & sent
    assert {f["Code"] for f in response["Failed"]} == {"InternalFailure"}
    assert not any(f["SenderFault"] for f in response["Failed"])
    assert response["ResponseMetadata"]["RetryAttempts"] == 0
    assert faults.fired["sqs.SendMessageBatch=InternalError@0.5"] == len(failed)
    on_queue = plain.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert sorted(m["Body"] for m in on_queue) == sorted(f"m{i}" for i in sent)  # only those took effect


def test_a_batch_of_failed_entries_reaches_nothing(aws, in_invocation):
    faults = Faults([parse("sqs.SendMessageBatch=InternalError@1")], 1)
    sqs = handler_client(faults, "sqs")
    plain = boto3.client("sqs", region_name="us-east-1")
    url = plain.create_queue(QueueName="q")["QueueUrl"]
    response = sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "0", "MessageBody": "m"}])
    assert [f["Id"] for f in response["Failed"]] == ["0"] and not response["Successful"]
    assert "Messages" not in plain.receive_message(QueueUrl=url)


def test_the_same_seed_draws_the_same_faults_whatever_the_counter_shard(aws, in_invocation):
    """The ledger picks a counter shard at random: the draw must not depend on it."""
    from emulator.faults import _item_of

    def transaction(shard: int) -> dict:
        return {
            "TransactItems": [
                {"Put": {"TableName": "t", "Item": {"run": {"S": "done#r#k"}}}},
                {"Update": {"TableName": "t", "Key": {"run": {"S": f"count#r#{shard}"}}}},
            ]
        }

    items = {_item_of("dynamodb", "TransactWriteItems", transaction(n)) for n in range(64)}
    assert len(items) == 1
    assert _item_of("dynamodb", "TransactWriteItems", transaction(3)) != _item_of(
        "dynamodb", "TransactWriteItems", {"TransactItems": transaction(3)["TransactItems"][:1]}
    )


def test_a_lost_response_takes_effect_and_botocore_retries_it(aws, in_invocation):
    faults = Faults([parse("s3.PutObject=lost-response@1")], 1)
    s3 = handler_client(faults, "s3", attempts=3)
    boto3.client("s3", region_name="us-east-1").put_bucket_versioning(
        Bucket="faults", VersioningConfiguration={"Status": "Enabled"}
    )
    with pytest.raises(ConnectionClosedError):
        s3.put_object(Bucket="faults", Key="k", Body=b"x")
    versions = boto3.client("s3", region_name="us-east-1").list_object_versions(Bucket="faults")["Versions"]
    assert len(versions) == 4  # each of the 4 attempts wrote the object; its response was lost
    assert faults.fired["s3.PutObject=lost-response@1"] == 4


def test_calls_outside_a_handler_invocation_are_never_faulted(aws):
    faults = Faults([parse("s3.*=SlowDown@1")], 1)
    s3 = handler_client(faults, "s3")
    s3.put_object(Bucket="faults", Key="k", Body=b"x")
    assert faults.fired["s3.*=SlowDown@1"] == 0


# --- ffmpeg ---------------------------------------------------------------------------------


def ffmpeg_binary() -> str:
    from emulator.local_settings import host_architecture

    return str(Path("layers/ffmpeg/build") / host_architecture() / "bin" / "ffmpeg")


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("ENOSPC", lambda p: p.returncode > 0 and "No space left on device" in p.stderr),
        ("killed", lambda p: p.returncode == -9),
    ],
)
def test_ffmpeg_fails_as_the_real_one_does(tmp_path, in_invocation, fault, check):
    from optimizer.conversion import ffmpeg_command

    src = tmp_path / "in.wav"
    subprocess.run(
        [ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i", "sine=d=1", str(src)], check=True
    )
    faults = Faults([parse(f"ffmpeg={fault}@1")], 1)
    command = faults.ffmpeg_args(ffmpeg_command(ffmpeg_binary(), str(src), str(tmp_path / "out.wav")))
    proc = subprocess.run(command, capture_output=True, text=True)
    assert check(proc), (proc.returncode, proc.stderr)
    assert faults.report() == {f"ffmpeg={fault}@1": {"fired": 1}}


def test_each_fault_fails_its_own_rate_of_the_calls_whatever_else_is_injected():
    """One draw per call, each injection owning a stretch of it: a second fault on the same call
    is not hidden by the first (drawn in turn, killed@0.1 after ENOSPC@0.3 fired at 0.07)."""
    faults = Faults([parse("ffmpeg=ENOSPC@0.3"), parse("ffmpeg=killed@0.1")], 7)
    calls = 20_000
    for n in range(calls):
        faults._draw("ffmpeg", "run-1", f"recording-{n}", faults.injections)
    assert abs(faults.fired["ffmpeg=ENOSPC@0.3"] / calls - 0.3) < 0.015
    assert abs(faults.fired["ffmpeg=killed@0.1"] / calls - 0.1) < 0.01


@pytest.mark.parametrize(
    ("texts", "refused"),
    [
        (["ffmpeg=ENOSPC@0.7", "ffmpeg=killed@0.4"], True),
        (["dynamodb.*=ThrottlingException@0.6", "dynamodb.PutItem=InternalError@0.5"], True),
        (["dynamodb.GetItem=ThrottlingException@0.6", "dynamodb.PutItem=InternalError@0.5"], False),
        (["s3.PutObject=SlowDown@0.6", "s3.PutObject=lost-response@0.4", "ffmpeg=killed@1"], False),
    ],
)
def test_rates_that_share_a_call_may_not_add_up_to_more_than_one(texts, refused):
    from emulator.faults import UsageError, check_rates

    injections = [parse(t) for t in texts]
    if refused:
        with pytest.raises(UsageError, match="add up to more than 1"):
            check_rates(injections)
    else:
        check_rates(injections)
