"""A fresh clone of the working tree in a temp dir, for the script tests: the tracked files as
they are now (uncommitted edits included), with chosen generated folders linked from this one."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
INSTALLED = (".venv", "node_modules")
BUILT_LAYERS = ("layers/ffmpeg/build", "layers/ffmpeg/downloads", "layers/python/build")


def fresh_copy(dest: Path, link: Iterable[str] = ()) -> Path:
    tracked = (
        subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    )
    for name in filter(None, tracked):
        source = ROOT / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    for name in link:
        if (ROOT / name).exists():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            (dest / name).symlink_to(ROOT / name)
    return dest
