# Sourced by layers/ffmpeg/build.sh and layers/python/build.sh: what both builds do alike. The
# sourcing script first sets LOG_TAG (the log prefix), DOWNLOAD_DIR (the wheel cache), OFFLINE_VAR
# (the name of its "never download" knob) and a usage function.
#   log / die                   one line on stdout / an error line on stderr, then exit 1
#   CLEANUP+=(path)             removed on any exit, success or failure
#   host_arch, elf_machine ARCH this machine's architecture (arm64|x86_64), ARCH's ELF e_machine
#   sha256_of FILE
#   BUILD_SCRIPTS_SHA256        sha256 of the sourcing script and this file, for the build stamps:
#                               a change to either rebuilds
#   fetch_wheel ...             a wheel pinned by sha256, from the cache or pip, verified
#   parse_arches [ARG]          ARCHES from the command line (arm64, x86_64, host, all)
#   lock_build                  one build at a time (e.g. tests and a deploy)
# shellcheck shell=bash

log() { printf '[%s] %s\n' "$LOG_TAG" "$*"; }
die() {
    printf '[%s] ERROR: %s\n' "$LOG_TAG" "$*" >&2
    exit 1
}

CLEANUP=()
cleanup() {
    local p
    for p in "${CLEANUP[@]}"; do rm -rf -- "$p"; done
}
trap cleanup EXIT

COMMON_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -x "$COMMON_REPO/.venv/bin/python" ]]; then PY=("$COMMON_REPO/.venv/bin/python"); else PY=(python3); fi
# pip through the interpreter: the venv's pip script may carry another folder's path in its #! line.
PIP=("${PY[@]}" -m pip)

host_arch() {
    case "$(uname -m)" in
        aarch64 | arm64) echo arm64 ;;
        x86_64 | amd64) echo x86_64 ;;
        *) die "unsupported host architecture '$(uname -m)' (supported: aarch64, x86_64)" ;;
    esac
}

elf_machine() { case "$1" in x86_64) echo 62 ;; arm64) echo 183 ;; esac; }

sha256_of() { sha256sum -- "$1" | awk '{print $1}'; }

BUILD_SCRIPTS_SHA256="$(cat -- "$0" "${BASH_SOURCE[0]}" | sha256sum | awk '{print $1}')"

# fetch_wheel ARCH REQUIREMENT PLATFORM FILE SHA256 [EXTRA PIP DOWNLOAD OPTIONS...]
# Sets WHEEL_PATH to a local copy of FILE whose sha256 was verified: DOWNLOAD_DIR/FILE if its
# sha256 matches, else `pip download` into a staging dir, verified before it enters the cache
# (a mismatch is a hard failure and leaves the cache untouched).
fetch_wheel() {
    local arch="$1" req="$2" platform="$3" file="$4" sha="$5" dest actual staging
    shift 5
    dest="$DOWNLOAD_DIR/$file"
    mkdir -p "$DOWNLOAD_DIR"
    if [[ -f "$dest" ]]; then
        actual="$(sha256_of "$dest")"
        if [[ "$actual" == "$sha" ]]; then
            log "$arch: using cached $dest (sha256 verified)"
            WHEEL_PATH="$dest"
            return 0
        fi
        log "WARNING: cached $dest has sha256 $actual, expected $sha; not using it"
    fi
    if [[ "${!OFFLINE_VAR:-}" == 1 ]]; then
        die "$arch: $OFFLINE_VAR=1 and no local copy of $file with sha256 $sha in $DOWNLOAD_DIR"
    fi
    staging="$(mktemp -d "$DOWNLOAD_DIR/.staging.XXXXXX")"
    CLEANUP+=("$staging")
    log "$arch: downloading $req for $platform with pip${*:+ ($*)}"
    "${PIP[@]}" download "$req" --no-deps --only-binary=:all: --platform "$platform" "$@" \
        --disable-pip-version-check --quiet --dest "$staging" ||
        die "$arch: pip download of $req ($platform) failed"
    if [[ ! -f "$staging/$file" ]]; then
        die "$arch: pip did not download the pinned file $file; got: $(ls -A "$staging" | tr '\n' ' ')"
    fi
    actual="$(sha256_of "$staging/$file")"
    if [[ "$actual" != "$sha" ]]; then
        printf '[%s] ERROR: SHA256 MISMATCH for %s\n' "$LOG_TAG" "$file" >&2
        printf '[%s]   expected: %s\n' "$LOG_TAG" "$sha" >&2
        printf '[%s]   actual:   %s\n' "$LOG_TAG" "$actual" >&2
        die "refusing to build the $arch layer from an unverified wheel"
    fi
    mv -f -- "$staging/$file" "$dest"
    log "$arch: downloaded $dest (sha256 verified)"
    WHEEL_PATH="$dest"
}

parse_arches() {
    if [[ $# -gt 1 ]]; then
        usage >&2
        exit 2
    fi
    case "${1:-host}" in
        -h | --help)
            usage
            exit 0
            ;;
        host) ARCHES=("$(host_arch)") ;;
        all) ARCHES=(x86_64 arm64) ;;
        x86_64 | arm64) ARCHES=("$1") ;;
        aarch64) ARCHES=(arm64) ;;
        amd64) ARCHES=(x86_64) ;;
        *)
            usage >&2
            die "unknown architecture '$1'"
            ;;
    esac
}

# Serialises concurrent runs of the sourcing script so outputs are never half-written.
lock_build() {
    mkdir -p "$BUILD_DIR"
    if command -v flock >/dev/null 2>&1; then
        exec 9<"$0" # lock the script itself: no lock file in the output
        flock 9
    fi
}
