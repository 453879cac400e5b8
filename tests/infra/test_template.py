"""The synthesized template carries every property the design promises."""

from __future__ import annotations

import json
from typing import Any

DATA_ACTION_PREFIXES = ("s3:", "sqs:", "lambda:", "states:", "kms:")


def statements(synth: Any, role_prefix: str) -> list[dict[str, Any]]:
    found = []
    for lid, policy in synth.resources("AWS::IAM::Policy").items():
        if lid.startswith(role_prefix):
            found += policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return action if isinstance(action, list) else [action]


def grants(synth: Any, role_prefix: str, prefix: str = "") -> dict[str, list[tuple[str, Any]]]:
    """Each action of the role's policies (starting with `prefix`), with every (resource, condition)
    it is granted on. cdk.json's @aws-cdk/aws-iam:minimizePolicies merges statements that share
    resources and conditions, so a test asks what an action may do, not how statements are cut."""
    found: dict[str, list[tuple[str, Any]]] = {}
    for st in statements(synth, role_prefix):
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        for action in actions(st):
            if action.startswith(prefix):
                found.setdefault(action, []).extend((flatten(r), st.get("Condition")) for r in resources)
    return found


def flatten(value: Any) -> str:
    """A CloudFormation value as text, with references shown as <LogicalId.Attr>."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "|".join(flatten(v) for v in value)
    if "Fn::Join" in value:
        return "".join(flatten(part) for part in value["Fn::Join"][1])
    if "Ref" in value:
        return f"<{value['Ref']}>"
    if "Fn::GetAtt" in value:
        return f"<{'.'.join(value['Fn::GetAtt'])}>"
    return json.dumps(value)


def definition(synth: Any) -> dict[str, Any]:
    machine = synth.one("AWS::StepFunctions::StateMachine")
    return json.loads(flatten(machine["Properties"]["DefinitionString"]))


def test_bucket_is_imported_never_created(default_synth):
    assert default_synth.resources("AWS::S3::Bucket") == {}
    assert default_synth.resources("AWS::S3::BucketPolicy") == {}


def test_no_hard_coded_physical_names(default_synth):
    named = {
        "AWS::Lambda::Function": "FunctionName",
        "AWS::SQS::Queue": "QueueName",
        "AWS::IAM::Role": "RoleName",
        "AWS::StepFunctions::StateMachine": "StateMachineName",
        "AWS::Scheduler::Schedule": "Name",
        "AWS::Logs::LogGroup": "LogGroupName",
        "AWS::Lambda::LayerVersion": "LayerName",
    }
    for cfn_type, prop in named.items():
        for lid, resource in default_synth.resources(cfn_type).items():
            assert prop not in resource.get("Properties", {}), f"{lid} hard-codes {prop}"


def test_queues_encrypted_tls_only_with_redrive_and_visibility(default_synth):
    queues = default_synth.resources("AWS::SQS::Queue")
    work_id = next(lid for lid, q in queues.items() if "RedrivePolicy" in q["Properties"])
    dlq_id = next(lid for lid in queues if lid != work_id)
    work, dlq = queues[work_id]["Properties"], queues[dlq_id]["Properties"]
    converter = default_synth.function("FunctionsConverter")["Properties"]

    assert work["SqsManagedSseEnabled"] is True and dlq["SqsManagedSseEnabled"] is True
    # The converter's 3 attempts (its own, in the ledger), 4 receives more that were not attempts
    # (throttled, returned with a batch, a failed ledger write; AWS advises at least 5 for a queue
    # feeding Lambda), then it dead-letters the message itself with a reason; SQS's silent move is
    # left for when that fails twice: 3 + 4 + 2.
    assert work["RedrivePolicy"] == {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_id, "Arn"]}, "maxReceiveCount": 9}
    assert converter["Environment"]["Variables"]["MAX_RECEIVE_COUNT"] == "3"
    assert work["VisibilityTimeout"] >= 6 * converter["Timeout"]
    # A moved message keeps its enqueue time: the DLQ keeps it longer than the work queue did.
    assert (work["MessageRetentionPeriod"], dlq["MessageRetentionPeriod"]) == (7 * 24 * 3600, 14 * 24 * 3600)
    policies = default_synth.resources("AWS::SQS::QueuePolicy").values()
    tls_denied: set[str] = set()
    for policy in policies:
        for st in policy["Properties"]["PolicyDocument"]["Statement"]:
            if st["Effect"] == "Deny" and st.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}:
                tls_denied.update(q["Ref"] for q in policy["Properties"]["Queues"])
    assert tls_denied == {work_id, dlq_id}


def test_functions_runtime_architecture_json_logs_retained_log_groups(default_synth, custom_synth):
    for synth, arch, retention in ((default_synth, "arm64", 90), (custom_synth, "x86_64", 365)):
        functions = synth.resources("AWS::Lambda::Function")
        assert len(functions) == 4  # lister, enqueuer, converter, restorer (the undo)
        for fn in functions.values():
            props = fn["Properties"]
            assert props["Runtime"] == "python3.14"
            assert props["Architectures"] == [arch]
            assert props["LoggingConfig"]["LogFormat"] == "JSON"
            assert "LogGroup" in props["LoggingConfig"]
        log_groups = synth.resources("AWS::Logs::LogGroup")
        assert len(log_groups) == 5  # four functions + the state machine
        for group in log_groups.values():
            assert group["Properties"]["RetentionInDays"] == retention
            assert group["DeletionPolicy"] == "Retain"


def test_converter_sized_for_a_four_hour_recording(default_synth):
    props = default_synth.function("FunctionsConverter")["Properties"]
    four_hours_wav = 4 * 3600 * 8000 * 2 * 2  # 460.8 MB of PCM
    # Input and output (a quarter) both sit in /tmp during the conversion.
    assert props["EphemeralStorage"]["Size"] * 1024 * 1024 >= four_hours_wav * 1.25 * 1.2
    assert props["MemorySize"] == 512
    assert props["Timeout"] == 600
    assert props["Environment"]["Variables"]["FFMPEG_PATH"] == "/opt/bin/ffmpeg"
    layers = {lid: r for lid, r in default_synth.resources("AWS::Lambda::LayerVersion").items()}
    ffmpeg = [lid for lid, r in layers.items() if "ffmpeg" in r["Properties"].get("Description", "")]
    assert all(
        r["Properties"].get("CompatibleArchitectures") == ["arm64"] for r in layers.values()
    )  # numpy is compiled too
    assert len(ffmpeg) == 1 and {"Ref": ffmpeg[0]} in props["Layers"]


def test_event_source_batches_with_partial_responses_and_a_concurrency_cap(default_synth, custom_synth):
    for synth, batch, concurrency in ((default_synth, 10, 50), (custom_synth, 5, 7)):
        mapping = synth.one("AWS::Lambda::EventSourceMapping")["Properties"]
        assert mapping["BatchSize"] == batch
        assert mapping["ScalingConfig"] == {"MaximumConcurrency": concurrency}
        assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_environment_carries_the_validated_configuration(custom_synth):
    env = custom_synth.function("FunctionsConverter")["Properties"]["Environment"]["Variables"]
    assert env["BUCKET_NAME"] == "acme.connect.recordings"
    assert env["BUCKET_PREFIX"] == "connect/acme/CallRecordings/"  # normalised with the slash
    assert env["STORAGE_CLASS"] == "STANDARD_IA"
    assert env["OVERWRITE_CONVERTED"] == "true"
    assert custom_synth.function("FunctionsConverter")["Properties"]["MemorySize"] == 2048
    # One contract: every function gets every variable the handlers read (optimizer.settings.ENV),
    # the same values, so no handler ever falls back on a default of its own.
    from optimizer.settings import ENV

    envs = {
        name: custom_synth.function(f"Functions{name}")["Properties"]["Environment"]["Variables"]
        for name in ("Lister", "Enqueuer", "Converter")
    }
    for name, variables in envs.items():
        assert set(ENV.values()) <= set(variables), name
        assert {k: variables[k] for k in ENV.values()} == {k: envs["Lister"][k] for k in ENV.values()}, name
        assert variables["POWERTOOLS_SERVICE_NAME"] == name.lower()


def test_state_machine_standard_logged_traced_with_timeout_and_retries(default_synth):
    machine = default_synth.one("AWS::StepFunctions::StateMachine")["Properties"]
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["LoggingConfiguration"]["Level"] == "ERROR"  # tests/infra/test_template_trust.py
    assert machine["TracingConfiguration"] == {"Enabled": True}
    asl = definition(default_synth)
    assert asl["TimeoutSeconds"] == 14 * 24 * 3600  # the work queue's retention
    assert asl["StartAt"] == "ResolveRun"
    child = asl["States"]["Days"]["ItemProcessor"]
    assert child["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert asl["States"]["Days"]["MaxConcurrency"] == 4 and asl["States"]["Days"]["ResultPath"] is None
    assert asl["States"]["RecordingsFailed"]["Error"] == "RecordingsFailed"


def test_every_task_retries_and_a_failed_day_stops_nothing(default_synth):
    asl = definition(default_synth)
    child = asl["States"]["Days"]["ItemProcessor"]
    states = {**asl["States"], **child["States"]}
    tasks = {name: state for name, state in states.items() if state["Type"] == "Task"}
    assert len(tasks) == 14
    for name, state in tasks.items():
        retried = [error for retry in state["Retry"] for error in retry["ErrorEquals"]]
        if "aws-sdk:sqs" in state["Resource"]:
            (retry,) = state["Retry"]
            assert retry["ErrorEquals"] == ["States.ALL"] and retry["BackoffRate"] >= 2 and retry["MaxAttempts"] >= 3, (
                name
            )
            continue
        assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= set(retried), name
        assert all(r["BackoffRate"] >= 2 for r in state["Retry"] if r["MaxAttempts"]), name
        # Every Lambda task may run again, EnqueuePage too: its page's marker in the ledger makes
        # a second attempt send only what SQS has not accepted yet, and count each recording once.
        assert {"Sandbox.Timedout", "States.TaskFailed"} <= set(retried), name
    # Refusals first, with no attempt: Retry runs before Catch, and States.TaskFailed matches them too.
    assert asl["States"]["ResolveRun"]["Retry"][0] == {"ErrorEquals": ["InvalidInput"], "MaxAttempts": 0}
    assert asl["States"]["Preflight"]["Retry"][0] == {
        "ErrorEquals": ["VersioningRequired", "ReadDenied"],
        "MaxAttempts": 0,
    }
    assert {c["ErrorEquals"][0] for c in asl["States"]["ResolveRun"]["Catch"]} == {"InvalidInput"}
    assert {c["ErrorEquals"][0] for c in asl["States"]["Preflight"]["Catch"]} == {"VersioningRequired"}
    # A day catches its own failure, records it and returns nothing; the Map tolerates the rest.
    for name in (
        "ResumeDay",
        "CheckQueueRoom",
        "ListPage",
        "EnqueuePage",
        "ResumeUndoDay",
        "ListUndoPage",
        "UndoPage",
        "PauseDay",
    ):
        assert child["States"][name]["Catch"] == [
            {"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "RecordDayFailure"}
        ]
    assert child["States"]["RecordDayFailure"]["Next"] == "DayFailed"
    for end in ("DayDone", "DayFailed", "DayPaused"):
        assert child["States"][end] == {"Type": "Succeed", "OutputPath": None}
    assert asl["States"]["Days"]["ToleratedFailurePercentage"] == 100
    for error in ("RecordingsFailed", "RecordingsUnaccounted", "DaysFailed", "CustodyMismatch"):
        assert asl["States"][error] == {"Type": "Fail", "Error": error, "CausePath": "$.summary.cause"}
    choices = asl["States"]["Outcome"]["Choices"]
    assert choices[0] == {"Variable": "$.summary.error", "IsNull": True, "Next": "Done"}
    assert [(c["StringEquals"], c["Next"]) for c in choices[1:]] == [
        (e, e) for e in ("RecordingsFailed", "RecordingsUnaccounted", "DaysFailed", "CustodyMismatch")
    ]


def test_state_machine_waits_and_refusals(default_synth):
    asl = definition(default_synth)
    child = asl["States"]["Days"]["ItemProcessor"]
    # The run waits for its own recordings' outcomes, as long as CheckRun says (its bounds:
    # optimizer/completion.py); a day waits for room in the queue a bounded number of times.
    assert asl["States"]["WaitForRecordings"] == {
        "Type": "Wait",
        "SecondsPath": "$.drain.wait_seconds",
        "Next": "CheckRun",
    }
    assert asl["States"]["AllAccounted"]["Choices"] == [
        {"Variable": "$.drain.state", "StringEquals": "waiting", "Next": "WaitForRecordings"}
    ]
    assert asl["States"]["AllAccounted"]["Default"] == "Summarize"
    lister_env = default_synth.function("FunctionsLister")["Properties"]["Environment"]["Variables"]
    assert (lister_env["QUEUE_POLL_SECONDS"], lister_env["DRAIN_LIMIT_SECONDS"]) == ("60", "61800")
    assert child["States"]["WaitForRoom"]["Seconds"] == 60
    # A day fails QueueNotDraining after 600 checks in a row without the queue shrinking: 10 h at
    # 60 s, the redrive threshold's 9 receives of a 1-hour visibility timeout and one more.
    assert child["States"]["StillWaiting"]["Choices"] == [
        {"Variable": "$.page.progress.waits.stalled", "NumericGreaterThanEquals": 600, "Next": "QueueNotDraining"},
        {"Variable": "$.page.progress.waits.n", "NumericGreaterThanEquals": 500, "Next": "PauseDay"},
    ]
    assert child["States"]["QueueNotDraining"]["Result"]["Error"] == "QueueNotDraining"
    assert "did not shrink through 600 checks in a row" in child["States"]["QueueNotDraining"]["Result"]["Cause"]
    assert child["States"]["QueueNotDraining"]["Next"] == "RecordDayFailure"
    assert asl["States"]["Refused"] == {"Type": "Fail", "ErrorPath": "$.error", "CausePath": "$.message.errorMessage"}
    assert child["States"]["QueueHasRoom"]["Choices"][0]["NumericLessThan"] == 20_000
    # Known failures that could not be read (KnownFailuresUnavailable, a States.TaskFailed): the
    # page is listed again, listing being idempotent; no refusal retrier stands before it.
    retries = child["States"]["ListPage"]["Retry"]
    assert any("States.TaskFailed" in r["ErrorEquals"] and r["MaxAttempts"] > 0 for r in retries)
    assert not any(r["MaxAttempts"] == 0 for r in retries)


def test_no_message_can_outlive_the_work_queue(default_synth, custom_synth):
    """The worst wait (a full queue and every listing day's page ahead, at the slowest pace, then
    every receive) stays within the work queue's 7 days; stacks/queues.py has the arithmetic."""
    from stacks.config import ConfigError, OptimizerConfig
    from stacks.queues import max_queued, worst_case_message_age_s

    defaults = OptimizerConfig.from_mapping(default_synth.context)
    assert max_queued(defaults) == 20_000
    # every receive up to the redrive threshold (3 attempts + 4 + 2), each hidden for 3,600 s
    assert worst_case_message_age_s(defaults) == (20_000 + 4 * 1_000 + 50 * 10) / (50 * 10 / 600) + 9 * 3_600 == 61_800
    custom = OptimizerConfig.from_mapping(custom_synth.context)
    assert max_queued(custom) == 5_040  # a day at 7 converters x 5 per 600 s
    child = definition(custom_synth)["States"]["Days"]["ItemProcessor"]
    assert child["States"]["QueueHasRoom"]["Choices"][0]["NumericLessThan"] == 5_040
    assert worst_case_message_age_s(custom) < 7 * 86_400

    import aws_cdk as cdk
    import pytest

    from stacks.optimizer_stack import add_optimizer_stack

    slow = {
        "bucket_name": "my-connect-recordings",
        "bucket_prefix": "connect/my-instance/CallRecordings/",
        "converter_max_concurrency": 2,
        "converter_batch_size": 1,
    }
    with pytest.raises(
        ConfigError, match="could wait and be retried 17.[0-9] days, longer than the work queue keeps it"
    ):
        add_optimizer_stack(cdk.App(context=slow))


