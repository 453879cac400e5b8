"""scripts/concurrency_check.py's rule, fast (the deploy script runs it end to end against fake AWS
in test_deploy_script.py): at the converters' maximum, at least 100 and at least half of the
account's unreserved concurrency stay with its other functions."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import concurrency_check as cc  # noqa: E402

ENV = cc.ENV
PREFIX = "bucket_prefix=connect/my-instance/CallRecordings/"  # required, like bucket_name


@pytest.mark.parametrize(
    "unreserved, allowed",
    [(1000, 500), (10_000, 5000), (300, 150), (200, 100), (150, 50), (140, 40), (101, 1), (10, -90)],
)
def test_the_largest_setting_leaves_100_and_half_the_pool(unreserved, allowed):
    assert cc.largest_allowed(unreserved) == allowed
    if allowed >= 2:  # the smallest setting there is
        assert cc.judge(allowed, unreserved, "here")[0] == cc.OK
    assert cc.judge(max(allowed, 1) + 1, unreserved, "here")[0] == cc.REFUSED


def test_the_default_on_a_default_account_passes_and_the_whole_pool_is_refused():
    status, message = cc.check(["-c", "bucket_name=my-b", "-c", PREFIX], {ENV: "1000"})
    assert status == cc.OK and "converter_max_concurrency=50 against 1000" in message and "950 are left" in message
    status, message = cc.check(
        ["-c", "bucket_name=my-b", "-c", PREFIX, "-c", "converter_max_concurrency=1000"], {ENV: "1000"}
    )
    assert status == cc.REFUSED and "0 are left" in message and "-c converter_max_concurrency=500" in message


def test_a_figure_that_is_not_a_number_is_refused():
    status, message = cc.check(["-c", "bucket_name=my-b", "-c", PREFIX], {ENV: "lots"})
    assert status == cc.REFUSED and f"{ENV}='lots' must be a whole number" in message


class _Lambda:
    def __init__(self, outcome):
        self.outcome = outcome

    def get_account_settings(self):
        if isinstance(self.outcome, Exception):
            raise self.outcome
        return self.outcome


class _Session:
    def __init__(self, outcome):
        self.outcome = outcome

    def client(self, name):
        assert name == "lambda"
        return _Lambda(self.outcome)


def _client_error(code: str, status: int) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "x")


def test_the_unreserved_figure_is_read_from_the_account_limit():
    settings = {"AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 700}}
    assert cc.read_unreserved(_Session(settings), "here") == 700


@pytest.mark.parametrize(
    "outcome, says",
    [
        (_client_error("AccessDeniedException", 403), "they need lambda:GetAccountSettings"),
        (_client_error("TooManyRequestsException", 429), "(TooManyRequestsException: m)"),
        (EndpointConnectionError(endpoint_url="https://lambda"), "Could not connect"),
        ({"AccountLimit": {}}, "hold no unreserved concurrency"),
    ],
)
def test_a_figure_that_cannot_be_read_is_unreadable_never_a_pass(outcome, says):
    with pytest.raises(cc.Unreadable) as raised:
        cc.read_unreserved(_Session(outcome), "account 1, region r")
    assert says in str(raised.value)


def test_the_premise_no_function_of_the_stack_reserves_concurrency(default_synth):
    """The check compares the converters' maximum with the *unreserved* pool because every converter
    comes from it: no function of the stack has ReservedConcurrentExecutions, and the converter's only
    cap is the event source's MaximumConcurrency, which reserves nothing
    (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html; a reservation would
    instead take its share out of the unreserved pool, which Lambda keeps at 100 or more:
    https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html)."""
    functions = default_synth.resources("AWS::Lambda::Function")
    assert functions
    assert all("ReservedConcurrentExecutions" not in f["Properties"] for f in functions.values())
    from stacks.config import OptimizerConfig

    mapping = default_synth.one("AWS::Lambda::EventSourceMapping")["Properties"]
    # The setting the check reads is the converters' cap (its default when nothing is set).
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": OptimizerConfig.converter_max_concurrency}
