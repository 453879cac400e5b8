"""What a converted version says about itself, in its user metadata (x-amz-meta-*).

The converter writes these on every version it creates, beside the original's own metadata, and
nothing else reads the ledger to know them: a run's conversions can be counted from S3 alone
(the truth check, emulator/report.py), a redelivered message whose conversion succeeded but whose
outcome was lost is recognised as this run's own (optimizer/conversion.py), and the original a
version replaced can be found and checked (chain of custody).

S3 keeps user metadata keys in lower case; their values are ASCII here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

RUN = "converted-by-run"  # the execution (run id) that wrote this version
ORIGINAL_VERSION_ID = "original-version-id"  # the VersionId of the version it replaced
ORIGINAL_SIZE = "original-size"  # that version's size in bytes
ORIGINAL_SHA256 = "original-sha256"  # the SHA-256 (hex) of that version's bytes, as read
# The SHA-256 (hex) of this version's own bytes, as written: a redelivered message whose conversion
# succeeded but whose outcome was lost records the chain of custody from it, without reading the
# body. Not evidence by itself (whoever replaces the version can write it too): a `verify` run
# checks the bytes against the ledger's record (optimizer/custody.py).
CONVERTED_SHA256 = "converted-sha256"
KEYS = (RUN, ORIGINAL_VERSION_ID, ORIGINAL_SIZE, ORIGINAL_SHA256, CONVERTED_SHA256)


@dataclass(frozen=True)
class Provenance:
    run: str
    original_version_id: str
    original_size: int
    original_sha256: str
    converted_sha256: str = ""  # "" on versions written before it was recorded

    def to_metadata(self) -> dict[str, str]:
        """The provenance as the converted object's user metadata."""
        return {
            RUN: self.run,
            ORIGINAL_VERSION_ID: self.original_version_id,
            ORIGINAL_SIZE: str(self.original_size),
            ORIGINAL_SHA256: self.original_sha256,
            **({CONVERTED_SHA256: self.converted_sha256} if self.converted_sha256 else {}),
        }

    @classmethod
    def of(cls, metadata: Mapping[str, str] | None) -> Provenance | None:
        """The provenance a version's metadata holds, or None for a version this optimizer did not write."""
        metadata = {key.lower(): value for key, value in (metadata or {}).items()}
        if RUN not in metadata:
            return None
        try:
            size = int(metadata.get(ORIGINAL_SIZE, ""))
        except ValueError:
            size = -1
        return cls(
            run=metadata[RUN],
            original_version_id=metadata.get(ORIGINAL_VERSION_ID, ""),
            original_size=size,
            original_sha256=metadata.get(ORIGINAL_SHA256, ""),
            converted_sha256=metadata.get(CONVERTED_SHA256, ""),
        )
