"""Creating the stack's resources in moto from the synthesized template itself.

The bucket is the one resource the template does not create (it is imported): the emulator makes
a versioned one, as Amazon Connect's are. Each function and the state machine get their own
AWS::IAM::Role with its AWS::IAM::Policy documents as synthesized; with `strict` (the default)
emulator.iam and emulator.quotas hold every request and execution to them (see runtime.installed).
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from . import iam as strict_iam
from .synth import Synthesized
from .template import Resolver, resources_of_type

# Queues' visibility timeouts are scaled for the emulator: 1 s per real hour (emulator/timescale.py).
from .timescale import scaled_visibility_timeout

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account


@dataclass
class FunctionSpec:
    logical_id: str
    name: str
    arn: str
    handler: str
    environment: dict[str, str]
    timeout_s: int
    memory_mb: int
    code_dir: Path
    layer_dirs: list[Path] = field(default_factory=list)
    role: str = ""  # the logical id of its AWS::IAM::Role
    versions: list[str] = field(default_factory=list)  # the ARNs of its published versions


@dataclass
class EventSource:
    function: str
    queue_url: str
    queue_arn: str
    batch_size: int
    max_concurrency: int | None
    report_batch_item_failures: bool


@dataclass
class Deployment:
    synthesized: Synthesized
    bucket: str
    functions: dict[str, FunctionSpec]  # by function name
    queues: dict[str, str]  # logical id -> URL
    state_machine_arn: str
    event_sources: list[EventSource]
    outputs: dict[str, Any]
    # The callers' credentials; None when the emulator runs lenient (moto's defaults).
    identities: strict_iam.Identities | None = None
    definition: dict[str, Any] | None = None  # the state machine's, references resolved

    def identity_of(self, function_name: str) -> strict_iam.Identity | None:
        if self.identities is None:
            return None
        return self.identities.roles[self.functions[function_name].role]

    def function(self, logical_prefix: str) -> FunctionSpec:
        return next(spec for spec in self.functions.values() if spec.logical_id.startswith(logical_prefix))

    def queue_url(self, logical_prefix: str) -> str:
        return next(url for lid, url in self.queues.items() if lid.startswith(logical_prefix))


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("placeholder.py", "# the emulator runs the asset directory in-process\n")
    return buffer.getvalue()


def _asset_dir(synth: Synthesized, resource: dict[str, Any]) -> Path:
    path = resource.get("Metadata", {}).get("aws:asset:path")
    if not path:
        raise ValueError("template has no aws:asset:path metadata; synthesize with asset metadata enabled")
    return synth.outdir / path


def for_moto(node: Any) -> Any:
    """The definition as moto's ASL grammar reads it: ToleratedFailurePercentage must be written
    as a decimal there (100.0), while AWS and the CDK write any number (100)."""
    if isinstance(node, list):
        return [for_moto(item) for item in node]
    if isinstance(node, dict):
        return {
            k: float(v) if k == "ToleratedFailurePercentage" and isinstance(v, int) else for_moto(v)
            for k, v in node.items()
        }
    return node


def _role_logical_id(resource: dict[str, Any], what: str) -> str:
    role = resource["Properties"].get("Role") or resource["Properties"].get("RoleArn")
    if isinstance(role, dict) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        return target[0] if isinstance(target, list) else target.split(".", 1)[0]
    raise ValueError(
        f"{what}: its role is not a role of this template ({role!r}); the emulator needs the role's policies"
    )


@dataclass
class _Build:
    """What the resources created so far left for the next ones: the template's references resolved."""

    synth: Synthesized
    resolver: Resolver

    @property
    def template(self) -> dict[str, Any]:
        return self.synth.template

    def named(self, lid: str, limit: int) -> str:
        """The physical name of a resource: the stack's name and its logical id, cut to AWS's limit."""
        return f"{self.synth.stack_name}-{lid}"[:limit]


