"""The three Lambda functions, their roles and log groups, and the converter's SQS trigger."""

from __future__ import annotations

from aws_cdk import CfnElement, CfnResource, Duration, RemovalPolicy, Size, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from constructs import Construct

from optimizer import names

from . import LAMBDA_DIR
from .config import LOG_RETENTION, OptimizerConfig
from .lambda_settings import runtime_settings
from .layers import OptimizerLayers
from .queues import WorkQueues

# Newest Python runtime in aws-cdk-lib. The handlers do not use pydub at run time, so its need
# for `audioop` (gone from the standard library in 3.13) does not apply to the functions.
RUNTIME = lambda_.Runtime.PYTHON_3_14
# The ledger's item kinds (lambdas/optimizer/ledger.py, known_failures.py) that the lister never
# writes: its UpdateItem is refused on them.
OTHER_ITEM_KINDS = ("done#*", "failure#*", "attempt#*", "page#*", "count#*", "undone#*", "undo#days", "undo-left#*")


class OptimizerFunctions(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: OptimizerConfig,
        queues: WorkQueues,
        ledger: dynamodb.ITable,
    ) -> None:
        super().__init__(scope, construct_id)
        self._config = config
        architecture = (
            lambda_.Architecture.ARM_64 if config.lambda_architecture == "arm64" else lambda_.Architecture.X86_64
        )
        self._architecture = architecture
        self.layers = OptimizerLayers(self, "Layers", architecture=architecture, runtime=RUNTIME)
        # One asset for the three handlers: they share the `optimizer` package.
        self._code = lambda_.Code.from_asset(
            str(LAMBDA_DIR), exclude=["requirements.txt", "**/__pycache__", "**/*.pyc"]
        )
        bucket = s3.Bucket.from_bucket_name(self, "Recordings", config.bucket_name)
        # Every function reads the same settings (optimizer.settings): one contract, built once.
        environment = runtime_settings(
            config,
            queue_url=queues.work.queue_url,
            dlq_url=queues.dead_letter.queue_url,
            ledger_table=ledger.table_name,
        ).to_env()

        self.lister = self._function(
            "Lister",
            "lister.handler",
            memory_mb=256,
            timeout_s=120,
            environment=environment,
        )
        # BatchGetItem: the run's counters, summed over their shards, and the known failures (and
        # recordings already in the target format, in the same items: lambdas/optimizer/known_formats.py).
        ledger.grant_read_data(self.lister)
        # A redo forgets the undo of the recordings it converts again (optimizer/undo.py, forget).
        self.lister.add_to_role_policy(self._ledger_items(ledger, ["dynamodb:DeleteItem"], "undone#*"))
        # A day's failure and a paused day's name on the run's item (its key is the execution's
        # name: no prefix to name) and a paused day's cursor (cursor#): never an item of another
        # role's kinds, so UpdateItem cannot create or overwrite a marker, a count or an attempt.
        self.lister.add_to_role_policy(
            iam.PolicyStatement(
                actions=["dynamodb:UpdateItem"],
                resources=[ledger.table_arn],
                conditions={"ForAllValues:StringNotLike": {"dynamodb:LeadingKeys": list(OTHER_ITEM_KINDS)}},
            )
        )
        self.lister.add_to_role_policy(
            iam.PolicyStatement(
                # The preflight reads the bucket's rules to say what the rewrite does to them
                # (lambdas/optimizer/bucket_rules.py).
                actions=[
                    "s3:GetBucketVersioning",
                    "s3:GetLifecycleConfiguration",
                    "s3:GetBucketObjectLockConfiguration",
                    "s3:GetReplicationConfiguration",
                ],
                resources=[bucket.bucket_arn],
            )
        )
        # ListBucket cannot be scoped by resource to a prefix; the s3:prefix condition does it.
        self.lister.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{config.bucket_prefix}*"]}},
            )
        )

        # The preflight reads the first byte of one recording the way the converter reads them
        # all, so a run the converter could not read stops before listing (ReadDenied).
        self.lister.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{config.bucket_prefix}*")]
            )
        )
        if config.kms_key_arn:
            self.lister.add_to_role_policy(self._kms_via_s3(config.kms_key_arn, ["kms:Decrypt"]))

        self.enqueuer = self._function(
            "Enqueuer",
            "enqueuer.handler",
            memory_mb=256,
            timeout_s=120,
            environment=environment,
        )
        queues.work.grant_send_messages(self.enqueuer)
        # Only the enqueuer's role, and the principals named for redrives, may send to the work
        # queue: an explicit Deny in the queue's policy, whatever an identity policy in the account
        # allows. SQS's own moves (the redrive policy to the DLQ) are not a SendMessage to it;
        # StartMessageMoveTask sends to its destination with its caller's permissions (Amazon SQS
        # developer guide, "Amazon SQS API permissions: Actions and resource reference":
        # sqs:SendMessage on the destination), so the caller is one of redrive_principals; the
        # event source mapping receives and deletes with the converter's role, never sends.
        enqueuer_role = self.enqueuer.role
        assert enqueuer_role is not None, "the function was given its role (_function)"
        queues.work.add_to_resource_policy(
            iam.PolicyStatement(
                sid="OnlyTheEnqueuerAndRedrivesSend",
                effect=iam.Effect.DENY,
                principals=[iam.AnyPrincipal()],
                actions=["sqs:SendMessage"],
                resources=[queues.work.queue_arn],
                conditions={"ArnNotEquals": {"aws:PrincipalArn": [enqueuer_role.role_arn, *config.redrive_principals]}},
            )
        )
        # The page's marker (read, then written with the counters in one transaction) and the
        # run's counters: optimizer/ledger.py. TransactWriteItems is authorized per action.
        self.enqueuer.add_to_role_policy(self._ledger_items(ledger, ["dynamodb:GetItem"], "page#*"))
        self.enqueuer.add_to_role_policy(self._ledger_items(ledger, ["dynamodb:UpdateItem"], "count#*"))
        self.enqueuer.add_to_role_policy(self._ledger_put(ledger, "page#*"))

        self.converter = self._function(
            "Converter",
            "converter.handler",
            memory_mb=config.converter_memory_mb,
            timeout_s=config.converter_timeout_seconds,
            ephemeral_mb=config.converter_ephemeral_mb,
            layers=[self.layers.ffmpeg],
            environment={**environment, "POWERTOOLS_METRICS_NAMESPACE": names.METRICS_NAMESPACE},
        )
        # Remembering a content failure (lambdas/optimizer/known_failures.py) or a recording already
        # in the target format (known_formats.py, the same failure# item) and marking a
        # recording accounted in its run (optimizer/ledger.py, in a transaction with the run's
        # counters): PutItem only on those items, so the converter cannot replace a run's counters.
        self.converter.add_to_role_policy(self._ledger_put(ledger, "failure#*", "done#*"))
        # The run's counter shards (ADD) and its own attempt items (ADD, the dead letter's claim),
        # each prefix by itself: the converter cannot touch a run's item, a page or a day.
        self.converter.add_to_role_policy(self._ledger_items(ledger, ["dynamodb:UpdateItem"], "count#*", "attempt#*"))
        # Its attempt items; the page markers (a message's run and page must be known to the ledger:
        # lambdas/optimizer/trust.py); done#: a verify run reads the chain of custody a conversion
        # recorded (optimizer/custody.py).
        self.converter.add_to_role_policy(
            self._ledger_items(ledger, ["dynamodb:GetItem"], "attempt#*", "page#*", "done#*")
        )
        objects = bucket.arn_for_objects(f"{config.bucket_prefix}*")
        self.converter.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:GetObject",
                    # a verify run reads the original a conversion replaced, by its VersionId
                    # (optimizer/custody.py); GetObject with a VersionId is authorized as this action
                    "s3:GetObjectVersion",
                    "s3:GetObjectTagging",
                    "s3:PutObjectTagging",  # the tag set travels with the PutObject (x-amz-tagging)
                    # a GetObject answers with the lock headers only to a caller holding these
                    "s3:GetObjectRetention",
                    "s3:GetObjectLegalHold",
                ],
                resources=[objects],
            )
        )
        # A verify run looks for a conversion under a current version without provenance
        # (optimizer/custody.py): ListObjectVersions of that key, under the prefix only.
        self.converter.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucketVersions"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{config.bucket_prefix}*"]}},
            )
        )
        # Each write action only in the form the converter's one PutObject uses (docs/security.md#permissions):
        # - PutObject only as a conditional write on the version read (Amazon S3 user guide,
        #   "Enforce conditional writes": the s3:if-match key is present with If-Match);
        # - a PutObject carrying Object Lock headers is authorized by PutObjectRetention /
        #   PutObjectLegalHold too, with the headers' values as s3:object-lock-mode,
        #   s3:object-lock-remaining-retention-days and s3:object-lock-legal-hold (Service
        #   Authorization Reference, "Actions, resources, and condition keys for Amazon S3"; Amazon
        #   S3 user guide, "Locking objects with Object Lock"): a hold only set ON, never lifted; a
        #   retention only in the modes carried over (GOVERNANCE by default), for at most
        #   carried_retention_max_days.
        self.converter.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[objects], conditions={"Null": {"s3:if-match": "false"}}
            )
        )
        self.converter.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObjectLegalHold"],
                resources=[objects],
                conditions={"StringEquals": {"s3:object-lock-legal-hold": "ON"}},
            )
        )
        self.converter.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:PutObjectRetention"],
                resources=[objects],
                conditions={
                    "StringEquals": {"s3:object-lock-mode": list(config.carried_lock_modes)},
                    "NumericLessThanEquals": {
                        "s3:object-lock-remaining-retention-days": str(config.carried_retention_max_days)
                    },
                },
            )
        )
        # GetObject on a key that is gone answers 404 only to a caller allowed s3:ListBucket on the
        # bucket; without it S3 answers 403 AccessDenied, which must keep meaning a real denial.
        # Unconditioned: a GetObject request carries no s3:prefix for a condition to match, and the
        # grant reveals only key names of this one bucket.
        self.converter.add_to_role_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
        # Versioning asked again every few minutes, and whether Object Lock is on (optimizer/trust.py).
        self.converter.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:GetBucketVersioning", "s3:GetBucketObjectLockConfiguration"],
                resources=[bucket.bucket_arn],
            )
        )
        if config.kms_key_arn:
            # What S3 asks of the caller for SSE-KMS objects: Decrypt to read, GenerateDataKey to
            # write; only through S3. Written out because grant_encrypt_decrypt adds wildcards
            # (ReEncrypt*, GenerateDataKey*) the converter does not need.
            self.converter.add_to_role_policy(
                self._kms_via_s3(config.kms_key_arn, ["kms:Decrypt", "kms:GenerateDataKey"])
            )
        queues.dead_letter.grant_send_messages(self.converter)
        # Retention by the recording's date, only when on: the stack's only deletion, its own role.
        self.expirer = self._expirer(config, bucket, environment) if config.retention_days else None
        self.restorer = self._restorer(config, environment, ledger, bucket)
        self.converter.add_event_source(
            sources.SqsEventSource(
                queues.work,
                batch_size=config.converter_batch_size,
                max_concurrency=config.converter_max_concurrency,
                report_batch_item_failures=True,
            )
        )

    def _expirer(self, config: OptimizerConfig, bucket: s3.IBucket, environment: dict[str, str]) -> lambda_.Function:
        """DeleteObject without a version id adds a delete marker; s3:DeleteObjectVersion, which
        removes a version for good, is never granted. The lock reads are per version: S3 accepts a
        delete marker over a locked version (lambdas/optimizer/retention.py)."""
        expirer = self._function("Expirer", "expirer.handler", memory_mb=256, timeout_s=300, environment=environment)
        expirer.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:DeleteObject", "s3:GetObjectRetention", "s3:GetObjectLegalHold"],
                resources=[bucket.arn_for_objects(f"{config.bucket_prefix}*")],
            )
        )
        expirer.add_to_role_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucketVersions"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{config.bucket_prefix}*"]}},
            )
        )
        expirer.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:GetBucketVersioning",
                    "s3:GetBucketObjectLockConfiguration",
                    "s3:GetLifecycleConfiguration",  # warns when no rule removes what a marker hides
                ],
                resources=[bucket.bucket_arn],
            )
        )
        return expirer

    def _restorer(
        self, config: OptimizerConfig, environment: dict[str, str], ledger: dynamodb.ITable, bucket: s3.IBucket
    ) -> lambda_.Function:
        """The undo (lambdas/restorer.py, optimizer/undo.py) in a role of its own: it copies an
        original version back onto its key (CopyObject), which the converter's role may not do,
        and it never converts, sends or deletes anything."""
        restorer = self._function(
            "Restorer",
            "restorer.handler",
            memory_mb=256,
            timeout_s=900,  # a page of ~500 recordings, one at a time: HEADs and server-side copies
            environment=environment,
        )
        objects = bucket.arn_for_objects(f"{config.bucket_prefix}*")
        restorer.add_to_role_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:GetObject",  # HEAD of the current version
                    "s3:GetObjectVersion",  # HEAD of an original version, and the copy's source
                    "s3:GetObjectVersionTagging",  # TaggingDirective COPY from a version
                    "s3:GetObjectRetention",  # the original's lock settings in its HEAD
                    "s3:GetObjectLegalHold",
                    "s3:PutObject",  # the copy's destination
                    "s3:PutObjectTagging",  # the original's tags on the copy
                    "s3:PutObjectRetention",  # the original's lock settings on the copy
                    "s3:PutObjectLegalHold",
                ],
                resources=[objects],
            )
        )
        # A missing version answers 404 (not_restorable) only to a caller allowed s3:ListBucket.
        restorer.add_to_role_policy(iam.PolicyStatement(actions=["s3:ListBucket"], resources=[bucket.bucket_arn]))
        if config.kms_key_arn:
            restorer.add_to_role_policy(self._kms_via_s3(config.kms_key_arn, ["kms:Decrypt", "kms:GenerateDataKey"]))
        # The undo markers (read, written before each copy), the undone days, the page's marker
        # with the run's counters: each action on its own item prefixes only.
        restorer.add_to_role_policy(self._ledger_items(ledger, ["dynamodb:BatchGetItem"], "undone#*"))
        restorer.add_to_role_policy(self._ledger_put(ledger, "undone#*", "page#*"))
        restorer.add_to_role_policy(self._ledger_items(ledger, ["dynamodb:GetItem"], "page#*"))
        restorer.add_to_role_policy(
            self._ledger_items(ledger, ["dynamodb:UpdateItem"], "undo#days", "count#*", "undo-left#*")
        )
        return restorer

    @staticmethod
    def _ledger_put(ledger: dynamodb.ITable, *leading_keys: str) -> iam.PolicyStatement:
        return OptimizerFunctions._ledger_items(ledger, ["dynamodb:PutItem"], *leading_keys)

    @staticmethod
    def _ledger_items(ledger: dynamodb.ITable, actions: list[str], *leading_keys: str) -> iam.PolicyStatement:
        """`actions` on the ledger's items whose key starts with one of `leading_keys` only."""
        return iam.PolicyStatement(
            actions=actions,
            resources=[ledger.table_arn],
            conditions={"ForAllValues:StringLike": {"dynamodb:LeadingKeys": list(leading_keys)}},
        )

    def _kms_via_s3(self, key_arn: str, actions: list[str]) -> iam.PolicyStatement:
        return iam.PolicyStatement(
            actions=actions,
            resources=[key_arn],
            conditions={"StringEquals": {"kms:ViaService": f"s3.{Stack.of(self).region}.amazonaws.com"}},
        )

    def _function(
        self,
        name: str,
        handler: str,
        *,
        memory_mb: int,
        timeout_s: int,
        environment: dict[str, str],
        ephemeral_mb: int = 512,
        layers: list[lambda_.ILayerVersion] | None = None,
    ) -> lambda_.Function:
        log_group = logs.LogGroup(
            self,
            f"{name}Logs",
            retention=logs.RetentionDays[LOG_RETENTION[self._config.log_retention_days]],
            removal_policy=RemovalPolicy.RETAIN,
        )
        # An explicit role instead of AWSLambdaBasicExecutionRole, whose logs:* on * is broader
        # than writing to this one log group.
        role = iam.Role(self, f"{name}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        log_group.grant_write(role)
        function = lambda_.Function(
            self,
            name,
            runtime=RUNTIME,
            architecture=self._architecture,
            handler=handler,
            code=self._code,
            role=role,
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_s),
            ephemeral_storage_size=Size.mebibytes(ephemeral_mb),
            # The handler names its Logger/Metrics with the same constant (optimizer/names.py).
            environment={**environment, "POWERTOOLS_SERVICE_NAME": getattr(names, name.upper())},
            layers=[self.layers.python_deps, *(layers or [])],
            log_group=log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            # The state machine invokes `current_version` (stacks/orchestration.py): a version an
            # execution started with must outlive the deployment that supersedes it. Retained, then
            # pruned by ./cdk-deploy.sh once superseded longer than the longest run
            # (scripts/prune_versions.py).
            current_version_options=lambda_.VersionOptions(removal_policy=RemovalPolicy.RETAIN),
        )
        drop_redundant_role_dependency(function, role)
        return function


def drop_redundant_role_dependency(resource: Construct, role: iam.IRole) -> None:
    """The CDK renders DependsOn on the role although the Role property's GetAtt already orders
    them (cfn-lint W3005). Only the dependency on the role's policy is kept: the function (and its
    SQS trigger) must not exist before its permissions do."""
    policy = role.node.try_find_child("DefaultPolicy")
    depends_on: list[str] = []
    if policy:
        policy_resource = policy.node.default_child
        assert isinstance(policy_resource, CfnElement), "a role's DefaultPolicy is an iam.Policy over a CfnPolicy"
        depends_on.append(Stack.of(resource).get_logical_id(policy_resource))
    function_resource = resource.node.default_child
    assert isinstance(function_resource, CfnResource), "an L2 construct (Function, StateMachine) over one CfnResource"
    function_resource.add_override("DependsOn", depends_on)