def test_schedule_starts_the_state_machine_daily_with_an_empty_date(default_synth, custom_synth):
    for synth, expression, timezone in (
        (default_synth, "cron(0 23 * * ? *)", "UTC"),
        (custom_synth, "cron(30 2 * * ? *)", "Europe/Paris"),
    ):
        schedule = synth.one("AWS::Scheduler::Schedule")["Properties"]
        assert schedule["ScheduleExpression"] == expression
        assert schedule["ScheduleExpressionTimezone"] == timezone
        assert json.loads(schedule["Target"]["Input"]) == {"specific_date": ""}
        machine_id = next(iter(synth.resources("AWS::StepFunctions::StateMachine")))
        assert schedule["Target"]["Arn"] == {"Ref": machine_id}


def test_schedule_enabled_false_deploys_the_schedule_disabled(default_synth, custom_synth):
    """EventBridge Scheduler's State: ENABLED by default; -c schedule_enabled=false (custom_synth)
    deploys everything with the schedule DISABLED, so nothing runs until it is enabled."""
    assert default_synth.one("AWS::Scheduler::Schedule")["Properties"]["State"] == "ENABLED"
    assert custom_synth.context["schedule_enabled"] == "false"
    assert custom_synth.one("AWS::Scheduler::Schedule")["Properties"]["State"] == "DISABLED"
    # Everything else is deployed all the same.
    for cfn_type in ("AWS::StepFunctions::StateMachine", "AWS::Lambda::Function", "AWS::SQS::Queue"):
        assert len(custom_synth.resources(cfn_type)) == len(default_synth.resources(cfn_type)), cfn_type


