#!/usr/bin/env bash
# Build the shared python-deps Lambda layer: layers/python/build/python/...
# (the layer content root is layers/python/build/, so Lambda sees /opt/python).
#
# usage: layers/python/build.sh
#
# Installs the pinned lambdas/requirements.txt with pip for CPython 3.14 on
# manylinux2014_aarch64, binary wheels only, no dependency resolution (the file
# pins the full closure). Every installed distribution must be a pure-Python
# wheel (Root-Is-Purelib: true, tags *-none-any), so the same build serves the
# arm64 and the x86_64 functions; anything else fails the build.
# The result replaces the previous output only once complete and checked, and
# build/.stamp records the sha256 of lambdas/requirements.txt and of this
# script: a second run with both unchanged is a no-op.
#
# Environment knobs:
#   PYLAYER_FORCE=1        rebuild even if up to date
#   PYLAYER_REQUIREMENTS   requirements file (default lambdas/requirements.txt)
#   PYLAYER_BUILD_DIR      output root (default layers/python/build)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
REQUIREMENTS="${PYLAYER_REQUIREMENTS:-$REPO/lambdas/requirements.txt}"
BUILD_DIR="${PYLAYER_BUILD_DIR:-$HERE/build}"
PY_VERSION=3.14
PLATFORM=manylinux2014_aarch64

log() { printf '[python-layer] %s\n' "$*"; }
die() { printf '[python-layer] ERROR: %s\n' "$*" >&2; exit 1; }

CLEANUP=()
cleanup() {
    local p
    for p in "${CLEANUP[@]}"; do rm -rf -- "$p"; done
}
trap cleanup EXIT

case "${1:-}" in
    "") ;;
    -h | --help) sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unexpected argument '$1' (this layer is architecture independent)" ;;
esac

if [[ -x "$REPO/.venv/bin/python" ]]; then PY=("$REPO/.venv/bin/python"); else PY=(python3); fi
if [[ -x "$REPO/.venv/bin/pip" ]]; then PIP=("$REPO/.venv/bin/pip"); else PIP=(python3 -m pip); fi

[[ -f "$REQUIREMENTS" ]] || die "requirements file not found: $REQUIREMENTS"
start=$SECONDS
req_sha="$(sha256sum -- "$REQUIREMENTS" | awk '{print $1}')"
script_sha="$(sha256sum -- "${BASH_SOURCE[0]}" | awk '{print $1}')"
stamp="$BUILD_DIR/.stamp"
want_stamp="$(printf 'requirements_sha256=%s\nbuild_script_sha256=%s\n' "$req_sha" "$script_sha")"

mkdir -p "$BUILD_DIR"
if command -v flock >/dev/null 2>&1; then
    exec 9<"${BASH_SOURCE[0]}" # lock the script itself: no lock file in the output
    flock 9
fi

if [[ "${PYLAYER_FORCE:-}" != 1 && -f "$stamp" && -d "$BUILD_DIR/python" &&
    "$(cat "$stamp")" == "$want_stamp" ]]; then
    # Byte code written by local imports (tests) must not leak into the layer asset.
    find "$BUILD_DIR/python" -depth -type d -name __pycache__ -exec rm -rf {} +
    log "up to date ($BUILD_DIR/python, requirements sha256 ${req_sha:0:12}...)"
    exit 0
fi

tmp="$(mktemp -d "$BUILD_DIR/.tmp.XXXXXX")"
CLEANUP+=("$tmp")
log "installing $(grep -cE '^[A-Za-z0-9]' "$REQUIREMENTS") pinned packages from $REQUIREMENTS (cp$PY_VERSION, $PLATFORM, wheels only)"
"${PIP[@]}" install --no-deps --only-binary=:all: --platform "$PLATFORM" \
    --python-version "$PY_VERSION" --implementation cp --no-compile \
    --disable-pip-version-check --quiet \
    --target "$tmp/python" -r "$REQUIREMENTS" || die "pip install failed"

# Every distribution must be a pure-Python wheel; list them while checking.
"${PY[@]}" - "$tmp/python" "$REQUIREMENTS" <<'PYEOF' || die "purity check failed"
import pathlib, re, sys
root, reqs = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
norm = lambda s: re.sub(r"[-_.]+", "-", s).lower()
wanted = {}
for line in reqs.read_text().splitlines():
    line = line.split("#", 1)[0].strip()
    if line:
        name, _, version = line.partition("==")
        wanted[norm(name.split("[")[0])] = version.strip()
bad, seen = [], {}
for dist in sorted(root.glob("*.dist-info")):
    meta = {}
    for l in (dist / "METADATA").read_text(encoding="utf-8").splitlines():
        if not l:
            break  # end of the header block
        key, sep, value = l.partition(": ")
        if sep and key in ("Name", "Version") and key not in meta:
            meta[key] = value.strip()
    wheel = (dist / "WHEEL").read_text().splitlines()
    tags = [l.split(": ", 1)[1].strip() for l in wheel if l.startswith("Tag: ")]
    purelib = any(l.strip().lower() == "root-is-purelib: true" for l in wheel)
    name = meta.get("Name", dist.name)
    seen[norm(name)] = meta.get("Version")
    ok = purelib and tags and all(t.endswith("-none-any") for t in tags)
    print(f"  {'ok ' if ok else 'BAD'} {name}=={meta.get('Version')}  [{', '.join(tags)}]")
    if not ok:
        bad.append(name)
native = [str(p.relative_to(root)) for p in root.rglob("*") if p.suffix in (".so", ".pyd", ".dylib")]
if bad:
    sys.exit(f"ERROR: not pure-Python wheels: {', '.join(bad)}")
if native:
    sys.exit(f"ERROR: native extension files in the layer: {native[:5]}")
missing = {n: v for n, v in wanted.items() if seen.get(n) != v}
if missing:
    sys.exit(f"ERROR: not installed at the pinned version: {missing}")
PYEOF

# Keep it lean: no byte-code caches (--no-compile, but be sure), no console
# scripts, no boto3 example snippets (.rst, only read when rendering docs).
# boto3/docs and botocore/docs stay: the SDK imports them at run time.
find "$tmp/python" -depth -type d -name __pycache__ -exec rm -rf {} +
rm -rf "$tmp/python/bin" "$tmp/python/boto3/examples"

rm -f -- "$stamp"
rm -rf -- "$BUILD_DIR/python"
mv -- "$tmp/python" "$BUILD_DIR/python"
printf '%s\n' "$want_stamp" >"$stamp"
log "built $BUILD_DIR/python ($(du -sh "$BUILD_DIR/python" | cut -f1)) in $((SECONDS - start)) s"
