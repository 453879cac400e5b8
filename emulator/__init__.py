"""An embedded AWS (moto) running the synthesized stack in-process: the local run and the
end-to-end tests both use it."""

import sys
from pathlib import Path

# The handlers' shared package is imported as the Lambda runtime does: from the lambdas/ folder.
_LAMBDAS = str(Path(__file__).resolve().parent.parent / "lambdas")
if _LAMBDAS not in sys.path:
    sys.path.append(_LAMBDAS)
