#!/usr/bin/env bash
# Build the Debian package (debian/, debhelper) from this checkout's working tree and check it
# with lintian (no errors allowed). The build runs in a temporary copy, because
# dpkg-buildpackage writes its results beside the source directory, never in it.
#
#   bash scripts/package.sh            -> build/package/tcpcopy_VERSION_ARCH.deb (+ lintian.txt)
#   OUT=DIR JOBS=N DEB_BUILD_OPTIONS=nocheck bash scripts/package.sh
#
# Prints the path of the .deb on its last line (a -dbgsym package is built beside it). Root is only needed to install missing build
# tools (scripts/deps.sh).
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$SRC/build/package}
JOBS=${JOBS:-2}

bash "$SRC/scripts/deps.sh"
work=$(mktemp -d /tmp/tcpkg.XXXXXX)
trap 'rm -rf "$work"' EXIT
ver=$(dpkg-parsechangelog -l "$SRC/debian/changelog" -S Version)
dir="$work/tcpcopy-$ver"
mkdir -p "$dir" "$OUT"

# The files of the checkout (tracked, and new ones not ignored), as they are now.
if git -C "$SRC" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$SRC" && git ls-files -z --cached --others --exclude-standard |
        while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done |
        tar --null -T - -cf -) | tar -xf - -C "$dir"
else
    tar -C "$SRC" --exclude=./build -cf - . | tar -xf - -C "$dir"
fi

echo "package.sh: building tcpcopy $ver in $dir" >&2
if ! (cd "$dir" && DEB_BUILD_OPTIONS="parallel=$JOBS ${DEB_BUILD_OPTIONS:-}" \
    dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    cp "$work/build.log" "$OUT/build.log"
    echo "package.sh: dpkg-buildpackage failed (log: $OUT/build.log)" >&2
    exit 1
fi
cp "$work/build.log" "$OUT/build.log"
debs=("$work"/*.deb)
[ -e "${debs[0]}" ] || { echo "package.sh: no .deb produced" >&2; exit 1; }
rc=0
lintian --fail-on error --info "${debs[@]}" >"$OUT/lintian.txt" 2>&1 || rc=$?
sed 's/^/  lintian: /' "$OUT/lintian.txt" >&2
if [ "$rc" -ne 0 ]; then
    echo "package.sh: lintian reports errors (status $rc)" >&2
    exit 1
fi
cp "${debs[@]}" "$OUT/"
echo "package.sh: lintian: $(grep -c '^E:' "$OUT/lintian.txt" || true) errors, $(grep -c '^W:' "$OUT/lintian.txt" || true) warnings" >&2
echo "$OUT/tcpcopy_${ver}_$(dpkg-architecture -qDEB_HOST_ARCH).deb"
