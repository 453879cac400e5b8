#!/usr/bin/env bash
# Sets up everything the tests need (.venv, the pinned CDK CLI, both ffmpeg layers) and runs the
# whole test suite. Extra arguments go to pytest, e.g. ./run-tests.sh tests/unit -x
#   ./run-tests.sh --bench [options]   runs the benchmark instead (python -m benchmarks --help)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/bootstrap.sh

bootstrap_python
bootstrap_node
# arm64 is the stack's default architecture, the host's binary runs the emulator's conversions.
layers/build.sh all >&2

if [[ "${1:-}" == "--bench" ]]; then
    shift
    exec .venv/bin/python -m benchmarks "$@"
fi
exec .venv/bin/python -m pytest "$@"
