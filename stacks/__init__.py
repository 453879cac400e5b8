"""The optimizer's CDK stack and its pure checks.

The Lambda code is imported as the Lambda runtime (and pytest.ini) imports it, `optimizer.*` from
lambdas/, so that the stack, the tests and the handlers share one declaration of the settings, the
formats and the names. Put on the path here, once, before any module of the package runs.
"""

import sys
from pathlib import Path

LAMBDA_DIR = Path(__file__).resolve().parent.parent / "lambdas"
if str(LAMBDA_DIR) not in sys.path:
    sys.path.append(str(LAMBDA_DIR))
