"""The emulator's DynamoDB transactions (emulator/dynamodb.py): all or nothing for the items they
name, without undoing or tripping over what other threads write meanwhile."""

from __future__ import annotations

import contextlib
import threading

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from emulator.dynamodb import item_level_transactions
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
