"""Put on PYTHONPATH by tests/infra/test_deploy_script.py only: every Python process of the deploy
script then talks to an in-process moto (fake STS and SSM) instead of AWS. FAKE_AWS_SSM holds the
SSM parameters to create, as JSON ({name: value}); without it nothing happens. Only the script
that calls AWS (scripts/bootstrap_check.py) loads moto: the other processes stay fast."""

import json
import os
import sys

if os.environ.get("FAKE_AWS_SSM") is not None and sys.argv and sys.argv[0].endswith("bootstrap_check.py"):
    from moto import mock_aws

    _mock = mock_aws()
    _mock.start()
    import boto3

    _ssm = boto3.client("ssm", region_name=os.environ["AWS_REGION"])
    for _name, _value in json.loads(os.environ["FAKE_AWS_SSM"]).items():
        _ssm.put_parameter(Name=_name, Value=_value, Type="String")
