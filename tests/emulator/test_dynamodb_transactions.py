"""The emulator's DynamoDB transactions (emulator/dynamodb.py): all or nothing for the items they
name, without undoing or tripping over what other threads write meanwhile."""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from emulator.dynamodb import held_by_a_transaction, item_level_transactions
from tests.support import create_ledger_table


@pytest.fixture
def table():
    with mock_aws(), item_level_transactions():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_ledger_table(client, "t")  # the ledger's shape: one string hash key
        yield client


def add(client, key, n=1):
    return {
        "Update": {
            "TableName": "t",
            "Key": {"run": {"S": key}},
            "UpdateExpression": "ADD n :n",
            "ExpressionAttributeValues": {":n": {"N": str(n)}},
        }
    }


def put_new(key):
    return {
        "Put": {
            "TableName": "t",
            "Item": {"run": {"S": key}},
            "ConditionExpression": "attribute_not_exists(#r)",
            "ExpressionAttributeNames": {"#r": "run"},
        }
    }


def count(client, key):
    item = client.get_item(TableName="t", Key={"run": {"S": key}}).get("Item")
    return None if item is None else int(item.get("n", {"N": "0"})["N"])


def test_a_cancelled_transaction_changes_none_of_its_items(table):
    table.transact_write_items(TransactItems=[put_new("done#a"), add(table, "run")])
    with pytest.raises(ClientError) as cancelled:
        table.transact_write_items(TransactItems=[add(table, "run", 5), put_new("done#b"), put_new("done#a")])
    assert [r["Code"] for r in cancelled.value.response["CancellationReasons"]] == [
        "None",
        "None",
        "ConditionalCheckFailed",
    ]
    assert count(table, "run") == 1 and count(table, "done#b") is None


def test_other_writers_meanwhile_are_neither_lost_nor_a_crash(table):
    errors = []

    def writer():
        try:
            for i in range(300):
                table.put_item(TableName="t", Item={"run": {"S": f"other#{i}"}})
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    thread = threading.Thread(target=writer)
    thread.start()
    for i in range(100):
        with contextlib.suppress(ClientError):  # the second 50: already there, cancelled
            table.transact_write_items(TransactItems=[put_new(f"done#{i % 50}"), add(table, "run")])
    thread.join()
    assert errors == []
    assert count(table, "run") == 50
    assert all(count(table, f"other#{i}") is not None for i in range(300))


# --- conflicts: "Transaction conflict handling in DynamoDB" (developer guide) -----------------


@pytest.fixture
def slow_table():
    """Transactions hold their items for 0.4 s: long enough to race another request against."""
    with mock_aws(), item_level_transactions(hold_s=0.4):
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_ledger_table(client, "t")
        yield client


def holding(client, items):
    """Starts a transaction in another thread; returns once it holds its items."""
    outcome: list[object] = []

    def run():
        try:
            outcome.append(client.transact_write_items(TransactItems=items))
        except ClientError as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 5
    while not held_by_a_transaction("t", {"run": {"S": "run"}}):
        assert time.monotonic() < deadline, "the transaction never held its item"
        time.sleep(0.005)
    return thread, outcome


def test_a_transaction_on_an_item_another_transaction_holds_is_cancelled_at_that_position(slow_table):
    thread, first = holding(slow_table, [add(slow_table, "run", 2)])
    with pytest.raises(ClientError) as cancelled:
        slow_table.transact_write_items(TransactItems=[put_new("done#x"), add(slow_table, "run", 5)])
    thread.join()
    error = cancelled.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [r["Code"] for r in error["CancellationReasons"]] == ["None", "TransactionConflict"]
    assert not isinstance(first[0], Exception)  # the holder committed
    assert count(slow_table, "run") == 2 and count(slow_table, "done#x") is None  # the loser wrote nothing
    # Released: the same transaction now goes through.
    slow_table.transact_write_items(TransactItems=[put_new("done#x"), add(slow_table, "run", 5)])
    assert count(slow_table, "run") == 7


@pytest.mark.parametrize("write", ["put_item", "update_item", "delete_item"])
def test_a_plain_write_of_a_held_item_fails_with_transaction_conflict(slow_table, write):
    thread, _ = holding(slow_table, [add(slow_table, "run")])
    key = {"run": {"S": "run"}}
    requests: dict[str, dict[str, Any]] = {
        "put_item": {"Item": key},
        "update_item": {"Key": key, "UpdateExpression": "ADD n :n", "ExpressionAttributeValues": {":n": {"N": "1"}}},
        "delete_item": {"Key": key},
    }
    with pytest.raises(ClientError) as refused:
        getattr(slow_table, write)(TableName="t", **requests[write])
    slow_table.put_item(TableName="t", Item={"run": {"S": "other"}})  # an item nobody holds: written
    thread.join()
    assert refused.value.response["Error"]["Code"] == "TransactionConflictException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert count(slow_table, "run") == 1 and count(slow_table, "other") == 0


def test_concurrent_transactions_on_one_item_conflict_without_losing_a_committed_one():
    """Real concurrency, with the emulator's own hold (HOLD_S): some of 8 threads' transactions
    on one counter are cancelled with TransactionConflict; exactly the committed ones count."""
    with mock_aws(), item_level_transactions():
        client = boto3.client("dynamodb", region_name="us-east-1")
        create_ledger_table(client, "t")
        committed, conflicts, barrier = [], [], threading.Barrier(8)

        def worker(n):
            barrier.wait()
            for i in range(3):
                try:
                    client.transact_write_items(TransactItems=[put_new(f"done#{n}-{i}"), add(client, "run")])
                    committed.append(1)
                except ClientError as exc:
                    reasons = [r["Code"] for r in exc.response["CancellationReasons"]]
                    assert reasons == ["None", "TransactionConflict"]
                    conflicts.append(1)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert conflicts, "8 threads at once on one item: DynamoDB would cancel some"
        assert count(client, "run") == len(committed) == 24 - len(conflicts)
