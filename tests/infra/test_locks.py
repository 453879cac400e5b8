"""The hash locks (scripts/lock.sh): every dependency of every level, transitive ones included, at
one version with its files' SHA-256, and every install of the set-up made from them with
--require-hashes (scripts/bootstrap.sh, layers/python/build.sh)."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import lock_entries  # noqa: E402  (scripts/ is not a package)

# level -> (its lock, the requirement files whose pins it must hold)
LEVELS = {
    "layer": ("lambdas/requirements.lock", ["lambdas/requirements.txt"]),
    "app": ("requirements.lock", ["lambdas/requirements.txt", "requirements.txt"]),
    "local": ("requirements-local.lock", ["lambdas/requirements.txt", "requirements.txt", "requirements-local.txt"]),
    "dev": (
        "requirements-dev.lock",
        ["lambdas/requirements.txt", "requirements.txt", "requirements-local.txt", "requirements-dev.txt"],
    ),
}


def lock(level: str) -> list[str]:
    return lock_entries.entries((ROOT / LEVELS[level][0]).read_text())


@pytest.mark.parametrize("level", LEVELS)
def test_every_entry_is_pinned_with_hashes_and_holds_every_pin_of_its_level(level):
    entries = lock(level)
    assert entries
    for entry in entries:
        assert re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*==\S+", entry), entry
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", entry), entry
    for requirements in LEVELS[level][1]:
        assert lock_entries.unlocked_pins((ROOT / requirements).read_text(), entries) == [], requirements


def test_a_level_installs_the_versions_of_the_level_above_it():
    dev = lock_entries.versions(lock("dev"))
    for level in ("layer", "app", "local"):
        for name, found in lock_entries.versions(lock(level)).items():
            assert found <= dev[name], (level, name, found, dev[name])


def test_version_specific_dependencies_carry_their_markers():
    by_name = {lock_entries.name_of(e): e for e in lock("local")}
    assert "; python_full_version >= '3.13'" in by_name["audioop-lts"]  # audioop left the stdlib in 3.13
    # Transitive dependencies of the CDK app, unpinned before the locks.
    assert {"jsii", "cattrs", "typeguard", "publication", "attrs"} <= set(lock_entries.versions(lock("app")))


def test_the_entries_parser_joins_continuations_and_drops_comments():
    text = (
        "a==1.0 \\\n    --hash=sha256:" + "1" * 64 + " \\\n    --hash=sha256:" + "2" * 64 + "\n    # via b\n"
        "c==2 ; python_full_version >= '3.13' \\\n    --hash=sha256:" + "3" * 64 + "\n"
    )
    entries = lock_entries.entries(text)
    assert entries == [
        f"a==1.0 --hash=sha256:{'1' * 64} --hash=sha256:{'2' * 64}",
        f"c==2 ; python_full_version >= '3.13' --hash=sha256:{'3' * 64}",
    ]
    assert lock_entries.unlocked_pins("a==1.0\nc==3 # newer\n./local.whl\n", entries) == ["c==3"]
    assert lock_entries.unlocked_pins("c==3\n", entries, frozenset({"c"})) == []


def test_a_pin_changed_without_relocking_is_refused(tmp_path, capsys):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("boto3==0.0.1\n")
    assert lock_entries.main([str(ROOT / "lambdas/requirements.lock"), "--pins", str(requirements)]) == 2
    assert "does not hold boto3==0.0.1" in capsys.readouterr().err


@pytest.mark.parametrize("script", ["scripts/bootstrap.sh", "layers/python/build.sh"])
def test_every_pip_install_of_the_set_up_checks_hashes(script):
    text = (ROOT / script).read_text()
    installs = re.findall(r"install [^\n]*(?:\\\n[^\n]*)*", text)
    pip_installs = [i for i in installs if "--require-hashes" in i or " -r " in i or "--target" in i]
    assert pip_installs, script
    assert all("--require-hashes" in i for i in pip_installs), pip_installs
