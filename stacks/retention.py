"""The state machine's retention branch (retention by the recording's date, only when on).

ResolveRun → Expire? — an "expire" run — StartExpiring → ExpirePage (the expirer, a bounded
slice of the run's days each time) → MoreToExpire → ExpirePage ... → Expired (the summary).
Everything else goes on to Preflight as before. The loop is the execution's own (no Map, no
queue): ExpirePage and MoreToExpire record 7 history events an invocation, and the expirer stops
the run at retention.MAX_INVOCATIONS (21,000 events), saying what is left; its state is the run,
a cursor and counters (< 2 KB), whatever the number of days or recordings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct


def expire_branch(
    scope: Construct,
    expirer: lambda_.IFunction,
    otherwise: sfn.IChainable,
    refused: sfn.IChainable,
    invoke: Callable[..., Any],
) -> sfn.Choice:
    """The retention run's states: ExpirePage until the progress is done, then its summary."""
    start = sfn.Pass(
        scope,
        "StartExpiring",
        # The run and a new cursor; ResolveRun's list of days is not carried (the run holds its range).
        parameters={"run.$": "$.run", "expire": {"progress": {"day": 0}}},
    )
    page = invoke(
        "ExpirePage",
        expirer,
        {"run.$": "$.run", "progress.$": "$.expire.progress"},
        result_selector={"progress.$": "$.Payload.progress", "summary.$": "$.Payload.summary"},
        result_path="$.expire",
        refusals=["VersioningRequired"],
        # A retry deletes nothing twice: a deleted recording is no longer listed (lambdas/expirer.py).
        rerunnable=True,
    )
    page.add_catch(refused, errors=["VersioningRequired"], result_path="$")
    more = (
        sfn.Choice(scope, "MoreToExpire")
        .when(
            sfn.Condition.boolean_equals("$.expire.progress.done", True),
            sfn.Succeed(scope, "Expired", output_path="$.expire.summary"),
        )
        .otherwise(page)
    )
    start.next(page).next(more)
    return (
        sfn.Choice(scope, "Expire")
        .when(
            sfn.Condition.and_(
                sfn.Condition.is_present("$.run.expire"), sfn.Condition.boolean_equals("$.run.expire", True)
            ),
            start,
        )
        .otherwise(otherwise)
    )
