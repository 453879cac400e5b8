#!/usr/bin/env bash
# Sets up everything the tests need (.venv with requirements-dev.txt, the pinned CDK CLI, both
# ffmpeg layers) and runs the tests. Extra arguments go to pytest, e.g.
#   ./run-tests.sh                     the everyday tier: every part at its cheapest level (~2 min)
#   ./run-tests.sh --all               the whole suite, with the long end-to-end runs (what .ci/run runs)
#   ./run-tests.sh tests/unit -x       (the long tests of a file run only with --all)
#   ./run-tests.sh -m scale            the runs at scale only (a day of thousands of pages: tens of minutes)
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
# --all, wherever it stands: the tests marked long too (pytest.ini's -m leaves them out; a later
# -m wins, so one given after --all still chooses).
args=()
for arg in "$@"; do
    if [[ "$arg" == "--all" ]]; then
        args=(-m "not coldstart and not scale" "${args[@]}")
    else
        args+=("$arg")
    fi
done
exec "$VENV_PY" -m pytest "${args[@]}"
