#!/usr/bin/env bash
# Build the python-deps Lambda layer: layers/python/build/<arch>/python/...
# (the layer content root is layers/python/build/<arch>/, so Lambda sees /opt/python).
#
# usage: layers/python/build.sh [arm64|x86_64|host|all]     (default: host)
#
# Installs lambdas/requirements.lock (the pins of lambdas/requirements.txt, the full closure, with
# the SHA-256 of every file: scripts/lock.sh) with `pip install --require-hashes` for CPython 3.14,
# binary wheels only, no dependency resolution; a pin of the requirements that the lock does not
# hold at its version fails the build (run scripts/lock.sh). Every distribution must be a pure-Python
# wheel (Root-Is-Purelib: true, tags *-none-any), except those of wheels.lock (numpy): a package
# with compiled code comes from the exact wheel the lock names for the architecture, downloaded
# into layers/python/downloads/ and used only if its sha256 matches (a mismatch fails the build,
# the cache untouched). Then checked: every pin installed at its version; no native file outside
# the locked packages; every shared library an ELF for the architecture (e_machine 62 x86_64,
# 183 aarch64). The compiled code cannot run here (the local Python is not 3.14): these static
# checks are what is verified. numpy's test suites (~8 MB) are removed.
# The result replaces the previous output only once complete and checked, and
# build/.stamp-<arch> (outside the layer content root) records the sha256 of the requirements,
# the lock and the scripts (this one and layers/common.sh): a second run with all unchanged is a
# no-op.
#
# Environment knobs (mostly for tests):
#   PYLAYER_FORCE=1                rebuild even if up to date
#   PYLAYER_OFFLINE=1              never download a locked wheel; only use a verified local copy
#   PYLAYER_WHEEL_SHA256_OVERRIDE  expected sha256 of the locked wheels instead of the lock's
#   PYLAYER_REQUIREMENTS           requirements file (default lambdas/requirements.txt)
#   PYLAYER_LOCK_FILE              lock file (default layers/python/wheels.lock)
#   PYLAYER_HASH_LOCK              hash-locked requirements (default lambdas/requirements.lock)
#   PYLAYER_DOWNLOAD_DIR           wheel cache (default layers/python/downloads)
#   PYLAYER_BUILD_DIR              output root (default layers/python/build)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
REQUIREMENTS="${PYLAYER_REQUIREMENTS:-$REPO/lambdas/requirements.txt}"
LOCK_FILE="${PYLAYER_LOCK_FILE:-$HERE/wheels.lock}"
HASH_LOCK="${PYLAYER_HASH_LOCK:-$REPO/lambdas/requirements.lock}"
DOWNLOAD_DIR="${PYLAYER_DOWNLOAD_DIR:-$HERE/downloads}"
BUILD_DIR="${PYLAYER_BUILD_DIR:-$HERE/build}"
PY_VERSION=3.14
LOG_TAG=python-layer OFFLINE_VAR=PYLAYER_OFFLINE
usage() { sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
source "$HERE/../common.sh"

# The pure wheels do not depend on it; the locked ones are checked against it.
pip_platform() { case "$1" in x86_64) echo manylinux_2_28_x86_64 ;; arm64) echo manylinux_2_28_aarch64 ;; esac; }

[[ -f "$REQUIREMENTS" ]] || die "requirements file not found: $REQUIREMENTS"
[[ -f "$LOCK_FILE" ]] || die "lock file not found: $LOCK_FILE"
[[ -f "$HASH_LOCK" ]] || die "hash lock not found: $HASH_LOCK (scripts/lock.sh makes it)"

# Sets LOCKED (array of "requirement platform file sha256") for an arch.
read_lock() {
    local arch="$1" line
    LOCKED=()
    while read -r line; do
        [[ -n "$line" ]] || continue
        read -r _ _ req platform file sha <<<"$line"
        [[ -n "${sha:-}" ]] || die "malformed 'native $arch' line in $LOCK_FILE: $line"
        [[ -n "${PYLAYER_WHEEL_SHA256_OVERRIDE:-}" ]] && sha="$PYLAYER_WHEEL_SHA256_OVERRIDE"
        [[ "$sha" =~ ^[0-9a-f]{64}$ ]] || die "expected sha256 for $file is not 64 lowercase hex digits: '$sha'"
        # The same pin as the requirements file, or the layer and the .venv would differ.
        grep -Eqx "[[:space:]]*${req//./\\.}[[:space:]]*(#.*)?" "$REQUIREMENTS" ||
            die "$LOCK_FILE pins $req, but $REQUIREMENTS does not have the line '$req'"
        LOCKED+=("$req $platform $file $sha")
    done < <(awk -v a="$arch" '$1 == "native" && $2 == a' "$LOCK_FILE")
}