def test_lister_lists_only_under_the_prefix(default_synth):
    """Asserted on the template: the strict emulator's IAM evaluation (moto's) ignores conditions
    such as s3:prefix, so there a conditioned Allow counts as unconditioned."""
    (listing,) = [st for st in statements(default_synth, "FunctionsListerRole") if "s3:ListBucket" in actions(st)]
    assert actions(listing) == ["s3:ListBucket"]
    assert flatten(listing["Resource"]) == "arn:<AWS::Partition>:s3:::my-connect-recordings"
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [default_synth.context["bucket_prefix"] + "*"]}}
    other_s3 = {
        a
        for st in statements(default_synth, "FunctionsListerRole")
        for a in actions(st)
        if a.startswith("s3:") and a != "s3:ListBucket"
    }
    # The preflight: the bucket's versioning and its rules (lifecycle, Object Lock, replication:
    # lambdas/optimizer/bucket_rules.py), and one recording's first byte.
    assert other_s3 == {
        "s3:GetBucketVersioning",
        "s3:GetLifecycleConfiguration",
        "s3:GetBucketObjectLockConfiguration",
        "s3:GetReplicationConfiguration",
        "s3:GetObject",
    }
    (preflight,) = [
        st for st in statements(default_synth, "FunctionsListerRole") if "s3:GetBucketVersioning" in actions(st)
    ]
    assert flatten(preflight["Resource"]) == "arn:<AWS::Partition>:s3:::my-connect-recordings"
    (probe,) = [st for st in statements(default_synth, "FunctionsListerRole") if "s3:GetObject" in actions(st)]
    assert actions(probe) == ["s3:GetObject"]
    assert flatten(probe["Resource"]) == (
        "arn:<AWS::Partition>:s3:::my-connect-recordings/" + default_synth.context["bucket_prefix"] + "*"
    )


