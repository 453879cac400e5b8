"""Runs one set-up step so that the person waiting always sees it move.

    python3 scripts/run_step.py [--pip] [--expect TEXT] LABEL -- COMMAND [ARG ...]

Prints `[setup] LABEL (TEXT) ...` first (TEXT: how long it usually takes), then the command's lines
(with --pip only pip's notable ones: Collecting, Downloading, Installing, Successfully installed,
errors), a line
`[setup]   ... still LABEL (N s)` whenever HEARTBEAT_S seconds pass without one (pip is silent
while it unpacks a large wheel), and `[setup] LABEL: done in N s` at the end. When the command
fails its last lines are shown and its exit status is returned: a failure is never swallowed.

Standard library only: it runs before .venv exists, with the Python the scripts found.
"""

from __future__ import annotations

import collections
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import IO

HEARTBEAT_S = float(os.environ.get("SETUP_HEARTBEAT_SECONDS", "10"))
PIP_NOTABLE = (
    "Collecting ",
    "Downloading ",
    "Installing collected packages",
    "Successfully installed",
    "ERROR",
    "error:",
)


def _say(text: str, stream: IO[str]) -> None:
    stream.write(f"[setup] {text}\n")
    stream.flush()


def _shorten(line: str, width: int = 110) -> str:
    return line if len(line) <= width else line[: width - 1] + "…"


def run(
    label: str, command: Sequence[str], *, pip: bool = False, expect: str = "", stream: IO[str] = sys.stderr
) -> int:
    started = time.monotonic()
    _say(f"{label}{f' ({expect})' if expect else ''} ...", stream)
    try:
        process = subprocess.Popen(
            list(command), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, errors="replace"
        )
    except OSError as exc:
        _say(f"{label}: cannot start {command[0]!r}: {exc.strerror}", stream)
        return 127
    lines: queue.Queue[str | None] = queue.Queue()
    tail: collections.deque[str] = collections.deque(maxlen=40)

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    last_shown = time.monotonic()
    while True:
        try:
            line = lines.get(timeout=max(0.1, HEARTBEAT_S - (time.monotonic() - last_shown)))
        except queue.Empty:
            _say(f"  ... still {label} ({time.monotonic() - started:.0f} s)", stream)
            last_shown = time.monotonic()
            continue
        if line is None:
            break
        tail.append(line)
        if line.strip() and (not pip or line.lstrip().startswith(PIP_NOTABLE)):
            _say("  " + _shorten(line.strip()), stream)
            last_shown = time.monotonic()
    status = process.wait()
    seconds = time.monotonic() - started
    if status != 0:
        if pip:  # the filtered lines may not hold the reason: show the end of the whole output
            stream.write("".join(f"    {line}\n" for line in tail))
        _say(f"{label}: FAILED (exit status {status}) after {seconds:.0f} s", stream)
        return status
    _say(f"{label}: done in {seconds:.0f} s", stream)
    return 0


def main(argv: Sequence[str]) -> int:
    args = list(argv)
    pip, expect = False, ""
    while args and args[0] in ("--pip", "--expect"):
        if args[0] == "--pip":
            pip, args = True, args[1:]
        elif len(args) > 1:
            expect, args = args[1], args[2:]
        else:
            break
    if len(args) < 3 or args[1] != "--":
        sys.stderr.write(__doc__.split("\n\n")[1] + "\n")
        return 2
    return run(args[0], args[2:], pip=pip, expect=expect)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
