"""Putting a page of recordings on the work queue: 10 per SendMessageBatch, failures retried."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .formats import TARGET, TargetFormat
from .messages import Recording

SQS_BATCH = 10
MAX_ATTEMPTS = 5


class EnqueueFailed(Exception):
    """Some messages could not be sent after retries; the state machine retries the whole task,
    which sends only what is still missing (optimizer/ledger.py, the page's marker)."""

    def __init__(self, message: str, accepted: set[int] | None = None) -> None:
        super().__init__(message)
        self.accepted: set[int] = set(accepted or ())


def recordings_of_page(
    bucket: str, prefix: str, items: Iterable[Sequence[Any]], run: str = "", page: str = "", verify: bool = False
) -> list[Recording]:
    """Rebuilds full keys exactly as S3 returned them (no URL decoding). The lister has already
    left out what is not audio (optimizer/listing.py, skip_reason). Each message names its page
    and its place there (the page's marker: optimizer/trust.py)."""
    return [
        Recording(
            bucket=bucket,
            key=prefix + rel,
            etag=etag,
            size=int(size),
            run=run,
            page=page,
            index=i if page else -1,
            verify=verify,
        )
        for i, (rel, etag, size) in enumerate(items)
    ]


def chunks(seq: Sequence[Any], size: int = SQS_BATCH) -> Iterable[Sequence[Any]]:
    """`seq` in consecutive slices of at most `size` (an SQS batch)."""
    for start in range(0, len(seq), size):
        yield seq[start : start + size]


def send_batch(
    sqs: Any,
    queue_url: str,
    bodies: Mapping[int, str],
    *,
    max_attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[int, set[int]]:
    """Sends up to 10 bodies, by their index in the page; retries only the failed entries.

    Returns (SendMessageBatch calls made, indexes accepted). Raises EnqueueFailed, which carries
    the indexes accepted before it gave up, when some were still refused."""
    pending: dict[str, str] = {str(i): body for i, body in bodies.items()}
    accepted: set[int] = set()
    calls = 0
    last_failures: list[Mapping[str, Any]] = []
    for attempt in range(max_attempts):
        if attempt:
            sleep(min(0.2 * 2**attempt, 5.0))
        response = sqs.send_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": i, "MessageBody": b} for i, b in pending.items()]
        )
        calls += 1
        last_failures = response.get("Failed", [])
        for ok in response.get("Successful", []):
            if pending.pop(ok["Id"], None) is not None:
                accepted.add(int(ok["Id"]))
        if not pending:
            return calls, accepted
        # A sender fault (malformed entry) will fail the same way again: stop now.
        if any(f.get("SenderFault") for f in last_failures):
            break
    reasons = "; ".join(f"{f.get('Code')}: {f.get('Message')}" for f in last_failures) or "unknown"
    raise EnqueueFailed(
        f"{len(pending)} of {len(bodies)} messages not accepted after {calls} attempt(s): {reasons}", accepted
    )


def enqueue(
    sqs: Any, queue_url: str, recordings: Sequence[Recording], *, skip: Iterable[int] = (), **kwargs: Any
) -> tuple[int, set[int]]:
    """Sends every recording of the page whose index is not in `skip` (already on the queue).

    Returns (SendMessageBatch calls made, indexes accepted); EnqueueFailed carries the indexes
    accepted before the failure, so that the caller can record them."""
    skipped = set(skip)
    todo = [i for i in range(len(recordings)) if i not in skipped]
    calls, accepted = 0, set[int]()
    for chunk in chunks(todo):
        try:
            made, ok = send_batch(sqs, queue_url, {i: recordings[i].to_body() for i in chunk}, **kwargs)
        except EnqueueFailed as failed:
            failed.accepted |= accepted
            raise
        calls += made
        accepted |= ok
    return calls, accepted


PCM_HEADER_BYTES = 44  # a plain 16-bit PCM WAV's header, as Connect writes it
CONNECT_BYTES_PER_SECOND = 32_000  # 16-bit stereo at 8 kHz


def projected_size(size: int, target: TargetFormat = TARGET) -> int:
    """The dry run's estimate: the target format's size for a Connect recording of `size` bytes
    (A-law 8 kHz: exactly a quarter of the samples in mono, a half in stereo, plus its header)."""
    return target.projected_size(size - PCM_HEADER_BYTES, CONNECT_BYTES_PER_SECOND)
