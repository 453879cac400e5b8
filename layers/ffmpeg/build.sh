#!/usr/bin/env bash
# Build the ffmpeg Lambda layer content: layers/ffmpeg/build/<arch>/bin/ffmpeg
# (the layer content root is build/<arch>/, so Lambda sees /opt/bin/ffmpeg).
#
# usage: layers/ffmpeg/build.sh [arm64|x86_64|host|all]     (default: host)
#
# The binary is the static ffmpeg shipped inside the imageio-ffmpeg wheel pinned
# in wheels.lock (file name + sha256). Nothing else is downloaded. Steps per arch:
#   1. reuse downloads/<wheel> if its sha256 matches, else `pip download` it into a
#      staging dir and verify the sha256 (mismatch = hard failure, cache untouched);
#   2. extract the binary, mode 0755;
#   3. check the ELF header (64-bit little-endian, e_machine 62 for x86_64 / 183 for
#      arm64): a wrong-architecture binary fails the build;
#   4. run `ffmpeg -version` (expects the pinned ffmpeg_version) and
#      `ffmpeg -encoders` (expects pcm_alaw): natively for the host arch, under
#      qemu-user for the other one (installed with apt-get when running as root
#      and missing). If qemu cannot be had, fall back to a static check and say
#      loudly that the binary was NOT executed;
#   5. move the result into place atomically and write build/.stamp-<arch>
#      (outside the layer content root).
# A second run with unchanged lock, scripts (this one and layers/common.sh) and binary is a no-op.
#
# Environment knobs (mostly for tests):
#   FFMPEG_FORCE=1                 rebuild even if up to date
#   FFMPEG_OFFLINE=1               never call pip; only use a verified local wheel
#   FFMPEG_NO_QEMU=1               never use/install qemu: static check for a foreign arch
#   FFMPEG_WHEEL_SHA256_OVERRIDE   expected sha256 instead of the one in the lock
#   FFMPEG_LOCK_FILE               lock file (default layers/ffmpeg/wheels.lock)
#   FFMPEG_DOWNLOAD_DIR            wheel cache (default layers/ffmpeg/downloads)
#   FFMPEG_BUILD_DIR               output root (default layers/ffmpeg/build)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
LOCK_FILE="${FFMPEG_LOCK_FILE:-$HERE/wheels.lock}"
DOWNLOAD_DIR="${FFMPEG_DOWNLOAD_DIR:-$HERE/downloads}"
BUILD_DIR="${FFMPEG_BUILD_DIR:-$HERE/build}"
LOG_TAG=ffmpeg-layer OFFLINE_VAR=FFMPEG_OFFLINE
usage() { sed -n '2,5p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
source "$HERE/../common.sh"

qemu_arch() { case "$1" in x86_64) echo x86_64 ;; arm64) echo aarch64 ;; esac; }

# ---------------------------------------------------------------- lock file
[[ -f "$LOCK_FILE" ]] || die "lock file not found: $LOCK_FILE"
REQUIREMENT="$(awk '$1 == "requirement" {print $2}' "$LOCK_FILE")"
FFMPEG_VERSION="$(awk '$1 == "ffmpeg_version" {print $2}' "$LOCK_FILE")"
[[ -n "$REQUIREMENT" ]] || die "no 'requirement' line in $LOCK_FILE"
[[ -n "$FFMPEG_VERSION" ]] || die "no 'ffmpeg_version' line in $LOCK_FILE"

# Sets W_PLATFORM W_FILE W_SHA256 W_MEMBER for an arch.
read_lock_row() {
    local arch="$1" rows
    rows="$(awk -v a="$arch" '$1 == "wheel" && $2 == a' "$LOCK_FILE")"
    [[ -n "$rows" ]] || die "no 'wheel $arch ...' line in $LOCK_FILE"
    [[ "$(printf '%s\n' "$rows" | wc -l)" -eq 1 ]] || die "more than one 'wheel $arch' line in $LOCK_FILE"
    read -r _ _ W_PLATFORM W_FILE W_SHA256 W_MEMBER <<<"$rows"
    [[ -n "${W_MEMBER:-}" ]] || die "malformed 'wheel $arch' line in $LOCK_FILE"
    if [[ -n "${FFMPEG_WHEEL_SHA256_OVERRIDE:-}" ]]; then
        log "$arch: expected sha256 overridden by FFMPEG_WHEEL_SHA256_OVERRIDE"
        W_SHA256="$FFMPEG_WHEEL_SHA256_OVERRIDE"
    fi
    [[ "$W_SHA256" =~ ^[0-9a-f]{64}$ ]] || die "expected sha256 for $arch is not 64 lowercase hex digits: '$W_SHA256'"
}

