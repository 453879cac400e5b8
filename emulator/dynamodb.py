"""DynamoDB transactions on the emulator, as DynamoDB runs them while other requests go on.

moto 5.2.5 backs up a transaction by deep-copying every table it touches and, when the
transaction is cancelled, puts the copies back. With the handlers running in several threads
(the state machine's and the converter's) that fails two ways: the copy iterates a table another
thread is writing ("dictionary changed size during iteration"), and a rollback undoes whatever
other requests wrote meanwhile. It is also a copy of the whole ledger per transaction, which
grows with every recording accounted. Here a transaction backs up only the items it names and
restores only those, and the backend's writes run one at a time (DynamoDB isolates a
transaction from other writes to its items: "Isolation levels for DynamoDB transactions")."""

from __future__ import annotations

import copy
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from moto.dynamodb import models as ddb_models

_LOCK = threading.RLock()
_WRITES = ("put_item", "update_item", "delete_item")


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


@contextmanager
def item_level_transactions() -> Iterator[None]:
    backend_class = ddb_models.DynamoDBBackend
    saved = {name: backend_class.__dict__[name] for name in (*_WRITES, "transact_write_items")}
    saved_copy = ddb_models.copy

    def serialized(original: Any) -> Any:
        def write(self: Any, *args: Any, **kwargs: Any) -> Any:
            with _LOCK:
                return original(self, *args, **kwargs)

        return write

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        with _LOCK:
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

    try:
        for name in _WRITES:
            setattr(backend_class, name, serialized(saved[name]))
        # Deliberate: moto's method is replaced while the block runs and restored below.
        backend_class.transact_write_items = transact_write_items  # type: ignore[method-assign]
        ddb_models.copy = _NoTableCopy  # type: ignore[assignment]
        yield
    finally:
        for name, method in saved.items():
            setattr(backend_class, name, method)
        ddb_models.copy = saved_copy
