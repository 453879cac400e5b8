"""Put on PYTHONPATH by tests/infra/test_deploy_script.py only: every Python process of the deploy
script then talks to an in-process moto (fake STS and SSM) instead of AWS. FAKE_AWS_SSM holds the
SSM parameters to create, as JSON ({name: value}); without it nothing happens. Only the scripts
that call AWS (scripts/bootstrap_check.py, scripts/concurrency_check.py) load moto: the other
processes stay fast.

moto has no Lambda GetAccountSettings: FAKE_AWS_LAMBDA_ACCOUNT answers it, as JSON. Either
{"unreserved": N} (AccountLimit.UnreservedConcurrentExecutions = N), or {"error": CODE,
"status": HTTP status} to fail the call as Lambda does (e.g. AccessDeniedException, 403). Without
it the call fails as it would against moto.

FAKE_AWS_STACK, as JSON {"name": STACK, "dlq_messages": N, "running": N}, deploys a small stack of
that name (a work queue, a dead-letter queue holding N messages, a ledger table, a retained log
group, a state machine with N executions running: moto leaves them RUNNING) with the outputs the
optimizer's stack has, for scripts/destroy_check.py."""

import json
import os
import sys

_SCRIPTS = ("bootstrap_check.py", "concurrency_check.py", "destroy_check.py")

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

    # Without FAKE_AWS_STACK no stack exists: CloudFormation says so for any name.
    _spec = json.loads(os.environ.get("FAKE_AWS_STACK") or '{"name": null}')
    _answers = {}
    if _spec["name"] is not None:
        _sfn = boto3.client("stepfunctions", region_name=os.environ["AWS_REGION"])
        _machine = _sfn.create_state_machine(
            name="RunDays",
            definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/fake",
        )["stateMachineArn"]
        for _i in range(_spec.get("running", 0)):
            _sfn.start_execution(stateMachineArn=_machine, name=f"run-{_i}")
        _sqs = boto3.client("sqs", region_name=os.environ["AWS_REGION"])
        _urls = {name: _sqs.create_queue(QueueName=name)["QueueUrl"] for name in ("work", "dead-letter")}
        for _i in range(_spec.get("dlq_messages", 0)):
            _sqs.send_message(QueueUrl=_urls["dead-letter"], MessageBody=json.dumps({"key": f"k{_i}.wav"}))
        # CloudFormation answered here (moto's needs extras the project does not install).
        _resources = [
            ("QueuesWork", "AWS::SQS::Queue", _urls["work"]),
            ("QueuesDeadLetter", "AWS::SQS::Queue", _urls["dead-letter"]),
            ("LedgerTable", "AWS::DynamoDB::Table", "ledger"),
            ("ConverterLogs", "AWS::Logs::LogGroup", "/aws/lambda/converter"),
            ("RunDays", "AWS::StepFunctions::StateMachine", _machine),
        ]
        _answers = {
            "DescribeStacks": {
                "Stacks": [
                    {
                        "StackName": _spec["name"],
                        "StackStatus": "CREATE_COMPLETE",
                        "CreationTime": "2026-01-01T00:00:00Z",
                        "Outputs": [
                            {"OutputKey": "DeadLetterQueueUrl", "OutputValue": _urls["dead-letter"]},
                            {"OutputKey": "WorkQueueUrl", "OutputValue": _urls["work"]},
                            {"OutputKey": "StateMachineArn", "OutputValue": _machine},
                        ],
                    }
                ]
            },
            "ListStackResources": {
                "StackResourceSummaries": [
                    {
                        "LogicalResourceId": lid,
                        "ResourceType": kind,
                        "PhysicalResourceId": physical,
                        "ResourceStatus": "CREATE_COMPLETE",
                        "LastUpdatedTimestamp": "2026-01-01T00:00:00Z",
                    }
                    for lid, kind, physical in _resources
                ]
            },
            "GetTemplate": {
                "TemplateBody": {
                    "Resources": {
                        lid: {"Type": kind, **({"DeletionPolicy": "Retain"} if kind == "AWS::Logs::LogGroup" else {})}
                        for lid, kind, _ in _resources
                    }
                }
            },
        }
    import botocore.client
    from botocore.exceptions import ClientError

    _before_stack = botocore.client.BaseClient._make_api_call

    def _stack_call(self, operation_name, api_params):
        if self.meta.service_model.service_name != "cloudformation":
            return _before_stack(self, operation_name, api_params)
        if api_params.get("StackName") != _spec["name"]:
            raise ClientError(
                {
                    "Error": {
                        "Code": "ValidationError",
                        "Message": f"Stack with id {api_params.get('StackName')} does not exist",
                    },
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                operation_name,
            )
        return _answers[operation_name]

    botocore.client.BaseClient._make_api_call = _stack_call
