"""Put on PYTHONPATH by tests/infra/test_deploy_script.py only: every Python process of the deploy
script then talks to an in-process moto (fake STS and SSM) instead of AWS. FAKE_AWS_SSM holds the
SSM parameters to create, as JSON ({name: value}); without it nothing happens. Only the scripts
that call AWS (scripts/bootstrap_check.py, scripts/concurrency_check.py) load moto: the other
processes stay fast.

moto has no Lambda GetAccountSettings: FAKE_AWS_LAMBDA_ACCOUNT answers it, as JSON. Either
{"unreserved": N} (AccountLimit.UnreservedConcurrentExecutions = N), or {"error": CODE,
"status": HTTP status} to fail the call as Lambda does (e.g. AccessDeniedException, 403). Without
it the call fails as it would against moto."""

import json
import os
import sys

_SCRIPTS = ("bootstrap_check.py", "concurrency_check.py")

if os.environ.get("FAKE_AWS_SSM") is not None and sys.argv and sys.argv[0].endswith(_SCRIPTS):
    from moto import mock_aws

    _mock = mock_aws()
    _mock.start()
    import boto3

    _ssm = boto3.client("ssm", region_name=os.environ["AWS_REGION"])
    for _name, _value in json.loads(os.environ["FAKE_AWS_SSM"]).items():
        _ssm.put_parameter(Name=_name, Value=_value, Type="String")

    _account = os.environ.get("FAKE_AWS_LAMBDA_ACCOUNT")
    if _account is not None:
        import botocore.client
        from botocore.exceptions import ClientError

        _settings = json.loads(_account)
        _real_call = botocore.client.BaseClient._make_api_call

        def _make_api_call(self, operation_name, api_params):
            if self.meta.service_model.service_name != "lambda" or operation_name != "GetAccountSettings":
                return _real_call(self, operation_name, api_params)
            if "error" in _settings:
                code = _settings["error"]
                raise ClientError(
                    {
                        "Error": {
                            "Code": code,
                            "Message": "User: arn:aws:iam::123456789012:user/deployer is not authorized to perform: "
                            "lambda:GetAccountSettings on resource: * because no identity-based policy allows the "
                            "lambda:GetAccountSettings action"
                            if code == "AccessDeniedException"
                            else f"fake {code}",
                        },
                        "ResponseMetadata": {"HTTPStatusCode": _settings.get("status", 400)},
                    },
                    operation_name,
                )
            unreserved = _settings["unreserved"]
            return {
                "AccountLimit": {
                    "TotalCodeSize": 80530636800,
                    "CodeSizeUnzipped": 262144000,
                    "CodeSizeZipped": 52428800,
                    "ConcurrentExecutions": _settings.get("total", unreserved),
                    "UnreservedConcurrentExecutions": unreserved,
                },
                "AccountUsage": {"TotalCodeSize": 0, "FunctionCount": 0},
            }

        botocore.client.BaseClient._make_api_call = _make_api_call