def test_converter_reads_and_writes_only_under_the_prefix(custom_synth):
    s3_statements = [
        st for st in statements(custom_synth, "FunctionsConverterRole") if any(a.startswith("s3:") for a in actions(st))
    ]
    objects = [st for st in s3_statements if not flatten(st["Resource"]).endswith("acme.connect.recordings")]
    assert len(objects) == 4  # reads; PutObject; PutObjectLegalHold; PutObjectRetention (each its own conditions)
    for statement in objects:
        assert (
            flatten(statement["Resource"])
            == "arn:<AWS::Partition>:s3:::acme.connect.recordings/connect/acme/CallRecordings/*"
        )
    assert {"s3:GetObject", "s3:PutObject", "s3:GetObjectTagging", "s3:PutObjectTagging"} <= {
        a for st in objects for a in actions(st)
    }
    assert not any("Delete" in a for st in s3_statements for a in actions(st))


def test_converter_reads_versions_and_lists_a_keys_versions_only_under_the_prefix(custom_synth):
    """A verify run (optimizer/custody.py) reads the original by its VersionId and lists a key's
    versions: conditions asserted here, moto's evaluator ignores them."""
    converter = statements(custom_synth, "FunctionsConverterRole")
    (versions,) = [st for st in converter if "s3:ListBucketVersions" in actions(st)]
    assert actions(versions) == ["s3:ListBucketVersions"]
    assert flatten(versions["Resource"]) == "arn:<AWS::Partition>:s3:::acme.connect.recordings"
    assert versions["Condition"] == {"StringLike": {"s3:prefix": ["connect/acme/CallRecordings/*"]}}
    (objects,) = [st for st in converter if "s3:GetObjectVersion" in actions(st)]
    assert (
        flatten(objects["Resource"])
        == "arn:<AWS::Partition>:s3:::acme.connect.recordings/connect/acme/CallRecordings/*"
    )


def test_converter_may_list_the_bucket_so_a_gone_key_answers_404(custom_synth):
    """Without s3:ListBucket S3 answers 403 for a missing key, indistinguishable from a denial.
    Asserted on the template: moto answers 404 either way, and its evaluator ignores conditions
    (a GetObject request has no s3:prefix, so a prefix-conditioned grant might not count)."""
    assert grants(custom_synth, "FunctionsConverterRole")["s3:ListBucket"] == [
        ("arn:<AWS::Partition>:s3:::acme.connect.recordings", None)
    ]


