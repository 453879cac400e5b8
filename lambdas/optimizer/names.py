"""Names the stack and the handlers must agree on, defined once: the stack imports this module
(stacks/lambda_settings.py puts lambdas/ on its path) for its environment, alarms and dashboard."""

from __future__ import annotations

METRICS_NAMESPACE = "CallRecordingOptimizer"
# Powertools service names: each function's POWERTOOLS_SERVICE_NAME, the metrics' "service" dimension.
LISTER = "lister"
ENQUEUER = "enqueuer"
CONVERTER = "converter"
EXPIRER = "expirer"  # retention by the recording's date (lambdas/expirer.py), deployed only when on
RESTORER = "restorer"  # the undo (lambdas/restorer.py)

# The converter's metrics (embedded metric format)
BYTES_BEFORE = "BytesBefore"
BYTES_AFTER = "BytesAfter"
CONVERSION_SECONDS = "ConversionSeconds"
RECORDINGS_RETRIED = "RecordingsRetried"
LEDGER_WRITE_FAILURES = "LedgerWriteFailures"
KNOWN_FAILURE_WRITE_FAILURES = "KnownFailureWriteFailures"
KNOWN_FORMAT_WRITE_FAILURES = "KnownFormatWriteFailures"
OUTCOMES = ("converted", "skipped", "failed")


def recordings_metric(outcome: str) -> str:
    """RecordingsConverted, RecordingsSkipped, RecordingsFailed."""
    return f"Recordings{outcome.capitalize()}"
