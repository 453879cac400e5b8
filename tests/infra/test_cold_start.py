"""A cold start as a new user has it: a fresh copy of the repository in a temp dir, nothing
installed (no .venv, no CDK CLI, no layer), under the newest Python this machine offers.

`./cdk-deploy.sh --local` must succeed and never stay silent for more than 15 s (each line is
timestamped as it arrives); then `./run-tests.sh tests/unit` there installs the test tools (which
the local run did not) and passes. It takes minutes (pip installs everything into a new venv), so
the normal run deselects it (pytest.ini) and .ci/run runs it:
`./run-tests.sh -m coldstart tests/infra/test_cold_start.py`.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from fresh import fresh_copy

pytestmark = pytest.mark.coldstart
MAX_SILENCE_S = 15.0


def newest_python() -> str:
    """The newest CPython >= 3.11 that runs here: python3.N on PATH, or a pyenv version."""
    candidates = [shutil.which(f"python3.{minor}") for minor in range(20, 10, -1)]
    candidates += glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3"))
    best: tuple[tuple[int, int], str] | None = None
    for path in filter(None, candidates):
        probe = subprocess.run(
            [path, "-c", "import sys, venv; print(*sys.version_info[:2])"], capture_output=True, text=True
        )
        if probe.returncode == 0:
            version = tuple(int(x) for x in probe.stdout.split())
            if version >= (3, 11) and (best is None or version > best[0]):
                best = (version, path)  # type: ignore[assignment]
    assert best is not None, "no Python 3.11+ found"
    return best[1]


def timed_run(
    command: list[str], cwd: Path, env: dict[str, str], timeout: float
) -> tuple[int, list[tuple[float, str]], float]:
    started = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        bufsize=1,
        stdin=subprocess.DEVNULL,
    )
    lines = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append((time.monotonic() - started, line.rstrip("\n")))
        assert time.monotonic() - started < timeout, "timed out"
    status = process.wait()
    return status, lines, time.monotonic() - started


def longest_silence(lines: list[tuple[float, str]], end: float) -> tuple[float, str]:
    times = [0.0] + [t for t, _ in lines] + [end]
    gaps = [
        (b - a, lines[i - 1][1] if i else "(start)") for i, (a, b) in enumerate(zip(times, times[1:], strict=False))
    ]
    return max(gaps)


def test_a_cold_local_run_and_unit_tests_on_the_newest_python(tmp_path):
    python = newest_python()
    repo = fresh_copy(tmp_path / "clone")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTEST"))}
    env.update({"PYTHON": python, "CDK_DISABLE_VERSION_CHECK": "1"})

    status, lines, seconds = timed_run(["./cdk-deploy.sh", "--local"], repo, env, timeout=1500)
    text = "\n".join(f"{t:7.1f} {line}" for t, line in lines)
    assert status == 0, text
    gap, after = longest_silence(lines, seconds)
    assert gap <= MAX_SILENCE_S, f"silent for {gap:.1f} s after {after!r}\n{text}"
    version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
    ).stdout.strip()
    assert re.search(rf"creating \.venv with Python {re.escape(version)}", text), text
    assert "12 converted, 0 skipped, 0 known failure(s) skipped, 0 failed, 0 untouched" in text
    assert "pytest" not in (repo / "requirements-local.txt").read_text()
    assert not (repo / ".venv" / "bin" / "pytest").exists()  # the local run installed no test tool
    assert not (repo / "node_modules").exists()  # nor the CDK CLI: the local run synthesizes in-process

    status, lines, seconds = timed_run(
        ["./run-tests.sh", "tests/unit", "-q", "-p", "no:cacheprovider"], repo, env, timeout=1500
    )
    text = "\n".join(f"{t:7.1f} {line}" for t, line in lines)
    assert status == 0, text
    assert re.search(r"^\s*[\d.]+ \d+ passed", text, re.M), text
    gap, after = longest_silence(lines, seconds)
    assert gap <= MAX_SILENCE_S, f"silent for {gap:.1f} s after {after!r}\n{text}"


def _no_aws(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VIRTUAL_ENV", "PYTEST"))}
    env.update(
        {
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_EC2_METADATA_DISABLED": "true",
            "CDK_DISABLE_VERSION_CHECK": "1",
            **extra,
        }
    )
    return env


@pytest.mark.parametrize(
    "args, env, says",
    [
        (["destroy", "-c", "bucket_name=my-b"], {"AWS_REGION": "eu-west-1"}, "error: no AWS credentials"),
        (
            ["-c", "bucket_name=my-b", "-c", "bucket_prefix=connect/my-instance/CallRecordings/"],
            {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y"},
            "error: no AWS region",
        ),
    ],
)
def test_deploy_and_destroy_say_credentials_or_region_are_missing_before_the_big_install(tmp_path, args, env, says):
    """On a fresh clone, boto3 alone is installed (its pins), and its own credential chain and region
    resolution answer within 15 s: the CDK app's ~100 MB are not installed."""
    repo = fresh_copy(tmp_path / "clone")
    status, lines, seconds = timed_run(["./cdk-deploy.sh", *args], repo, _no_aws(**env), timeout=300)
    text = "\n".join(f"{t:7.1f} {line}" for t, line in lines)
    assert status == 2 and says in text, text
    # How long it took is measured, not asserted (timings belong in the benchmark): what proves the
    # refusal came early is what is not installed yet.
    print(f"refused in {seconds:.1f} s")
    site = next((repo / ".venv" / "lib").glob("python3.*/site-packages"))
    assert (site / "boto3").is_dir() and not (site / "aws_cdk").exists(), sorted(p.name for p in site.iterdir())
    assert not (repo / "node_modules").exists()


def test_python_given_for_a_venv_of_another_version_rebuilds_it_and_says_so(tmp_path):
    """.venv set up already with another Python: PYTHON= is not ignored without a word."""
    python = newest_python()
    repo = fresh_copy(tmp_path / "clone")
    venv_bin = repo / ".venv" / "bin"
    venv_bin.mkdir(parents=True)
    # A venv interpreter that says it is 3.10 (the machine may have one Python only).
    fake = venv_bin / "python"
    fake.write_text(
        "#!/usr/bin/env bash\n"
        'if [[ "$1" == -c && "$2" == *\'%d.%d\'* ]]; then echo 3.10; exit 0; fi\n'
        f'exec {python} "$@"\n'
    )
    fake.chmod(0o755)
    status, lines, _ = timed_run(
        ["./cdk-deploy.sh", "destroy", "-c", "bucket_name=my-b"],
        repo,
        _no_aws(PYTHON=python, AWS_REGION="eu-west-1"),
        timeout=300,
    )
    text = "\n".join(line for _, line in lines)
    version = subprocess.run(
        [python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"], capture_output=True, text=True
    ).stdout.strip()
    assert f".venv uses Python 3.10, PYTHON={python} is Python {version}: rebuilding .venv with it" in text, text
    assert status == 2 and "error: no AWS credentials" in text, text
    assert not (repo / ".venv" / "bin" / "python").read_bytes().startswith(b"#!")  # a real interpreter now
