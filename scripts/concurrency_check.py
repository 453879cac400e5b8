"""Does converter_max_concurrency leave the account's other Lambda functions enough concurrency?

    .venv/bin/python scripts/concurrency_check.py --cdk-args [cdk arguments ...]

./cdk-deploy.sh runs it before a deployment, with its own arguments: converter_max_concurrency
is read from the context as the app reads it (-c, cdk.json, cdk.context.json; default 50), the
account's unreserved concurrency with boto3 (`lambda:GetAccountSettings`,
AccountLimit.UnreservedConcurrentExecutions) in the account and region of the credentials
(--profile / --region among the arguments are honoured).

What is compared, and why. The converter reserves no concurrency: its SQS event source's
`MaximumConcurrency` only caps how many converters Lambda runs at once, and every one of them is
drawn from the account's *unreserved* pool, which every function without a reservation shares:
Amazon Connect's contact-flow functions among them. Those are invoked synchronously during a live
call (Connect waits at most 8 s) and a throttled one sends the call down its flow's error branch,
while a throttled converter only waits: its message comes back later. So during a backfill,
when the converters run at their maximum for hours, the rest of the pool must stay large enough
for the account's own peak.
The margin: at the converters' maximum, at least MIN_LEFT (100) unreserved executions and at
least half of the unreserved pool (SHARE) must be left to the other functions. 100 is the floor
Lambda itself keeps for functions without a reservation (a reservation may take the unreserved
pool down to 100, no lower); half because the account's other peak is unknown here, and the
converters are the part that can wait.

Exit status: 0 the setting leaves the margin; 2 it does not, or the account's figure could not be
read (refused, not guessed: with no permission to read it, say so and how to fix it, or give the
figure yourself in OPTIMIZER_UNRESERVED_CONCURRENCY, as the Lambda console shows it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "scripts")]
OK, REFUSED = 0, 2
MIN_LEFT = 100
SHARE = 0.5
KEY = "converter_max_concurrency"
ENV = "OPTIMIZER_UNRESERVED_CONCURRENCY"
QUOTA = "raise the account's concurrency quota (Service Quotas console: AWS Lambda, 'Concurrent executions')"


def largest_allowed(unreserved: int) -> int:
    """The highest converter_max_concurrency that leaves the margin (may be < 2: none does)."""
    return min(unreserved - MIN_LEFT, int(unreserved * (1 - SHARE)))


def judge(max_concurrency: int, unreserved: int, where: str) -> tuple[int, str]:
    left = unreserved - max_concurrency
    allowed = largest_allowed(unreserved)
    needed = unreserved - allowed  # max(MIN_LEFT, half the pool)
    what = (
        f"{KEY}={max_concurrency} against {unreserved} unreserved concurrent executions in {where}: with that many "
        f"converters running, {left} are left to the account's other functions"
    )
    if max_concurrency <= allowed:
        return OK, f"{what} (at least {needed} must be: {MIN_LEFT} and half the pool): fine"
    fixes = [f"lower {KEY} to {allowed} or less (-c {KEY}={allowed}, or in cdk.context.json)"] if allowed >= 2 else []
    fixes.append(QUOTA)
    return REFUSED, (
        f"{what}, under the {needed} the deployment requires (at least {MIN_LEFT} and at least half the pool). "
        "The event source's MaximumConcurrency reserves nothing: every converter comes from the unreserved pool "
        "that the account's other functions share, Amazon Connect's contact-flow Lambdas among them, and a "
        f"backfill keeps the converters at their maximum for hours. Fix: {', or '.join(fixes)}"
    )


def configured_max_concurrency(args: Sequence[str]) -> int:
    from stacks.config import OptimizerConfig
    from stacks.context_check import context_from

    return OptimizerConfig.from_mapping(context_from(args, root=ROOT)).converter_max_concurrency


class Unreadable(Exception):
    pass


def read_unreserved(session: object, where: str) -> int:
    """The account's unreserved concurrency in the session's account and region; Unreadable says why not."""
    import botocore.exceptions as errors

    try:
        limit = session.client("lambda").get_account_settings()["AccountLimit"]  # type: ignore[attr-defined]
        return int(limit["UnreservedConcurrentExecutions"])
    except errors.ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        if code in ("AccessDeniedException", "AccessDenied"):
            raise Unreadable(
                f"the credentials may not read the account's Lambda concurrency in {where} ({code}): they need "
                "lambda:GetAccountSettings (in the AWSLambda_ReadOnlyAccess and ReadOnlyAccess managed policies)"
            ) from None
        raise Unreadable(
            f"cannot read the account's Lambda concurrency in {where} ({code}: {error.get('Message') or exc})"
        ) from None
    except errors.BotoCoreError as exc:
        raise Unreadable(f"cannot read the account's Lambda concurrency in {where} ({exc})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise Unreadable(f"the account's Lambda settings in {where} hold no unreserved concurrency ({exc!r})") from None


def check(args: Sequence[str], environ: dict[str, str] | None = None) -> tuple[int, str]:
    from cdk_args import option_value

    from stacks.config import ConfigError

    environ = dict(os.environ if environ is None else environ)
    try:
        max_concurrency = configured_max_concurrency(args)
    except ConfigError as exc:  # stacks.context_check has refused it before: here only when run alone
        return REFUSED, str(exc)
    given = environ.get(ENV, "").strip()
    if given:
        if not given.isdigit():
            return REFUSED, f"{ENV}={given!r} must be a whole number (the account's unreserved concurrency)"
        return judge(max_concurrency, int(given), f"the account ({ENV}, as you gave it)")
    from bootstrap_check import identify

    session, where = identify(option_value(args, "profile"), option_value(args, "region"))
    if session is None:
        return REFUSED, where
    try:
        unreserved = read_unreserved(session, where)
    except Unreadable as exc:
        return REFUSED, (
            f"{exc}. Not deploying with {KEY}={max_concurrency} unchecked: the converters could take the "
            f"concurrency the account's other functions need. Fix: grant lambda:GetAccountSettings, or give the "
            f"figure yourself: {ENV}=N ./cdk-deploy.sh ..., N being 'Unreserved account concurrency' in the Lambda "
            "console (Dashboard), for this account and region"
        )
    return judge(max_concurrency, unreserved, where)


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    if args[:1] == ["--cdk-args"]:
        args = args[1:]
    elif args[:1] in (["-h"], ["--help"]):
        print(__doc__)
        return 0
    status, message = check(args)
    print(("[concurrency] " if status == OK else "error: ") + message, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
