# Sourced by ./run-tests.sh and ./cdk-deploy.sh: checks the prerequisites and sets up what a command
# needs on a fresh machine, and nothing when it is already up to date. Every step says what it
# does, how long it usually takes, and keeps printing while it runs (scripts/run_step.py).
#   require_prerequisites   Python $PYTHON_RANGE and Node.js 18+, or a message saying what to install
#   bootstrap_boto3         $VENV_DIR with boto3 alone (its entries of lambdas/requirements.lock): enough
#                           for ./cdk-deploy.sh to check credentials and region before the big install
#   bootstrap_python LEVEL  $VENV_DIR (default .venv) with the packages of one level:
#                             app   requirements.lock        the CDK app, the deploy script's checks
#                             local requirements-local.lock  + the emulator (./cdk-deploy.sh --local)
#                             dev   requirements-dev.lock    + the test tools (./run-tests.sh)
#                           reinstalled when one of the level's requirement or lock files changes
# Every install is `pip install --require-hashes` from a lock (scripts/lock.sh makes them from the
# requirement files' pins): every distribution, transitive ones included, at one version, and only
# a file whose SHA-256 the lock lists. A pin changed without re-locking is refused first.
#   bootstrap_node          node_modules/ from package-lock.json (the pinned CDK CLI, used via npx)
#   build_layers ARCH       the ffmpeg layer for ARCH (arm64, x86_64, host, all) and the Python layer
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV_DIR="${VENV_DIR:-.venv}"
[[ "$VENV_DIR" == /* ]] || VENV_DIR="$ROOT/$VENV_DIR"
VENV_PY="$VENV_DIR/bin/python"
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="${JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION:-20}"
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION=1
export PIP_DISABLE_PIP_VERSION_CHECK=1
# The Pythons the project runs on, said from here everywhere (./cdk-deploy.sh --help, README.md#quick-start, the
# checks below): numpy, pinned in lambdas/requirements.txt, has wheels for 3.11 to 3.14 only.
PYTHON_OLDEST=11
PYTHON_NEWEST=14
PYTHON_RANGE="3.$PYTHON_OLDEST to 3.$PYTHON_NEWEST"

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 2; }

python_ok() { "$1" -c "import sys; sys.exit(not (3, $PYTHON_OLDEST) <= sys.version_info[:2] <= (3, $PYTHON_NEWEST))" >/dev/null 2>&1; }
python_version() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'; }

# Sets SETUP_PYTHON: $PYTHON when given, else the newest python3.x on PATH that runs; as the
# interpreter's own path (a pyenv shim costs a second per call).
find_python() {
    local candidate minor candidates=()
    [[ -n "${SETUP_PYTHON:-}" ]] && return
    if [[ -n "${PYTHON:-}" ]]; then
        python_ok "$PYTHON" || die "PYTHON=$PYTHON is not a working Python $PYTHON_RANGE"
        SETUP_PYTHON="$("$PYTHON" -c 'import sys; print(sys.executable)')"
        return
    fi
    for ((minor = PYTHON_NEWEST; minor >= PYTHON_OLDEST; minor--)); do candidates+=("python3.$minor"); done
    for candidate in "${candidates[@]}" python3; do
        if command -v "$candidate" >/dev/null 2>&1 && python_ok "$candidate"; then
            SETUP_PYTHON="$("$candidate" -c 'import sys; print(sys.executable)')"
            return
        fi
    done
    die "Python $PYTHON_RANGE is required: install it (e.g. apt-get install python3 python3-venv, or from python.org), or set PYTHON=/path/to/python3.$PYTHON_OLDEST if it is not on PATH"
}

require_node() {
    command -v node >/dev/null 2>&1 ||
        die "Node.js 18 or newer is required (the CDK runs on it, also for --local): install it (e.g. apt-get install nodejs npm, or from nodejs.org)"
    node -e 'process.exit(parseInt(process.versions.node) < 18 ? 1 : 0)' ||
        die "Node.js 18 or newer is required (found $(node --version)): upgrade it (nodejs.org or your package manager)"
    command -v npm >/dev/null 2>&1 || die "npm is required with Node.js (it installs the pinned CDK CLI): install it (e.g. apt-get install npm)"
}

require_prerequisites() {
    find_python
    require_node
}

step() { "${SETUP_PYTHON:-python3}" "$ROOT/scripts/run_step.py" "$@"; }

level_files() {
    case "$1" in
        app) echo "lambdas/requirements.txt requirements.txt" ;;
        local) echo "lambdas/requirements.txt requirements.txt requirements-local.txt" ;;
        dev) echo "lambdas/requirements.txt requirements.txt requirements-local.txt requirements-dev.txt" ;;
        *) die "unknown set-up level '$1'" ;;
    esac
}
level_lock() {
    case "$1" in
        app) echo requirements.lock ;;
        local) echo requirements-local.lock ;;
        dev) echo requirements-dev.lock ;;
    esac
}
level_stamp() { (cd "$ROOT" && cat $(level_files "$1") "$(level_lock "$1")") | sha256sum | cut -d' ' -f1; }
# Every pin of the level's requirement files is in its lock at that version (scripts/lock_entries.py).
check_lock() {
    local file lock
    lock="$(level_lock "$1")"
    for file in $(level_files "$1"); do
        "$SETUP_PYTHON" "$ROOT/scripts/lock_entries.py" "$ROOT/$lock" --pins "$ROOT/$file" >/dev/null || exit 2
    done
}

# $VENV_DIR exists with a working Python of the range; with PYTHON= given, of that Python's version
# (an existing one of another version is rebuilt, and that is said).
prepare_venv() {
    local want have
    find_python
    if [[ -e "$VENV_DIR" ]] && ! python_ok "$VENV_PY"; then
        say "${VENV_DIR#"$ROOT"/} does not hold a working Python $PYTHON_RANGE (its interpreter moved or is out of range): recreating it"
        rm -rf "$VENV_DIR"
    fi
    if [[ -n "${PYTHON:-}" && -x "$VENV_PY" ]]; then
        want="$(python_version "$SETUP_PYTHON")" have="$(python_version "$VENV_PY")"
        if [[ "$want" != "$have" ]]; then
            say "${VENV_DIR#"$ROOT"/} uses Python $have, PYTHON=$PYTHON is Python $want: rebuilding ${VENV_DIR#"$ROOT"/} with it (unset PYTHON to keep $have)"
            rm -rf "$VENV_DIR"
        fi
    fi
    if [[ ! -x "$VENV_PY" ]]; then
        step --expect "a few seconds" "creating ${VENV_DIR#"$ROOT"/} with $("$SETUP_PYTHON" --version)" -- "$SETUP_PYTHON" -m venv "$VENV_DIR" || exit 1
    elif ! "$VENV_PY" -m pip --version >/dev/null 2>&1; then  # created without pip by bootstrap_boto3
        step --expect "a few seconds" "adding pip to ${VENV_DIR#"$ROOT"/}" -- "$VENV_PY" -m ensurepip --default-pip || exit 1
    fi
}

bootstrap_boto3() {
    local pins installer subset
    find_python
    [[ -n "${PYTHON:-}" || ! -x "$VENV_PY" ]] || ! "$VENV_PY" -c 'import boto3' >/dev/null 2>&1 || return 0
    # boto3 and its dependencies at the versions of lambdas/requirements.lock (one version everywhere),
    # with their hashes.
    "$SETUP_PYTHON" "$ROOT/scripts/lock_entries.py" "$ROOT/lambdas/requirements.lock" --pins "$ROOT/lambdas/requirements.txt" >/dev/null || exit 2
    subset="$(mktemp)"
    "$SETUP_PYTHON" "$ROOT/scripts/lock_entries.py" "$ROOT/lambdas/requirements.lock" \
        --only boto3 botocore s3transfer jmespath python-dateutil six urllib3 >"$subset"
    mapfile -t pins < <(grep -oE '^boto3==[^ ]+' "$subset")
    if [[ ! -e "$VENV_DIR" ]] && "$SETUP_PYTHON" -m pip --python "$SETUP_PYTHON" --version >/dev/null 2>&1; then
        # Quicker on a fresh clone: no pip in the new venv yet (ensurepip takes seconds): this
        # machine's pip fills it; bootstrap_python adds pip before the big install.
        step --expect "a second" "creating ${VENV_DIR#"$ROOT"/} with $("$SETUP_PYTHON" --version)" -- "$SETUP_PYTHON" -m venv --without-pip "$VENV_DIR" || exit 1
        installer=(env PIP_ROOT_USER_ACTION=ignore "$SETUP_PYTHON" -m pip --python "$VENV_PY")
    else
        prepare_venv
        "$VENV_PY" -c 'import boto3' >/dev/null 2>&1 && return
        installer=("$VENV_PY" -m pip)
    fi
    step --pip --expect "~17 MB to download; seconds" "installing boto3 alone (${pins[0]}), to check credentials and region first" -- \
        "${installer[@]}" install --progress-bar off --no-compile --require-hashes -r "$subset" || { rm -f "$subset"; exit 1; }
    rm -f "$subset"
}

bootstrap_python() {
    local level="$1" what expect lower
    find_python
    if [[ -f "$VENV_DIR/.stamp-$level" && "$(cat "$VENV_DIR/.stamp-$level")" == "$(level_stamp "$level")" ]] && python_ok "$VENV_PY" &&
        [[ -z "${PYTHON:-}" || "$(python_version "$VENV_PY")" == "$(python_version "$SETUP_PYTHON")" ]]; then
        return
    fi
    check_lock "$level"
    prepare_venv
    case "$level" in
        # Download sizes and times measured from an empty pip cache on a shared 2-core machine.
        app) what="the CDK app's Python packages (aws-cdk-lib, cdk-nag, boto3)" expect="~100 MB to download; about a minute" ;;
        local) what="the local run's Python packages (the CDK app's + moto, pydub)" expect="~110 MB to download; 1-2 minutes" ;;
        dev) what="the tests' Python packages (the local run's + pytest, cfn-lint, matplotlib, ruff, mypy)" expect="~130 MB to download, ~20 MB after a local run; under a minute to 2 minutes" ;;
    esac
    step --pip --expect "$expect" "installing $what, hash-checked from $(level_lock "$level")" -- \
        "$VENV_PY" -m pip install --progress-bar off --require-hashes -r "$ROOT/$(level_lock "$level")" || exit 1
    # A level includes the ones below it.
    for lower in app local dev; do
        level_stamp "$lower" >"$VENV_DIR/.stamp-$lower"
        [[ "$lower" == "$level" ]] && break
    done
}

bootstrap_node() {
    local stamp_file="$ROOT/node_modules/.lock.sha256" want
    want="$(sha256sum "$ROOT/package-lock.json" | cut -d' ' -f1)"
    if [[ -x "$ROOT/node_modules/.bin/cdk" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$want" ]]; then
        return
    fi
    (cd "$ROOT" && step --expect "~30 MB; seconds" "installing the pinned CDK CLI with npm ci (aws-cdk $(sed -n 's/.*"aws-cdk": "\(.*\)".*/\1/p' package.json))" -- \
        npm ci --no-audit --no-fund --loglevel=error) || exit 1
    echo "$want" >"$stamp_file"
}

build_layers() {
    step --expect "seconds when up to date" "building the Lambda layers for $1 (ffmpeg from the pinned, hash-checked wheel; the Python layer)" -- \
        "$ROOT/layers/build.sh" "$1" || exit 1
}
