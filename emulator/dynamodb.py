"""DynamoDB transactions on the emulator, as DynamoDB runs them while other requests go on.

Conflicts, as the developer guide's "Transaction conflict handling in DynamoDB" describes them
(https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html#transaction-conflict-handling):
a transaction holds the items it names for its whole length, and meanwhile
- another TransactWriteItems naming one of them is cancelled:
  TransactionCanceledException with the reason `TransactionConflict` at that item's position and
  `None` at the others;
- a plain PutItem, UpdateItem or DeleteItem of one of them fails with TransactionConflictException.
Reads (GetItem, Query, BatchGetItem) do not conflict: they read the last committed state
(moto answers TransactGetItems in its response layer, not held to conflicts here).

A transaction holds its items for HOLD_S before it applies its writes (DynamoDB's own two-phase
commit takes milliseconds too): long enough that real concurrency, converters and the enqueuer
accounting on the same items, produces conflicts here as it does on AWS.

moto 5.2.5 backs up a transaction by deep-copying every table it touches and, when the
transaction is cancelled, puts the copies back. With handlers in several threads that fails two
ways: the copy iterates a table another thread is writing ("dictionary changed size during
iteration"), and a rollback undoes whatever other requests wrote meanwhile. It is also a copy of
the whole ledger per transaction. Here a transaction backs up only the items it names and restores
only those. moto's own structures are not thread-safe: each write, and a transaction's apply (with
its backup and restore), runs under one short lock; the hold above does not take it."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.dynamodb import models as ddb_models
from moto.dynamodb.exceptions import DynamodbException, TransactionCanceledException

HOLD_S = 0.02  # how long a transaction holds its items before it commits (see the docstring)
_WRITES = ("put_item", "update_item", "delete_item")
_CONFLICT_MESSAGE = "Transaction is ongoing for the item"

_MOTO_LOCK = threading.RLock()  # moto's tables and items: one request's change at a time
_HOLDS_LOCK = threading.Lock()
_held: dict[tuple[str, str], int] = {}  # (table, key) -> the holding transaction's token
_tokens = iter(range(1, 1 << 62))
_own = threading.local()  # the token of the transaction this thread is applying


class TransactionConflictException(DynamodbException):
    """What DynamoDB answers a plain write of an item that an ongoing transaction holds."""

    error_type = "com.amazonaws.dynamodb.v20120810#TransactionConflictException"

    def __init__(self) -> None:
        super().__init__(
            TransactionConflictException.error_type,
            message="Transaction is ongoing for the item",
        )


class _NoTableCopy:
    """Stands in for the `copy` module inside moto's transaction: a table is not copied (its
    "restore" is then a no-op); the items it names are backed up by the wrapper instead."""

    @staticmethod
    def deepcopy(value: Any, memo: Any = None) -> Any:
        return value if isinstance(value, ddb_models.Table) else copy.deepcopy(value, memo)


def _key_of(backend: Any, op_type: str, op: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    table = backend.get_table(op["TableName"])
    if op_type != "Put":
        return op["TableName"], op["Key"]
    key = {table.hash_key_attr: op["Item"][table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = op["Item"][table.range_key_attr]
    return op["TableName"], key


def _hold_key(table: str, key: dict[str, Any]) -> tuple[str, str]:
    return table, json.dumps(key, sort_keys=True, default=str)


def _plain_key(backend: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, str] | None:
    """The (table, key) a plain put/update/delete names, from moto's backend call."""
    try:
        table_name = kwargs.get("table_name", args[0] if args else None)
        named = kwargs.get("item_attrs" if name == "put_item" else "key", args[1] if len(args) > 1 else None)
        if name == "put_item":
            _, named = _key_of(backend, "Put", {"TableName": table_name, "Item": named})
        return _hold_key(str(table_name), named or {})
    except Exception:  # noqa: BLE001 - moto's own call reports a malformed request as DynamoDB does
        return None


def _item_keys(backend: Any, transact_items: list[dict[str, Any]]) -> list[tuple[str, str] | None]:
    keys: list[tuple[str, str] | None] = []
    for entry in transact_items:
        found = None
        for op_type, op in entry.items():
            try:
                found = _hold_key(*_key_of(backend, op_type, op))
            except Exception:  # noqa: BLE001 - moto's own call reports it as DynamoDB does
                found = None
        keys.append(found)
    return keys


def _acquire(keys: list[tuple[str, str] | None]) -> int:
    """Holds every key for a new transaction, or cancels it naming each position in conflict."""
    with _HOLDS_LOCK:
        conflicts = [key is not None and key in _held for key in keys]
        if any(conflicts):
            raise TransactionCanceledException(
                [("TransactionConflict", _CONFLICT_MESSAGE, None) if c else (None, None, None) for c in conflicts]
            )
        token = next(_tokens)
        for key in keys:
            if key is not None:
                _held[key] = token
        return token


def _release(keys: list[tuple[str, str] | None], token: int) -> None:
    with _HOLDS_LOCK:
        for key in keys:
            if key is not None and _held.get(key) == token:
                del _held[key]


def held_by_a_transaction(table: str, key: dict[str, Any]) -> bool:
    """Whether an ongoing transaction holds the item (for tests)."""
    with _HOLDS_LOCK:
        return _hold_key(table, key) in _held


@contextmanager
def item_level_transactions(hold_s: float | None = None) -> Iterator[None]:
    backend_class = ddb_models.DynamoDBBackend
    saved = {name: backend_class.__dict__[name] for name in (*_WRITES, "transact_write_items")}
    saved_copy = ddb_models.copy

    def plain(name: str, original: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            key = _plain_key(self, name, args, kwargs)
            if key is not None:
                with _HOLDS_LOCK:
                    holder = _held.get(key)
                if holder is not None and holder != getattr(_own, "token", None):
                    raise TransactionConflictException()
            with _MOTO_LOCK:
                return original(self, *args, **kwargs)

        return write

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _MOTO_LOCK:
            keys = _item_keys(self, transact_items)
        token = _acquire(keys)
        try:
            time.sleep(HOLD_S if hold_s is None else hold_s)
            _own.token = token
            with _MOTO_LOCK:
                backups = []
                for entry in transact_items:
                    for op_type, op in entry.items():
                        try:
                            name, key = _key_of(self, op_type, op)
                            current = self.get_item(name, key)
                        except Exception:  # noqa: BLE001 - moto's own call below reports it as DynamoDB does
                            continue
                        backups.append(
                            (name, key, None if current is None else copy.deepcopy(current.to_json()["Attributes"]))
                        )
                try:
                    saved["transact_write_items"](self, transact_items)
                except Exception:
                    for name, key, attributes in reversed(backups):
                        if attributes is None:
                            if self.get_item(name, key) is not None:
                                saved["delete_item"](self, name, key)
                        else:
                            saved["put_item"](self, name, attributes)
                    raise
        finally:
            _own.token = None
            _release(keys, token)

    try:
        for name in _WRITES:
            setattr(backend_class, name, plain(name, saved[name]))
        # Deliberate: moto's methods are replaced while the block runs and restored below.
        backend_class.transact_write_items = transact_write_items  # type: ignore[method-assign]
        ddb_models.copy = _NoTableCopy  # type: ignore[assignment]
        yield
    finally:
        for name, method in saved.items():
            setattr(backend_class, name, method)
        ddb_models.copy = saved_copy
