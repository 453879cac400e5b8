"""The work queue's message: one recording to convert, or with `verify`, to verify (optimizer/custody.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

VERSION = 1


class BadMessage(Exception):
    """A message the converter cannot act on (not produced by this optimizer's enqueuer)."""


@dataclass(frozen=True)
class Recording:
    bucket: str
    key: str
    etag: str
    size: int
    run: str = ""  # the execution that enqueued it: its ledger counts the outcome
    verify: bool = False  # check it against its chain of custody instead of converting it
    # The page the enqueuer listed it on, and its place there: the page's marker in the run's
    # ledger (optimizer/ledger.py) is how the converter knows the run sent it (optimizer/trust.py).
    page: str = ""
    index: int = -1

    def to_body(self) -> str:
        """The SQS message body, printable ASCII: from_body reads it back unchanged."""
        # ensure_ascii keeps the body printable ASCII: SQS rejects some characters that S3 keys
        # may hold (control characters), and the key must survive byte for byte.
        body: dict[str, Any] = {
            "v": VERSION,
            "bucket": self.bucket,
            "key": self.key,
            "etag": self.etag,
            "size": self.size,
        }
        if self.run:
            body["run"] = self.run
        if self.verify:
            body["verify"] = True
        if self.page:
            body["page"], body["index"] = self.page, self.index
        return json.dumps(body)

    @classmethod
    def from_body(cls, body: str) -> Recording:
        """The recording a message body names, or BadMessage saying what is wrong with it."""
        try:
            data: Any = json.loads(body)
            if not isinstance(data, dict):
                raise TypeError("not an object")
            rec = cls(
                bucket=data["bucket"],
                key=data["key"],
                etag=data.get("etag", ""),
                size=int(data.get("size", 0)),
                run=str(data.get("run", "")),
                verify=data.get("verify") is True,
                page=str(data.get("page", "")),
                index=int(data.get("index", -1)),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise BadMessage(f"message body is not a recording message ({type(exc).__name__}: {exc})") from None
        if not isinstance(rec.bucket, str) or not isinstance(rec.key, str) or not rec.key:
            raise BadMessage("message body has no usable bucket/key")
        return rec
