#!/usr/bin/env bash
# Build every Lambda layer of the project (single entry point for deploy and tests).
#
# usage: layers/build.sh [arm64|x86_64|host|all]     (default: host)
#
#   ffmpeg      -> layers/ffmpeg/build/<arch>/bin/ffmpeg   (layer root layers/ffmpeg/build/<arch>/)
#   python deps -> layers/python/build/<arch>/python/...   (layer root layers/python/build/<arch>/)
#
# Both builds are idempotent: an up-to-date layer is not rebuilt. See layers/README.md.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ $# -gt 1 ]]; then
    sed -n '4p' "${BASH_SOURCE[0]}" | sed 's/^# //' >&2
    exit 2
fi
case "${1:-host}" in
    -h | --help) sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

start=$SECONDS
bash "$HERE/ffmpeg/build.sh" "${1:-host}"
bash "$HERE/python/build.sh" "${1:-host}"
echo "[layers] all layers ready in $((SECONDS - start)) s"