def deploy(
    synth: Synthesized, *, versioned_bucket: bool = True, strict: bool = True, object_lock: bool = False
) -> Deployment:
    """Must run inside an active moto mock. `strict=False` leaves moto lenient (no IAM, no quotas).
    `object_lock` creates the bucket with Object Lock enabled (possible only at creation).

    The resources in the order their references need: each step resolves what the next ones name."""
    build = _Build(synth, Resolver(region=REGION, account=ACCOUNT))
    bucket = _create_bucket(synth.config.bucket_name, versioned=versioned_bucket, object_lock=object_lock)
    queues = _create_queues(build)
    _create_tables(build)
    layer_dirs = _layers(build)
    _log_groups(build)
    _create_roles(build)
    functions = _create_functions(build, layer_dirs)
    _publish_versions(build, functions)
    event_sources = _event_sources(build)
    sm_role, state_machine_arn, definition = _create_state_machine(build)
    _put_policies(build)
    _put_queue_policies(build)
    identities = _identities(build, sm_role) if strict else None
    return Deployment(
        synth, bucket, functions, queues, state_machine_arn, event_sources, _outputs(build), identities, definition
    )


def _create_bucket(bucket: str, *, versioned: bool, object_lock: bool) -> str:
    """The imported bucket, versioned as Amazon Connect's are unless asked otherwise."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket, **({"ObjectLockEnabledForBucket": True} if object_lock else {}))
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket


def _create_queues(build: _Build) -> dict[str, str]:
    """The queues, dead-letter queues first since the work queue's redrive policy names its ARN."""
    sqs = boto3.client("sqs", region_name=REGION)
    resolver = build.resolver
    queues: dict[str, str] = {}
    pending = resources_of_type(build.template, "AWS::SQS::Queue")
    while pending:
        for lid, res in list(pending.items()):
            props = res.get("Properties", {})
            redrive = props.get("RedrivePolicy")
            try:
                redrive = resolver.resolve(redrive) if redrive else None
            except KeyError:
                continue  # its DLQ is not created yet
            url = sqs.create_queue(QueueName=build.named(lid, 80), Attributes=_queue_attributes(props, redrive))[
                "QueueUrl"
            ]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            resolver.refs[lid], resolver.attributes[(lid, "Arn")] = url, arn
            queues[lid] = url
            del pending[lid]
    return queues


def _queue_attributes(props: dict[str, Any], redrive: Any) -> dict[str, str]:
    """A queue's attributes as synthesized, its visibility timeout scaled for the emulator."""
    attributes = {
        "VisibilityTimeout": str(scaled_visibility_timeout(int(props.get("VisibilityTimeout", 30)))),
        "MessageRetentionPeriod": str(props.get("MessageRetentionPeriod", 345600)),
    }
    if props.get("SqsManagedSseEnabled"):
        attributes["SqsManagedSseEnabled"] = "true"
    if redrive:
        attributes["RedrivePolicy"] = json.dumps(redrive)
    return attributes


