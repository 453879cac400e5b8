"""Lister Lambda: resolves what a run must do, checks the bucket, pages through each day's
recordings, and writes the run's summary.

Events (from the state machine), "action" being the state's name (STATES, below):
  ResolveRun        {"input": <execution input>, "execution": <name>} -> {"run", "days"}
  Preflight         {"run"}                                          -> {"warnings", "bucket_rules"}
  ResumeDay         {"run", "day"}                                   -> {"progress"} (saved by PauseDay)
  ListPage          {"run", "day", "progress" | null}                -> {"progress", "page_id", "objects", "counts"}
  (ListUndoPage and ResumeUndoDay, an undo's day loop, are ListPage and ResumeDay under their own names)
  PauseDay          {"run", "day", "round", "progress"}              -> {} (the day goes on in the next round)
  RecordDayFailure  {"run", "day", "failure": {"Error", "Cause"}}    -> {} (recorded in the run's ledger)
  NextRound         {"run", "round"}                                 -> {"days", "round", "more"}
  CheckRun          {"run", "drain": {"polls", "since"}}             -> {"state", "polls", "since", "wait_seconds", ...}
  Summarize         {"run", "warnings", "bucket_rules", "drain"}     -> {"error", "cause", "output"}
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from aws_lambda_powertools import Logger

from optimizer import (
    aws,
    bucket_rules,
    completion,
    custody,
    day_failures,
    effects,
    known_failures,
    known_formats,
    ledger,
    names,
    undo,
)
from optimizer.dates import InvalidInput, day_prefix, resolve_request
from optimizer.listing import SKIP_REASONS, Page, advance, new_progress, take_page
from optimizer.preflight import PROBE_DAYS, ReadDenied, VersioningRequired, check_versioning, probe_reads
from optimizer.rounds import MAX_ROUNDS, TOO_LONG, resumed, too_long_cause
from optimizer.settings import Settings
from optimizer.summary import run_summary
from optimizer.vocabulary import SkipReason

logger = Logger(service=names.LISTER)


def requested_run(settings: Settings, execution_input: Any, execution: str, today: dt.date) -> dict[str, Any]:
    """The run (its id, bucket, days, mode) and its days that the execution input asks for, or InvalidInput."""
    request = resolve_request(
        execution_input,
        today=today,
        num_days_age=settings.num_days_age,
        catch_up_days=settings.catch_up_days,
        retention_days=settings.retention_days,
    )
    first, last = request.days[0], request.days[-1]
    run = {
        "id": execution,
        "bucket": settings.bucket,
        "source": request.source,
        "dry_run": request.dry_run,
        "retry_failed": request.retry_failed,
        "force": request.force,
        # Only when asked: other runs' state stays as it was (the state machine tests is_present).
        **({"undo": True} if request.undo else {}),
        **({"redo": True} if request.redo else {}),
        "start_date": first.isoformat(),
        "end_date": last.isoformat(),
        "days": len(request.days),
        "prefix": day_prefix(settings.bucket_prefix, first) if len(request.days) == 1 else settings.bucket_prefix,
    }
    if request.expire:  # a retention run (stacks/retention.py); absent from every other run
        run["expire"] = True
    if request.verify:  # only then: runs resolved before verify existed read it with .get
        run["verify"] = True
    return {"run": run, "days": [day.isoformat() for day in request.days]}


def iter_objects(s3: Any, bucket: str, prefix: str, start_after: str | None) -> Iterator[Mapping[str, Any]]:
    """ListObjectsV2 through boto3's paginator, lazily: the next request is made only when the
    page still has room. boto3 asks S3 for URL-encoded keys and decodes them, so keys arrive
    exactly as stored."""
    kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "PaginationConfig": {"PageSize": 1000}}
    if start_after:
        kwargs["StartAfter"] = start_after
    for response in s3.get_paginator("list_objects_v2").paginate(**kwargs):
        yield from response.get("Contents", [])


def list_page(settings: Settings, event: Mapping[str, Any], *, s3: Any = None, dynamodb: Any = None) -> dict[str, Any]:
    """The ListPage state (and ListUndoPage): the day's next page of recordings to enqueue from the
    event's progress on, with its counts and the progress after it (clients: the function's own
    unless given)."""
    s3, dynamodb = _client(s3, "s3"), _client(dynamodb, "dynamodb")
    run, day = event["run"], event["day"]
    progress = event.get("progress") or new_progress()
    prefix = day_prefix(settings.bucket_prefix, dt.date.fromisoformat(day))
    # The page's identity for the enqueuer's marker: the same cursor lists the same page again.
    # A Pass state's parameters drop nulls (the CDK does): a new cursor may lack start_after.
    start_after = progress["cursor"].get("start_after")
    page_id = f"{day}#{start_after or ''}"
    objects = iter_objects(s3, run["bucket"], prefix, start_after)
    undoing = bool(run.get("undo", False))
    page = take_page(
        objects,
        prefix=prefix,
        target_class=settings.target_class,
        # A verify run checks the converted recordings: their target class does not skip them; an
        # undo looks at every recording's current version, whatever its class (optimizer/undo.py).
        overwrite=settings.overwrite_converted or bool(run.get("verify", False)) or undoing,
        max_items=settings.page_keys,
    )
    reads = known_failures.Lookup()
    if page.items and not run.get("verify", False) and not undoing:
        reads = skip_remembered(settings, dynamodb, run, page, prefix)
    undo_counts = {} if undoing else undone_recordings(settings, dynamodb, run, day, prefix, page)
    counts = {
        "listed": page.listed,
        **{r.counter: page.skipped.get(r, 0) for r in SKIP_REASONS},
        "days_done": int(page.exhausted),
        **undo_counts,
    }
    if run["dry_run"]:  # the projection of the bucket's rules (optimizer/effects.py)
        counts.update(effects.age_counts(dt.date.fromisoformat(day), _today(), [item[2] for item in page.items]))
    logger.info(
        "page listed",
        extra={
            "prefix": prefix,
            "listed": page.listed,
            "to_enqueue": len(page.items),
            "known_failures": page.skipped[SkipReason.KNOWN_FAILURE],
            "known_target_format": page.skipped[SkipReason.KNOWN_TARGET_FORMAT],
            "known_failure_reads": reads.requests,
            "known_failure_read_units": reads.read_units,
            "done": page.exhausted,
        },
    )
    return {
        "progress": advance(progress, page),
        "prefix": prefix,
        "page_id": page_id,
        "objects": page.items,
        # This page's own counts: the enqueuer records them once the page is safely enqueued
        # (the last page also counts the day done, which the summary checks days against).
        "counts": counts,
    }


def _client(given: Any, service: str) -> Any:
    """The client a caller gave (a test's), or the function's own."""
    return aws.client(service) if given is None else given


def skip_remembered(
    settings: Settings, dynamodb: Any, run: Mapping[str, Any], page: Page, prefix: str
) -> known_failures.Lookup:
    """Drops the page's recordings an earlier run remembered, read in one BatchGetItem per 100
    keys: content failures (known_failures.py) unless "retry_failed": true, recordings already in
    the target format (known_formats.py) unless overwrite_converted."""
    # .get: a run resolved before retry_failed existed (an execution in flight during an update).
    failures, formats = not run.get("retry_failed", False), not settings.overwrite_converted
    if not (failures or formats):
        return known_failures.Lookup()
    reads = known_failures.lookup(dynamodb, settings.ledger_table, [prefix + item[0] for item in page.items])
    now = time.time()
    for known in known_failures.drop_known_failures(page, prefix, reads.found, now) if failures else []:
        logger.info(
            "known failure skipped",
            extra={"key": known.key, "etag": known.etag, "reason": known.reason, "failed_at": known.failed_at},
        )
    if formats:
        target = settings.target
        dropped = known_formats.drop_known_formats(page, prefix, known_formats.found(reads), target.key, now)
        if dropped:  # one line a page: they may be most of a day's recordings
            logger.info(
                "recordings already in the target format skipped",
                extra={"format": target.key, "count": len(dropped), "first_keys": [k.key for k in dropped[:10]]},
            )
    return reads


def _today() -> dt.date:
    return dt.datetime.now(dt.UTC).date()


def undone_recordings(
    settings: Settings, dynamodb: Any, run: Mapping[str, Any], day: str, prefix: str, page: Any
) -> dict[str, int]:
    """On a day that holds undone recordings (ResolveRun's `undone_days`): those of the page are
    skipped (`skipped_undone`), or, for a redo, forgotten (their markers deleted) and enqueued."""
    if not page.items or not undo.day_has_undone(run, day):
        return {}
    found = undo.read_markers(dynamodb, settings.ledger_table, [prefix + item[0] for item in page.items])
    if run.get("redo"):
        if not run["dry_run"]:
            undo.forget(dynamodb, settings.ledger_table, found)
        logger.info("undone recordings to convert again (redo)", extra={"keys": sorted(found)})
        return {"redo_forgotten": len(found)}
    kept = [item for item in page.items if prefix + item[0] not in found]
    skipped = len(page.items) - len(kept)
    page.items = kept
    if skipped:
        logger.info("undone recordings skipped", extra={"keys": sorted(found)})
    return {SkipReason.UNDONE.counter: skipped}


def preflight(settings: Settings, event: Mapping[str, Any], *, s3: Any = None) -> dict[str, Any]:
    """The Preflight state: the run's warnings and the bucket's rules, or VersioningRequired or
    ReadDenied (logged) when the run must not go on (client: the function's own unless given)."""
    try:
        return _preflight_checks(settings, _client(s3, "s3"), event["run"])
    except (VersioningRequired, ReadDenied) as exc:
        logger.error("preflight refused the run", extra={"reason": str(exc)})
        raise


def _preflight_checks(settings: Settings, s3: Any, run: Mapping[str, Any]) -> dict[str, Any]:
    """The bucket keeps originals, what the rewrite does to its own rules (optimizer/bucket_rules.py),
    and at least one of a sample of the run's first days' recordings can be read
    (optimizer/preflight.py, probe_reads)."""
    warnings, lifecycle = check_versioning(s3, settings)
    rules = bucket_rules.read(s3, settings.bucket, settings.bucket_prefix, lifecycle)
    warnings += rules.warnings(settings.bucket_prefix)
    first = dt.date.fromisoformat(run["start_date"])
    days = [first + dt.timedelta(days=i) for i in range(min(int(run["days"]), PROBE_DAYS))]
    probe = probe_reads(s3, settings.bucket, [day_prefix(settings.bucket_prefix, day) for day in days])
    if probe.denied:
        warnings.append(probe.warning())
        logger.warning("preflight could not read some recordings", extra={"denied": probe.denied})
    return {"warnings": warnings, "bucket_rules": rules.to_state()}


# One function per state of stacks/orchestration.py, named after it: the state's payload names
# its function ("action": the state's name).


def resolve_run(settings: Settings, event: Mapping[str, Any]) -> dict[str, Any]:
    """The ResolveRun state: the requested run for today (UTC), with the run's days that hold undone
    recordings; InvalidInput logged and raised."""
    try:
        today = dt.datetime.now(dt.UTC).date()
        resolved = requested_run(settings, event.get("input"), str(event.get("execution") or "manual"), today)
    except InvalidInput as exc:
        logger.warning("invalid input", extra={"input": event.get("input"), "reason": str(exc)})
        raise
    if not resolved["run"].get("undo"):  # which of its days hold undone recordings: one GetItem
        days = undo.undone_days(aws.client("dynamodb"), settings.ledger_table, resolved["days"])
        if days:
            resolved["run"]["undone_days"] = days
    return resolved


def resume_day(settings: Settings, event: Mapping[str, Any]) -> dict[str, Any]:
    """A day's progress where its previous round paused (a new one if none was saved)."""
    saved = ledger.saved_progress(aws.client("dynamodb"), settings.ledger_table, event["run"]["id"], event["day"])
    return {"progress": resumed(saved)}


def pause_day(settings: Settings, event: Mapping[str, Any]) -> dict[str, Any]:
    """The PauseDay state: saves the day's progress and names the day for the next round."""
    progress = event["progress"]
    logger.info("day paused", extra={"day": event["day"], "round": event["round"], "progress": progress})
    ledger.pause_day(
        aws.client("dynamodb"), settings.ledger_table, event["run"]["id"], event["day"], int(event["round"]), progress
    )
    return {}


def next_round(settings: Settings, event: Mapping[str, Any]) -> dict[str, Any]:
    """The days that paused in this round, to run again from their cursors in the next; after
    MAX_ROUNDS rounds they are recorded failed instead (the parent's history bound)."""
    run, round_ = event["run"], int(event["round"])
    dynamodb = aws.client("dynamodb")
    days = ledger.paused_days(dynamodb, settings.ledger_table, run["id"], round_)
    if days and round_ >= MAX_ROUNDS:
        for day in days:
            day_failures.record(dynamodb, settings.ledger_table, run["id"], day, TOO_LONG, too_long_cause())
        logger.error("days still unfinished after the last round", extra={"days": days, "round": round_})
        days = []
    return {"days": days, "round": round_ + 1, "more": bool(days)}


def record_day_failure(settings: Settings, event: Mapping[str, Any]) -> dict[str, Any]:
    """The RecordDayFailure state: records the day's error and cause in the run's ledger (the summary names the day)."""
    failure = event.get("failure") or {}
    error, cause = failure.get("Error"), failure.get("Cause")
    logger.error("day failed", extra={"day": event["day"], "error": error, "cause": cause})
    day_failures.record(aws.client("dynamodb"), settings.ledger_table, event["run"]["id"], event["day"], error, cause)
    return {}


def check_run(settings: Settings, event: Mapping[str, Any]) -> dict[str, Any]:
    """The CheckRun state: whether every enqueued recording is accounted for, and how long to wait if not."""
    counts = ledger.read(aws.client("dynamodb"), settings.ledger_table, event["run"]["id"])
    drain = event.get("drain") or {}
    return completion.check(
        counts,
        polls=int(drain.get("polls", 0)),
        since=int(drain.get("since", 0)),
        now=int(time.time()),
        poll_seconds=settings.queue_poll_seconds,
        limit_seconds=settings.drain_limit_seconds,
    )


def summarize(settings: Settings, event: Mapping[str, Any]) -> dict[str, Any]:
    """The Summarize state: the run's error, cause and output from its ledger, with the warnings and failed days."""
    run = event["run"]
    item = ledger.read_item(aws.client("dynamodb"), settings.ledger_table, run["id"])  # counts and failed days
    counts = ledger.counts_of(item)
    warnings = list(event.get("warnings") or [])
    if not counts.get("listed", 0):
        s3 = aws.client("s3")
        warnings += effects.empty_listing_hints(
            s3, run["bucket"], settings.bucket_prefix, run, _today(), settings.num_days_age + settings.catch_up_days
        )
    mismatched = None
    if run.get("verify") and counts.get(custody.KIND.counter):  # their names, for the summary
        names_item = aws.client("dynamodb").get_item(
            TableName=settings.ledger_table, Key={"run": {"S": custody.names_key(run["id"])}}, ConsistentRead=True
        )
        mismatched = custody.mismatched_names(names_item.get("Item") or {})
    summary = run_summary(run, counts, event.get("drain") or {}, warnings, settings, mismatched)
    if run["dry_run"]:
        rules = bucket_rules.BucketRules.of_state(event.get("bucket_rules"))
        effect = effects.projection(run, counts, rules, _today(), settings.price_standard_gb_month)
        if effect:
            summary["output"]["bucket_rules_effect"] = effect
    if run.get("undo") and any(counts.get(f"undo_{outcome}") for outcome in undo.LEFT_ALONE):
        # The recordings it left alone, by name ("<why>: <key>", the first ones; the log names all).
        summary["output"]["undo"]["left_alone"] = undo.left_alone(
            aws.client("dynamodb"), settings.ledger_table, run["id"]
        )
    return day_failures.with_failed_days(summary, run, day_failures.of_item(item), counts.get("days_done", 0))


STATES: dict[str, Callable[[Settings, Mapping[str, Any]], dict[str, Any]]] = {
    "ResolveRun": resolve_run,
    "Preflight": preflight,
    "ResumeDay": resume_day,
    "ListPage": list_page,
    "ListUndoPage": list_page,  # an undo's day loop (stacks/orchestration.py, _undo_loop)
    "ResumeUndoDay": resume_day,
    "PauseDay": pause_day,
    "RecordDayFailure": record_day_failure,
    "NextRound": next_round,
    "CheckRun": check_run,
    "Summarize": summarize,
}


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """Runs the function of the state named by the event's action (STATES); ValueError for an unknown one."""
    action = str(event.get("action"))
    state = STATES.get(action)
    if state is None:
        raise ValueError(f"unknown action {action!r}: one of {', '.join(STATES)}")
    return state(Settings.from_env(), event)
