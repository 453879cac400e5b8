#!/usr/bin/env bash
# Regenerates the hash-locked requirements from the pinned ones, after a pin changed:
#
#   scripts/lock.sh
#
#   requirements-dev.txt      -> requirements-dev.lock      (./run-tests.sh)
#   requirements-local.txt    -> requirements-local.lock    (./cdk-deploy.sh --local)
#   requirements.txt          -> requirements.lock          (the CDK app, ./cdk-deploy.sh)
#   lambdas/requirements.txt  -> lambdas/requirements.lock  (the Python layer, and boto3 alone first)
#
# Each lock holds every dependency, transitive ones included, at one version, with the SHA-256
# of every file PyPI publishes for it (wheels for every platform and Python, and the sdist), and
# environment markers where the version or the need differs between Python 3.11 and 3.14 (a
# universal resolution). scripts/bootstrap.sh and layers/python/build.sh install them with
# `pip install --require-hashes`: a file whose hash is not in the lock is refused. The dev level
# is resolved first; the others are resolved within its versions (constraints), so that a level
# never installs another version than the one above it.
#
# Uses uv (`uv pip compile --universal --generate-hashes`), installed into a throw-away venv:
# it is needed only here, never to install.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
UV_VERSION=0.13.8
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check "uv==$UV_VERSION"
compile() {  # INPUT OUTPUT [uv options]
    local input="$1" output="$2"
    shift 2
    "$tmp/venv/bin/uv" pip compile --quiet --universal --python-version 3.11 --generate-hashes --no-header \
        --index-url https://pypi.org/simple "$@" "$input" -o "$output"
    echo "[lock] $output: $(grep -cE '^[A-Za-z0-9]' "$output") pinned distributions"
}
compile requirements-dev.txt requirements-dev.lock
for level in requirements-local requirements lambdas/requirements; do
    compile "$level.txt" "$level.lock" --constraint requirements-dev.lock
done