def test_kms_key_granted_only_when_configured(default_synth, custom_synth):
    """Asserted on the template: moto ignores kms:ViaService, and the local run has no KMS key."""
    kms = [
        st
        for st in statements(custom_synth, "FunctionsConverterRole")
        if any(a.startswith("kms:") for a in actions(st))
    ]
    assert len(kms) == 1 and kms[0]["Resource"] == custom_synth.context["kms_key_arn"]
    assert sorted(actions(kms[0])) == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert flatten(kms[0]["Condition"]["StringEquals"]["kms:ViaService"]) == "s3.<AWS::Region>.amazonaws.com"
    assert not [
        st
        for st in statements(default_synth, "FunctionsConverterRole")
        if any(a.startswith("kms:") for a in actions(st))
    ]
    # The preflight's read probe decrypts like the converter reads, and only that.
    (probe,) = [
        st for st in statements(custom_synth, "FunctionsListerRole") if any(a.startswith("kms:") for a in actions(st))
    ]
    assert actions(probe) == ["kms:Decrypt"] and probe["Resource"] == custom_synth.context["kms_key_arn"]
    assert flatten(probe["Condition"]["StringEquals"]["kms:ViaService"]) == "s3.<AWS::Region>.amazonaws.com"
    assert not [
        st for st in statements(default_synth, "FunctionsListerRole") if any(a.startswith("kms:") for a in actions(st))
    ]


def test_enqueuer_sends_only_to_the_work_queue(default_synth):
    work_id = next(
        lid for lid, q in default_synth.resources("AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"]
    )
    sends = [st for st in statements(default_synth, "FunctionsEnqueuerRole") if "sqs:SendMessage" in actions(st)]
    assert [st["Resource"] for st in sends] == [{"Fn::GetAtt": [work_id, "Arn"]}]
    assert not any(
        a.startswith("s3:") for st in statements(default_synth, "FunctionsEnqueuerRole") for a in actions(st)
    )


def test_state_machine_invokes_its_two_functions_and_reads_only_the_work_queue(default_synth):
    sts = statements(default_synth, "OrchestrationStateMachineRole")
    invoked = {
        resource.strip("<>")
        for resource, _ in grants(default_synth, "OrchestrationStateMachineRole")["lambda:InvokeFunction"]
    }
    versions = default_synth.resources("AWS::Lambda::Version")
    assert invoked == set(versions)  # the published versions only: never $LATEST, nor any other
    assert {v["Properties"]["FunctionName"]["Ref"] for v in versions.values()} == {
        "FunctionsLister7519A4E9",
        "FunctionsEnqueuer48233569",
        "FunctionsRestorer1DFAC46D",  # the undo's UndoPage
    }
    read = {flatten(st["Resource"]) for st in sts if "sqs:getQueueAttributes" in actions(st)}
    # The work queue's depth for backpressure; the run's end is read from its ledger, not a queue.
    assert len(read) == 1 and all(r.startswith("<QueuesWork") for r in read)


def test_no_data_action_on_resource_star(default_synth, custom_synth):
    for synth in (default_synth, custom_synth):
        for lid, policy in synth.resources("AWS::IAM::Policy").items():
            for st in policy["Properties"]["PolicyDocument"]["Statement"]:
                if st["Resource"] == "*":
                    assert not [a for a in actions(st) if a.startswith(DATA_ACTION_PREFIXES)], lid
                    assert all(a.startswith(("xray:", "logs:")) for a in actions(st)), lid


def test_outputs_ready_to_paste(default_synth):
    """Each command output runs as pasted: no pattern to fill in, and an input the state machine accepts."""
    import datetime as dt
    import re
    import shlex

    from optimizer.dates import resolve_request

    outputs = {name: flatten(o["Value"]) for name, o in default_synth.template["Outputs"].items()}
    assert {
        "StateMachineArn",
        "WorkQueueUrl",
        "DeadLetterQueueUrl",
        "StartExecutionCommand",
        "RedriveDeadLettersCommand",
    } <= set(outputs)
    real = {
        name: re.sub(r"<[^>]+>", "arn:aws:states:eu-west-1:111122223333:stateMachine:Optimizer", value)
        for name, value in outputs.items()
    }
    for name in ("StartExecutionCommand", "BackfillCommand"):
        words = shlex.split(real[name])
        assert words[:5] == [
            "aws",
            "stepfunctions",
            "start-execution",
            "--state-machine-arn",
            "arn:aws:states:eu-west-1:111122223333:stateMachine:Optimizer",
        ]
        assert words[5] == "--input" and len(words) == 7, name
        request = resolve_request(json.loads(words[6]), today=dt.date(2026, 1, 1), num_days_age=7)
        assert request.source == ("input" if name == "StartExecutionCommand" else "range"), name
        assert not re.search(r"MM|DD|YYYY|<|>", outputs[name].replace("<Orchestration", "").split("--input")[1]), name
    assert outputs["StartExecutionCommand"].endswith("""--input '{"specific_date":"01/31/2022"}'""")
    description = default_synth.template["Outputs"]["StartExecutionCommand"]["Description"]
    assert "01/31/2022" in description and "MM/DD/YYYY" in description  # the formats are said where they belong
    # Every DLQ message goes back, also those the converter sent itself (SQS knows no source for them).
    work_id = next(
        lid for lid, q in default_synth.resources("AWS::SQS::Queue").items() if "RedrivePolicy" in q["Properties"]
    )
    dlq_id = next(lid for lid in default_synth.resources("AWS::SQS::Queue") if lid != work_id)
    assert (
        outputs["RedriveDeadLettersCommand"]
        == f"aws sqs start-message-move-task --source-arn <{dlq_id}.Arn> --destination-arn <{work_id}.Arn>"
    )


def test_destroy_removes_everything_but_the_log_groups(default_synth):
    """Versions are retained when an update supersedes them (an execution may still invoke them;
    scripts/prune_versions.py deletes them later); on destroy, deleting the function deletes all
    its versions (Lambda API reference, DeleteFunction: "Otherwise, all versions and aliases are
    deleted")."""
    for lid, resource in default_synth.template["Resources"].items():
        retained = ("AWS::Logs::LogGroup", "AWS::Lambda::Version")
        expected = "Retain" if resource["Type"] in retained else "Delete"
        assert resource.get("DeletionPolicy", "Delete") == expected, lid
        assert resource.get("UpdateReplacePolicy", "Delete") == expected, lid


