"""Tests of the Lambda layer build scripts (layers/build.sh, layers/*/build.sh).

The session fixtures really build the layers (pip downloads from PyPI on a cold
cache); every test asserts something: nothing here is skipped. Where the
foreign-architecture binary cannot be executed (no qemu-user), the tests assert
the static facts instead (ELF machine, build log saying it was NOT executed).
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import os
import platform
import shutil
import struct
import subprocess
import sys
import time
import wave
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.long  # builds the layers from the wheel caches

REPO = Path(__file__).resolve().parents[2]
LAYERS = REPO / "layers"
FFMPEG_BUILD = LAYERS / "ffmpeg" / "build"
FFMPEG_DOWNLOADS = LAYERS / "ffmpeg" / "downloads"
LOCK_FILE = LAYERS / "ffmpeg" / "wheels.lock"
PY_BUILD = LAYERS / "python" / "build"
PY_DOWNLOADS = LAYERS / "python" / "downloads"
PY_LOCK_FILE = LAYERS / "python" / "wheels.lock"
REQUIREMENTS = REPO / "lambdas" / "requirements.txt"

EM_X86_64 = 62
EM_AARCH64 = 183
E_MACHINE = {"x86_64": EM_X86_64, "arm64": EM_AARCH64}
QEMU_NAME = {"x86_64": "x86_64", "arm64": "aarch64"}
BUILD_TIMEOUT = 1200  # cold cache + possibly apt-get install qemu-user-static


def _host_arch() -> str:
    machine = platform.machine().lower()
    if machine in ("aarch64", "arm64"):
        return "arm64"
    if machine in ("x86_64", "amd64"):
        return "x86_64"
    raise AssertionError(f"unsupported host architecture {machine!r}")


HOST_ARCH = _host_arch()
FOREIGN_ARCH = "arm64" if HOST_ARCH == "x86_64" else "x86_64"
PY_LAYER_ROOT = PY_BUILD / HOST_ARCH
PY_LAYER = PY_LAYER_ROOT / "python"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FFMPEG_", "PYLAYER_"))}
    env.update(extra)
    return env


def _run_script(script: Path, *args: str, timeout: int = BUILD_TIMEOUT, **env: str):
    return subprocess.run(
        ["bash", str(script), *args],
        cwd=REPO,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _elf_header(path: Path) -> tuple[int, int, int, int]:
    """(EI_CLASS, EI_DATA, e_type, e_machine) of an ELF file."""
    with path.open("rb") as f:
        hdr = f.read(20)
    assert hdr[:4] == b"\x7fELF", f"{path} is not an ELF file"
    e_type, e_machine = struct.unpack_from("<HH", hdr, 16)
    return hdr[4], hdr[5], e_type, e_machine


def _lock() -> tuple[str, dict[str, list[str]]]:
    version, rows = None, {}
    for line in LOCK_FILE.read_text().splitlines():
        fields = line.split()
        if not fields or fields[0].startswith("#"):
            continue
        if fields[0] == "ffmpeg_version":
            version = fields[1]
        elif fields[0] == "wheel":
            rows[fields[1]] = fields[1:]  # arch platform file sha256 member
    assert version and set(rows) == {"x86_64", "arm64"}
    return version, rows


def _pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def _native_lock() -> dict[str, list[str]]:
    """arch -> [requirement, pip platform, wheel file, sha256] of layers/python/wheels.lock."""
    rows = {}
    for line in PY_LOCK_FILE.read_text().splitlines():
        fields = line.split()
        if fields and fields[0] == "native":
            assert fields[1] not in rows, "one locked wheel per architecture"
            rows[fields[1]] = fields[2:]
    assert set(rows) == {"x86_64", "arm64"}
    return rows


def _stamp(path: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def _qemu_for(arch: str) -> str | None:
    q = QEMU_NAME[arch]
    return shutil.which(f"qemu-{q}-static") or shutil.which(f"qemu-{q}")


def _copy_with_one_byte_flipped(wheel: Path, downloads: Path) -> None:
    blob = bytearray(wheel.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    (downloads / wheel.name).write_bytes(bytes(blob))


def _assert_refused_for_its_hash(proc: subprocess.CompletedProcess, sha: str, out: Path) -> None:
    """The build failed naming the hash it expected, and left neither a layer nor its stamp."""
    assert proc.returncode != 0
    assert f"expected {sha}" in proc.stdout + proc.stderr
    assert "ERROR" in proc.stderr
    assert not (out / HOST_ARCH).exists() and not (out / f".stamp-{HOST_ARCH}").exists()


def _make_stereo_wav(path: Path, seconds: int = 1, rate: int = 8000) -> None:
    """16-bit stereo PCM: 440 Hz on the left channel, 660 Hz on the right."""
    frames = bytearray()
    for n in range(seconds * rate):
        left = int(12000 * math.sin(2 * math.pi * 440 * n / rate))
        right = int(12000 * math.sin(2 * math.pi * 660 * n / rate))
        frames += struct.pack("<hh", left, right)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))


def _riff_chunks(path: Path) -> tuple[dict, bytes]:
    """Parse a RIFF/WAVE file: (fmt fields, data bytes). Walks all chunks."""
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:12] == b"WAVE", "not a RIFF/WAVE file"
    pos, fmt, data = 12, None, None
    while pos + 8 <= len(raw):
        cid, size = raw[pos : pos + 4], struct.unpack_from("<I", raw, pos + 4)[0]
        body = raw[pos + 8 : pos + 8 + size]
        if cid == b"fmt ":
            tag, ch, rate, byte_rate, align, bits = struct.unpack_from("<HHIIHH", body)
            fmt = dict(tag=tag, channels=ch, rate=rate, byte_rate=byte_rate, align=align, bits=bits)
        elif cid == b"data":
            data = body
            assert len(data) == size, "truncated data chunk"
        pos += 8 + size + (size & 1)
    assert fmt is not None and data is not None, "missing fmt or data chunk"
    return fmt, data


def _alaw_to_linear(byte: int) -> int:
    """G.711 A-law decode (ITU-T reference)."""
    a = byte ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    if seg == 0:
        t += 8
    elif seg == 1:
        t += 0x108
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


def _convert_and_check(runner: list[str], ffmpeg: Path, tmp_path: Path) -> None:
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    _make_stereo_wav(src)
    proc = subprocess.run(
        [
            *runner,
            str(ffmpeg),
            "-hide_banner",
            "-nostdin",
            "-y",
            "-i",
            str(src),
            "-ac",
            "1",
            "-ar",
            "8000",
            "-c:a",
            "pcm_alaw",
            str(dst),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    fmt, data = _riff_chunks(dst)
    assert fmt["tag"] == 6, fmt  # WAVE_FORMAT_ALAW
    assert fmt["channels"] == 1, fmt
    assert fmt["rate"] == 8000, fmt
    assert fmt["bits"] == 8, fmt
    assert fmt["align"] == 1 and fmt["byte_rate"] == 8000, fmt
    assert len(data) == 8000  # 1 s * 8000 Hz * 1 channel * 1 byte
    # The tone survived the conversion: (440 Hz + 660 Hz) / 2 mix at ~12000 peak.
    samples = [_alaw_to_linear(b) for b in data]
    rms = math.sqrt(sum(s * s for s in samples) / len(samples))
    assert 4000 < rms < 12000, rms
    assert max(samples) > 8000 and min(samples) < -8000


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def built_layers():
    """Build all layers for the host architecture through the single entry point."""
    start = time.monotonic()
    proc = _run_script(LAYERS / "build.sh")
    assert proc.returncode == 0, f"layers/build.sh failed:\n{proc.stdout}\n{proc.stderr}"
    return {"stdout": proc.stdout, "seconds": time.monotonic() - start}


@pytest.fixture(scope="session")
def foreign_build(built_layers):
    """Build the ffmpeg layer for the non-native architecture (arm64 on x86_64)."""
    proc = _run_script(LAYERS / "ffmpeg" / "build.sh", FOREIGN_ARCH)
    assert proc.returncode == 0, f"ffmpeg build for {FOREIGN_ARCH} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


@pytest.fixture(scope="session")
def host_ffmpeg(built_layers) -> Path:
    return FFMPEG_BUILD / HOST_ARCH / "bin" / "ffmpeg"


# ---------------------------------------------------------------- ffmpeg, host


def test_host_binary_exists_is_executable_and_native(host_ffmpeg):
    assert host_ffmpeg.is_file()
    assert os.access(host_ffmpeg, os.X_OK)
    assert host_ffmpeg.stat().st_mode & 0o777 == 0o755
    ei_class, ei_data, _, e_machine = _elf_header(host_ffmpeg)
    assert (ei_class, ei_data) == (2, 1)  # 64-bit little endian
    assert e_machine == E_MACHINE[HOST_ARCH]
    # The layer content root holds only bin/ffmpeg (-> /opt/bin/ffmpeg in Lambda).
    files = sorted(str(p.relative_to(FFMPEG_BUILD / HOST_ARCH)) for p in (FFMPEG_BUILD / HOST_ARCH).rglob("*"))
    assert files == ["bin", "bin/ffmpeg"]


def test_host_binary_is_the_pinned_version(host_ffmpeg):
    version, rows = _lock()
    assert version == "7.0.2"
    proc = subprocess.run([str(host_ffmpeg), "-hide_banner", "-version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].startswith("ffmpeg version 7.0.2"), proc.stdout[:200]
    stamp = _stamp(FFMPEG_BUILD / f".stamp-{HOST_ARCH}")
    assert stamp["wheel_sha256"] == rows[HOST_ARCH][3]
    assert stamp["binary_sha256"] == hashlib.sha256(host_ffmpeg.read_bytes()).hexdigest()
    assert stamp["verified"] == "native"


def test_host_binary_has_pcm_alaw_encoder(host_ffmpeg):
    proc = subprocess.run([str(host_ffmpeg), "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    lines = [line.split() for line in proc.stdout.splitlines() if " pcm_alaw " in line]
    assert lines and lines[0][0].startswith("A"), proc.stdout  # an audio encoder


def test_host_binary_converts_stereo_wav_to_alaw_mono_8k(host_ffmpeg, tmp_path):
    _convert_and_check([], host_ffmpeg, tmp_path)


def test_wheels_in_cache_match_the_lock(built_layers):
    _, rows = _lock()
    wheel = FFMPEG_DOWNLOADS / rows[HOST_ARCH][2]
    assert hashlib.sha256(wheel.read_bytes()).hexdigest() == rows[HOST_ARCH][3]


def test_second_build_is_a_fast_noop(built_layers):
    start = time.monotonic()
    proc = _run_script(LAYERS / "build.sh", timeout=120)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert f"[ffmpeg-layer] {HOST_ARCH}: up to date" in proc.stdout, proc.stdout
    assert f"[python-layer] {HOST_ARCH}: up to date" in proc.stdout, proc.stdout
    assert "downloading" not in proc.stdout and "installing" not in proc.stdout
    assert elapsed < 30, elapsed


# ---------------------------------------------------------------- ffmpeg, hashes and arch checks


def test_corrupted_cached_wheel_fails_the_build(built_layers, tmp_path):
    _, rows = _lock()
    downloads, out = tmp_path / "downloads", tmp_path / "build"
    downloads.mkdir()
    _copy_with_one_byte_flipped(FFMPEG_DOWNLOADS / rows[HOST_ARCH][2], downloads)
    proc = _run_script(
        LAYERS / "ffmpeg" / "build.sh",
        HOST_ARCH,
        timeout=120,
        FFMPEG_DOWNLOAD_DIR=str(downloads),
        FFMPEG_BUILD_DIR=str(out),
        FFMPEG_OFFLINE="1",
    )
    _assert_refused_for_its_hash(proc, rows[HOST_ARCH][3], out)


def test_wrong_expected_hash_fails_after_download(built_layers, tmp_path):
    """A fresh `pip download` whose sha256 differs from the expected one is fatal."""
    downloads, out = tmp_path / "downloads", tmp_path / "build"
    wrong = "0" * 64
    proc = _run_script(
        LAYERS / "ffmpeg" / "build.sh",
        HOST_ARCH,
        timeout=600,
        FFMPEG_DOWNLOAD_DIR=str(downloads),
        FFMPEG_BUILD_DIR=str(out),
        FFMPEG_WHEEL_SHA256_OVERRIDE=wrong,
    )
    assert proc.returncode != 0
    assert "SHA256 MISMATCH" in proc.stderr, proc.stdout + proc.stderr
    assert f"expected: {wrong}" in proc.stderr
    assert not (out / HOST_ARCH).exists()
    assert list(downloads.glob("*.whl")) == []  # the unverified wheel is not cached
    assert list(downloads.iterdir()) == []  # nor is the staging dir left behind


def test_wrong_architecture_binary_fails_the_build(foreign_build, tmp_path):
    """A lock row that smuggles the other arch's wheel in must fail at the ELF check."""
    _, rows = _lock()
    lock = tmp_path / "wheels.lock"
    foreign = rows[FOREIGN_ARCH]
    lock.write_text(
        f"requirement imageio-ffmpeg==0.7.0\nffmpeg_version 7.0.2\nwheel {HOST_ARCH} {' '.join(foreign[1:])}\n"
    )
    out = tmp_path / "build"
    proc = _run_script(
        LAYERS / "ffmpeg" / "build.sh",
        HOST_ARCH,
        timeout=120,
        FFMPEG_LOCK_FILE=str(lock),
        FFMPEG_DOWNLOAD_DIR=str(FFMPEG_DOWNLOADS),
        FFMPEG_BUILD_DIR=str(out),
        FFMPEG_OFFLINE="1",
    )
    assert proc.returncode != 0
    assert "WRONG ARCHITECTURE" in proc.stderr, proc.stdout + proc.stderr
    assert not (out / HOST_ARCH).exists()


