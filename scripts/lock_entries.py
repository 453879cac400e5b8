"""Entries of a hash-locked requirements file (scripts/lock.sh writes them), for pip's
--require-hashes mode. Standard library only: it runs before any set-up.

    python3 scripts/lock_entries.py LOCK [--only NAME ...] [--except NAME ...] [--pins REQUIREMENTS]

Prints the lock's entries, one a line (`name==version ; marker --hash=sha256:... ...`), all of
them, only those named (--only), or all but those named (--except). With --pins, first checks
that every `name==version` of REQUIREMENTS (the hand-written pins the lock was made from) but
those of --except is in the lock at that version, and exits 2 saying which is not: a pin changed
without scripts/lock.sh.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path

_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;\\]+)")


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def entries(text: str) -> list[str]:
    """The lock's requirement entries, each with its continuation lines joined, without comments."""
    out: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line:
            if current:
                out.append(current)
                current = ""
            continue
        continued = line.endswith("\\")
        current = f"{current} {line.rstrip(chr(92)).strip()}".strip()
        if not continued:
            out.append(current)
            current = ""
    if current:
        out.append(current)
    return [entry for entry in out if entry and not entry.startswith("-")]


def name_of(entry: str) -> str | None:
    match = _NAME.match(entry)
    return normalized(match.group(1)) if match else None


def versions(lock_entries: Sequence[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for entry in lock_entries:
        match = _NAME.match(entry)
        if match:
            found.setdefault(normalized(match.group(1)), set()).add(match.group(3))
    return found


def unlocked_pins(requirements: str, lock_entries: Sequence[str], excluded: frozenset[str] = frozenset()) -> list[str]:
    """The `name==version` pins of a requirements file the lock does not hold at that version
    (those named in `excluded` aside)."""
    locked = versions(lock_entries)
    missing = []
    for raw in requirements.splitlines():
        line = raw.split("#", 1)[0].strip()
        match = _NAME.match(line)
        if not match or normalized(match.group(1)) in excluded:
            continue
        if match.group(3) not in locked.get(normalized(match.group(1)), set()):
            missing.append(f"{match.group(1)}=={match.group(3)}")
    return missing


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="scripts/lock_entries.py", description=__doc__.split("\n\n")[1])
    parser.add_argument("lock", type=Path)
    parser.add_argument("--only", nargs="*", default=None)
    parser.add_argument("--except", dest="excluded", nargs="*", default=[])
    parser.add_argument("--pins", type=Path)
    args = parser.parse_args(argv)
    found = entries(args.lock.read_text())
    excluded = frozenset(normalized(n) for n in args.excluded)
    if args.pins is not None:
        missing = unlocked_pins(args.pins.read_text(), found, excluded)
        if missing:
            print(
                f"error: {args.lock} does not hold {', '.join(missing)} of {args.pins}: it is out of date; "
                "run scripts/lock.sh",
                file=sys.stderr,
            )
            return 2
    only = None if args.only is None else {normalized(n) for n in args.only}
    for entry in found:
        name = name_of(entry)
        if (only is None or name in only) and name not in excluded:
            print(entry)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