def test_ledger_table_on_demand_with_ttl_and_scoped_grants(default_synth):
    table_id, table = next(iter(default_synth.resources("AWS::DynamoDB::Table").items()))
    props = table["Properties"]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["KeySchema"] == [{"AttributeName": "run", "KeyType": "HASH"}]
    # The enqueuer reads and writes its pages' markers (PutItem on page#* only, in a transaction
    # with the run's counters: TransactWriteItems is authorized per action) and adds to the counters.
    enq = grants(default_synth, "FunctionsEnqueuerRole", "dynamodb:")
    assert set(enq) == {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"}
    assert all(len(granted) == 1 and granted[0][0].startswith(f"<{table_id}.Arn>") for granted in enq.values())
    assert enq["dynamodb:PutItem"][0][1] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["page#*"]}}
    assert enq["dynamodb:GetItem"][0][1] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["page#*"]}}
    assert enq["dynamodb:UpdateItem"][0][1] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["count#*"]}}
    # The converter adds to the run's counter shards and its attempt items, reads its attempt
    # items, and writes only the remembered failures' items and its recordings' done markers: each
    # action on its own prefixes, never the run's item, a page or a day. (Conditions: asserted
    # here, moto's evaluator ignores them.)
    writes = grants(default_synth, "FunctionsConverterRole", "dynamodb:")
    assert set(writes) == {"dynamodb:UpdateItem", "dynamodb:PutItem", "dynamodb:GetItem"}
    assert all(len(granted) == 1 and granted[0][0].startswith(f"<{table_id}.Arn>") for granted in writes.values())

    def leading_keys(action: str) -> list[str]:
        return writes[action][0][1]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]

    assert leading_keys("dynamodb:UpdateItem") == ["count#*", "attempt#*"]
    assert leading_keys("dynamodb:GetItem") == [
        "attempt#*",
        "page#*",
        "done#*",
    ]  # page#: the run is known; done#: custody
    assert leading_keys("dynamodb:PutItem") == ["failure#*", "done#*"]
    reads = {
        a for st in statements(default_synth, "FunctionsListerRole") for a in actions(st) if a.startswith("dynamodb:")
    }
    # BatchGetItem: the run's counters summed over their shards (optimizer.ledger.read), and the
    # known failures. UpdateItem: a day's failure (optimizer.day_failures), never on another role's
    # item kinds (tests/infra/test_template_trust.py); never PutItem. DeleteItem only on the undo
    # markers (a redo forgets them: optimizer/undo.py), by its LeadingKeys condition.
    assert {"dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:UpdateItem"} <= reads
    assert "dynamodb:PutItem" not in reads
    (deletes,) = grants(default_synth, "FunctionsListerRole")["dynamodb:DeleteItem"]
    assert deletes[1] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["undone#*"]}}
    # The restorer: each ledger action on its own item prefixes (optimizer/undo.py, lambdas/restorer.py).
    restorer = {
        tuple(actions(st)): st["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
        for st in statements(default_synth, "FunctionsRestorerRole")
        if any(a.startswith("dynamodb:") for a in actions(st))
    }
    assert restorer == {
        ("dynamodb:BatchGetItem",): ["undone#*"],
        ("dynamodb:PutItem",): ["undone#*", "page#*"],
        ("dynamodb:GetItem",): ["page#*"],
        ("dynamodb:UpdateItem",): ["undo#days", "count#*", "undo-left#*"],
    }


# Every way a run or a recording can end without success, and the alarm that reports it.
ALARMED = {
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum"),  # anything left in the DLQ
    ("AWS/SQS", "NumberOfMessagesSent", "Sum"),  # new dead letters (the converter's own sends)
    ("AWS/States", "ExecutionsFailed", "Sum"),
    ("AWS/States", "ExecutionsTimedOut", "Sum"),
    ("AWS/States", "ExecutionsAborted", "Sum"),
}


def test_alarms_on_every_silent_ending_notify_an_encrypted_topic(default_synth, custom_synth):
    ((topic_id, topic),) = default_synth.resources("AWS::SNS::Topic").items()
    alarms = {lid: a["Properties"] for lid, a in default_synth.resources("AWS::CloudWatch::Alarm").items()}
    assert {(a["Namespace"], a["MetricName"], a["Statistic"]) for a in alarms.values()} == ALARMED
    assert len(alarms) == len(ALARMED)
    queues = default_synth.resources("AWS::SQS::Queue")
    (dlq_id,) = [lid for lid, q in queues.items() if "RedrivePolicy" not in q["Properties"]]
    (state_machine_id,) = default_synth.resources("AWS::StepFunctions::StateMachine")
    for alarm in alarms.values():
        assert (alarm["Threshold"], alarm["ComparisonOperator"]) == (0, "GreaterThanThreshold")
        assert (alarm["EvaluationPeriods"], alarm["Period"], alarm["TreatMissingData"]) == (1, 300, "notBreaching")
        assert alarm["AlarmActions"] == [{"Ref": topic_id}]
        assert alarm["AlarmDescription"]  # says what happened and where to look
        (dimension,) = alarm["Dimensions"]
        if alarm["Namespace"] == "AWS/SQS":  # both on the dead-letter queue, not the work queue
            assert dimension == {"Name": "QueueName", "Value": {"Fn::GetAtt": [dlq_id, "QueueName"]}}
        else:
            assert dimension == {"Name": "StateMachineArn", "Value": {"Ref": state_machine_id}}
    assert default_synth.resources("AWS::SNS::Subscription") == {}
    (subscription,) = custom_synth.resources("AWS::SNS::Subscription").values()
    assert subscription["Properties"]["Protocol"] == "email"
    assert subscription["Properties"]["Endpoint"] == custom_synth.context["alarm_email"]


def test_the_dashboard_url_is_an_output(default_synth):
    (dashboard_id,) = default_synth.resources("AWS::CloudWatch::Dashboard")
    output = default_synth.template["Outputs"]["DashboardUrl"]
    assert flatten(output["Value"]) == (
        f"https://console.aws.amazon.com/cloudwatch/home?region=<AWS::Region>#dashboards/dashboard/<{dashboard_id}>"
    )
    assert "dashboard" in output["Description"]


def test_the_alarms_can_publish_to_their_encrypted_topic(default_synth):
    """Asserted on the template: the emulator evaluates neither KMS key policies nor topic
    policies, nor does anything deliver alarm actions. With the AWS-managed alias/aws/sns key, or
    a topic policy holding only the TLS Deny, every alarm would go to ALARM in silence."""
    ((topic_id, topic),) = default_synth.resources("AWS::SNS::Topic").items()
    ((key_id, key),) = default_synth.resources("AWS::KMS::Key").items()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    (for_alarms,) = [
        st
        for st in key["Properties"]["KeyPolicy"]["Statement"]
        if st.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert (for_alarms["Effect"], sorted(actions(for_alarms))) == ("Allow", ["kms:Decrypt", "kms:GenerateDataKey*"])
    assert for_alarms["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    assert (
        flatten(for_alarms["Condition"]["ArnLike"]["aws:SourceArn"])
        == "arn:<AWS::Partition>:cloudwatch:<AWS::Region>:<AWS::AccountId>:alarm:*"
    )
    (policy,) = default_synth.resources("AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    by_effect = {st["Effect"]: st for st in policy["Properties"]["PolicyDocument"]["Statement"]}
    assert by_effect["Deny"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    allow = by_effect["Allow"]
    assert (allow["Principal"], actions(allow), allow["Resource"]) == (
        {"Service": "cloudwatch.amazonaws.com"},
        ["sns:Publish"],
        {"Ref": topic_id},
    )
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    alarm_ids = set(default_synth.resources("AWS::CloudWatch::Alarm"))
    assert {arn["Fn::GetAtt"][0] for arn in allow["Condition"]["ArnLike"]["aws:SourceArn"]} == alarm_ids
    # Nothing kept after `cdk destroy` is encrypted with this key, so it may go with the stack.
    encrypted_with_it = [
        lid
        for lid, r in default_synth.template["Resources"].items()
        if key_id in json.dumps(r.get("Properties", {})) and r["Type"] != "AWS::SNS::Topic"
    ]
    assert encrypted_with_it == []


def test_dashboard_shows_runs_queues_conversions_savings_and_errors(default_synth):
    (dashboard,) = default_synth.resources("AWS::CloudWatch::Dashboard").values()
    body = flatten(dashboard["Properties"]["DashboardBody"])
    for title in ("Executions", "Work queue", "Dead-letter queue", "Recordings", "Bytes", "Converter"):
        assert f'"title":"{title}"' in body
    for metric in (
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionsAborted",
        "NumberOfMessagesSent",
        "ApproximateAgeOfOldestMessage",
        "RecordingsConverted",
        "BytesBefore",
        "Throttles",
        "Errors",
        "Duration",
    ):
        assert metric in body
    assert "before - after" in body and "DashboardName" not in dashboard["Properties"]


def test_converter_publishes_metrics_in_its_namespace(default_synth):
    env = default_synth.function("FunctionsConverter")["Properties"]["Environment"]["Variables"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == "CallRecordingOptimizer"
    assert env["MAX_RECEIVE_COUNT"] == "3"


def test_every_lambda_task_invokes_the_version_published_with_the_deployment(default_synth):
    """Issue 16, item 9: an execution keeps the code it started with (a backfill runs for days)."""
    asl = definition(default_synth)
    states = {**asl["States"], **asl["States"]["Days"]["ItemProcessor"]["States"]}
    lambda_tasks = {n: s for n, s in states.items() if s["Type"] == "Task" and "lambda:invoke" in s["Resource"]}
    assert len(lambda_tasks) == 13
    versions = set(default_synth.resources("AWS::Lambda::Version"))
    machine = default_synth.one("AWS::StepFunctions::StateMachine")
    refs = {
        part["Ref"] for part in machine["Properties"]["DefinitionString"]["Fn::Join"][1] if isinstance(part, dict)
    } - {"AWS::Partition", "AWS::Region", "AWS::AccountId"}
    assert refs - versions == {r for r in refs if r.startswith("Queues")}  # the queue's URL for CheckQueueRoom
    for name, state in lambda_tasks.items():
        target = state["Parameters"]["FunctionName"]
        assert target.startswith(
            ("<FunctionsListerCurrentVersion", "<FunctionsEnqueuerCurrentVersion", "<FunctionsRestorerCurrentVersion")
        ), name


def test_a_day_runs_in_rounds_and_the_parent_loops_over_the_paused_days(default_synth):
    from optimizer import rounds

    asl = definition(default_synth)
    child = asl["States"]["Days"]["ItemProcessor"]["States"]
    assert asl["States"]["Days"]["ItemsPath"] == "$.round.days"
    assert asl["States"]["Days"]["ItemSelector"]["round.$"] == "$.round.number"
    assert asl["States"]["Days"]["Next"] == "NextRound"
    assert asl["States"]["NextRound"]["ResultPath"] == "$.round"
    assert asl["States"]["MoreRounds"] == {
        "Type": "Choice",
        "Choices": [{"Variable": "$.round.more", "BooleanEquals": True, "Next": "Days"}],
        "Default": "StartWaiting",
    }
    assert asl["States"]["ResolveRun"]["ResultSelector"]["round"] == {"days.$": "$.Payload.days", "number": 1}
    # From the second round, a day resumes from its saved progress; a round ends at its budget.
    # (its first two choices take an undo's day to its own loop: test_the_undo_has_a_role_of_its_own...)
    assert child["Resuming"]["Choices"][-1] == {"Variable": "$.round", "NumericGreaterThan": 1, "Next": "ResumeDay"}
    assert child["Resuming"]["Default"] == "CheckQueueRoom" and child["ResumeDay"]["Next"] == "CheckQueueRoom"
    assert child["MorePages"]["Choices"] == [
        {"Variable": "$.page.progress.cursor.done", "BooleanEquals": True, "Next": "DayDone"},
        {"Variable": "$.page.progress.pages", "NumericGreaterThanEquals": rounds.PAGES_PER_ROUND, "Next": "PauseDay"},
    ]
    assert child["MorePages"]["Default"] == "CheckQueueRoom"
    assert child["PauseDay"]["Next"] == "DayPaused"
    assert {k for k in child["PauseDay"]["Parameters"]["Payload"]} == {
        "action",
        "run.$",
        "day.$",
        "round.$",
        "progress.$",
    }
    # Every execution's history stays under 25,000 events (optimizer/rounds.py's arithmetic).
    assert rounds.round_events() + 3 * 2_000 < 25_000


def test_backpressure_counts_everything_the_queue_holds_and_waits_without_progress(default_synth):
    """Visible, in flight and delayed (Amazon SQS developer guide, "Amazon SQS standard queue quotas": a
    standard queue holds ~120,000 in flight); the stall count starts again when the queue shrank."""
    child = definition(default_synth)["States"]["Days"]["ItemProcessor"]["States"]
    queued = child["CheckQueueRoom"]["ResultSelector"]["queued.$"]
    for attribute in (
        "ApproximateNumberOfMessages)",
        "ApproximateNumberOfMessagesNotVisible)",
        "ApproximateNumberOfMessagesDelayed)",
    ):
        assert f"States.StringToJson($.Attributes.{attribute}" in queued
    assert queued.startswith("States.MathAdd(States.MathAdd(")
    assert child["QueueHasRoom"]["Default"] == "Shrank"
    assert child["Shrank"] == {
        "Type": "Choice",
        "Choices": [
            {"Variable": "$.room.queued", "NumericLessThanPath": "$.page.progress.waits.last", "Next": "ResetStall"}
        ],
        "Default": "CountStall",
    }
    assert child["ResetStall"]["Parameters"] == {
        "n.$": "States.MathAdd($.page.progress.waits.n, 1)",
        "stalled": 0,
        "last.$": "$.room.queued",
    }
    assert child["CountStall"]["Parameters"]["stalled.$"] == "States.MathAdd($.page.progress.waits.stalled, 1)"
    assert child["ResetStall"]["Next"] == child["CountStall"]["Next"] == "StillWaiting"
    assert child["StillWaiting"]["Default"] == "WaitForRoom" and child["WaitForRoom"]["Next"] == "CheckQueueRoom"


def test_the_undo_has_a_role_of_its_own_that_copies_back_and_never_deletes(default_synth):
    """Issue 17 item 3: the restorer copies an original version onto its key (CopyObject); the
    converter's role is not widened for it, and nothing may delete a version or an object."""
    s3_actions = {
        a for st in statements(default_synth, "FunctionsRestorerRole") for a in actions(st) if a.startswith("s3:")
    }
    assert s3_actions == {
        "s3:GetObject",
        "s3:GetObjectVersion",
        "s3:GetObjectVersionTagging",
        "s3:GetObjectRetention",
        "s3:GetObjectLegalHold",
        "s3:PutObject",
        "s3:PutObjectTagging",
        "s3:PutObjectRetention",
        "s3:PutObjectLegalHold",
        "s3:ListBucket",
    }
    # The converter's role is not widened for it: its PutObject holds the conditional-write key,
    # which a CopyObject cannot carry (S3 user guide, "Enforce conditional writes").
    (put,) = [st for st in statements(default_synth, "FunctionsConverterRole") if "s3:PutObject" in actions(st)]
    assert put["Condition"] == {"Null": {"s3:if-match": "false"}}
    every = {a for lid in ("Functions", "Orchestration") for st in statements(default_synth, lid) for a in actions(st)}
    assert not [a for a in every if a.startswith("s3:Delete")]
    asl = definition(default_synth)
    child = asl["States"]["Days"]["ItemProcessor"]["States"]
    # A conversion's page is as before (no state added to its loop: its history events per page
    # are rounds.PAGE_EVENTS); an undo's day takes its own loop, chosen once where the day starts.
    assert child["ListPage"]["Next"] == "EnqueuePage" and child["EnqueuePage"]["Next"] == "MorePages"
    undo_resumed, undo_first, resumed = child["Resuming"]["Choices"]
    assert (undo_resumed["Next"], undo_first["Next"], resumed["Next"]) == ("ResumeUndoDay", "ListUndoPage", "ResumeDay")
    assert undo_first == {"Variable": "$.run.undo", "IsPresent": True, "Next": "ListUndoPage"}
    assert child["Resuming"]["Default"] == "CheckQueueRoom"
    assert child["ResumeUndoDay"]["Next"] == "ListUndoPage" and child["ListUndoPage"]["Next"] == "UndoPage"
    assert child["UndoPage"]["Next"] == "MoreUndoPages"
    more = {c["Next"] for c in child["MoreUndoPages"]["Choices"]} | {child["MoreUndoPages"]["Default"]}
    assert more == {"DayDone", "PauseDay", "ListUndoPage"}
    # Every state of the undo's loop names an action the lister or the restorer has.
    from lister import STATES

    assert {"ListUndoPage", "ResumeUndoDay"} <= set(STATES)
