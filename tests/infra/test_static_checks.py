"""cdk-nag (AwsSolutions) and cfn-lint on the synthesized templates: zero findings."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def test_cdk_nag_aws_solutions_has_no_unsuppressed_findings(default_synth, custom_synth):
    assert default_synth.nag_findings == []
    assert custom_synth.nag_findings == []


def test_cfn_lint_reports_no_errors_or_warnings(default_synth, custom_synth):
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run([str(cfn_lint), default_synth.path, custom_synth.path], capture_output=True, text=True)
    assert result.stdout + result.stderr == "" and result.returncode == 0, result.stdout + result.stderr
