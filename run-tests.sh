#!/usr/bin/env bash
# Sets up everything the tests need (.venv with requirements-dev.txt, the pinned CDK CLI, both
# ffmpeg layers) and runs the whole test suite. Extra arguments go to pytest, e.g.
#   ./run-tests.sh tests/unit -x
#   ./run-tests.sh --bench [options]   runs the benchmark instead (python -m benchmarks --help)
# VENV_DIR=.venv-other PYTHON=python3.13 ./run-tests.sh ... runs them under another Python.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
source scripts/bootstrap.sh

require_prerequisites
bootstrap_python dev
bootstrap_node
# arm64 is the stack's default architecture, the host's binary runs the emulator's conversions.
build_layers all

if [[ "${1:-}" == "--bench" ]]; then
    shift
    exec "$VENV_PY" -m benchmarks "$@"
fi
exec "$VENV_PY" -m pytest "$@"
