#!/usr/bin/env bash
# Format, lint and type checks of the Python code (settings in pyproject.toml), run by .ci/run
# before the tests:
#   ruff format --check   one layout (fix: .venv/bin/python -m ruff format PATH)
#   ruff check            defects, import order, outdated idioms (fix: ... -m ruff check --fix PATH)
#   mypy                  types
# Sets up .venv from requirements-dev.lock (--require-hashes) first when needed (as ./run-tests.sh does).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/bootstrap.sh

bootstrap_python dev  # no Node needed here

PATHS=(app.py stacks lambdas emulator benchmarks estimator scripts tests)
status=0
run() {
    local started=$SECONDS
    echo "[lint] $*" >&2
    "$VENV_PY" -m "$@" || status=1
    echo "[lint]   $(($SECONDS - started)) s" >&2
}
# --force-exclude: pyproject's excludes hold for the paths named here too.
run ruff format --check --force-exclude "${PATHS[@]}"
run ruff check --force-exclude "${PATHS[@]}"
run mypy "${PATHS[@]}"
exit $status
