# Sourced by ./run-tests.sh and ./cdk-deploy.sh: sets up what the project needs on a fresh
# machine, and nothing when it is already up to date.
#   bootstrap_python   .venv/ with requirements-dev.txt (reinstalled when a requirements file changes)
#   bootstrap_node     node_modules/ from package-lock.json (the pinned CDK CLI, used through npx)
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="${JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION:-20}"
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
export PIP_DISABLE_PIP_VERSION_CHECK=1

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

find_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.14 python3.13 python3.12 python3.11 python3; do
        [[ -n "$candidate" ]] && command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    die "Python 3.11 or newer is required (set PYTHON=/path/to/python3.11 if it is not on PATH)"
}

requirements_stamp() {
    cat "$ROOT/requirements.txt" "$ROOT/requirements-dev.txt" "$ROOT/lambdas/requirements.txt" | sha256sum | cut -d' ' -f1
}

bootstrap_python() {
    local stamp_file="$ROOT/.venv/.requirements.sha256" want
    want="$(requirements_stamp)"
    if [[ -x "$ROOT/.venv/bin/python" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$want" ]]; then
        return
    fi
    if [[ ! -x "$ROOT/.venv/bin/python" ]]; then
        local python
        python="$(find_python)"
        say "creating .venv with $("$python" --version)"
        "$python" -m venv "$ROOT/.venv"
    fi
    say "installing Python requirements into .venv (requirements-dev.txt)"
    "$ROOT/.venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null
    "$ROOT/.venv/bin/python" -m pip install --quiet -r "$ROOT/requirements-dev.txt"
    echo "$want" >"$stamp_file"
}

bootstrap_node() {
    command -v node >/dev/null 2>&1 || die "Node.js 18 or newer is required for the CDK CLI"
    node -e 'process.exit(parseInt(process.versions.node) < 18 ? 1 : 0)' || die "Node.js 18 or newer is required (found $(node --version))"
    local stamp_file="$ROOT/node_modules/.lock.sha256" want
    want="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)"
    if [[ -x "$ROOT/node_modules/.bin/cdk" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$want" ]]; then
        return
    fi
    say "installing the pinned CDK CLI (npm ci)"
    (cd "$ROOT" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    echo "$want" >"$stamp_file"
}