def _create_tables(build: _Build) -> None:
    """The DynamoDB tables (the run's ledger), with their key schema and billing mode."""
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    for lid, res in resources_of_type(build.template, "AWS::DynamoDB::Table").items():
        props = res["Properties"]
        name = build.named(lid, 255)
        dynamodb.create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode=props.get("BillingMode", "PROVISIONED"),
        )
        build.resolver.refs[lid] = name
        build.resolver.attributes[(lid, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"


def _layers(build: _Build) -> dict[str, Path]:
    """The layers' ARNs (not created: the functions run in-process) and their asset directories."""
    layers = resources_of_type(build.template, "AWS::Lambda::LayerVersion")
    for lid in layers:
        build.resolver.refs[lid] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{lid}:1"
    return {build.resolver.refs[lid]: _asset_dir(build.synth, res) for lid, res in layers.items()}


def _log_groups(build: _Build) -> None:
    """Log groups are not created (the handlers log to the local run's log file); their ARNs are
    what the roles' policies name."""
    for lid in resources_of_type(build.template, "AWS::Logs::LogGroup"):
        name = f"/aws/emulator/{build.synth.stack_name}/{lid}"
        build.resolver.refs[lid] = name
        build.resolver.attributes[(lid, "Arn")] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"


def _create_roles(build: _Build) -> None:
    """The IAM roles with their trust, managed and inline policies as synthesized."""
    iam = boto3.client("iam", region_name=REGION)
    resolver = build.resolver
    for lid, res in resources_of_type(build.template, "AWS::IAM::Role").items():
        props = res["Properties"]
        role = iam.create_role(
            RoleName=build.named(lid, 64),
            Path=props.get("Path", "/"),
            AssumeRolePolicyDocument=json.dumps(resolver.resolve(props["AssumeRolePolicyDocument"])),
        )["Role"]
        resolver.refs[lid], resolver.attributes[(lid, "Arn")] = role["RoleName"], role["Arn"]
        for managed in resolver.resolve(props.get("ManagedPolicyArns", [])):
            iam.attach_role_policy(RoleName=role["RoleName"], PolicyArn=managed)
        for inline in props.get("Policies", []):
            iam.put_role_policy(
                RoleName=role["RoleName"],
                PolicyName=inline["PolicyName"],
                PolicyDocument=json.dumps(resolver.resolve(inline["PolicyDocument"])),
            )


def _create_functions(build: _Build, layer_dirs: dict[str, Path]) -> dict[str, FunctionSpec]:
    """The Lambda functions in moto (an empty package: the emulator runs their asset directories)
    and what the emulator needs to run each, by function name."""
    lam = boto3.client("lambda", region_name=REGION)
    resolver = build.resolver
    functions: dict[str, FunctionSpec] = {}
    for lid, res in resources_of_type(build.template, "AWS::Lambda::Function").items():
        props = res["Properties"]
        name = build.named(lid, 64)
        role_lid = _role_logical_id(res, f"function {lid}")
        environment = resolver.resolve(props.get("Environment", {}).get("Variables", {}))
        arn = lam.create_function(
            FunctionName=name,
            Runtime=props["Runtime"],
            Role=resolver.attributes[(role_lid, "Arn")],
            Handler=props["Handler"],
            Code={"ZipFile": _empty_zip()},
            Timeout=props.get("Timeout", 3),
            MemorySize=props.get("MemorySize", 128),
            Environment={"Variables": environment},
        )["FunctionArn"]
        resolver.refs[lid], resolver.attributes[(lid, "Arn")] = name, arn
        functions[name] = FunctionSpec(
            logical_id=lid,
            name=name,
            arn=arn,
            handler=props["Handler"],
            environment=environment,
            timeout_s=props.get("Timeout", 3),
            memory_mb=props.get("MemorySize", 128),
            code_dir=_asset_dir(build.synth, res),
            layer_dirs=[layer_dirs[resolver.resolve(layer)] for layer in props.get("Layers", [])],
            role=role_lid,
        )
    return functions


def _publish_versions(build: _Build, functions: dict[str, FunctionSpec]) -> None:
    """The versions the state machine invokes (stacks/orchestration.py): published in moto, each
    Ref the version's ARN, as CloudFormation resolves it; the invocation runs the same handler."""
    lam = boto3.client("lambda", region_name=REGION)
    for lid, res in resources_of_type(build.template, "AWS::Lambda::Version").items():
        function_name = build.resolver.resolve(res["Properties"]["FunctionName"])
        version = lam.publish_version(FunctionName=function_name)
        build.resolver.refs[lid] = version["FunctionArn"]
        build.resolver.attributes[(lid, "Version")] = version["Version"]
        functions[function_name].versions.append(version["FunctionArn"])


def _event_sources(build: _Build) -> list[EventSource]:
    """The SQS event source mappings, read and not created in moto: its SQS->Lambda poller delivers
    one message at a time without partial batch responses. The emulator's own driver
    (emulator.runtime) honours these settings instead."""
    resolver = build.resolver
    event_sources = []
    for res in resources_of_type(build.template, "AWS::Lambda::EventSourceMapping").values():
        props = resolver.resolve(res["Properties"])
        queue_arn = props["EventSourceArn"]
        queue_lid = next(
            lid for (lid, attr), value in resolver.attributes.items() if attr == "Arn" and value == queue_arn
        )
        event_sources.append(
            EventSource(
                function=props["FunctionName"],
                queue_url=resolver.refs[queue_lid],
                queue_arn=queue_arn,
                batch_size=int(props.get("BatchSize", 10)),
                max_concurrency=(props.get("ScalingConfig") or {}).get("MaximumConcurrency"),
                report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            )
        )
    return event_sources


def _create_state_machine(build: _Build) -> tuple[str, str, dict[str, Any]]:
    """The one state machine: its role's logical id, its ARN and its definition, references resolved."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    ((sm_lid, sm_res),) = resources_of_type(build.template, "AWS::StepFunctions::StateMachine").items()
    definition = build.resolver.resolve(sm_res["Properties"]["DefinitionString"])
    sm_role = _role_logical_id(sm_res, f"state machine {sm_lid}")
    state_machine_arn = sfn.create_state_machine(
        name=build.named(sm_lid, 80),
        definition=json.dumps(for_moto(json.loads(definition))),
        roleArn=build.resolver.attributes[(sm_role, "Arn")],
    )["stateMachineArn"]
    build.resolver.refs[sm_lid] = state_machine_arn
    build.resolver.attributes[(sm_lid, "Name")] = state_machine_arn.rsplit(":", 1)[-1]
    return sm_role, state_machine_arn, json.loads(definition)


def _put_policies(build: _Build) -> None:
    """The roles' AWS::IAM::Policy documents, last: they name the functions, queues, table and the
    state machine itself."""
    iam = boto3.client("iam", region_name=REGION)
    for res in resources_of_type(build.template, "AWS::IAM::Policy").values():
        props = res["Properties"]
        document = json.dumps(build.resolver.resolve(props["PolicyDocument"]))
        for role in props.get("Roles", []):
            iam.put_role_policy(
                RoleName=build.resolver.resolve(role), PolicyName=props["PolicyName"], PolicyDocument=document
            )


def _put_queue_policies(build: _Build) -> None:
    """The queues' resource policies (the work queue's limits who may send): they name the roles."""
    sqs = boto3.client("sqs", region_name=REGION)
    for res in resources_of_type(build.template, "AWS::SQS::QueuePolicy").values():
        props = build.resolver.resolve(res["Properties"])
        for url in props["Queues"]:
            sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])})


def _identities(build: _Build, sm_role: str) -> strict_iam.Identities:
    """The callers' credentials for strict mode: the operator's, and each role's, assumed."""
    iam = boto3.client("iam", region_name=REGION)
    sts = boto3.client("sts", region_name=REGION)
    identities = strict_iam.Identities(
        operator=strict_iam.create_operator(iam),
        roles={
            lid: strict_iam.assume(sts, lid, build.resolver.attributes[(lid, "Arn")])
            for lid in resources_of_type(build.template, "AWS::IAM::Role")
        },
    )
    identities.state_machine = identities.roles[sm_role]
    return identities


def _outputs(build: _Build) -> dict[str, Any]:
    """The stack's outputs, resolved, but those naming what the emulator does not create."""
    outputs = {}
    for name, output in build.template.get("Outputs", {}).items():
        # KeyError: it refers to something the emulator does not create (e.g. the schedule).
        with contextlib.suppress(KeyError):
            outputs[name] = build.resolver.resolve(output["Value"])
    return outputs
