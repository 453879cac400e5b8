"""Restorer Lambda: undoes the conversions of one listed page (optimizer/undo.py), for an input
with "undo": true. Its own role: it copies an original version back onto its key (CopyObject),
which the converter may not do.

Event (from the state machine's UndoPage state): {"run", "page"} -> {"progress"}.

Each recording's outcome is logged with its key and versions; the page's counts (`undo_<outcome>`)
are recorded in the run's ledger with the page's marker, in one transaction, once: a retried page
(after a timeout or an error) undoes what is left and recognises what its earlier attempt
restored (optimizer/undo.py, undo_recording), but counts only if the page was not recorded yet.
A copy S3 refuses for a reason a retry cannot change (UndoRefused), or any other error, fails the
page after its retries: the day is recorded failed with the reason, and the run ends DaysFailed,
naming the input that runs it again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from optimizer import aws, ledger, names, undo
from optimizer.settings import Settings

logger = Logger(service=names.RESTORER)
DONE = "u"  # the page's marker: one character per recording, recorded once


def undo_page(
    settings: Settings, s3: Any, dynamodb: Any, run: Mapping[str, Any], page: Mapping[str, Any]
) -> dict[str, Any]:
    """Makes each converted recording of the page its original again (a dry run counts only), recording what it did."""
    table, prefix, dry_run = settings.ledger_table, page["prefix"], bool(run["dry_run"])
    keys = [prefix + item[0] for item in page["objects"]]
    markers = undo.read_markers(dynamodb, table, keys) if keys else {}
    named: list[str] = []

    def name_the_day() -> None:
        """Once per page, and only if the page restores something: later runs read markers on the
        days undo#days names (one UpdateItem, ADD to a set: the same again on a retry)."""
        if not named:
            undo.remember_days(dynamodb, table, [run_day(page)])
            named.append(run_day(page))

    def one(key: str) -> undo.Result:
        return undo.undo_recording(
            s3,
            dynamodb,
            table,
            bucket=run["bucket"],
            key=key,
            run=run["id"],
            marker=markers.get(key),
            dry_run=dry_run,
            before_write=name_the_day,
        )

    # One at a time: a page of ~500 recordings is 2 to 3 HEADs, a PutItem and a server-side copy
    # each, well inside the function's 15 minutes, and an undo is rare.
    results = [one(key) for key in keys]
    counts: dict[str, int] = {name: v for name, v in page["counts"].items() if name != "days_done"}
    for key, result in zip(keys, results, strict=True):
        counts[f"undo_{result.outcome}"] = counts.get(f"undo_{result.outcome}", 0) + 1
        extra = {
            "key": key,
            "outcome": result.outcome,
            "reason": result.detail,
            "original_version": result.original_version,
            "restored_version": result.restored_version,
            "dry_run": dry_run,
        }
        if result.outcome in undo.LEFT_ALONE:
            logger.warning("recording left alone by the undo", extra=extra)
        else:
            logger.info("recording undone", extra=extra)
    left = [f"{r.outcome}: {key}" for key, r in zip(keys, results, strict=True) if r.outcome in undo.LEFT_ALONE]
    undo.name_left_alone(dynamodb, table, run["id"], left, int(time.time()) + ledger.TTL_DAYS * 86400)
    if page["counts"].get("days_done"):
        counts["days_done"] = 1
    page_id = page["page_id"]
    before = ledger.page_sent(dynamodb, table, run["id"], page_id)
    if before is None:
        # PageChanged: another attempt at this page recorded it meanwhile; its counts stand.
        with contextlib.suppress(ledger.PageChanged):
            ledger.write_marker(dynamodb, table, run["id"], page_id, None, DONE * max(1, len(keys)), counts)
    return {"progress": page["progress"]}


def run_day(page: Mapping[str, Any]) -> str:
    """The page's day, from its id (<day>#<cursor>, lambdas/lister.py)."""
    return str(page["page_id"]).split("#", 1)[0]


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The UndoPage state: undo_page with the function's settings and clients."""
    return undo_page(Settings.from_env(), aws.client("s3"), aws.client("dynamodb"), event["run"], event["page"])