build_arch() {
    local arch="$1" platform out stamp want_stamp start tmp filtered entry req wplatform file sha names=() wheels=()
    start=$SECONDS
    platform="$(pip_platform "$arch")"
    out="$BUILD_DIR/$arch"
    stamp="$BUILD_DIR/.stamp-$arch"
    read_lock "$arch"
    want_stamp="$(printf 'requirements_sha256=%s\nlock_sha256=%s\nhash_lock_sha256=%s\nbuild_script_sha256=%s\n' \
        "$(sha256_of "$REQUIREMENTS")" "$(sha256_of "$LOCK_FILE")${PYLAYER_WHEEL_SHA256_OVERRIDE:+ override}" \
        "$(sha256_of "$HASH_LOCK")" "$BUILD_SCRIPTS_SHA256")"
    if [[ "${PYLAYER_FORCE:-}" != 1 && -f "$stamp" && -d "$out/python" && "$(cat "$stamp")" == "$want_stamp" ]]; then
        # Byte code written by local imports (tests) must not leak into the layer asset.
        find "$out/python" -depth -type d -name __pycache__ -exec rm -rf {} +
        log "$arch: up to date ($out/python)"
        return 0
    fi

    for entry in "${LOCKED[@]}"; do
        read -r req wplatform file sha <<<"$entry"
        fetch_wheel "$arch" "$req" "$wplatform" "$file" "$sha" --python-version "$PY_VERSION" --implementation cp
        wheels+=("$WHEEL_PATH --hash=sha256:$sha")
        names+=("${req%%==*}")
    done
    tmp="$(mktemp -d "$BUILD_DIR/.tmp-$arch.XXXXXX")"
    CLEANUP+=("$tmp")
    # The hash lock's entries without the natively locked packages, which are installed from their
    # verified files (with their sha256 as the hash pip checks); a pin the lock lacks stops here.
    filtered="$tmp/requirements.txt"
    "${PY[@]}" "$REPO/scripts/lock_entries.py" "$HASH_LOCK" --pins "$REQUIREMENTS" --except "${names[@]}" >"$filtered" ||
        die "$arch: $HASH_LOCK does not hold every pin of $REQUIREMENTS: run scripts/lock.sh"
    if [[ ${#wheels[@]} -gt 0 ]]; then printf '%s\n' "${wheels[@]}" >>"$filtered"; fi
    log "$arch: installing $(grep -c . "$filtered") hash-locked packages from $HASH_LOCK (cp$PY_VERSION, $platform, wheels only, --require-hashes; locked: ${names[*]:-none})"
    # pip does not count the legacy manylinux2014 alias as older than manylinux_2_28: both named.
    "${PIP[@]}" install --no-deps --only-binary=:all: --platform "$platform" --platform "${platform/_2_28_/2014_}" \
        --python-version "$PY_VERSION" --implementation cp --no-compile --require-hashes \
        --disable-pip-version-check --quiet \
        --target "$tmp/python" -r "$filtered" || die "$arch: pip install failed"

    # Pure wheels everywhere but the locked packages, pinned versions, native code for this arch.
    "${PY[@]}" - "$tmp/python" "$REQUIREMENTS" "$(elf_machine "$arch")" "${names[@]}" <<'PYEOF' || die "$arch: layer check failed"
import pathlib, re, struct, sys
root, reqs, machine = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
norm = lambda s: re.sub(r"[-_.]+", "-", s).lower()
locked = {norm(n) for n in sys.argv[4:]}
wanted = {}
for line in reqs.read_text().splitlines():
    line = line.split("#", 1)[0].strip()
    if line:
        name, _, version = line.partition("==")
        wanted[norm(name.split("[")[0])] = version.strip()
bad, seen, native_roots = [], {}, set()
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
    if norm(name) in locked:
        ok = bool(tags) and all(t.startswith("cp314-cp314-") for t in tags)
        native_roots |= {l.split(",", 1)[0].split("/", 1)[0] for l in (dist / "RECORD").read_text().splitlines() if "/" in l}
    else:
        ok = purelib and bool(tags) and all(t.endswith("-none-any") for t in tags)
    print(f"  {'ok ' if ok else 'BAD'} {name}=={meta.get('Version')}  [{', '.join(tags)}]")
    if not ok:
        bad.append(name)
if bad:
    sys.exit(f"ERROR: not pure-Python wheels: {', '.join(bad)}")
is_native = lambda p: p.suffix in (".so", ".pyd", ".dylib") or ".so." in p.name
native = [p for p in root.rglob("*") if p.is_file() and is_native(p)]
stray = [str(p.relative_to(root)) for p in native if p.relative_to(root).parts[0] not in native_roots]
if stray:
    sys.exit(f"ERROR: native extension files in the layer: {stray[:5]}")
names = {3: "i386", 40: "arm", 62: "x86_64", 183: "aarch64"}
for p in native:
    head = p.read_bytes()[:20]
    found = struct.unpack_from("<H", head, 18)[0] if head[:4] == b"\x7fELF" and len(head) == 20 else None
    if found != machine:
        sys.exit(f"ERROR: WRONG ARCHITECTURE: {p.relative_to(root)} is ELF machine {found} ({names.get(found, '?')}), expected {machine} ({names[machine]})")
missing = {n: v for n, v in wanted.items() if seen.get(n) != v}
if missing:
    sys.exit(f"ERROR: not installed at the pinned version: {missing}")
print(f"  {len(native)} shared libraries, all ELF machine {machine} ({names[machine]})")
PYEOF

    # Keep it lean: no byte-code caches (--no-compile, but be sure), no console scripts, no
    # boto3 example snippets (.rst, only read when rendering docs), no numpy test suites.
    # boto3/docs and botocore/docs stay: the SDK imports them at run time.
    find "$tmp/python" -depth -type d -name __pycache__ -exec rm -rf {} +
    rm -rf "$tmp/python/bin" "$tmp/python/boto3/examples"
    if [[ -d "$tmp/python/numpy" ]]; then
        find "$tmp/python/numpy" -depth -type d -name tests -exec rm -rf {} +
    fi
    rm -f -- "$filtered"

    rm -f -- "$stamp"
    rm -rf -- "$out"
    mkdir -p "$out"
    mv -- "$tmp/python" "$out/python"
    printf '%s\n' "$want_stamp" >"$stamp"
    log "$arch: built $out/python ($(du -sh "$out/python" | cut -f1)) in $((SECONDS - start)) s"
}

parse_arches "$@"
lock_build
# The single-architecture layout of earlier versions (build/python, build/.stamp) is replaced.
rm -rf -- "$BUILD_DIR/python" "$BUILD_DIR/.stamp"

for arch in "${ARCHES[@]}"; do
    build_arch "$arch"
done
