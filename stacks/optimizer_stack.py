"""The optimizer's stack: queues, functions and orchestration around an imported bucket."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import CfnOutput, Stack
from constructs import Construct

from .config import OptimizerConfig
from .functions import OptimizerFunctions
from .layers import synthesizing_to_destroy
from .ledger import RunLedger
from .monitoring import Monitoring
from .nag import suppress_reviewed_findings
from .orchestration import Orchestration
from .queues import WorkQueues

# The outputs are commands ready to paste: a real past day, not a pattern the CLI would refuse.
EXAMPLE_DAY = "01/31/2022"


class OptimizerStack(Stack):
    def __init__(self, scope: Construct, construct_id: str, *, config: OptimizerConfig, **kwargs: Any) -> None:
        super().__init__(
            scope,
            construct_id,
            description="Call-recording cost optimizer (resamples Amazon Connect recordings in place)",
            **kwargs,
        )
        self.config = config
        self.queues = WorkQueues(self, "Queues", config=config)
        self.ledger = RunLedger(self, "Ledger")
        self.functions = OptimizerFunctions(
            self, "Functions", config=config, queues=self.queues, ledger=self.ledger.table
        )
        self.orchestration = Orchestration(
            self,
            "Orchestration",
            config=config,
            lister=self.functions.lister,
            enqueuer=self.functions.enqueuer,
            restorer=self.functions.restorer,
            work_queue=self.queues.work,
            expirer=self.functions.expirer,
        )
        state_machine = self.orchestration.state_machine
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            state_machine=state_machine,
            work_queue=self.queues.work,
            dead_letter_queue=self.queues.dead_letter,
            converter=self.functions.converter,
            alarm_email=config.alarm_email,
        )
        CfnOutput(self, "StateMachineArn", value=state_machine.state_machine_arn)
        CfnOutput(self, "WorkQueueUrl", value=self.queues.work.queue_url)
        CfnOutput(self, "DeadLetterQueueUrl", value=self.queues.dead_letter.queue_url)
        CfnOutput(self, "AlarmTopicArn", value=self.monitoring.topic.topic_arn)
        # The dashboard's name is generated (two stacks coexist), so its link is an output. The
        # console's domain is the commercial partition's: a condition on the partition would be
        # a CloudFormation intrinsic for a link (in AWS China the console is console.amazonaws.cn).
        CfnOutput(
            self,
            "DashboardUrl",
            description="The optimizer's CloudWatch dashboard: runs, queues, recordings, bytes saved, errors",
            value=f"https://console.aws.amazon.com/cloudwatch/home?region={self.region}"
            f"#dashboards/dashboard/{self.monitoring.dashboard.dashboard_name}",
        )
        CfnOutput(
            self,
            "BackfillCommand",
            description='Converts a range of days (inclusive; add "dry_run": true to only count)',
            value=f"aws stepfunctions start-execution --state-machine-arn {state_machine.state_machine_arn} "
            + '--input \'{"start_date":"01/01/2020","end_date":"12/31/2020"}\'',
        )
        CfnOutput(
            self,
            "StartExecutionCommand",
            description=f"Converts one day by hand, here {EXAMPLE_DAY}: put the day you want (MM/DD/YYYY or "
            "YYYY-MM-DD)",
            value=f"aws stepfunctions start-execution --state-machine-arn {state_machine.state_machine_arn} "
            + '--input \'{"specific_date":"'
            + EXAMPLE_DAY
            + "\"}'",
        )
        # --destination-arn: without it SQS sends a message back to the queue its redrive policy
        # took it from, which only SQS's own moves record; the converter sends most failures to
        # the DLQ itself (Amazon SQS API reference, StartMessageMoveTask, DestinationArn).
        CfnOutput(
            self,
            "RedriveDeadLettersCommand",
            description="After fixing the cause: moves every DLQ message back to the work queue",
            value=f"aws sqs start-message-move-task --source-arn {self.queues.dead_letter.queue_arn} "
            f"--destination-arn {self.queues.work.queue_arn}",
        )
        converter_role, lister_role = self.functions.converter.role, self.functions.lister.role
        restorer_role = self.functions.restorer.role
        # Optional in the CDK's types; a Function given no role creates its own.
        assert converter_role is not None and lister_role is not None and restorer_role is not None
        suppress_reviewed_findings(
            config,
            converter_role=converter_role,
            lister_role=lister_role,
            restorer_role=restorer_role,
            state_machine=state_machine,
            expirer_role=self.functions.expirer.role if self.functions.expirer else None,
        )


def add_optimizer_stack(app: cdk.App) -> OptimizerStack:
    """The one way the stack is built, by app.py and by the local emulator alike."""
    config = OptimizerConfig.from_mapping(app.node.get_all_context(), to_destroy=synthesizing_to_destroy())
    return OptimizerStack(app, config.stack_name, config=config)