# ---------------------------------------------------------------- qemu
# Sets RUNNER (array, empty = native) and RUN_MODE (native|qemu|none).
# $2 = "install" to allow installing qemu-user-static with apt-get.
# Sets RUNNER/RUN_MODE to the qemu-user binary for $1 (e.g. aarch64) when one is installed.
use_qemu() {
    local c
    for c in "qemu-$1-static" "qemu-$1"; do
        if command -v "$c" >/dev/null 2>&1; then
            RUNNER=("$(command -v "$c")")
            RUN_MODE=qemu
            return 0
        fi
    done
    return 1
}

find_runner() {
    local arch="$1" may_install="${2:-}" q c
    RUNNER=()
    if [[ "$arch" == "$(host_arch)" ]]; then
        RUN_MODE=native
        return 0
    fi
    RUN_MODE=none
    [[ "${FFMPEG_NO_QEMU:-}" == 1 ]] && return 0
    q="$(qemu_arch "$arch")"
    use_qemu "$q" && return 0
    [[ "$may_install" == install ]] || return 0
    if [[ "$(id -u)" -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "$arch: qemu-$q not found; installing qemu-user-static with apt-get (running as root)"
        if { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends qemu-user-static; } >"$BUILD_DIR/.apt-qemu.log" 2>&1; then
            log "$arch: qemu-user-static installed"
        else
            log "WARNING: installing qemu-user-static failed (see $BUILD_DIR/.apt-qemu.log)"
        fi
        use_qemu "$q" && return 0
    else
        log "$arch: qemu-$q not found and cannot install it (need root and apt-get)"
    fi
}

# ---------------------------------------------------------------- steps
extract_binary() { # wheel member dest
    "${PY[@]}" - "$1" "$2" "$3" <<'PYEOF'
import shutil, sys, zipfile
wheel, member, dest = sys.argv[1:4]
with zipfile.ZipFile(wheel) as zf:
    try:
        info = zf.getinfo(member)
    except KeyError:
        sys.exit(f"ERROR: {member} not found in {wheel}")
    with zf.open(info) as src, open(dest, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
PYEOF
}

# Fails unless $1 is a 64-bit little-endian ELF executable for arch $2.
check_elf() {
    local bin="$1" arch="$2" want info
    want="$(elf_machine "$arch")"
    info="$("${PY[@]}" - "$bin" "$want" <<'PYEOF'
import struct, sys
path, want = sys.argv[1], int(sys.argv[2])
names = {3: "i386", 40: "arm", 62: "x86_64", 183: "aarch64"}
with open(path, "rb") as f:
    hdr = f.read(20)
if len(hdr) < 20 or hdr[:4] != b"\x7fELF":
    sys.exit(f"not an ELF file: {path}")
if hdr[4] != 2 or hdr[5] != 1:
    sys.exit(f"not a 64-bit little-endian ELF (EI_CLASS={hdr[4]}, EI_DATA={hdr[5]})")
e_type, e_machine = struct.unpack_from("<HH", hdr, 16)
if e_type not in (2, 3):
    sys.exit(f"ELF e_type {e_type} is not an executable")
if e_machine != want:
    sys.exit(f"WRONG ARCHITECTURE: ELF e_machine {e_machine} ({names.get(e_machine, '?')}), "
             f"expected {want} ({names.get(want, '?')})")
print(f"ELF 64-bit LSB, e_machine {e_machine} ({names[e_machine]})")
PYEOF
    )" || die "$arch: ELF check failed for $bin"
    log "$arch: $info"
    if command -v file >/dev/null 2>&1; then
        log "$arch: file: $(file -b "$bin")"
    fi
}

# Sets VERIFIED (native|qemu|static).
check_runs() {
    local bin="$1" arch="$2" out
    find_runner "$arch" install
    if [[ "$RUN_MODE" == none ]]; then
        grep -aqF pcm_alaw "$bin" || die "$arch: binary does not contain the string pcm_alaw"
        grep -aqF "$FFMPEG_VERSION" "$bin" || die "$arch: binary does not contain the version string $FFMPEG_VERSION"
        log "NOTE: the $arch binary was NOT executed (no qemu-$(qemu_arch "$arch") available)."
        log "NOTE: verified statically only: ELF machine is $(qemu_arch "$arch"), binary contains 'pcm_alaw' and '$FFMPEG_VERSION'."
        VERIFIED=static
        return 0
    fi
    local how="natively"
    [[ "$RUN_MODE" == qemu ]] && how="under ${RUNNER[0]}"
    out="$("${RUNNER[@]}" "$bin" -hide_banner -version 2>&1)" || die "$arch: '$bin -version' failed ($how): $out"
    grep -qF "ffmpeg version $FFMPEG_VERSION" <<<"$out" ||
        die "$arch: expected 'ffmpeg version $FFMPEG_VERSION', got: $(head -n1 <<<"$out")"
    log "$arch: ran $how: $(head -n1 <<<"$out")"
    out="$("${RUNNER[@]}" "$bin" -hide_banner -encoders 2>&1)" || die "$arch: '$bin -encoders' failed ($how)"
    grep -Eq '^ *A[.A-Z]{5} +pcm_alaw ' <<<"$out" || die "$arch: ffmpeg has no pcm_alaw audio encoder"
    log "$arch: encoder present: $(grep -E ' pcm_alaw ' <<<"$out" | sed 's/^ *//')"
    VERIFIED="$RUN_MODE"
}

stamp_value() { # file key
    awk -F= -v k="$2" '$1 == k {print substr($0, length(k) + 2)}' "$1" 2>/dev/null || true
}

build_arch() {
    local arch="$1" out_dir out_bin stamp tmp start prev_verified
    start=$SECONDS
    read_lock_row "$arch"
    out_dir="$BUILD_DIR/$arch"
    out_bin="$out_dir/bin/ffmpeg"
    stamp="$BUILD_DIR/.stamp-$arch"

    if [[ "${FFMPEG_FORCE:-}" != 1 && -f "$stamp" && -x "$out_bin" &&
        "$(stamp_value "$stamp" wheel_sha256)" == "$W_SHA256" &&
        "$(stamp_value "$stamp" build_script_sha256)" == "$BUILD_SCRIPTS_SHA256" &&
        "$(stamp_value "$stamp" binary_sha256)" == "$(sha256_of "$out_bin")" ]]; then
        prev_verified="$(stamp_value "$stamp" verified)"
        find_runner "$arch"
        if [[ "$prev_verified" == static && "$RUN_MODE" != none ]]; then
            log "$arch: previous build was only checked statically and $RUN_MODE execution is now possible: rebuilding"
        else
            log "$arch: up to date ($out_bin, wheel sha256 ${W_SHA256:0:12}..., verified: $prev_verified)"
            return 0
        fi
    fi

    log "$arch: building from $W_FILE"
    fetch_wheel "$arch" "$REQUIREMENT" "$W_PLATFORM" "$W_FILE" "$W_SHA256"
    tmp="$(mktemp -d "$BUILD_DIR/.tmp-$arch.XXXXXX")"
    CLEANUP+=("$tmp")
    mkdir -p "$tmp/bin"
    extract_binary "$WHEEL_PATH" "$W_MEMBER" "$tmp/bin/ffmpeg" || die "$arch: extraction failed"
    chmod 0755 "$tmp/bin/ffmpeg"
    check_elf "$tmp/bin/ffmpeg" "$arch"
    check_runs "$tmp/bin/ffmpeg" "$arch"

    # Only a fully checked binary replaces the previous output.
    rm -f -- "$stamp"
    rm -rf -- "$out_dir"
    chmod 0755 "$tmp"
    mv -- "$tmp" "$out_dir"
    {
        echo "wheel_file=$W_FILE"
        echo "wheel_sha256=$W_SHA256"
        echo "binary_sha256=$(sha256_of "$out_bin")"
        echo "build_script_sha256=$BUILD_SCRIPTS_SHA256"
        echo "verified=$VERIFIED"
    } >"$stamp"
    log "$arch: built $out_bin ($(stat -c %s "$out_bin") bytes, verified: $VERIFIED) in $((SECONDS - start)) s"
}

# ---------------------------------------------------------------- main
parse_arches "$@"
lock_build

for arch in "${ARCHES[@]}"; do
    build_arch "$arch"
done