# ---------------------------------------------------------------- ffmpeg, foreign arch


def test_foreign_arch_binary_is_right_elf(foreign_build):
    binary = FFMPEG_BUILD / FOREIGN_ARCH / "bin" / "ffmpeg"
    assert binary.is_file() and binary.stat().st_mode & 0o777 == 0o755
    ei_class, ei_data, e_type, e_machine = _elf_header(binary)
    assert (ei_class, ei_data, e_type) == (2, 1, 2)
    assert e_machine == E_MACHINE[FOREIGN_ARCH]
    if FOREIGN_ARCH == "arm64":
        assert e_machine == 183


def test_foreign_arch_binary_runs_or_is_reported_unexecuted(foreign_build, tmp_path):
    """Under qemu-user: version, pcm_alaw and a real conversion. Without it: the
    build must have said so and recorded a static-only verification."""
    binary = FFMPEG_BUILD / FOREIGN_ARCH / "bin" / "ffmpeg"
    stamp = _stamp(FFMPEG_BUILD / f".stamp-{FOREIGN_ARCH}")
    qemu = _qemu_for(FOREIGN_ARCH)
    if qemu is None:
        assert stamp["verified"] == "static"
        assert b"pcm_alaw" in binary.read_bytes()
        log = _run_script(LAYERS / "ffmpeg" / "build.sh", FOREIGN_ARCH, timeout=120)
        assert log.returncode == 0
        assert "up to date" in log.stdout and "verified: static" in log.stdout
        return
    assert stamp["verified"] == "qemu"
    proc = subprocess.run([qemu, str(binary), "-hide_banner", "-version"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.startswith("ffmpeg version 7.0.2"), proc.stdout + proc.stderr
    proc = subprocess.run([qemu, str(binary), "-hide_banner", "-encoders"], capture_output=True, text=True, timeout=120)
    assert " pcm_alaw " in proc.stdout
    _convert_and_check([qemu], binary, tmp_path)


def test_static_fallback_when_qemu_is_unavailable(foreign_build, tmp_path):
    out = tmp_path / "build"
    proc = _run_script(
        LAYERS / "ffmpeg" / "build.sh",
        FOREIGN_ARCH,
        timeout=120,
        FFMPEG_DOWNLOAD_DIR=str(FFMPEG_DOWNLOADS),
        FFMPEG_BUILD_DIR=str(out),
        FFMPEG_OFFLINE="1",
        FFMPEG_NO_QEMU="1",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"the {FOREIGN_ARCH} binary was NOT executed" in proc.stdout
    assert _stamp(out / f".stamp-{FOREIGN_ARCH}")["verified"] == "static"
    assert _elf_header(out / FOREIGN_ARCH / "bin" / "ffmpeg")[3] == E_MACHINE[FOREIGN_ARCH]


# ---------------------------------------------------------------- python layer


@pytest.fixture(scope="session")
def python_layers(built_layers):
    """The python-deps layer for both architectures (the host's is already built)."""
    proc = _run_script(LAYERS / "python" / "build.sh", "all")
    assert proc.returncode == 0, f"python layer build failed:\n{proc.stdout}\n{proc.stderr}"
    return proc


def test_python_layer_imports_pinned_versions(built_layers):
    pins = _pins()
    code = (
        "import json, aws_lambda_powertools, boto3, botocore, s3transfer;"
        "from aws_lambda_powertools import Logger;"
        "print(json.dumps({m.__name__: [getattr(m, '__version__', None), m.__file__]"
        " for m in (aws_lambda_powertools, boto3, botocore, s3transfer)}))"
    )
    # -S -s: no site-packages, so only the layer (and the stdlib) can satisfy the imports.
    # numpy is left out: its compiled code is for CPython 3.14, not this interpreter.
    proc = subprocess.run(
        [sys.executable, "-S", "-s", "-B", "-c", code],  # -B: leave no __pycache__ in the layer
        env={"PYTHONPATH": str(PY_LAYER), "PATH": os.environ.get("PATH", "")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    found = json.loads(proc.stdout)
    assert found["aws_lambda_powertools"][0] == pins["aws-lambda-powertools"]
    assert found["boto3"][0] == pins["boto3"]
    assert found["botocore"][0] == pins["botocore"]
    for _version, file in found.values():
        assert Path(file).resolve().is_relative_to(PY_LAYER.resolve()), file


@pytest.mark.parametrize("arch", ["x86_64", "arm64"])
def test_python_layer_is_pure_but_for_numpy_built_for_its_architecture(python_layers, arch):
    root = PY_BUILD / arch
    layer = root / "python"
    assert sorted(p.name for p in root.iterdir()) == ["python"]  # the stamp lives outside the asset
    assert not list(layer.rglob("__pycache__"))
    dists = {}
    for dist in layer.glob("*.dist-info"):
        wheel = (dist / "WHEEL").read_text()
        tags = [line.split(": ", 1)[1] for line in wheel.splitlines() if line.startswith("Tag: ")]
        name, version = dist.name[: -len(".dist-info")].rsplit("-", 1)
        dists[name.lower().replace("_", "-")] = version
        if name == "numpy":
            machine = {"x86_64": "x86_64", "arm64": "aarch64"}[arch]
            assert tags and all(t.startswith("cp314-cp314-manylinux_2_") and t.endswith(machine) for t in tags), tags
        else:
            assert "Root-Is-Purelib: true" in wheel, dist.name
            assert all(t.endswith("-none-any") for t in tags), dist.name
    assert dists == _pins()
    native = [p for p in layer.rglob("*") if p.is_file() and (p.suffix == ".so" or ".so." in p.name)]
    assert native and all(p.relative_to(layer).parts[0] in ("numpy", "numpy.libs") for p in native)
    assert {_elf_header(p)[3] for p in native} == {E_MACHINE[arch]}
    assert (layer / "numpy" / "_core" / f"_multiarray_umath.cpython-314-{QEMU_NAME[arch]}-linux-gnu.so").is_file()
    assert not [p for p in (layer / "numpy").rglob("tests") if p.is_dir()]  # test suites stripped
    stamp = _stamp(PY_BUILD / f".stamp-{arch}")
    assert stamp["requirements_sha256"] == hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    assert stamp["lock_sha256"] == hashlib.sha256(PY_LOCK_FILE.read_bytes()).hexdigest()


def test_numpy_is_pinned_alike_for_the_layer_and_the_venv(python_layers):
    import numpy

    rows = _native_lock()
    assert {row[0] for row in rows.values()} == {f"numpy=={_pins()['numpy']}"}
    assert numpy.__version__ == _pins()["numpy"]  # the .venv installs it from lambdas/requirements.txt
    for arch, (_, pip_platform, file, sha) in rows.items():
        assert pip_platform.endswith({"x86_64": "x86_64", "arm64": "aarch64"}[arch])
        assert file.startswith(f"numpy-{_pins()['numpy']}-cp314-cp314-")
        assert hashlib.sha256((PY_DOWNLOADS / file).read_bytes()).hexdigest() == sha


def test_python_layer_corrupted_cached_numpy_wheel_fails_the_build(python_layers, tmp_path):
    _, _, file, sha = _native_lock()[HOST_ARCH]
    downloads, out = tmp_path / "downloads", tmp_path / "build"
    downloads.mkdir()
    _copy_with_one_byte_flipped(PY_DOWNLOADS / file, downloads)
    proc = _run_script(
        LAYERS / "python" / "build.sh",
        HOST_ARCH,
        timeout=300,
        PYLAYER_DOWNLOAD_DIR=str(downloads),
        PYLAYER_BUILD_DIR=str(out),
        PYLAYER_OFFLINE="1",
    )
    _assert_refused_for_its_hash(proc, sha, out)


def test_python_layer_wrong_expected_hash_fails_after_download(python_layers, tmp_path):
    downloads, out = tmp_path / "downloads", tmp_path / "build"
    wrong = "0" * 64
    proc = _run_script(
        LAYERS / "python" / "build.sh",
        HOST_ARCH,
        timeout=600,
        PYLAYER_DOWNLOAD_DIR=str(downloads),
        PYLAYER_BUILD_DIR=str(out),
        PYLAYER_WHEEL_SHA256_OVERRIDE=wrong,
    )
    assert proc.returncode != 0
    assert "SHA256 MISMATCH" in proc.stderr, proc.stdout + proc.stderr
    assert f"expected: {wrong}" in proc.stderr
    assert not (out / HOST_ARCH).exists()
    assert list(downloads.iterdir()) == []  # neither the unverified wheel nor the staging dir is kept


def test_python_layer_lock_must_match_the_requirements(python_layers, tmp_path):
    reqs = tmp_path / "requirements.txt"
    reqs.write_text(REQUIREMENTS.read_text().replace(f"numpy=={_pins()['numpy']}", "numpy==2.3.0"))
    out = tmp_path / "build"
    proc = _run_script(
        LAYERS / "python" / "build.sh",
        HOST_ARCH,
        timeout=120,
        PYLAYER_REQUIREMENTS=str(reqs),
        PYLAYER_BUILD_DIR=str(out),
    )
    assert proc.returncode != 0
    assert f"pins numpy=={_pins()['numpy']}, but" in proc.stderr, proc.stdout + proc.stderr
    assert not (out / HOST_ARCH).exists()


def _fake_wheel(directory: Path, platform: str, so_machine: int) -> Path:
    """A tiny wheel tagged cp314-cp314-<platform> holding a "shared library" whose ELF header
    says `so_machine`."""
    name = f"fakenative-1.0-cp314-cp314-{platform}.whl"
    elf = b"\x7fELF\x02\x01\x01" + bytes(9) + struct.pack("<HH", 3, so_machine) + bytes(44)
    files = {
        "fakenative/__init__.py": b"",
        "fakenative/_speedups.cpython-314-linux-gnu.so": elf,
        "fakenative-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: fakenative\nVersion: 1.0\n",
        "fakenative-1.0.dist-info/WHEEL": (
            f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: false\nTag: cp314-cp314-{platform}\n".encode()
        ),
    }
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append("fakenative-1.0.dist-info/RECORD,,")
    files["fakenative-1.0.dist-info/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / name
    with zipfile.ZipFile(wheel, "w") as zf:
        for path, data in files.items():
            zf.writestr(path, data)
    return wheel


def test_python_layer_rejects_unlocked_native_wheels(built_layers, tmp_path):
    platform = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}[HOST_ARCH]
    reqs = tmp_path / "requirements.txt"
    wheel = _fake_wheel(tmp_path, platform, E_MACHINE[HOST_ARCH])
    reqs.write_text(f"{wheel}\n")
    lock = tmp_path / "wheels.lock"
    lock.write_text("# nothing locked\n")
    # In the hash lock with its true hash: pip installs it, the layer check refuses it.
    hashes = tmp_path / "requirements.lock"
    hashes.write_text(f"{wheel} \\\n    --hash=sha256:{hashlib.sha256(wheel.read_bytes()).hexdigest()}\n")
    out = tmp_path / "build"
    proc = _run_script(
        LAYERS / "python" / "build.sh",
        HOST_ARCH,
        timeout=300,
        PYLAYER_REQUIREMENTS=str(reqs),
        PYLAYER_LOCK_FILE=str(lock),
        PYLAYER_HASH_LOCK=str(hashes),
        PYLAYER_BUILD_DIR=str(out),
    )
    assert proc.returncode != 0
    assert "BAD fakenative==1.0" in proc.stdout, proc.stdout + proc.stderr
    assert "not pure-Python wheels: fakenative" in proc.stderr
    assert not (out / HOST_ARCH).exists() and not (out / f".stamp-{HOST_ARCH}").exists()


def test_python_layer_rejects_a_locked_wheel_with_the_wrong_architecture_inside(built_layers, tmp_path):
    """A wheel tagged for this architecture whose shared library is for the other one."""
    platform = {"x86_64": "manylinux_2_28_x86_64", "arm64": "manylinux_2_28_aarch64"}[HOST_ARCH]
    downloads, out = tmp_path / "downloads", tmp_path / "build"
    downloads.mkdir()
    wheel = _fake_wheel(downloads, platform, E_MACHINE[FOREIGN_ARCH])
    reqs = tmp_path / "requirements.txt"
    reqs.write_text("fakenative==1.0\n")
    lock = tmp_path / "wheels.lock"
    lock.write_text(
        f"native {HOST_ARCH} fakenative==1.0 {platform} {wheel.name} {hashlib.sha256(wheel.read_bytes()).hexdigest()}\n"
    )
    hashes = tmp_path / "requirements.lock"
    hashes.write_text("# fakenative comes from wheels.lock, with its sha256 as its hash\n")
    proc = _run_script(
        LAYERS / "python" / "build.sh",
        HOST_ARCH,
        timeout=300,
        PYLAYER_REQUIREMENTS=str(reqs),
        PYLAYER_LOCK_FILE=str(lock),
        PYLAYER_HASH_LOCK=str(hashes),
        PYLAYER_DOWNLOAD_DIR=str(downloads),
        PYLAYER_BUILD_DIR=str(out),
        PYLAYER_OFFLINE="1",
    )
    assert proc.returncode != 0
    assert "WRONG ARCHITECTURE" in proc.stderr, proc.stdout + proc.stderr
    assert not (out / HOST_ARCH).exists()
