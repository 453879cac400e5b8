"""Exact per-run counts in a small on-demand DynamoDB table.

One item per run, counters added with UpdateItem ADD: the enqueuer writes once per page (after
every message of the page was accepted, so a retried page is counted once) and the converter
once per batch and run. At on-demand prices that is about one write per ten recordings.
"""
from __future__ import annotations

import time
from typing import Any, Mapping

TTL_DAYS = 90  # Step Functions keeps an execution's history 90 days; the counts live as long


def add(dynamodb: Any, table: str, run_id: str, counts: Mapping[str, int]) -> None:
    counts = {name: int(value) for name, value in counts.items() if value}
    if not table or not run_id or not counts:
        return
    names = {f"#c{i}": name for i, name in enumerate(sorted(counts))}
    values = {f":c{i}": {"N": str(counts[name])} for i, name in enumerate(sorted(counts))}
    values[":ttl"] = {"N": str(int(time.time()) + TTL_DAYS * 86400)}
    dynamodb.update_item(
        TableName=table,
        Key={"run": {"S": run_id}},
        UpdateExpression="ADD " + ", ".join(f"#c{i} :c{i}" for i in range(len(counts))) + " SET expires_at = if_not_exists(expires_at, :ttl)",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
    )


def read(dynamodb: Any, table: str, run_id: str) -> dict[str, int]:
    item = dynamodb.get_item(TableName=table, Key={"run": {"S": run_id}}, ConsistentRead=True).get("Item", {})
    return {name: int(value["N"]) for name, value in item.items() if "N" in value and name != "expires_at"}
